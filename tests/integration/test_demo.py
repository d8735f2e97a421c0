"""`make demo` tells the story the README promises: a promotion, a rollback by Prometheus, a refusal;
every command a user types run with the real kubectl 1.35 (`make helm` fetches it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwenops_testing.prometheus import find_prometheus, require_prometheus
from tests.chart.conftest import REQUIRE_ENV, required
from tests.chart.fetch_helm import HelmUnavailableError, ensure_helm

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_promotes_a_good_version_and_rolls_a_bad_one_back() -> None:
    if find_prometheus() is None:
        require_prometheus()  # skips, or fails where CI requires Prometheus
    try:
        kubectl = ensure_helm().parent / "kubectl"
    except HelmUnavailableError as exc:
        if required():
            pytest.fail(f"no kubectl: {exc}; ${REQUIRE_ENV} is set, so the demo must run")
        pytest.skip(f"no kubectl: {exc} (`make helm` fetches it)")
    run = subprocess.run(
        [sys.executable, "demo/run.py"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "QWENOPS_KUBECTL": str(kubectl)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for stage in ("Downloading", "Verifying", "Loading", "Ready"):
        assert stage in out
    assert "Promoted" in out and "step 2/2 at 50%" in out
    assert "RolledBack" in out and "rolled back (SLOBreached): maxErrorRate" in out
    assert "Deployments unchanged: True" in out
    assert "GPUs requested at most: 4 of 4; ready serving pods at least: 3; pods that waited for a GPU: 0" in out
    assert "\033[" not in out  # piped: no colour
    # kubectl's own output, not the demo's: what the server and the plugin answered it
    assert "customresourcedefinition.apiextensions.k8s.io/qwendeployments.qwenops.io created" in out
    assert "qwendeployment.qwenops.io/chat created" in out
    assert "\nNAME   STABLE" in out  # `kubectl get qwd`: the CRD's printer columns, as a Table
    [header] = [line for line in out.splitlines() if line.startswith("NAME   STABLE")]
    assert header.split() == ["NAME", "STABLE", "CANARY", "WEIGHT", "PHASE", "PODS", "AGE"]
    assert "qwendeployment.qwenops.io/chat annotated" in out
    assert out.count("$ kubectl qwen status chat") == 3 and "$ kubectl qwen history chat" in out
    assert "Events:\n  Type     Reason" in out and "InvalidSpec" in out  # `kubectl describe qwd`
