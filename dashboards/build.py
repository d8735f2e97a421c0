"""Write the Grafana dashboard of a QwenDeployment's rollouts, `dashboards/qwenops.json`.

    python -m dashboards.build           # rewrite qwenops.json
    python -m dashboards.build --check   # exit 1 if it is stale (tests/dashboards checks it too)

The metric names come from where they are defined: the operator's own metrics
(`qwenops.io.metrics`), the SLO registry (`qwenops.api.slos`: the series the analysis reads, and
a panel with a dashed line per SLO), and the other vLLM names the simulator serves
(`images.serving.vllm_sim`), so a renamed metric makes the checked-in dashboard stale instead of
silently empty.

Series labels, as the operator's analysis reads them: the vLLM pods' series carry `namespace`,
`qwenops_io_deployment` and `qwenops_io_revision` (a PodMonitor's labelmap of the pods' labels).
The track (stable or canary) is a label of the Deployment, not of the pods, so the vLLM panels
are per revision: during a rollout the canary is the newer of the two. The operator's own
series carry `namespace` and `name` of the QwenDeployment, so its scrape must keep them
(`honorLabels: true` on its PodMonitor or ServiceMonitor; else Prometheus renames the
metric's `namespace` to `exported_namespace`). `qwenops_breach_to_rollback_seconds` has no
per-object labels: its panels cover every QwenDeployment the operator runs.

vLLM's names have a colon (`vllm:e2e_request_latency_seconds`); Prometheus stores them as they
are, or escaped to `vllm_...` when the exporter escapes them for the OpenMetrics format the
scraper asked for (prometheus-client 0.26 scraped by Prometheus 2.x does). The panels select
`{__name__=~"vllm[:_]..."}`, like the operator's default queries, so they work either way.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from images.serving.vllm_sim import metrics as vllm
from qwenops.api.slos import REQUESTS, SLO, SLOS, Count, Judgement, Quantile, Unit, name_matcher
from qwenops.api.spec import SeriesLabels
from qwenops.api.status import Phase
from qwenops.io import metrics as operator_metrics

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "qwenops.json"
UID = "qwenops-rollouts"

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}

# -- names --------------------------------------------------------------------------------------


def family(metric: MetricWrapperBase) -> str:
    """The family name a prometheus-client metric object exposes (`_total` stripped for counters)."""
    names = {each.name for each in metric.describe()}
    assert len(names) == 1, names
    return str(names.pop())


ROLLBACKS = family(operator_metrics.ROLLBACKS) + "_total"
BREACH_TO_ROLLBACK = family(operator_metrics.BREACH_TO_ROLLBACK)
CANARY_WEIGHT = family(operator_metrics.CANARY_WEIGHT)
PHASE = family(operator_metrics.PHASE)
RECONCILE_SECONDS = family(operator_metrics.RECONCILE_SECONDS)
RECONCILE_ERRORS = family(operator_metrics.RECONCILE_ERRORS) + "_total"


# -- selectors ----------------------------------------------------------------------------------

LABELS = SeriesLabels()
"""The series labels of the pods, as the operator's analysis reads them by default."""
NAMESPACE, DEPLOYMENT, REVISION = LABELS.namespace, LABELS.deployment, LABELS.revision
REVISIONS = f'{NAMESPACE}="$namespace",{DEPLOYMENT}="$deployment",{REVISION}=~"$revision"'
"""The vLLM pods' series of the chosen QwenDeployment and revisions."""
OBJECT = 'namespace="$namespace",name="$deployment"'
"""The operator's own series of the chosen QwenDeployment."""
BY_NAME = "{{" + REVISION + "}}"
"""The legend of a per-revision series: its revision hash."""
BY_REVISION = f"sum by ({REVISION})"


def rate_by_revision(count: Count) -> str:
    """What the analysis counts with `count` (the requests it judges, their errors), per second."""
    return f"{BY_REVISION} (rate({count.series(REVISIONS)}[$__rate_interval]))"


def quantile_by_revision(quantile: Quantile) -> str:
    return (
        f"histogram_quantile({quantile.quantile:g}, sum by (le, {REVISION}) "
        f"(rate({quantile.buckets(REVISIONS)}[$__rate_interval])))"
    )


