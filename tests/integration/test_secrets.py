"""No secret leaves where it is kept: the real operator, a Secret with a recognisable value, and
everything the operator writes, logs and serves.

The QwenDeployment names the Secret (`model.tokenSecret`) of a gated repo; the operator's default
Prometheus (QWENOPS_PROMETHEUS_URL, the installer's choice) carries a password; a canary runs, so
the operator queries that Prometheus (which is down: its error goes to status and events); then
someone tries to pass a Hugging Face token as an argument (`--hf-token=...`), which is refused (by
the operator: the emulator stores it as an older CRD would, past the CRD's own refusal).
Afterwards neither the Secret's value nor the Prometheus password may appear in the operator's
log, in any Event, in status, in any request the operator sent, or on its /metrics; the token
given as an argument may not appear in the refusal (log, Events, status). The operator must never
have asked for a Secret: it names one in the pod template and the kubelet reads it.

(kopf keeps a copy of the last handled spec in an annotation of the object; a token a person
writes into the spec is in that copy as it is in the spec. The spec refuses such a token.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from qwenops_testing.cluster import DEPLOYMENTS, EVENTS, QWD_PATH, QWDS, Client, deployments_of, status_of
from qwenops_testing.emulator import KubeEmulator, ResourceSpec
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.ports import free_port

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
SECRET_VALUE = "hf_SeCrEtVaLuE0123456789abcdefXYZ"
PROMETHEUS_PASSWORD = "pr0m-PaSsWoRd-4-scrapes"
ARGUMENT_TOKEN = "hf_ArGuMeNtToKeN9876543210zyxwv"
MARK = "qwenops-secrets-test"  # the test's own writes carry ?fieldManager=MARK
METRIC_LABELS = {"namespace", "name", "reason", "phase", "kind", "le", "revision", "track", "checkpoint", "slo"}


def manifest(commit: str) -> dict[str, Any]:
    return qwen_deployment(
        commit,
        model={"tokenSecret": {"name": "hf-token", "key": "token"}},
        steps=[{"weight": 50}],  # no pause: the canary waits, and is analysed meanwhile
        analysis={"interval": "1s", "window": "1m", "slos": {"maxErrorRate": 0.05}},
    )


def texts(emulator: KubeEmulator, operator: Operator) -> dict[str, str]:
    """Where a secret must not appear, each as one text."""
    sent = [r for r in emulator.request_log() if r.query.get("fieldManager") != MARK and r.body is not None]
    return {
        "operator log": operator.log.read_text(errors="replace"),
        "events": json.dumps(emulator.list_objects(EVENTS)),
        "status": json.dumps(status_of(emulator, NS, NAME)),
        "requests the operator sent": json.dumps([r.body for r in sent], default=str),
        "deployments": json.dumps(emulator.list_objects(DEPLOYMENTS)),
    }


async def test_no_secret_reaches_logs_events_status_requests_or_metrics(
    emulator: KubeEmulator, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.declare(ResourceSpec("", "v1", "secrets", "Secret"))
    emulator.create_object("v1/secrets", {
        "metadata": {"name": "hf-token", "namespace": NS}, "type": "Opaque",
        "stringData": {"token": SECRET_VALUE}, "data": {"token": SECRET_VALUE.encode().hex()},
    })  # fmt: skip
    down = free_port()  # nothing listens there
    monkeypatch.setenv("QWENOPS_PROMETHEUS_URL", f"http://scraper:{PROMETHEUS_PASSWORD}@127.0.0.1:{down}")
    emulator.deployments_become_available = True
    metrics_port = free_port()
    operator = Operator(emulator.url, tmp_path, resync_seconds=0.5, metrics_port=metrics_port)
    path = f"{QWD_PATH.format(namespace=NS)}"
    await operator.start()
    try:
        await client.call("POST", f"{path}?fieldManager={MARK}", manifest("a" * 40))
        stable = expected_revision(manifest("a" * 40))
        await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
        deployment = deployments_of(emulator, NS, NAME)[stable]
        download = deployment["spec"]["template"]["spec"]["initContainers"][0]
        assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}} in (
            download["env"]
        )

        await client.call(
            "PATCH", f"{path}/{NAME}?fieldManager={MARK}", {"spec": {"model": {"revision": "b" * 40}}},
            "application/merge-patch+json",
        )  # fmt: skip
        await eventually(
            lambda: "Prometheus" in json.dumps(status_of(emulator, NS, NAME).get("analysis") or {}),
            "an analysis reading that could not reach Prometheus", operator, timeout=60,
        )  # fmt: skip

        with emulator.without_schema(QWDS):  # the CRD refuses it too: stored as an older CRD would
            await client.call(
                "PATCH", f"{path}/{NAME}?fieldManager={MARK}",
                {"spec": {"engine": {"extraArgs": [f"--hf-token={ARGUMENT_TOKEN}"]}}}, "application/merge-patch+json",
            )  # fmt: skip
        await eventually(
            lambda: "--hf-token" in status_of(emulator, NS, NAME).get("message", ""), "InvalidSpec", operator
        )
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            assert r.status == 200
            metrics = await r.text()
    finally:
        await operator.stop()

    seen = texts(emulator, operator)
    for where, text in {**seen, "metrics": metrics}.items():
        assert SECRET_VALUE not in text, f"the Secret's value is in the {where}"
        assert SECRET_VALUE.encode().hex() not in text, f"the Secret's data is in the {where}"
        assert PROMETHEUS_PASSWORD not in text, f"the Prometheus password is in the {where}"
    for where in ("operator log", "events", "status", "metrics"):
        text = metrics if where == "metrics" else seen[where]
        assert ARGUMENT_TOKEN not in text, f"the refused token is repeated in the {where}"
    assert "cannot connect to Prometheus at http://127.0.0.1" in seen["status"], "the URL, without its password"

    asked = [f"{r.method} {r.path}" for r in emulator.request_log() if r.resource == "v1/secrets" or "/secrets" in r.path]
    assert asked == [], "the operator asked for a Secret"

    # /metrics: names, enumerations and numbers; no spec text.
    samples = [line for line in metrics.splitlines() if line.startswith("qwenops_")]
    assert samples
    for line in samples:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("{", 1)[1].rsplit("}", 1)[0])) if "{" in line else {}
        assert set(labels) <= METRIC_LABELS, line
        assert labels.get("namespace", NS) == NS and labels.get("name", NAME) == NAME, line
        assert not any("@" in value or "://" in value or "qwen" in value.lower() for value in labels.values()), line
