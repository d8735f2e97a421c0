"""The dashboard's variables: the Prometheus, the QwenDeployment and its revisions, and the threshold
of each SLO drawn (its `example` until someone sets it)."""

from dashboards.panels import DATASOURCE, Json
from dashboards.queries import DEPLOYMENT, NAMESPACE, REVISION
from dashboards.slo_panels import DRAWN, slo_variable


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
