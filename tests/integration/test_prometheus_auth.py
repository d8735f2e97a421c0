"""A QwenDeployment's own Prometheus credentials, end to end: the real operator reads the Secret its
spec names (`analysis.prometheus.secretRef`) and queries a Prometheus that answers only with that
bearer token and tenant header; a Secret that does not exist is a reading that says so. Neither the
token nor its base64 ever appears in the operator's log, an Event, the status or /metrics."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from qwenops_testing.cluster import EVENTS, QWD_PATH, Client, status_of
from qwenops_testing.emulator import KubeEmulator, ResourceSpec
from qwenops_testing.manifests import qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.ports import free_port

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
TOKEN, TENANT = "mimir-T0kEn-0123456789-abcdef", "team-llm"


class Guarded:
    """A Prometheus answering every query (no 5xx, 500 requests) only with the token and tenant."""

    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        headers = request.headers
        if headers.get("Authorization") != f"Bearer {TOKEN}" or headers.get("X-Scope-OrgID") != TENANT:
            self.refused += 1
            return web.Response(status=401, text="unauthorized")
        self.accepted += 1
        value = "0" if "5xx" in request.query["query"] else "500"
        result = [{"metric": {}, "value": [1, value]}]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[Guarded, str]]:
    prometheus = Guarded()
    app = web.Application()
    app.router.add_get("/api/v1/query", prometheus.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield prometheus, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def manifest(commit: str, url: str, secret: str) -> dict[str, Any]:
    return qwen_deployment(
        commit,
        steps=[{"weight": 50}],  # no pause: the canary waits, and is analysed meanwhile
        analysis={
            "prometheus": {"url": url, "secretRef": {"name": secret}},
            "interval": "1s",
            "window": "1m",
            "slos": {"maxErrorRate": 0.05},
        },
    )


def analysis(emulator: KubeEmulator) -> dict[str, Any]:
    found: dict[str, Any] = status_of(emulator, NS, NAME).get("analysis") or {}
    return found


async def test_the_secret_named_is_sent_and_never_said(
    emulator: KubeEmulator, client: Client, guarded: tuple[Guarded, str], tmp_path: Path
) -> None:
    prometheus, url = guarded
    emulator.declare(ResourceSpec("", "v1", "secrets", "Secret"))
    emulator.create_object("v1/secrets", {
        "metadata": {"name": "prom-creds", "namespace": NS}, "type": "Opaque",
        "data": {
            "token": base64.b64encode(TOKEN.encode()).decode(),
            "headers": base64.b64encode(f"X-Scope-OrgID: {TENANT}\n".encode()).decode(),
        },
    })  # fmt: skip
    emulator.deployments_become_available = True
    metrics_port = free_port()
    operator = Operator(emulator.url, tmp_path, resync_seconds=0.5, metrics_port=metrics_port)
    path = QWD_PATH.format(namespace=NS)
    await operator.start()
    try:
        await client.call("POST", path, manifest("a" * 40, url, "prom-creds"))
        await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
        await client.call(
            "PATCH", f"{path}/{NAME}", {"spec": {"model": {"revision": "b" * 40}}}, "application/merge-patch+json"
        )
        await eventually(
            lambda: analysis(emulator).get("verdict") == "Passed", "a reading with the Secret's token", operator,
            timeout=60,
        )  # fmt: skip
        assert prometheus.accepted and not prometheus.refused

        await client.call(
            "PATCH", f"{path}/{NAME}",
            {"spec": {"rollout": {"analysis": {"prometheus": {"url": url, "secretRef": {"name": "missing"}}}}}},
            "application/merge-patch+json",
        )  # fmt: skip
        await eventually(
            lambda: "Secret llm/missing (analysis.prometheus.secretRef) does not exist"
            in analysis(emulator).get("message", ""),
            "a reading that names the missing Secret", operator, timeout=60,
        )  # fmt: skip
        assert analysis(emulator)["verdict"] == "Error"
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            metrics = await r.text()
    finally:
        await operator.stop()

    seen = {
        "operator log": operator.log.read_text(errors="replace"),
        "events": json.dumps(emulator.list_objects(EVENTS)),
        "status": json.dumps(status_of(emulator, NS, NAME)),
        "metrics": metrics,
    }
    for where, text in seen.items():
        assert TOKEN not in text, f"the token is in the {where}"
        assert base64.b64encode(TOKEN.encode()).decode() not in text, f"the token's base64 is in the {where}"
    asked = {f"{r.method} {r.path}" for r in emulator.request_log() if "/secrets" in r.path}
    assert asked <= {f"GET /api/v1/namespaces/{NS}/secrets/prom-creds", f"GET /api/v1/namespaces/{NS}/secrets/missing"}
