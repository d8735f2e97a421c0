"""The operator row: time from breach to rollback, reconcile duration and errors, probe answers.

`qwenops_breach_to_rollback_seconds` has no per-object labels: its panels cover every
QwenDeployment the operator runs.
"""

from dashboards.panels import DATASOURCE, Json, stat, target, timeseries
from dashboards.queries import BREACH_TO_ROLLBACK, OBJECT, PROBE_ANSWERS, RECONCILE_ERRORS, RECONCILE_SECONDS


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
    probes = timeseries(
        "Probe answers by track and result",
        "Answer-quality probes the operator sent to the chosen QwenDeployment's canary and stable "
        "Services: passed, noAnswer, or the first check that failed (specialToken, toolCall, json, ...).",
        [
            target(
                f"sum by (track, result) (increase({PROBE_ANSWERS}{{{OBJECT}}}[$__rate_interval]))",
                "{{track}} {{result}}",
            )
        ],
        "none",
        draw="bars",
    )
    return [distribution, quantiles, reconcile, probes]
