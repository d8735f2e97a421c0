"""The real operator (`qwenops run -A --standalone`, a subprocess) against the emulated API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from qwenops_testing.emulator import write_kubeconfig
from qwenops_testing.manifests import SERVING_IMAGE


class Operator:
    """`qwenops run -A --standalone` against an emulator; its output goes to `log`.

    `cwd` is where it runs (None: here), for a subclass whose :meth:`command` needs it.
    """

    def __init__(
        self,
        url: object,
        workdir: Path,
        resync_seconds: float = 1.0,
        serving_image: str = SERVING_IMAGE,
        metrics_port: int = 0,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = dict(env or {})
        self.serving_image = serving_image
        self.metrics_port = metrics_port
        self.kubeconfig = write_kubeconfig(workdir / "kubeconfig", url)
        self.log = workdir / "operator.log"
        self.resync_seconds = resync_seconds
        self.cwd = cwd
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
            **self.extra_env,
        }

    async def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), env=self.environment(), stdout=output, stderr=output, cwd=self.cwd
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
