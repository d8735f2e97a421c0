"""The dashboard's variables: the Prometheus, the QwenDeployment and its revisions. (The SLO lines
need none: they are the spec's, read from the operator's metrics.)"""

from dashboards.panels import DATASOURCE, Json
from dashboards.queries import DEPLOYMENT, NAMESPACE, REVISION


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
    ]
