"""What the emulated API does to a write before it stores it, as a Kubernetes 1.35 API server does
(qwenops_testing/emulator/admission.py), checked over real HTTP: the QwenDeployment CRD's
pruning, defaults, schema and CEL rules, field validation, the status subresource's schema,
namespaces and owner references. The built-in objects' defaults: test_emulator_defaults.py."""

from __future__ import annotations

import pytest

from qwenops_testing.crd_schema import NOT_CHECKED
from qwenops_testing.emulator import MERGE_PATCH, KubeEmulator
from tests.unit.emulator_http import CORPUS_NS, DEPLOY, QWD, QWDS, Http, bare_deployment, chat, emulator, http

__all__ = ["emulator", "http"]  # the fixtures
EXTRA_NAMESPACES = (CORPUS_NS,)


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
                   '"Degraded", "RolledBack", "Failed", "Baking"',
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
    body = chat() if "qwendeployments" in path else bare_deployment()
    body["metadata"]["namespace"] = "nowhere"
    status, answer, _ = await http.call("POST", path, body)
    assert (status, answer["reason"], answer["message"]) == (404, "NotFound", 'namespaces "nowhere" not found')
    await http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "nowhere"}})
    await http.ok("POST", path, body)


async def test_nothing_is_created_in_a_namespace_being_deleted(http: Http, emulator: KubeEmulator) -> None:
    await http.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "old", "finalizers": ["x/y"]}})
    await http.ok("DELETE", "/api/v1/namespaces/old")
    status, answer, _ = await http.call("POST", "/apis/apps/v1/namespaces/old/deployments", bare_deployment())
    assert (status, answer["reason"]) == (403, "Forbidden")
    assert "because it is being terminated" in answer["message"]


async def test_a_second_controller_reference_is_invalid(http: Http) -> None:
    owners = [await http.ok("POST", QWD, {**chat(), "metadata": {"name": name}}) for name in ("a", "b")]
    refs = [{"apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"], "controller": True} for o in owners]  # fmt: skip
    body = bare_deployment()
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
    body = bare_deployment()
    body["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}]
    _, answer, _ = await http.call("POST", DEPLOY, body)
    assert [(c["field"], c["message"]) for c in answer["details"]["causes"]] == [
        ("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty')]
