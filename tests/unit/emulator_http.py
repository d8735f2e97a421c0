"""Over HTTP to the emulated API, for the tests of what it does to a write (test_emulator_admission,
test_emulator_defaults): a small client that also answers the headers, the fixtures, the bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.manifests import qwen_deployment

NS = "llm"
QWD = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments"
QWDS = "qwenops.io/v1alpha1/qwendeployments"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
COMMIT = "a" * 40
Json = Any


class Http:
    """Every call answers (status, parsed JSON body, headers)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, path: str, body: Json = None, content_type: str = "application/json"
    ) -> tuple[int, Json, dict[str, str]]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, path, data=data, headers=headers) as response:
            return response.status, await response.json(content_type=None), dict(response.headers)

    async def ok(self, method: str, path: str, body: Json = None, content_type: str = "application/json") -> Json:
        status, answer, _ = await self.call(method, path, body, content_type)
        assert status in (200, 201), (status, answer)
        return answer


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[KubeEmulator]:
    async with run_emulator(namespaces=("default", NS)) as emulator:
        yield emulator
        assert not emulator.errors, emulator.errors  # refusals are Status answers, not errors


@pytest_asyncio.fixture
async def http(emulator: KubeEmulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(str(emulator.url)) as session:
        yield Http(session)


def chat(**spec: Json) -> Json:
    return qwen_deployment(COMMIT, namespace=NS, **spec)


def deployment(name: str = "web", **pod_spec: Json) -> Json:
    labels = {"app": name}
    spec = {"containers": [{"name": "c", "image": "registry.example/c:1.0"}], **pod_spec}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }  # fmt: skip
