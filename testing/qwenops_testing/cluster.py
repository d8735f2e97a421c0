"""Reading and writing the emulated cluster as a person with kubectl would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from qwenops_testing.emulator import MERGE_PATCH, KubeEmulator

QWDS = "qwenops.io/v1alpha1/qwendeployments"
DEPLOYMENTS = "apps/v1/deployments"
SERVICES = "v1/services"
EVENTS = "v1/events"
QWD_PATH = "/apis/qwenops.io/v1alpha1/namespaces/{namespace}/qwendeployments"


class Client:
    """Writes as `kubectl` would send them: with ``fieldValidation=Strict``, so that a field the CRD
    does not declare is refused, not dropped; any error answer raises AssertionError."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        if method in ("POST", "PUT", "PATCH") and "fieldValidation=" not in path:
            path += f"{'&' if '?' in path else '?'}fieldValidation=Strict"
        async with self.session.request(
            method, path, json=body, headers={"Content-Type": content_type}
        ) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise AssertionError(f"{method} {path}: {response.status} {data}")
            return data

    async def apply_qwd(self, manifest: Mapping[str, Any]) -> Any:
        namespace = manifest["metadata"]["namespace"]
        return await self.call("POST", QWD_PATH.format(namespace=namespace), manifest)

    async def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return await self.call("PATCH", path, body, MERGE_PATCH)

    async def patch_qwd(self, namespace: str, name: str, body: Mapping[str, Any]) -> Any:
        return await self.patch(f"{QWD_PATH.format(namespace=namespace)}/{name}", body)

    async def delete(self, path: str) -> Any:
        return await self.call("DELETE", path)


def status_of(emulator: KubeEmulator, namespace: str, name: str) -> dict[str, Any]:
    obj = emulator.get_object(QWDS, namespace, name) or {}
    status: dict[str, Any] = obj.get("status") or {}
    return status


def deployments_of(emulator: KubeEmulator, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    """The QwenDeployment's Deployments, by revision."""
    return {
        d["metadata"]["labels"]["qwenops.io/revision"]: d
        for d in emulator.list_objects(DEPLOYMENTS)
        if d["metadata"]["namespace"] == namespace
        and d["metadata"].get("labels", {}).get("qwenops.io/deployment") == name
    }


def event_reasons(emulator: KubeEmulator, name: str) -> list[str]:
    """Reasons of the events about `name`, oldest first."""
    events = sorted(emulator.list_objects(EVENTS), key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e.get("reason", "") for e in events if (e.get("involvedObject") or {}).get("name") == name]
