"""What platform teams set when they install an operator: an identity of their own (an existing
ServiceAccount, RBAC managed apart), names of their own, the pod's metadata, priority and security
context (OpenShift's restricted policy picks the uid), extra flags, variables and objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.helm import CHART, NAMESPACE, Helm, HelmError, Manifest, of_kind, one, operator_container

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
K8S_SCHEMAS = "kubernetes-json-schema/v1.35.0-local-strict"


def pod_of(objects: list[Manifest]) -> Manifest:
    template: Manifest = one(objects, "Deployment")["spec"]["template"]
    return template


def test_an_existing_service_account_is_used_not_created(render: Callable[[str], list[Manifest]]) -> None:
    objects = render("platform")
    assert not of_kind(objects, "ServiceAccount")
    assert pod_of(objects)["spec"]["serviceAccountName"] == "llm-operator"
    subjects = [s for b in objects if b["kind"].endswith("Binding") for s in b["subjects"]]
    assert subjects and all(s == {"kind": "ServiceAccount", "name": "llm-operator", "namespace": NAMESPACE}
                            for s in subjects)  # fmt: skip


def test_a_created_service_account_takes_the_name_and_annotations_given(
    render: Callable[[str], list[Manifest]],
) -> None:
    objects = render("everything")
    account = one(objects, "ServiceAccount")
    assert account["metadata"]["name"] == "qwenops-operator"
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/qwenops"
    }
    assert pod_of(objects)["spec"]["serviceAccountName"] == "qwenops-operator"
    assert one(render("defaults"), "ServiceAccount")["metadata"]["name"] == "qwenops"


def test_no_service_account_and_no_name_is_refused(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"serviceAccount\.name"):
        helm.template(sets={"serviceAccount.create": "false"})


def test_rbac_off_renders_no_rbac_at_all(render: Callable[[str], list[Manifest]]) -> None:
    objects = render("no-rbac")
    assert not [obj for obj in objects if obj["kind"] in RBAC_KINDS]
    assert one(objects, "ServiceAccount")["metadata"]["name"] == pod_of(objects)["spec"]["serviceAccountName"]


def test_the_names_follow_the_overrides(render: Callable[[str], list[Manifest]]) -> None:
    objects = render("platform")
    assert one(objects, "Deployment")["metadata"]["name"] == "platform-qwenops"
    assert one(objects, "Service")["metadata"]["name"] == "platform-qwenops-metrics"
    for obj in objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["name"].startswith(f"platform-qwenops-{NAMESPACE}"), obj["metadata"]
        labels = obj["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") == "Helm":
            assert labels["app.kubernetes.io/name"] == "llm-operator", obj["metadata"]
    selector = one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "llm-operator", "app.kubernetes.io/instance": "qwenops"}


def test_the_name_override_alone_names_the_objects(helm: Helm) -> None:
    objects = helm.template(sets={"nameOverride": "llm-operator"})
    assert one(objects, "Deployment")["metadata"]["name"] == "qwenops-llm-operator"


def test_pod_metadata_and_priority_are_given(render: Callable[[str], list[Manifest]]) -> None:
    pod = pod_of(render("everything"))
    assert pod["metadata"]["annotations"] == {"example.com/owner": "ml-platform"}
    assert pod["metadata"]["labels"]["team"] == "ml-platform"
    assert pod["spec"]["priorityClassName"] == "platform-critical"
    defaults = pod_of(render("defaults"))
    assert "annotations" not in defaults["metadata"] and "priorityClassName" not in defaults["spec"]


def test_a_pod_label_may_not_replace_a_selector_label(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"podLabels.*app\.kubernetes\.io/instance"):
        helm.template(sets={"podLabels.app\\.kubernetes\\.io/instance": "other"})


def test_openshift_may_choose_the_uid(render: Callable[[str], list[Manifest]]) -> None:
    """`podSecurityContext.runAsUser: null` leaves the uid to the platform; the rest stays."""
    pod = pod_of(render("platform"))["spec"]
    assert "runAsUser" not in pod["securityContext"] and "runAsGroup" not in pod["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(render("platform"))
    assert "runAsUser" not in container["securityContext"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_security_context_overrides_merge_with_the_defaults(render: Callable[[str], list[Manifest]]) -> None:
    pod = pod_of(render("everything"))["spec"]
    assert pod["securityContext"]["fsGroup"] == 65532
    assert pod["securityContext"]["runAsUser"] == 65532, "a key given does not drop the others"
    container = operator_container(render("everything"))["securityContext"]
    assert container["runAsUser"] == 65532 and container["readOnlyRootFilesystem"] is True


def _kubernetes_fields(definition: str) -> set[str]:
    import kubernetes_validate  # type: ignore[import-untyped]  # noqa: PLC0415

    path = Path(kubernetes_validate.__file__).parent / K8S_SCHEMAS / f"{definition}-v1.json"
    return set(json.loads(path.read_text())["properties"])


@pytest.mark.parametrize(
    ("value", "definition"),
    [("podSecurityContext", "podsecuritycontext"), ("containerSecurityContext", "securitycontext")],
)
def test_the_security_context_values_take_exactly_kubernetes_fields(value: str, definition: str) -> None:
    pytest.importorskip("kubernetes_validate")
    schema = json.loads((CHART / "values.schema.json").read_text())
    node = schema["definitions"][schema["properties"][value]["$ref"].rpartition("/")[2]]
    assert node["additionalProperties"] is False
    assert set(node["properties"]) == _kubernetes_fields(definition)


def test_extra_args_come_after_the_charts(render: Callable[[str], list[Manifest]]) -> None:
    args = operator_container(render("platform"))["args"]
    assert args[-1] == "--verbose" and args[0] == "run"


def test_extra_env_is_added_to_the_charts(render: Callable[[str], list[Manifest]]) -> None:
    env = operator_container(render("everything"))["env"]
    names = [e["name"] for e in env]
    assert names[-2:] == ["HTTPS_PROXY", "NO_PROXY"] and "QWENOPS_SERVING_IMAGE" in names
    assert len(names) == len(set(names))


def test_extra_env_may_not_shadow_a_setting_of_the_chart(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"extraEnv.*QWENOPS_PROMETHEUS_URL.*prometheusUrl"):
        helm.template(
            sets={"extraEnv[0].name": "QWENOPS_PROMETHEUS_URL", "extraEnv[0].value": "http://p:9090"}
        )


def test_extra_objects_are_rendered_as_templates(render: Callable[[str], list[Manifest]]) -> None:
    policy = one(render("everything"), "NetworkPolicy")
    assert policy["metadata"] == {"name": "qwenops-metrics", "namespace": NAMESPACE}
    runbook = [
        c for c in of_kind(render("platform"), "ConfigMap") if c["metadata"]["name"].endswith("-runbook")
    ]
    assert [c["metadata"]["name"] for c in runbook] == ["platform-qwenops-runbook"]


@pytest.mark.parametrize(
    "sets",
    [
        {"serviceAccount.nmae": "x"},
        {"rbac.aggregate": "true"},
        {"podSecurityContext.runAsUsr": "1000"},
        {"containerSecurityContext.privileged": "yes"},
        {"extraArgs[0]": "1"},
        {"crds.install": "maybe"},
        {"prometheusRule.canaryHeldFor": "an hour"},
        {"grafanaDashboard.namespace": "Not_A_Namespace"},
    ],
    ids=lambda sets: next(iter(sets)),
)
def test_the_schema_refuses_what_it_does_not_know(helm: Helm, sets: dict[str, str]) -> None:
    key = next(iter(sets)).split(".")[0].split("[")[0]
    with pytest.raises(HelmError, match=key):
        helm.template(sets=sets)
