"""A panel per SLO of the registry (`qwenops.api.slos`): what it judges, per revision, with a dashed
line at the SLO as the chosen QwenDeployment declares it (the operator's `qwenops_slo_threshold`):
no line when its spec does not declare it."""

from dashboards.panels import Json, target, timeseries
from dashboards.queries import BY_NAME, quantile_by_revision, rate_by_revision, slo_threshold
from qwenops.api.slos import REQUESTS, SLO, SLOS, Count, Judgement, Quantile, Unit

GRAFANA_UNITS: dict[Unit, str] = {"ratio": "percentunit", "seconds": "s", "multiple": "none"}


def slo_line(slo: SLO, legend: str, ref: str) -> Json:
    """A horizontal line at the SLO the spec declares (Grafana's thresholds cannot follow a query)."""
    return target(slo_threshold(slo.key), legend, ref)


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


def slo_panel(slo: SLO) -> Json | None:
    """What `slo` judges, per revision, with a dashed line at the SLO; None for an SLO drawn by no panel."""
    legend = f"SLO {slo.key}"
    line = f"the dashed line is the SLO the spec declares (spec.rollout.analysis.slos.{slo.key})"
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
        [target(expr, BY_NAME), slo_line(slo, legend, "B")],
        GRAFANA_UNITS[slo.unit],
        overrides=[slo_override(legend)],
    )


DRAWN = tuple(slo for slo in SLOS if slo_panel(slo) is not None)
"""The SLOs with a panel and a dashed line."""


def slo_panels(judged_by: Judgement) -> list[Json]:
    """The panels of the SLOs judged so, in the registry's order."""
    return [panel for slo in SLOS if slo.judged_by == judged_by and (panel := slo_panel(slo)) is not None]
