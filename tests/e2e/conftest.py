"""The e2e suite runs against a real cluster: the current kubeconfig context (kind by default).

Where no cluster answers, every test here is skipped with the reason printed
(`pytest -rs`); nothing passes without a cluster.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "qwenops.io_qwendeployments.yaml"


def cluster_problem() -> str | None:
    """Why no cluster can be used, or None when one answers."""
    kubectl = shutil.which(os.environ.get("KUBECTL", "kubectl"))
    if kubectl is None:
        return "no kubectl on PATH (set KUBECTL), so no cluster to run the e2e suite against"
    try:
        probe = subprocess.run(
            [kubectl, "version", "--request-timeout=5s", "-o", "json"],
            capture_output=True, text=True, timeout=15, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "the cluster of the current kubeconfig context did not answer within 15 s"
    if probe.returncode != 0 or '"serverVersion"' not in probe.stdout:
        return f"no reachable cluster in the current kubeconfig context: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="session")
def kubectl() -> str:
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)
    return shutil.which(os.environ.get("KUBECTL", "kubectl")) or "kubectl"


@pytest.fixture(scope="session")
def crd_installed(kubectl: str) -> Iterator[None]:
    subprocess.run([kubectl, "apply", "--server-side", "-f", str(CRD)], check=True)
    subprocess.run(
        [kubectl, "wait", "--for=condition=Established", "--timeout=60s",
         "crd/qwendeployments.qwenops.io"],
        check=True,
    )  # fmt: skip
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: llm}\n"
    subprocess.run([kubectl, "apply", "-f", "-"], input=namespace, text=True, check=True)
    yield
