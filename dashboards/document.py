"""The dashboard document: its rows laid out on Grafana's grid, its variables and annotations."""

import json

from dashboards.budget_panels import budget_row
from dashboards.operator_panels import operator_row
from dashboards.panels import DATASOURCE, Json, row
from dashboards.queries import ROLLBACKS, added_over
from dashboards.revision_panels import latency_row, traffic_row
from dashboards.rollout_panels import rollout_row
from dashboards.track_panels import track_row
from dashboards.variables import variables

UID = "qwenops-rollouts"


def layout() -> list[Json]:
    """Rows of panels, laid out left to right on Grafana's 24-column grid, ids in order."""
    traffic, latency, tracks = traffic_row(), latency_row(), track_row()
    rows: list[tuple[str, list[Json], list[int]]] = [
        ("Rollout", rollout_row(), [4, 8, 6, 6]),
        ("GPU budget", budget_row(), [12, 12]),
        ("Traffic by revision", traffic, [12] * len(traffic)),
        ("Latency by revision", latency, [12] * len(latency)),
        ("vLLM by track (stable, canary)", tracks, [12] * len(tracks)),
        ("Operator", operator_row(), [8, 6, 10, 24]),
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
