"""What the emulated API does to a write before it stores it, as a Kubernetes 1.35 API server does
(qwenops_testing/emulator/admission.py), checked over real HTTP: the QwenDeployment CRD's
pruning, defaults, schema and CEL rules, field validation, the status subresource's schema,
namespaces, owner references, the built-in objects' defaults and quantities, and a Deployment's
generation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render import desired
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.diff import is_derivative
from qwenops_testing.emulator import MERGE_PATCH, KubeEmulator, run_emulator
from qwenops_testing.manifests import SERVING_IMAGE, qwen_deployment

NS = "llm"
QWD = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments"
QWDS = "qwenops.io/v1alpha1/qwendeployments"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
COMMIT = "a" * 40
VALID = sorted((Path(__file__).resolve().parents[1] / "manifests" / "valid").glob("*.yaml"))
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
Json = Any


class Http:
    """Every call answers (status, parsed JSON body, headers)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, method: str, path: str, body: Json = None, content_type: str = "application/json"
    ) -> tuple[int, Json, dict[str, str]]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, path, data=data, headers=headers) as response:
            return response.status, await response.json(content_type=None), dict(response.headers)

    async def ok(self, method: str, path: str, body: Json = None, content_type: str = "application/json") -> Json:
        status, answer, _ = await self.call(method, path, body, content_type)
        assert status in (200, 201), (status, answer)
        return answer


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[KubeEmulator]:
    async with run_emulator(namespaces=("default", NS)) as emulator:
        yield emulator
        assert not emulator.errors, emulator.errors  # refusals are Status answers, not errors


@pytest_asyncio.fixture
async def http(emulator: KubeEmulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(str(emulator.url)) as session:
        yield Http(session)


def chat(**spec: Json) -> Json:
    return qwen_deployment(COMMIT, namespace=NS, **spec)


def deployment(name: str = "web", **pod_spec: Json) -> Json:
    labels = {"app": name}
    spec = {"containers": [{"name": "c", "image": "registry.example/c:1.0"}], **pod_spec}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }  # fmt: skip


# -- the QwenDeployment CRD: defaults, pruning, field validation ----------------------------------


async def test_a_custom_resource_is_stored_defaulted_by_its_crd(http: Http) -> None:
    stored = await http.ok("POST", QWD, chat())
    spec = stored["spec"]
    assert spec["engine"] == {"tensorParallelSize": 1, "gpuMemoryUtilization": 0.9}
    assert spec["nodePool"] == {"gpusPerReplica": 1, "gpuResource": "nvidia.com/gpu"}
    assert spec["rollout"]["analysis"]["window"] == "2m"
    assert spec["revisionHistoryLimit"] == 5


async def test_unknown_fields_are_pruned_with_a_warning_by_default(http: Http, emulator: KubeEmulator) -> None:
    since = emulator.request_count
    status, stored, headers = await http.call("POST", QWD, chat(colour="blue", engine={"flavour": 1}))
    assert status == 201
    assert "colour" not in stored["spec"] and "flavour" not in stored["spec"]["engine"]
    assert headers["Warning"] == '299 - "unknown field \\"spec.colour\\"", 299 - "unknown field \\"spec.engine.flavour\\""'
    (post,) = emulator.request_log(since)
    assert post.warnings == ('unknown field "spec.colour"', 'unknown field "spec.engine.flavour"')


async def test_field_validation_ignore_prunes_silently(http: Http) -> None:
    status, stored, headers = await http.call("POST", f"{QWD}?fieldValidation=Ignore", chat(colour="blue"))
    assert status == 201 and "colour" not in stored["spec"]
    assert "Warning" not in headers


