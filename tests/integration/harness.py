"""The real operator (`qwenops run`, a subprocess) against the emulated API, for tests and the demo."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render.desired import revision_of, with_image
from tests.emulator import KubeEmulator, write_kubeconfig

QWDS = "qwenops.io/v1alpha1/qwendeployments"
DEPLOYMENTS = "apps/v1/deployments"
SERVICES = "v1/services"
EVENTS = "v1/events"
QWD_PATH = "/apis/qwenops.io/v1alpha1/namespaces/{namespace}/qwendeployments"
MERGE_PATCH = "application/merge-patch+json"
SERVING_IMAGE = "registry.example/qwenops/serving:test"
REPO = Path(__file__).resolve().parents[2]


def qwd(namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A QwenDeployment manifest around `spec`."""
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def expected_revision(manifest: Mapping[str, Any]) -> str:
    """The revision an operator run with SERVING_IMAGE gives this manifest's spec."""
    spec = QwenDeploymentSpec.model_validate(manifest["spec"])
    return revision_of(with_image(spec, SERVING_IMAGE))


class Operator:
    """`qwenops run -A --standalone` against an emulator; its output goes to `log`."""

    def __init__(
        self,
        url: object,
        workdir: Path,
        resync_seconds: float = 1.0,
        serving_image: str = SERVING_IMAGE,
        metrics_port: int = 0,
    ) -> None:
        self.serving_image = serving_image
        self.metrics_port = metrics_port
        self.kubeconfig = write_kubeconfig(workdir / "kubeconfig", url)
        self.log = workdir / "operator.log"
        self.resync_seconds = resync_seconds
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        """What is run: the operator as the chart runs it (a subclass may run it otherwise)."""
        return [sys.executable, "-m", "qwenops.cli", "run", "-A", "--standalone"]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "QWENOPS_SERVING_IMAGE": self.serving_image,
            "QWENOPS_RESYNC_SECONDS": str(self.resync_seconds),
            "QWENOPS_METRICS_PORT": str(self.metrics_port),
        }

    async def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), env=self.environment(), stdout=output, stderr=output, cwd=REPO
            )

    async def stop(self, *, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no output)"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.asynccontextmanager
async def operator_running(
    url: object, workdir: Path, resync_seconds: float = 1.0
) -> AsyncIterator[Operator]:
    operator = Operator(url, workdir, resync_seconds)
    await operator.start()
    try:
        yield operator
    finally:
        await operator.stop()


async def eventually(
    check: Callable[[], Any], what: str, operator: Operator | None = None, timeout: float = 30
) -> Any:
    """Poll `check` until it returns something truthy; fail with the operator's log otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            log = operator.tail() if operator else ""
            raise AssertionError(f"not seen within {timeout}s: {what}\n--- operator log ---\n{log}")
        await asyncio.sleep(0.1)


class Client:
    """Writes as `kubectl` would send them (the emulator does no admission: the CRD is not checked)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
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