def by_revision(name: str) -> str:
    return f"{BY_REVISION} ({{{name_matcher(name)},{REVISIONS}}})"


def added_over(metric: str, window: str) -> str:
    """How much a counter grew over `window`, counting a series born inside it from 0.

    prometheus-client creates a labelled counter's series at its first increment, at 1, so
    `increase()` never sees the first rollback of a reason; a series absent `window` ago counts
    from 0 instead.
    """
    selector = f"{metric}{{{OBJECT}}}"
    return f"({selector} - ({selector} offset {window} or {selector} * 0))"


# -- panels -------------------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> Json:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, **extra}


def slo_line(variable: str, legend: str, ref: str) -> Json:
    """A horizontal line at an SLO given as a dashboard variable (thresholds cannot use variables)."""
    return target(f"vector(${variable})", legend, ref)


def slo_override(legend: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": legend},
        "properties": [
            {"id": "color", "value": {"fixedColor": "red", "mode": "fixed"}},
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "custom.lineWidth", "value": 2},
        ],
    }


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    overrides: list[Json] | None = None,
    minimum: float | None = 0,
    maximum: float | None = None,
    draw: str = "line",
) -> Json:
    defaults: Json = {
        "unit": unit,
        "custom": {"drawStyle": draw, "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"},
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, description: str, targets: list[Json], unit: str, **options: Any) -> Json:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
            **options,
        },
    }


PHASE_COLORS = {
    Phase.HEALTHY: "green",
    Phase.PROGRESSING: "blue",
    Phase.PAUSED: "yellow",
    Phase.DEGRADED: "orange",
    Phase.ROLLED_BACK: "red",
    Phase.FAILED: "dark-red",
}


def phase_overrides() -> list[Json]:
    return [
        {
            "matcher": {"id": "byName", "options": str(phase)},
            "properties": [{"id": "color", "value": {"fixedColor": color, "mode": "fixed"}}],
        }
        for phase, color in PHASE_COLORS.items()
    ]


def rollout_row() -> list[Json]:
    phase_now = stat(
        "Phase",
        "The QwenDeployment's phase now (qwenops_phase == 1).",
        [target(f"{PHASE}{{{OBJECT}}} == 1", "{{phase}}", instant=True)],
        "none",
        textMode="name",
        colorMode="background",
    )
    phase_now["fieldConfig"]["overrides"] = phase_overrides()
    timeline = {
        "type": "state-timeline",
        "title": "Phase over time",
        "description": "One row per phase, lit while the QwenDeployment was in it.",
        "datasource": DATASOURCE,
        "targets": [target(f"max by (phase) ({PHASE}{{{OBJECT}}})", "{{phase}}")],
        "fieldConfig": {
            "defaults": {
                "custom": {"fillOpacity": 80, "lineWidth": 0},
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": " ", "color": "transparent", "index": 0},
                            "1": {"text": "now", "index": 1},
                        },
                    }
                ],
                "color": {"mode": "fixed", "fixedColor": "blue"},
            },
            "overrides": phase_overrides(),
        },
        "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
    }
    weight = timeseries(
        "Canary weight",
        "Share of traffic the canary gets now (0 with no canary, or after a rollback).",
        [target(f"{CANARY_WEIGHT}{{{OBJECT}}}", "canary weight")],
        "percent",
        maximum=100,
        draw="line",
    )
    weight["fieldConfig"]["defaults"]["custom"]["lineInterpolation"] = "stepAfter"
    rollbacks = stat(
        "Rollbacks in range",
        "Canaries rolled back over the dashboard's time range, by reason "
        "(SLOBreached, ProgressDeadlineExceeded, VerificationFailed, Aborted).",
        [target(f"sum by (reason) ({added_over(ROLLBACKS, '$__range')})", "{{reason}}", instant=True)],
        "none",
        textMode="value_and_name",
    )
    rollbacks["fieldConfig"]["defaults"]["thresholds"] = {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
    }
    return [phase_now, timeline, weight, rollbacks]


GRAFANA_UNITS: dict[Unit, str] = {"ratio": "percentunit", "seconds": "s", "multiple": "none"}


def slo_variable(slo: SLO) -> str:
    """The dashboard variable holding `slo`'s threshold, drawn as a dashed line."""
    return f"slo_{slo.field}"


