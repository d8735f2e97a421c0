"""Watches as kubectl reads them: `kubectl get -w` and the wait of `kubectl delete`."""

from __future__ import annotations

import asyncio

from qwenops_testing.emulator import KubeEmulator
from tests.clients.kubectl import Kubectl

SERVICES = "v1/services"


def service(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}


async def test_get_watch_prints_objects_as_they_come(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object(SERVICES, service("first"), namespace="default")
    process = await kubectl.start("get", "svc", "-w", "-o", "name")
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert (await process.stdout.readline()).decode().strip() == "service/first"
            emulator.create_object(SERVICES, service("second"), namespace="default")
            assert (await process.stdout.readline()).decode().strip() == "service/second"
    finally:
        process.terminate()
        _, err = await process.communicate()
    assert b"error" not in err.lower(), err.decode()


async def test_delete_waits_for_the_object_to_go(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object(SERVICES, service("web"), namespace="default")
    result = await kubectl("delete", "svc", "web", "--wait=true", "--timeout=20s")
    assert result.code == 0, result
    assert result.stdout.strip() == 'service "web" deleted from default namespace'
    assert emulator.get_object(SERVICES, "default", "web") is None
