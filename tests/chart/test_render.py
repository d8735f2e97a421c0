"""`helm lint --strict` and `helm template`, each rendered object validated offline.

Built-in kinds: kubernetes-validate's strict schemas of Kubernetes 1.35 (no unknown field, right
types, required fields). PodMonitor, ServiceMonitor and PrometheusRule: the closed subset of their CRD
schemas in schemas/monitoring.coreos.com_v1.yaml. The CRD: kubernetes-validate too, and examples/*.yaml
admitted by it as the API server would (tests/schema_check.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
import yaml

from tests.chart.conftest import VALUE_SETS, required
from tests.chart.fetch_helm import REPO
from tests.chart.helm import CHART, KUBE_VERSION, NAMESPACE, Helm, HelmError, Manifest, of_kind
from tests.schema_check import admit

try:
    import kubernetes_validate  # type: ignore[import-untyped]
except ImportError:  # a test extra (pyproject.toml); CI must have it
    if required():
        raise
    pytest.skip("kubernetes-validate is not installed: pip install -e '.[test]'", allow_module_level=True)

MONITORING_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "monitoring.coreos.com_v1.yaml"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


@functools.cache
def _monitoring_validator(kind: str) -> Any:
    schemas = yaml.safe_load(MONITORING_SCHEMAS.read_text())
    schema = {**schemas[kind], "$defs": schemas["$defs"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@functools.cache
def _validate_builtin(document: str) -> None:
    kubernetes_validate.validate(json.loads(document), KUBE_VERSION, strict=True)


def validation_errors(obj: Manifest) -> list[str]:
    """Why the API server would refuse `obj` (strict field validation), as far as its schema tells."""
    if obj["apiVersion"] == "monitoring.coreos.com/v1":
        validator = _monitoring_validator(obj["kind"])
        return [
            f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)
        ]
    try:
        _validate_builtin(json.dumps(obj, sort_keys=True))
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    return []


def describe(obj: Manifest) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict_passes(helm: Helm, name: str) -> None:
    done = helm.lint(VALUE_SETS[name])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_rendered_object_is_valid(name: str, render: Callable[[str], list[Manifest]]) -> None:
    objects = render(name)
    assert objects
    errors = {describe(obj): validation_errors(obj) for obj in objects}
    assert not {where: found for where, found in errors.items() if found}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_objects_live_in_the_release_namespace_or_a_watched_one(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    values = _values(name)
    watched = set(values.get("watchNamespaces") or [])
    for obj in render(name):
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert namespace is None, describe(obj)
        elif obj["kind"] == "ConfigMap" and "qwenops.json" in obj["data"]:  # for Grafana's sidecar
            assert namespace == (values["grafanaDashboard"].get("namespace") or NAMESPACE), describe(obj)
        elif obj["kind"] in ("Role", "RoleBinding") and obj["metadata"]["name"].endswith("-leader-election"):
            assert namespace == NAMESPACE, describe(obj)  # the Lease is in the release's namespace
        elif obj["kind"] in ("Role", "RoleBinding"):
            assert namespace in watched, describe(obj)
        else:
            assert namespace == NAMESPACE, describe(obj)


def test_kinds_rendered_for_each_value_set(render: Callable[[str], list[Manifest]]) -> None:
    def kinds(name: str) -> list[str]:
        return sorted(obj["kind"] for obj in render(name))

    operator = ["Deployment", "ServiceAccount", "Service", "CustomResourceDefinition"]
    rbac = ["ClusterRole", "ClusterRoleBinding", "ClusterRole", "ClusterRole"]  # the last two: aggregated
    rbac += ["Role", "RoleBinding"]  # leader election, in the release's namespace
    assert kinds("defaults") == sorted([*operator, *rbac])
    assert kinds("metrics-off") == sorted([k for k in [*operator, *rbac] if k != "Service"])
    assert kinds("cluster-wide-monitoring") == sorted([*operator, *rbac, "PodMonitor", "ServiceMonitor"])
    assert kinds("everything") == sorted(
        [*operator, *rbac, "PodMonitor", "ServiceMonitor", "Role", "Role", "RoleBinding", "RoleBinding",
         "PrometheusRule", "ConfigMap", "NetworkPolicy"]
    )  # fmt: skip
    assert kinds("platform") == sorted(["Deployment", "Service", *rbac, "ConfigMap"])
    assert kinds("no-rbac") == sorted(operator)


def test_the_crd_is_rendered_valid_and_admits_the_examples(helm: Helm) -> None:
    crds = of_kind(helm.template(crds=True), "CustomResourceDefinition")
    assert [crd["metadata"]["name"] for crd in crds] == ["qwendeployments.qwenops.io"]
    assert validation_errors(crds[0]) == []
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        for manifest in yaml.safe_load_all(path.read_text()):
            if manifest and manifest.get("kind") == "QwenDeployment":
                assert admit(manifest, crd=crds[0]) == [], path.name


def test_the_monitoring_schemas_catch_an_unknown_field() -> None:
    pod_monitor: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": "m", "namespace": "n"},
        "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "http", "intervall": "15s"}]},
    }  # fmt: skip
    assert any("intervall" in e for e in validation_errors(pod_monitor))
    pod_monitor["spec"]["podMetricsEndpoints"] = [{"port": "http", "interval": "15 seconds"}]
    assert any("interval" in e for e in validation_errors(pod_monitor))
    rule: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": "n"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "fro": "5m"}]}]},
    }  # fmt: skip
    assert any("fro" in e for e in validation_errors(rule))


def test_kubernetes_validate_is_strict_here() -> None:
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPor": "http"}]},
    }  # fmt: skip
    assert validation_errors(service)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"logLevel": "TRACE"}, "logLevel"),
        ({"watchNamespaces[0]": "Not_A_Namespace"}, "watchNamespaces"),
        ({"prometheusUrl": "prometheus:9090"}, "prometheusUrl"),
        ({"metricsPort": "8080"}, "metricsPort"),
        ({"metricsPort": "0", "serviceMonitor.enabled": "true"}, "serviceMonitor.enabled needs"),
        ({"replicaCount": "2"}, "replicaCount"),
    ],
    ids=["log-level", "namespace-name", "prometheus-url", "metrics-port-clash", "monitor-without-metrics",
         "no-replica-count"],
)  # fmt: skip
def test_bad_values_are_refused_with_the_value_named(helm: Helm, sets: dict[str, str], message: str) -> None:
    with pytest.raises(HelmError, match=message):
        helm.template(sets=sets)


def _values(name: str) -> dict[str, Any]:
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in VALUE_SETS[name]:
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged
