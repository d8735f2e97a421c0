"""The real kubectl, run by the demo against the emulated API as a user types it.

kubectl 1.35 is the one `make helm` fetches into `.cache/bin` ($QWENOPS_KUBECTL, else a `kubectl`
on PATH, names another). Its PATH starts with this interpreter's folder, where the package
installs the `kubectl-qwen` executable, so `kubectl qwen` is found as a plugin, as on a user's
machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from qwenops_testing.emulator import write_kubeconfig

REPO = Path(__file__).resolve().parents[1]
FETCHED = REPO / ".cache" / "bin" / "kubectl"


def find_kubectl() -> Path | None:
    named = os.environ.get("QWENOPS_KUBECTL")
    if named:
        return Path(named)
    if FETCHED.is_file():
        return FETCHED
    found = shutil.which("kubectl")
    return Path(found) if found else None


class Kubectl:
    """`await kubectl("get", "qwd")` prints the command and kubectl's own output; a failure stops the demo."""

    def __init__(self, binary: Path, url: object, workdir: Path) -> None:
        self.binary = binary
        config = write_kubeconfig(workdir / "kubeconfig", url)
        folders = [str(Path(sys.executable).parent), str(binary.parent), os.environ.get("PATH", "")]
        path = os.pathsep.join(folders)
        self.env = {
            **os.environ, "PATH": path, "KUBECONFIG": str(config),
            "KUBECACHEDIR": str(workdir / "kube-cache"),
        }  # fmt: skip

    async def __call__(self, *args: str, shown: str | None = None, echo: bool = True) -> str:
        if echo:
            print(f"$ {shown or 'kubectl ' + ' '.join(args)}", flush=True)
        process = await asyncio.create_subprocess_exec(
            str(self.binary), *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        text = out.decode()
        if echo:
            print(text, end="", flush=True)
        if process.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} exited {process.returncode}:\n{text}")
        return text
