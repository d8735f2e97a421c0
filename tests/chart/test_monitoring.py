"""The PodMonitor gives the vLLM pods' series exactly the labels the canary analysis selects by,
and the ServiceMonitor reaches the operator's own /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import yaml

from qwenops.analysis.queries import selector
from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec, SeriesLabels
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.desired import Owner, desired_pod_template
from tests.chart.fetch_helm import REPO
from tests.chart.helm import CHART, Helm, Manifest, of_kind, one, operator_container
from tests.chart.helm import NAMESPACE as NAMESPACE_OF_RELEASE

NAMESPACE, NAME = "llm", "chat"


def _sanitize(name: str) -> str:
    """Prometheus' Kubernetes discovery: every character outside [a-zA-Z0-9_] becomes `_`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered(pod: Mapping[str, Any], namespace: str) -> dict[str, str]:
    """The target labels Prometheus' `role: pod` discovery gives one port of a pod (the ones used)."""
    labels = {"__meta_kubernetes_namespace": namespace, "__address__": "10.0.0.1:8000"}
    for key, value in pod["metadata"]["labels"].items():
        labels[f"__meta_kubernetes_pod_label_{_sanitize(key)}"] = value
        labels[f"__meta_kubernetes_pod_labelpresent_{_sanitize(key)}"] = "true"
    return labels


def relabel(labels: Mapping[str, str], configs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Prometheus' relabelling, for the actions a PodMonitor might use here; meta labels dropped."""
    out = dict(labels)
    for config in configs:
        action = config.get("action", "replace").lower()
        regex = re.compile(f"^(?:{config.get('regex', '(.*)')})$")
        value = config.get("separator", ";").join(out.get(s, "") for s in config.get("sourceLabels", []))
        replacement = re.sub(r"\$\{?(\d+)\}?", r"\\\1", config.get("replacement", "$1"))
        if action == "replace":
            match = regex.match(value)
            if match:
                target = match.expand(config["targetLabel"].replace("$", "\\"))
                new = match.expand(replacement)
                if new:
                    out[target] = new
                else:
                    out.pop(target, None)
        elif action == "labelmap":
            for key, val in list(out.items()):
                match = regex.match(key)
                if match:
                    out[match.expand(replacement)] = val
        elif action == "keep":
            if not regex.match(value):
                return {}
        elif action == "drop":
            if regex.match(value):
                return {}
        else:
            raise AssertionError(f"relabel action {action!r} is not simulated here")
    return {key: value for key, value in out.items() if not key.startswith("__")}


def _model_pod() -> tuple[dict[str, Any], str]:
    example = yaml.safe_load((REPO / "examples" / "chat.yaml").read_text())
    spec = with_image(QwenDeploymentSpec.model_validate(example["spec"]), "registry.example/serving:1")
    revision = revision_of(spec)
    return desired_pod_template(Owner(name=NAME, namespace=NAMESPACE, uid="u-1"), spec, revision), revision


def _matchers(promql_selector: str) -> dict[str, str]:
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', promql_selector))


@pytest.mark.parametrize("name", ["cluster-wide-monitoring", "everything"])
def test_the_pod_monitor_labels_series_as_the_analysis_selects(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    monitor = one(render(name), "PodMonitor")["spec"]
    pod, revision = _model_pod()
    pod_labels = pod["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= pod_labels.items(), "it selects the model pods"
    assert set(monitor["selector"]["matchLabels"]) >= {naming.LABEL_MANAGED_BY, naming.LABEL_COMPONENT}
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == naming.SERVING_PORT_NAME and endpoint["port"] in ports
    assert endpoint["path"] == pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"

    series = relabel(discovered(pod, NAMESPACE), endpoint["relabelings"])
    defaults = SeriesLabels()
    assert series == {defaults.namespace: NAMESPACE, defaults.deployment: NAME, defaults.revision: revision}
    wanted = _matchers(selector(defaults, namespace=NAMESPACE, deployment=NAME, revision=revision))
    assert wanted == series, "the default queries' selector matches the scraped series exactly"


def test_the_series_label_names_are_the_defaults_of_the_spec() -> None:
    defaults = SeriesLabels()
    assert (defaults.namespace, defaults.deployment, defaults.revision) == (
        "namespace", "qwenops_io_deployment", "qwenops_io_revision",
    )  # fmt: skip


def test_no_track_label_is_copied(render: Callable[[str], list[Manifest]]) -> None:
    """The track is on the Deployment, not the pod (a changing pod label would restart the pods)."""
    pod, _ = _model_pod()
    assert naming.LABEL_TRACK not in pod["metadata"]["labels"]
    endpoint = one(render("everything"), "PodMonitor")["spec"]["podMetricsEndpoints"][0]
    assert not [r for r in endpoint["relabelings"] if "track" in str(r)]


def test_the_pod_monitor_looks_where_the_operator_watches(render: Callable[[str], list[Manifest]]) -> None:
    assert one(render("cluster-wide-monitoring"), "PodMonitor")["spec"]["namespaceSelector"] == {"any": True}
    assert one(render("everything"), "PodMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["a", "b"]}
    labels = one(render("everything"), "PodMonitor")["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"
    assert one(render("everything"), "PodMonitor")["spec"]["podMetricsEndpoints"][0]["interval"] == "10s"


@pytest.mark.parametrize("name", ["cluster-wide-monitoring", "everything"])
def test_the_service_monitor_reaches_the_operator_metrics(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    objects = render(name)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    deployment = one(objects, "Deployment")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    container = operator_container(objects)
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container_ports[port["targetPort"]] == port["port"] == int(env["QWENOPS_METRICS_PORT"])
    # the operator's pod is not a model pod: the PodMonitor must not scrape it
    pod_monitor = one(objects, "PodMonitor")["spec"]["selector"]["matchLabels"]
    assert not pod_monitor.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_relabel_simulation_follows_prometheus() -> None:
    labels = {"__meta_kubernetes_pod_label_a_b": "x", "__meta_kubernetes_namespace": "n"}
    assert relabel(labels, [{"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"}]) == {
        "a_b": "x"
    }
    assert relabel(labels, [{"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "ns"}]) == {
        "ns": "n"
    }
    assert relabel(labels, [{"sourceLabels": ["missing"], "targetLabel": "gone"}]) == {}
    assert (
        relabel(labels, [{"action": "keep", "sourceLabels": ["__meta_kubernetes_namespace"], "regex": "m"}])
        == {}
    )


def test_the_dashboard_configmap_holds_the_dashboard(helm: Helm, render: Callable[[str], list[Manifest]]) -> None:
    """For Grafana's dashboard sidecar: labelled `grafana_dashboard: "1"`, the JSON that `make dashboards`
    writes (the chart holds a copy: helm reads files inside the chart only)."""
    source = (REPO / "dashboards" / "qwenops.json").read_text()
    assert (CHART / "files" / "dashboards" / "qwenops.json").read_text() == source, "stale copy: run `make dashboards`"
    assert not of_kind(render("defaults"), "ConfigMap")
    (configmap,) = [c for c in of_kind(render("everything"), "ConfigMap") if "qwenops.json" in c["data"]]
    assert json.loads(configmap["data"]["qwenops.json"]) == json.loads(source)
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "LLM"}
    default = one(helm.template(sets={"grafanaDashboard.enabled": "true"}), "ConfigMap")
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert default["metadata"]["namespace"] == NAMESPACE_OF_RELEASE