async def test_field_validation_strict_refuses_every_unknown_field(http: Http) -> None:
    status, answer, _ = await http.call(
        "POST", f"{QWD}?fieldValidation=Strict", chat(colour="blue", engine={"flavour": 1})
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"] == (
        'QwenDeployment in version "v1alpha1" cannot be handled as a QwenDeployment: strict decoding error: '
        'unknown field "spec.colour", unknown field "spec.engine.flavour"'
    )
    assert (await http.call("GET", f"{QWD}/chat"))[0] == 404


async def test_field_validation_strict_refuses_an_unknown_field_in_a_patch(http: Http) -> None:
    await http.ok("POST", QWD, chat())
    status, answer, _ = await http.call(
        "PATCH", f"{QWD}/chat?fieldValidation=Strict", {"spec": {"colour": "blue"}}, MERGE_PATCH
    )
    assert (status, answer["message"]) == (400, 'strict decoding error: unknown field "spec.colour"')


async def test_an_unknown_field_validation_directive_is_a_bad_request(http: Http) -> None:
    status, answer, _ = await http.call("POST", f"{QWD}?fieldValidation=Loud", chat())
    assert (status, answer["reason"]) == (400, "BadRequest")


# -- the QwenDeployment CRD: schema and CEL rules ------------------------------------------------


async def test_a_schema_error_is_invalid_with_a_cause_per_field(http: Http) -> None:
    status, answer, _ = await http.call("POST", QWD, chat(replicas=-1))
    assert (status, answer["reason"], answer["code"]) == (422, "Invalid", 422)
    assert answer["message"] == (
        'QwenDeployment.qwenops.io "chat" is invalid: spec.replicas: Invalid value: -1: '
        "spec.replicas in body should be greater than or equal to 0"
    )
    assert answer["details"] == {
        "name": "chat", "group": "qwenops.io", "kind": "QwenDeployment",
        "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                    "message": "Invalid value: -1: spec.replicas in body should be greater than or equal to 0"}],
    }  # fmt: skip


async def test_a_blocking_error_skips_the_rules_and_says_so(http: Http) -> None:
    status, answer, _ = await http.call("POST", QWD, chat(replicas="two"))
    assert status == 422
    assert answer["message"] == (
        'QwenDeployment.qwenops.io "chat" is invalid: [spec.replicas: Invalid value: "string": spec.replicas '
        f'in body must be of type integer: "string", <nil>: Invalid value: null: {NOT_CHECKED}]'
    )
    assert [(c["reason"], c["field"]) for c in answer["details"]["causes"]] == [
        ("FieldValueTypeInvalid", "spec.replicas"), ("FieldValueInvalid", "<nil>")]


async def test_a_required_field_is_named(http: Http) -> None:
    manifest = chat()
    del manifest["spec"]["model"]["revision"]
    _, answer, _ = await http.call("POST", QWD, manifest)
    assert answer["details"]["causes"][0] == {
        "reason": "FieldValueRequired", "message": "Required value", "field": "spec.model.revision"}


async def test_a_cel_rule_sees_the_defaulted_object(http: Http) -> None:
    # nodePool.gpusPerReplica is left to its default of 1, which is no multiple of 2.
    status, answer, _ = await http.call("POST", QWD, chat(engine={"tensorParallelSize": 2}))
    assert status == 422
    assert answer["message"] == (
        'QwenDeployment.qwenops.io "chat" is invalid: spec: Invalid value: "object": '
        "spec.nodePool.gpusPerReplica must be a multiple of spec.engine.tensorParallelSize"
    )


