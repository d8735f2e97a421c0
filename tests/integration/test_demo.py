"""`make demo` tells the story the README promises: a promotion, a rollback by Prometheus, a refusal."""

import subprocess
import sys
from pathlib import Path

import pytest

from qwenops_testing.prometheus import find_prometheus, require_prometheus

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_promotes_a_good_version_and_rolls_a_bad_one_back() -> None:
    if find_prometheus() is None:
        require_prometheus()  # skips, or fails where CI requires Prometheus
    run = subprocess.run(
        [sys.executable, "demo/run.py"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for stage in ("Downloading", "Verifying", "Loading", "Ready"):
        assert stage in out
    assert "Promoted" in out and "step 2/2 at 50%" in out
    assert "RolledBack" in out and "rolled back (SLOBreached): maxErrorRate" in out
    assert "Deployments unchanged: True" in out
    assert "GPUs requested at most: 4 of 4; ready serving pods at least: 3; pods that waited for a GPU: 0" in out
    assert "\033[" not in out  # piped: no colour
