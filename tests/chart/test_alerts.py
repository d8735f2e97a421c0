"""The chart's PrometheusRule: promtool accepts it, its expressions select the operator's real
series (operator/qwenops/io/metrics.py) of this release's scrape job only, and promtool's rule unit
tests show each alert firing when it should and not otherwise.

tests/dashboards/test_dashboard_prometheus.py loads the same rules into a real Prometheus scraping
the operator's metrics."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.alerts import (
    ALERTS,
    ON,
    operator_metric_names,
    rendered_groups,
    require_promtool,
    rule_groups,
    rules,
)
from tests.chart.helm import Helm, HelmError, Manifest, of_kind, one
from tests.dashboards import promql

JOB = 'job="qwenops-metrics"'  # the chart's ServiceMonitor: the job is the metrics Service's name
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")


def test_only_when_asked_and_only_with_metrics(helm: Helm, render: Callable[[str], list[Manifest]]) -> None:
    assert not of_kind(render("defaults"), "PrometheusRule")
    assert [a["alert"] for a in rules(rule_groups(render("everything")))] == list(ALERTS)
    with pytest.raises(HelmError, match=r"prometheusRule\.enabled needs"):
        helm.template(sets={**ON, "metricsPort": "0"})


def test_every_expression_selects_real_operator_series_of_this_job(helm: Helm) -> None:
    real = operator_metric_names() | {"up"}
    for rule in rules(rendered_groups(helm)):
        expr = rule["expr"]
        assert promql.balanced(expr), rule["alert"]
        _, names = promql.functions_and_names(expr)
        assert names and names <= real, f"{rule['alert']}: {sorted(names - real)} not exposed by the operator"
        selectors = _SELECTOR.findall(expr)
        assert {name for name, _ in selectors} == names, f"{rule['alert']}: every series by a selector"
        assert all(JOB in matchers for _, matchers in selectors), rule["alert"]


def test_the_default_job_is_the_one_the_service_monitor_gives(render: Callable[[str], list[Manifest]]) -> None:
    """prometheus-operator names a ServiceMonitor's job after the Service it scrapes (no jobLabel set)."""
    objects = render("cluster-wide-monitoring")
    assert "jobLabel" not in one(objects, "ServiceMonitor")["spec"]
    assert f'job="{one(objects, "Service")["metadata"]["name"]}"' == JOB


def test_the_selector_and_labels_can_be_set(helm: Helm, render: Callable[[str], list[Manifest]]) -> None:
    for rule in rules(rendered_groups(helm, {"prometheusRule.selector": 'job="ops"\\,cluster="eu"'})):
        assert JOB not in rule["expr"] and 'job="ops",cluster="eu"' in rule["expr"]
    rule_object = of_kind(render("everything"), "PrometheusRule")[0]
    assert rule_object["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    for rule in rules(rule_groups(render("everything"))):
        assert rule["labels"]["team"] == "ml-platform" and rule["labels"]["severity"]
    held = next(
        r for r in rules(rule_groups(render("everything"))) if r["alert"] == "QwenDeploymentCanaryHeld"
    )
    assert held["for"] == "2h"


def test_promtool_accepts_the_rules(render: Callable[[str], list[Manifest]], tmp_path: Path) -> None:
    promtool = require_promtool()
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(render("everything"))}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(ALERTS)} rules found" in done.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    matchers = ",".join([JOB, *(f'{key}="{value}"' for key, value in labels.items())])
    return {"series": f"{metric}{{{matchers}}}", "values": values}


def expect(at: str, alert: str, *fired: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels} for labels in fired]}


CHAT = {"namespace": "llm", "name": "chat"}
SCENARIOS: dict[str, dict[str, Any]] = {
    "a rollback, for the window, of this job only": {
        "input_series": [
            series("qwenops_rollbacks_total", "0 0 0 1x40", **CHAT, reason="SLOBreached"),
            series("qwenops_rollbacks_total", "0x43", **CHAT, reason="ProgressDeadlineExceeded"),
            {
                "series": 'qwenops_rollbacks_total{job="other",namespace="llm",name="x",reason="Aborted"}',
                "values": "0 0 0 1x40",
            },
        ],
        "alert_rule_test": [
            expect(
                "5m", "QwenDeploymentRolledBack", {**CHAT, "reason": "SLOBreached", "severity": "warning"}
            ),
            expect("5m", "QwenDeploymentProgressDeadlineExceeded"),
            expect("25m", "QwenDeploymentRolledBack"),
        ],
    },
    "a canary rolled back at its progress deadline": {
        "input_series": [
            series("qwenops_rollbacks_total", "0x43", **CHAT, reason="SLOBreached"),
            series("qwenops_rollbacks_total", "0 0 0 1x40", **CHAT, reason="ProgressDeadlineExceeded"),
        ],
        "alert_rule_test": [
            expect("5m", "QwenDeploymentProgressDeadlineExceeded", {**CHAT, "severity": "warning"}),
            expect("5m", "QwenDeploymentRolledBack"),
        ],
    },
    "a canary held at one weight, beside one that moves and one paused": {
        "input_series": [
            series("qwenops_phase", "1x120", **CHAT, phase="Progressing"),
            series("qwenops_canary_weight_percent", "25x120", **CHAT),
            series("qwenops_phase", "1x120", namespace="llm", name="moving", phase="Progressing"),
            series(
                "qwenops_canary_weight_percent",
                "10x19 25x20 50x20 75x20 90x40",
                namespace="llm",
                name="moving",
            ),
            series("qwenops_phase", "0x120", namespace="llm", name="paused", phase="Progressing"),
            series("qwenops_canary_weight_percent", "25x120", namespace="llm", name="paused"),
        ],
        "alert_rule_test": [
            expect("50m", "QwenDeploymentCanaryHeld"),
            expect("90m", "QwenDeploymentCanaryHeld", {**CHAT, "severity": "warning"}),
        ],
    },
    "the operator down": {
        "input_series": [series("up", "1x10 0x20", instance="10.0.0.9:9808")],
        "alert_rule_test": [
            expect("12m", "QwenOpsOperatorDown"),
            expect("20m", "QwenOpsOperatorDown", {"severity": "critical"}),
        ],
    },
    "the operator gone": {
        "input_series": [series("up", "1x10", instance="10.0.0.9:9808")],
        "alert_rule_test": [
            expect("9m", "QwenOpsOperatorDown"),
            expect("25m", "QwenOpsOperatorDown", {"severity": "critical"}),
        ],
    },
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_alert_fires_when_it_should(helm: Helm, tmp_path: Path, scenario: str) -> None:
    """promtool's rule unit tests, on the rules without their annotations (checked above)."""
    promtool = require_promtool()
    groups = rendered_groups(helm)
    for rule in rules(groups):
        assert rule["alert"] in ALERTS
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", **SCENARIOS[scenario]}]}  # fmt: skip
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