def slo_panel(slo: SLO) -> Json | None:
    """What `slo` judges, per revision, with a dashed line at the SLO; None for an SLO drawn by no panel."""
    variable, legend = slo_variable(slo), f"SLO {slo.key}"
    line = f"the dashed line is the SLO (variable {variable})"
    title = slo.label[:1].upper() + slo.label[1:] if slo.label.split()[0].isalpha() else slo.label
    match slo.judged_by:
        case "errorRate":
            assert isinstance(slo.query, Count), slo
            expr = f"{rate_by_revision(slo.query)} / {rate_by_revision(REQUESTS)}"
            description = (
                f"5xx answers over all inference requests, per revision; {line}. The analysis judges "
                "the canary over analysis.window with a binomial test, not by this ratio alone."
            )
        case "threshold":
            assert isinstance(slo.query, Quantile), slo
            expr, description = quantile_by_revision(slo.query), f"From {slo.query.histogram}; {line}."
        case "errorRateVsStable":
            return None  # its two ratios are the errorRate panel's
    return timeseries(
        f"{title} by revision",
        description,
        [target(expr, BY_NAME), slo_line(variable, legend, "B")],
        GRAFANA_UNITS[slo.unit],
        overrides=[slo_override(legend)],
    )


DRAWN = tuple(slo for slo in SLOS if slo_panel(slo) is not None)
"""The SLOs with a panel and a dashed line."""


def slo_panels(judged_by: Judgement) -> list[Json]:
    """The panels of the SLOs judged so, in the registry's order."""
    return [panel for slo in SLOS if slo.judged_by == judged_by and (panel := slo_panel(slo)) is not None]


def traffic_row() -> list[Json]:
    rate = timeseries(
        "Request rate by revision",
        "Inference requests per second (the handlers the analysis counts), per revision.",
        [target(rate_by_revision(REQUESTS), BY_NAME)],
        "reqps",
    )
    return [rate, *slo_panels("errorRate")]


def latency_row() -> list[Json]:
    queue = timeseries(
        "Requests running and waiting by revision",
        "A growing queue explains a growing time to first token.",
        [
            target(by_revision(vllm.NUM_REQUESTS_RUNNING), f"running {BY_NAME}"),
            target(by_revision(vllm.NUM_REQUESTS_WAITING), f"waiting {BY_NAME}", "B"),
        ],
        "short",
    )
    kv_cache = timeseries(
        "KV-cache usage by revision",
        "The fullest pod of each revision (1 is full: requests are preempted or wait).",
        [
            target(
                f"max by ({REVISION}) ({{{name_matcher(vllm.KV_CACHE_USAGE_PERC)},{REVISIONS}}})",
                BY_NAME,
            )
        ],
        "percentunit",
        maximum=1,
    )
    return [*slo_panels("threshold"), queue, kv_cache]


def operator_row() -> list[Json]:
    buckets = f"{BREACH_TO_ROLLBACK}_bucket"
    distribution = {
        "type": "bargauge",
        "title": "Breach to rollback (every QwenDeployment)",
        "description": "Rollbacks for breached SLOs over the time range, by the time from the first "
        "failed reading of the run to the rollback (seconds, upper bucket bounds).",
        "datasource": DATASOURCE,
        "targets": [
            target(f"sum by (le) (increase({buckets}[$__range]))", "{{le}}", format="heatmap", instant=True)
        ],
        "fieldConfig": {"defaults": {"unit": "none", "min": 0}, "overrides": []},
        "options": {
            "displayMode": "basic",
            "orientation": "vertical",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
    }
    quantiles = stat(
        "Breach to rollback, p50 / p95 (every QwenDeployment)",
        "Quantiles over the time range of the seconds from the first failed reading to the rollback.",
        [
            target(
                f"histogram_quantile(0.5, sum by (le) (increase({buckets}[$__range])))", "p50", instant=True
            ),
            target(
                f"histogram_quantile(0.95, sum by (le) (increase({buckets}[$__range])))",
                "p95",
                "B",
                instant=True,
            ),
        ],
        "s",
        textMode="value_and_name",
    )
    reconcile = timeseries(
        "Reconcile duration p95 and errors (operator)",
        "One reconcile includes its Prometheus queries; errors by kind (conflict, api, internal).",
        [
            target(
                f"histogram_quantile(0.95, sum by (le) (rate({RECONCILE_SECONDS}_bucket[$__rate_interval])))",
                "p95 reconcile",
            ),
            target(f"sum by (kind) (rate({RECONCILE_ERRORS}[$__rate_interval]))", "errors {{kind}}", "B"),
        ],
        "s",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": "errors .*"},
                "properties": [
                    {"id": "unit", "value": "ops"},
                    {"id": "custom.axisPlacement", "value": "right"},
                    {"id": "color", "value": {"fixedColor": "red", "mode": "fixed"}},
                ],
            }
        ],
    )
    return [distribution, quantiles, reconcile]


