"""The e2e suite's emulated cluster: where no real cluster answers, the tests that need no kubelet
run against the emulated API (qwenops_testing.emulator, a subprocess) with the real kubectl.

It serves what the chart and the suite write (`--platform`), starts without the QwenDeployment CRD
(the suite applies it, as on a real cluster) and runs no pods (`--no-deployments-available`:
a Deployment's pods are created and scheduled, and stay Pending, as on a cluster without the
model's GPUs). The tests that need real pods (the chart's operator, Prometheus and the Hub stand-in
in the cluster) are skipped with NEEDS_KUBELET.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NEEDS_KUBELET = (
    "needs real pods (a kubelet): the chart's operator, Prometheus and the Hub stand-in run in the "
    "cluster, which the emulated API the suite fell back to does not run; `make e2e` runs it on kind"
)
MODE_ENV = "QWENOPS_E2E_CLUSTER"
"""Set by the suite while it runs on the emulated API ("emulated"), for a test to say how it ran."""


@contextlib.contextmanager
def emulated_cluster(workdir: Path) -> Iterator[Path]:
    """The emulated API running until the block ends; yields a kubeconfig for it."""
    kubeconfig = workdir / "kubeconfig"
    log = (workdir / "emulator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "qwenops_testing.emulator", "--platform", "--without-crds",
         "--no-deployments-available", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=log, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()  # printed once the kubeconfig is written
        if not url.startswith("http"):
            raise RuntimeError(f"the emulated API did not start: {(workdir / 'emulator.log').read_text()[-2000:]}")
        yield kubeconfig
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def environment(kubeconfig: Path) -> Iterator[None]:
    """KUBECONFIG (and MODE_ENV) set for kubectl and the locally run operator, restored after."""
    saved = {key: os.environ.get(key) for key in ("KUBECONFIG", MODE_ENV)}
    os.environ["KUBECONFIG"] = str(kubeconfig)
    os.environ[MODE_ENV] = "emulated"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