async def test_a_patch_that_breaks_a_rule_is_refused_and_changes_nothing(http: Http) -> None:
    created = await http.ok("POST", QWD, chat())
    status, answer, _ = await http.call(
        "PATCH", f"{QWD}/chat", {"spec": {"model": {"revision": "main"}}}, MERGE_PATCH
    )
    assert (status, answer["details"]["causes"][0]["field"]) == (422, "spec.model.revision")
    current = await http.ok("GET", f"{QWD}/chat")
    assert current["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_an_update_is_not_refused_for_what_it_did_not_change(
    http: Http, emulator: KubeEmulator
) -> None:
    """Validation ratcheting: an object stored under an older, looser CRD takes its labels and status."""
    with emulator.without_schema(QWDS):
        await http.ok("POST", QWD, chat(replicas=-1))
    labelled = await http.ok("PATCH", f"{QWD}/chat", {"metadata": {"labels": {"a": "b"}}}, MERGE_PATCH)
    assert labelled["spec"]["replicas"] == -1
    await http.ok("PATCH", f"{QWD}/chat/status", {"status": {"phase": "Degraded"}}, MERGE_PATCH)
    status, answer, _ = await http.call("PATCH", f"{QWD}/chat", {"spec": {"replicas": -2}}, MERGE_PATCH)
    assert (status, answer["details"]["causes"][0]["field"]) == (422, "spec.replicas")


async def test_without_schema_stores_a_custom_resource_as_written(http: Http, emulator: KubeEmulator) -> None:
    with emulator.without_schema(QWDS):
        stored = await http.ok("POST", QWD, chat(colour="blue", replicas="two"))
    assert stored["spec"]["colour"] == "blue" and "engine" not in stored["spec"]
    status, _, _ = await http.call("POST", QWD, {**chat(replicas="two"), "metadata": {"name": "other"}})
    assert status == 422  # checked again outside


# -- the status subresource ---------------------------------------------------------------------


async def test_a_status_write_is_validated_against_the_status_schema(http: Http) -> None:
    await http.ok("POST", QWD, chat())
    status, answer, _ = await http.call("PATCH", f"{QWD}/chat/status", {"status": {"phase": "Bored"}}, MERGE_PATCH)
    assert status == 422
    assert answer["details"]["causes"][0] == {
        "reason": "FieldValueNotSupported", "field": "status.phase",
        "message": 'Unsupported value: "Bored": supported values: "Progressing", "Paused", "Healthy", '
                   '"Degraded", "RolledBack", "Failed"',
    }  # fmt: skip
    written = await http.ok(
        "PATCH", f"{QWD}/chat/status", {"status": {"phase": "Healthy", "mood": "fine"}}, MERGE_PATCH
    )
    assert written["status"] == {"phase": "Healthy", "message": "", "handled": {}}  # pruned, defaulted


# -- namespaces and owner references ---------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/apis/qwenops.io/v1alpha1/namespaces/nowhere/qwendeployments",
    "/apis/apps/v1/namespaces/nowhere/deployments",
])  # fmt: skip
async def test_a_namespaced_object_needs_its_namespace(http: Http, path: str) -> None:
    body = chat() if "qwendeployments" in path else deployment()
    body["metadata"]["namespace"] = "nowhere"
    status, answer, _ = await http.call("POST", path, body)
    assert (status, answer["reason"], answer["message"]) == (404, "NotFound", 'namespaces "nowhere" not found')
    await http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "nowhere"}})
    await http.ok("POST", path, body)


async def test_nothing_is_created_in_a_namespace_being_deleted(http: Http, emulator: KubeEmulator) -> None:
    await http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "old", "finalizers": ["x/y"]}})
    await http.ok("DELETE", "/api/v1/namespaces/old")
    status, answer, _ = await http.call("POST", "/apis/apps/v1/namespaces/old/deployments", deployment())
    assert (status, answer["reason"]) == (403, "Forbidden")
    assert "because it is being terminated" in answer["message"]


