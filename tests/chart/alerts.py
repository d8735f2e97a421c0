"""The chart's alerting rules (its PrometheusRule), read for promtool and for a real Prometheus, and
the metric names the operator really exposes (operator/qwenops/io/metrics.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from qwenops_testing.prometheus import BINARY_ENV, INSTALL, REQUIRE_ENV, find_prometheus
from tests.chart.helm import Helm, Manifest, one

ALERTS = (
    "QwenDeploymentRolledBack",
    "QwenDeploymentProgressDeadlineExceeded",
    "QwenDeploymentCanaryHeld",
    "QwenOpsOperatorDown",
)
ON = {"prometheusRule.enabled": "true"}


def rule_groups(objects: Sequence[Manifest]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = one(objects, "PrometheusRule")["spec"]["groups"]
    return groups


def rendered_groups(helm: Helm, sets: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The rule groups `helm template` renders with the PrometheusRule on (and `sets`)."""
    return rule_groups(helm.template(sets={**ON, **(sets or {})}))


def rules(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(rule) for group in groups for rule in group["rules"]]


def operator_metric_names() -> set[str]:
    """The series names the operator's metrics give Prometheus (counters `_total`, histograms
    `_bucket`, `_count`, `_sum`), from prometheus-client's registry after importing them."""
    from prometheus_client import REGISTRY  # noqa: PLC0415

    import qwenops.io.metrics  # noqa: F401, PLC0415 - importing registers them

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("qwenops_")
        for suffix in suffixes[family.type]
    }


def find_promtool() -> str | None:
    """`promtool` on PATH, else beside the `prometheus` binary the tests run (Debian ships both)."""
    found = shutil.which("promtool")
    if found is not None:
        return found
    prometheus = find_prometheus()
    beside = Path(prometheus).with_name("promtool") if prometheus else None
    return str(beside) if beside is not None and beside.is_file() else None


def require_promtool() -> str:
    """promtool's path, or skip saying why (fail where $QWENOPS_REQUIRE_PROMETHEUS is set)."""
    found = find_promtool()
    if found is not None:
        return found
    message = f"no promtool on PATH nor beside ${BINARY_ENV}: {INSTALL}"
    if os.environ.get(REQUIRE_ENV, "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message} (${REQUIRE_ENV} is set: the rules must be checked)")
    pytest.skip(message)


def helm_or_skip(home: Path) -> Helm:
    """The real helm for a test outside tests/chart, or skip saying why (fail where $QWENOPS_REQUIRE_HELM
    is set, as in tests/chart/conftest.py)."""
    from tests.chart.conftest import REQUIRE_ENV as HELM_REQUIRED  # noqa: PLC0415
    from tests.chart.conftest import required  # noqa: PLC0415
    from tests.chart.fetch_helm import HelmUnavailableError, ensure_helm  # noqa: PLC0415

    try:
        return Helm(binary=ensure_helm(), home=home)
    except HelmUnavailableError as exc:
        message = f"no helm binary to render the chart's rules: {exc} (python tests/chart/fetch_helm.py)"
        if required():
            pytest.fail(f"{message}; ${HELM_REQUIRED} is set")
        pytest.skip(message)