def row(title: str, y: int) -> Json:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
    }


def layout() -> list[Json]:
    """Rows of panels, laid out left to right on Grafana's 24-column grid, ids in order."""
    traffic, latency = traffic_row(), latency_row()
    rows: list[tuple[str, list[Json], list[int]]] = [
        ("Rollout", rollout_row(), [4, 8, 6, 6]),
        ("Traffic by revision", traffic, [12] * len(traffic)),
        ("Latency and load by revision", latency, [12] * len(latency)),
        ("Operator", operator_row(), [8, 6, 10]),
    ]
    panels: list[Json] = []
    y = 0
    for title, members, widths in rows:
        assert len(members) == len(widths) and all(w <= 24 for w in widths), title
        panels.append(row(title, y))
        y += 1
        x, height = 0, 8
        for panel, width in zip(members, widths, strict=True):
            if x + width > 24:
                x, y = 0, y + height
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            panels.append(panel)
            x += width
        y += height
    for number, panel in enumerate(panels, 1):
        panel["id"] = number
    return panels


# -- variables and annotations ------------------------------------------------------------------


def query_variable(name: str, label: str, query: str, *, multi: bool = False) -> Json:
    variable: Json = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "hide": 0,
    }
    if multi:
        variable["allValue"] = ".+"
    return variable


def textbox(name: str, label: str, value: str, description: str) -> Json:
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "description": description,
        "query": value,
        "current": {"text": value, "value": value},
        "hide": 0,
    }


def variables() -> list[Json]:
    return [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Prometheus",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
        },
        query_variable("namespace", "Namespace", f'label_values({{{DEPLOYMENT}!=""}}, {NAMESPACE})'),
        query_variable(
            "deployment",
            "QwenDeployment",
            f'label_values({{{NAMESPACE}="$namespace",{DEPLOYMENT}!=""}}, {DEPLOYMENT})',
        ),
        query_variable(
            "revision",
            "Revision",
            f'label_values({{{NAMESPACE}="$namespace",{DEPLOYMENT}="$deployment"}}, {REVISION})',
            multi=True,
        ),
        *(
            textbox(
                slo_variable(slo),
                f"SLO {slo.key}",
                f"{slo.example:g}",
                f"spec.rollout.analysis.slos.{slo.key}" + (" (a ratio)" if slo.unit == "ratio" else ""),
            )
            for slo in DRAWN
        ),
    ]


def annotations() -> list[Json]:
    return [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        },
        {
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": "red",
            "name": "Rollbacks",
            "expr": f"{added_over(ROLLBACKS, '1m')} > 0",
            "step": "30s",
            "titleFormat": "rolled back: {{reason}}",
            "textFormat": "{{namespace}}/{{name}}",
            "tagKeys": "reason",
        },
    ]


def render() -> Json:
    return {
        "annotations": {"list": annotations()},
        "description": "Canary rollouts of one QwenDeployment: phase, weight and rollbacks from the "
        "operator; traffic, errors and latency per revision from vLLM.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [],
        "panels": layout(),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["qwenops", "vllm", "canary"],
        "templating": {"list": variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "qwenops: QwenDeployment rollouts",
        "uid": UID,
        "version": 1,
    }


def text() -> str:
    return json.dumps(render(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if qwenops.json is stale")
    args = parser.parse_args(argv)
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if args.check:
        if current != text():
            print("qwenops.json is stale: run python -m dashboards.build", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