async def test_a_second_controller_reference_is_invalid(http: Http) -> None:
    owners = [await http.ok("POST", QWD, {**chat(), "metadata": {"name": name}}) for name in ("a", "b")]
    refs = [{"apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"], "controller": True} for o in owners]  # fmt: skip
    body = deployment()
    body["metadata"]["ownerReferences"] = refs
    status, answer, _ = await http.call("POST", DEPLOY, body)
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["message"].startswith('Deployment.apps "web" is invalid: metadata.ownerReferences: Invalid value: [')
    assert answer["message"].endswith(
        ': Only one reference can have Controller set to true. Found "true" in references for '
        "QwenDeployment/a and QwenDeployment/b"
    )
    body["metadata"]["ownerReferences"] = [refs[0], {**refs[1], "controller": False}]
    await http.ok("POST", DEPLOY, body)
    status, answer, _ = await http.call("PATCH", f"{DEPLOY}/web", {"metadata": {"ownerReferences": refs}}, MERGE_PATCH)
    assert (status, answer["details"]["causes"][0]["field"]) == (422, "metadata.ownerReferences")


async def test_an_owner_reference_must_name_its_owner(http: Http) -> None:
    body = deployment()
    body["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}]
    _, answer, _ = await http.call("POST", DEPLOY, body)
    assert [(c["field"], c["message"]) for c in answer["details"]["causes"]] == [
        ("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty')]


# -- built-in objects: defaults and quantities ------------------------------------------------------


async def test_a_service_gets_its_defaults_and_a_cluster_ip(http: Http) -> None:
    body = {"metadata": {"name": "s"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
    first = await http.ok("POST", SERVICES, body)
    second = await http.ok("POST", SERVICES, {**body, "metadata": {"name": "t"}})
    spec = first["spec"]
    expected = {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}  # fmt: skip
    assert {k: spec[k] for k in expected} == expected
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["clusterIP"].startswith("10.96.") and spec["clusterIPs"] == [spec["clusterIP"]]
    assert second["spec"]["clusterIP"] != spec["clusterIP"]
    replaced = await http.ok("PUT", f"{SERVICES}/s", {**body, "metadata": first["metadata"]})
    assert replaced["spec"]["clusterIP"] == spec["clusterIP"]  # kept when a PUT leaves it out


async def test_a_deployment_and_its_pod_template_get_their_defaults(http: Http) -> None:
    probe = {"httpGet": {"port": 8000}}
    container = {"name": "c", "image": "registry.example/c:1.0", "ports": [{"containerPort": 8000}],
                 "readinessProbe": probe}  # fmt: skip
    stored = await http.ok("POST", DEPLOY, deployment(containers=[container]))
    spec = stored["spec"]
    assert {k: spec[k] for k in ("replicas", "revisionHistoryLimit", "progressDeadlineSeconds", "strategy")} == {
        "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    }  # fmt: skip
    pod = spec["template"]["spec"]
    expected = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "terminationGracePeriodSeconds": 30, "securityContext": {}}  # fmt: skip
    assert {k: pod[k] for k in expected} == expected
    (stored_container,) = pod["containers"]
    assert stored_container == {
        **container, "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"port": 8000, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
    }  # fmt: skip


@pytest.mark.parametrize(("image", "policy"), [
    ("registry.example/c", "Always"), ("registry.example/c:latest", "Always"),
    ("registry.example:5000/c", "Always"), ("registry.example/c:1.0", "IfNotPresent"),
    ("registry.example/c@sha256:" + "0" * 64, "IfNotPresent"),
])  # fmt: skip
async def test_the_pull_policy_follows_the_tag(http: Http, image: str, policy: str) -> None:
    stored = await http.ok("POST", DEPLOY, deployment(containers=[{"name": "c", "image": image}]))
    assert stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize(("written", "stored"), [
    ("1000m", "1"), ("0.5", "500m"), (0.5, "500m"), (2, "2"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"),
    ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"), ("2000", "2k"), ("1e3", "1e3"), ("100u", "1m"),
])  # fmt: skip
async def test_quantities_are_stored_canonical(http: Http, written: Any, stored: str) -> None:
    container = {"name": "c", "image": "i:1", "resources": {"requests": {"cpu": written}, "limits": {"cpu": written}}}
    answer = await http.ok("POST", DEPLOY, deployment(containers=[container]))
    assert answer["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": stored}, "limits": {"cpu": stored}}


async def test_a_size_limit_is_canonical_and_not_rounded_to_a_milli(http: Http) -> None:
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16384Mi"}}
    answer = await http.ok("POST", DEPLOY, deployment(volumes=[volume, {"name": "bare"}]))
    assert answer["spec"]["template"]["spec"]["volumes"] == [
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}, {"name": "bare", "emptyDir": {}}]


async def test_a_value_that_is_no_quantity_cannot_be_decoded(http: Http) -> None:
    container = {"name": "c", "image": "i:1", "resources": {"limits": {"memory": "lots"}}}
    status, answer, _ = await http.call("POST", DEPLOY, deployment(containers=[container]))
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"].startswith(
        'Deployment in version "v1" cannot be handled as a Deployment: quantities must match the regular expression')


async def test_a_pod_gets_requests_from_its_limits(http: Http) -> None:
    container = {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}}
    pod = await http.ok("POST", f"/api/v1/namespaces/{NS}/pods", {"metadata": {"name": "p"},
                                                                  "spec": {"containers": [container]}})  # fmt: skip
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    assert pod["spec"]["enableServiceLinks"] is True


async def test_writing_back_what_is_stored_changes_nothing(http: Http) -> None:
    created = await http.ok("POST", DEPLOY, deployment())
    again = await http.ok("PUT", f"{DEPLOY}/web", deployment() | {"metadata": created["metadata"]})
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# -- a Deployment's generation ----------------------------------------------------------------------


async def test_a_deployments_generation_follows_its_spec_and_annotations_not_labels(http: Http) -> None:
    """apps/v1's PrepareForUpdate (pkg/registry/apps/deployment/strategy.go, 1.35): a change of the
    spec or of the annotations bumps it, as annotations are copied to the ReplicaSets."""
    await http.ok("POST", DEPLOY, deployment())

    async def generation(patch: Json, subresource: str = "") -> int:
        answer = await http.ok("PATCH", f"{DEPLOY}/web{subresource}", patch, MERGE_PATCH)
        return int(answer["metadata"]["generation"])

    assert await generation({"metadata": {"labels": {"tier": "web"}}}) == 1
    assert await generation({"status": {"replicas": 1}}, "/status") == 1
    assert await generation({"metadata": {"annotations": {"note": "x"}}}) == 2
    assert await generation({"spec": {"replicas": 3}}) == 3
    assert await generation({"spec": {"replicas": 3}}) == 3  # nothing changed


# -- what the operator renders, against the defaults ---------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
async def test_the_operators_children_stay_derivative_of_what_the_api_stores(http: Http, path: Path) -> None:
    """The operator writes nothing when every field it renders is stored as rendered
    (render/diff.py's is_derivative): so it must hold against the API server's defaults, for every
    valid manifest of the corpus."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    stored_qwd = await http.ok("POST", f"/apis/qwenops.io/v1alpha1/namespaces/{manifest['metadata']['namespace']}"
                               "/qwendeployments", manifest)  # fmt: skip
    parsed = with_image(QwenDeploymentSpec.model_validate(stored_qwd["spec"]), SERVING_IMAGE)
    meta = stored_qwd["metadata"]
    owner = desired.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
    revision = revision_of(parsed)
    children = [
        ("apps/v1/deployments", desired.desired_deployment(owner, parsed, revision, track="stable", replicas=2)),
        *(("v1/services", service) for service in desired.desired_services(owner, stable=revision, canary=None)),
    ]
    for resource, child in children:
        group_version, plural = resource.rsplit("/", 1)
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        stored = await http.ok("POST", f"{prefix}/namespaces/{meta['namespace']}/{plural}", child)
        assert stored["spec"] != child["spec"], "the API server added nothing: the test would prove nothing"
        assert is_derivative(child, stored), child["metadata"]["name"]
