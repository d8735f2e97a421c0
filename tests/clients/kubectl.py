"""Running the real kubectl as a subprocess of the test's event loop (the emulator serves it there)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

TIMEOUT_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Kubectl:
    """`await kubectl("get", "qwd")`: kubectl with a kubeconfig and a discovery cache of its own."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(home / "kube-cache"),
        }

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """A long-running kubectl (`get -w`): the caller reads its stdout and ends it."""
        return await asyncio.create_subprocess_exec(
            str(self.binary), *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def __call__(self, *args: str, stdin: str | None = None) -> Result:
        process = await asyncio.create_subprocess_exec(
            str(self.binary), *args, env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(TIMEOUT_SECONDS):
            out, err = await process.communicate(None if stdin is None else stdin.encode())
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())
