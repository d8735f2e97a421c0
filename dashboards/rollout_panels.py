"""The rollout row: the QwenDeployment's phase, canary weight and rollbacks, from the operator's metrics."""

from dashboards.panels import DATASOURCE, Json, stat, target, timeseries
from dashboards.queries import CANARY_WEIGHT, OBJECT, PHASE, ROLLBACKS, added_over
from qwenops.api.status import Phase

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
