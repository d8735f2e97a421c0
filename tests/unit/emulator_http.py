"""Talking to the emulated API over HTTP, for the tests of the emulator: a tiny client, the paths
and the objects they write, and a wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from qwenops_testing.emulator import MERGE_PATCH

REPO = Path(__file__).resolve().parents[2]
QWD = "/apis/qwenops.io/v1alpha1/namespaces/ns/qwendeployments"
QWD_RESOURCE = "qwenops.io/v1alpha1/qwendeployments"
DEPLOY = "/apis/apps/v1/namespaces/ns/deployments"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
PODS = "/api/v1/namespaces/ns/pods"
Json = Any


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
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, path, data=data, headers=headers) as response:
            return response.status, await response.json(content_type=None)

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


def qwd(name: str = "chat", **extra: Json) -> Json:
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1},
        **extra,
    }


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
