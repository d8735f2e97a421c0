"""Talking to the emulated API over HTTP, for the tests of the emulator (test_emulator*.py): the
paths and the objects they write, two small clients over one request (:class:`Api` answers the
status and body, :class:`Http` the headers too), the fixtures every one of those tests
uses (an emulator with the Widget resource and the namespaces, and a client of each kind), and a
wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from qwenops_testing.emulator import DEFAULT_RESOURCES, MERGE_PATCH, KubeEmulator, ResourceSpec, run_emulator
from qwenops_testing.manifests import qwen_deployment

REPO = Path(__file__).resolve().parents[2]
NS = "ns"
NAMESPACES = ("default", NS, "other")
"""The namespaces the emulators of these tests start with (objects are created only in existing ones)."""
CORPUS_NS = "llm"
"""The namespace of the manifest corpus (tests/manifests): the admission tests' emulator has it too."""
QWD = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments"
QWDS = "qwenops.io/v1alpha1/qwendeployments"
# A custom resource without a schema, as most tests of the API semantics need: those alone.
WIDGETS = f"/apis/example.com/v1/namespaces/{NS}/widgets"
WIDGET_RESOURCE = "example.com/v1/widgets"
WIDGET = ResourceSpec("example.com", "v1", "widgets", "Widget", status=True)
RESOURCES = (*DEFAULT_RESOURCES, WIDGET)
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
PODS = f"/api/v1/namespaces/{NS}/pods"
COMMIT = "a" * 40
Json = Any


async def request(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Json = None,
    *,
    content_type: str = "application/json",
    raw: str | None = None,
) -> tuple[int, Json, dict[str, str]]:
    """One request: (status, parsed JSON body, headers)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    headers = {"Content-Type": content_type} if data is not None else {}
    async with session.request(method, path, data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None), dict(response.headers)


class Api:
    """A tiny HTTP client: every call answers (status, parsed JSON body)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Json = None,
        *,
        content_type: str = "application/json",
        raw: str | None = None,
    ) -> tuple[int, Json]:
        status, answer, _ = await request(self.session, method, path, body, content_type=content_type, raw=raw)
        return status, answer

    async def get(self, path: str) -> tuple[int, Json]:
        return await self.call("GET", path)

    async def post(self, path: str, body: Json) -> tuple[int, Json]:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Json) -> tuple[int, Json]:
        return await self.call("PUT", path, body)

    async def patch(self, path: str, body: Json, content_type: str = MERGE_PATCH) -> tuple[int, Json]:
        return await self.call("PATCH", path, body, content_type=content_type)

    async def delete(self, path: str, body: Json = None) -> tuple[int, Json]:
        return await self.call("DELETE", path, body)

    async def ok(self, method: str, path: str, body: Json = None, **kwargs: Any) -> Json:
        status, answer = await self.call(method, path, body, **kwargs)
        assert status in (200, 201), (status, answer)
        return answer

    @contextlib.asynccontextmanager
    async def watch(self, path: str) -> AsyncIterator[Callable[[], Awaitable[Json]]]:
        """Open a watch stream; yields a function that reads the next event (or None at its end)."""
        async with self.session.get(path) as response:
            assert response.status == 200

            async def next_event() -> Json:
                line = await asyncio.wait_for(response.content.readline(), timeout=5)
                return json.loads(line) if line else None

            yield next_event


class Http:
    """Every call answers (status, parsed JSON body, headers)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, path: str, body: Json = None, content_type: str = "application/json"
    ) -> tuple[int, Json, dict[str, str]]:
        return await request(self.session, method, path, body, content_type=content_type)

    async def ok(self, method: str, path: str, body: Json = None, content_type: str = "application/json") -> Json:
        status, answer, _ = await self.call(method, path, body, content_type)
        assert status in (200, 201), (status, answer)
        return answer


@pytest_asyncio.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[KubeEmulator]:
    """The emulated API with the Widget resource and NAMESPACES, plus a test module's own
    `EXTRA_NAMESPACES` (the admission tests' corpus namespace)."""
    extra = tuple(getattr(request.module, "EXTRA_NAMESPACES", ()))
    async with run_emulator(resources=RESOURCES, namespaces=(*NAMESPACES, *extra)) as emulator:
        yield emulator
        assert not emulator.errors, emulator.errors  # refusals are Status answers, not errors


@pytest_asyncio.fixture
async def api(emulator: KubeEmulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(str(emulator.url)) as session:
        yield Api(session)


@pytest_asyncio.fixture
async def http(emulator: KubeEmulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(str(emulator.url)) as session:
        yield Http(session)


def widget(name: str = "chat", **extra: Json) -> Json:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"replicas": 1},
        **extra,
    }


def chat(**spec: Json) -> Json:
    """A QwenDeployment the CRD admits."""
    return qwen_deployment(COMMIT, namespace=NS, **spec)


def deployment(name: str = "web", replicas: int = 2, **metadata: Json) -> Json:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **metadata},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


def bare_deployment(name: str = "web", **pod_spec: Json) -> Json:
    """A Deployment with only what a client must write (no replicas, no strategy): the API server
    defaults the rest."""
    labels = {"app": name}
    spec = {"containers": [{"name": "c", "image": "registry.example/c:1.0"}], **pod_spec}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }  # fmt: skip


def owner_ref(owner: Json) -> Json:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 10) -> Any:
    """Await `check` until it answers something truthy (every 10 ms); fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not seen within {timeout}s: {what}")
        await asyncio.sleep(0.01)
