"""Each Kubernetes API behaviour that the test kit's emulator (qwenops_testing.emulator) adds to kmock,
checked over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from qwenops_testing.emulator import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    KubeEmulator,
    write_kubeconfig,
)
from qwenops_testing.manifests import qwen_deployment
from tests.unit.emulator_http import (
    DEPLOY,
    LEASES,
    NS,
    PODS,
    QWD,
    REPO,
    WIDGET_RESOURCE,
    WIDGETS,
    Api,
    Json,
    api,
    deployment,
    emulator,
    owner_ref,
    until,
    widget,
)

__all__ = ["api", "emulator"]  # the fixtures

# -- 1. object metadata ------------------------------------------------------------------------


async def test_create_sets_uid_timestamp_resource_version_and_generation(api: Api) -> None:
    status, obj = await api.post(WIDGETS, widget())
    assert status == 201
    meta = obj["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["resourceVersion"].isdigit()
    assert meta["generation"] == 1
    assert meta["namespace"] == "ns"
    assert (obj["apiVersion"], obj["kind"]) == ("example.com/v1", "Widget")


async def test_resource_version_is_global_and_grows_on_every_write(api: Api) -> None:
    a = await api.ok("POST", WIDGETS, widget("a"))
    b = await api.ok("POST", DEPLOY, deployment("b"))
    c = await api.ok("PATCH", f"{WIDGETS}/a", {"metadata": {"labels": {"x": "1"}}},
                     content_type=MERGE_PATCH)
    d = await api.ok("PATCH", f"{WIDGETS}/a/status", {"status": {"phase": "P"}},
                     content_type=MERGE_PATCH)
    e = await api.ok("DELETE", f"{DEPLOY}/b")
    versions = [int(x["metadata"]["resourceVersion"]) for x in (a, b, c, d, e)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 5
    _, listing = await api.get(WIDGETS)
    assert listing["metadata"]["resourceVersion"] == str(versions[-1])


async def test_generation_counts_spec_changes_only_with_a_status_subresource(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    labelled = await api.ok("PATCH", f"{WIDGETS}/chat", {"metadata": {"labels": {"a": "b"}}},
                            content_type=MERGE_PATCH)
    assert labelled["metadata"]["generation"] == 1
    with_status = await api.ok("PATCH", f"{WIDGETS}/chat/status", {"status": {"phase": "Healthy"}},
                               content_type=MERGE_PATCH)
    assert with_status["metadata"]["generation"] == 1
    respecced = await api.ok("PATCH", f"{WIDGETS}/chat", {"spec": {"replicas": 3}},
                             content_type=MERGE_PATCH)
    assert respecced["metadata"]["generation"] == 2


async def test_generation_counts_everything_outside_metadata_without_a_status_subresource(
    api: Api,
) -> None:
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}
    await api.ok("POST", LEASES, lease)
    annotated = await api.ok("PATCH", f"{LEASES}/l", {"metadata": {"annotations": {"k": "v"}}},
                             content_type=MERGE_PATCH)
    assert annotated["metadata"]["generation"] == 1
    changed = await api.ok("PATCH", f"{LEASES}/l", {"spec": {"holderIdentity": "b"}},
                           content_type=MERGE_PATCH)
    assert changed["metadata"]["generation"] == 2
    status = await api.ok("PATCH", f"{LEASES}/l", {"status": {"x": 1}}, content_type=MERGE_PATCH)
    assert status["metadata"]["generation"] == 3  # no status subresource: status is just data


async def test_a_write_that_changes_nothing_keeps_the_resource_version(
    api: Api, emulator: KubeEmulator
) -> None:
    created = await api.ok("POST", WIDGETS, widget())
    again = await api.ok("PATCH", f"{WIDGETS}/chat", {"spec": {"replicas": 1}},
                         content_type=MERGE_PATCH)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    rv = created["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={rv}&timeoutSeconds=0.3") as events:
        assert await events() is None  # no event for the no-op write


async def test_generate_name_gets_a_random_suffix(api: Api) -> None:
    _, obj = await api.post(WIDGETS, {"metadata": {"generateName": "chat-"}, "spec": {}})
    assert re.fullmatch(r"chat-[a-z0-9]{5}", obj["metadata"]["name"])


# -- 2. the status subresource -----------------------------------------------------------------


async def test_writes_to_the_main_resource_ignore_status(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget(status={"phase": "Forged"}))
    assert "status" not in created
    await api.ok("PATCH", f"{WIDGETS}/chat/status", {"status": {"phase": "Real"}},
                 content_type=MERGE_PATCH)
    patched = await api.ok("PATCH", f"{WIDGETS}/chat",
                           {"spec": {"replicas": 2}, "status": {"phase": "Forged"}},
                           content_type=MERGE_PATCH)
    assert patched["status"] == {"phase": "Real"}
    assert patched["spec"] == {"replicas": 2}


async def test_writes_to_status_change_only_status(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    patched = await api.ok(
        "PATCH", f"{WIDGETS}/chat/status",
        {"spec": {"replicas": 9}, "metadata": {"labels": {"x": "y"}}, "status": {"phase": "P"}},
        content_type=MERGE_PATCH,
    )
    assert patched["spec"] == {"replicas": 1}
    assert "labels" not in patched["metadata"]
    assert patched["status"] == {"phase": "P"}
    _, fetched = await api.get(f"{WIDGETS}/chat/status")
    assert fetched["status"] == {"phase": "P"}


async def test_status_of_a_resource_without_the_subresource_is_not_found(api: Api) -> None:
    await api.ok("POST", LEASES, {"metadata": {"name": "l"}, "spec": {}})
    status, answer = await api.patch(f"{LEASES}/l/status", {"status": {"x": 1}})
    assert status == 404
    assert answer["reason"] == "NotFound"


# -- 3. optimistic concurrency ---------------------------------------------------------------


async def test_a_stale_resource_version_in_a_patch_is_a_conflict(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget())
    stale = created["metadata"]["resourceVersion"]
    await api.ok("PATCH", f"{WIDGETS}/chat", {"spec": {"replicas": 2}}, content_type=MERGE_PATCH)
    status, answer = await api.patch(
        f"{WIDGETS}/chat", {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 3}}
    )
    assert status == 409
    assert answer["kind"] == "Status"
    assert answer["reason"] == "Conflict"
    assert answer["code"] == 409
    assert "the object has been modified" in answer["message"]
    _, current = await api.get(f"{WIDGETS}/chat")
    assert current["spec"] == {"replicas": 2}


async def test_a_status_patch_of_a_resource_version_alone_checks_it_and_writes_nothing(
    api: Api, emulator: KubeEmulator
) -> None:
    """As the API server: the precondition is checked on the patched object, then a result equal to
    the stored object is not written (no new resourceVersion, no event), status or not."""
    created = await api.ok("POST", WIDGETS, widget())
    rv = created["metadata"]["resourceVersion"]
    checked = await api.ok("PATCH", f"{WIDGETS}/chat/status", {"metadata": {"resourceVersion": rv}},
                           content_type=MERGE_PATCH)
    assert checked["metadata"]["resourceVersion"] == rv
    assert "status" not in checked
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={rv}&timeoutSeconds=0.3") as events:
        assert await events() is None
    await api.ok("PATCH", f"{WIDGETS}/chat/status", {"status": {"phase": "P"}}, content_type=MERGE_PATCH)
    status, answer = await api.patch(f"{WIDGETS}/chat/status", {"metadata": {"resourceVersion": rv}})
    assert (status, answer["reason"]) == (409, "Conflict")


async def test_a_stale_resource_version_in_a_put_is_a_conflict(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget())
    fresh = dict(created, spec={"replicas": 5})
    replaced = await api.ok("PUT", f"{WIDGETS}/chat", fresh)
    assert replaced["spec"] == {"replicas": 5}
    status, answer = await api.put(f"{WIDGETS}/chat", dict(created, spec={"replicas": 7}))
    assert (status, answer["reason"]) == (409, "Conflict")


async def test_delete_preconditions_are_checked(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget())
    status, answer = await api.delete(
        f"{WIDGETS}/chat", {"preconditions": {"resourceVersion": "999999"}}
    )
    assert (status, answer["reason"]) == (409, "Conflict")
    ok = {"preconditions": {"uid": created["metadata"]["uid"]}}
    assert (await api.delete(f"{WIDGETS}/chat", ok))[0] == 200


async def test_creating_an_existing_object_is_a_conflict(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, answer = await api.post(WIDGETS, widget())
    assert (status, answer["reason"]) == (409, "AlreadyExists")


# -- 4. patch types and PUT --------------------------------------------------------------------


async def test_merge_patch_replaces_lists_and_null_deletes(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget(spec={"args": ["a", "b"], "keep": 1, "drop": 2}))
    patched = await api.ok("PATCH", f"{WIDGETS}/chat", {"spec": {"args": ["c"], "drop": None}},
                           content_type=MERGE_PATCH)
    assert patched["spec"] == {"args": ["c"], "keep": 1}


async def test_json_patch_applies_operations(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget(spec={"args": ["a"], "n": 1}))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion",
         "value": created["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/spec/args/-", "value": "b"},
        {"op": "replace", "path": "/spec/n", "value": 2},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]
    patched = await api.ok("PATCH", f"{WIDGETS}/chat", ops, content_type=JSON_PATCH)
    assert patched["spec"] == {"args": ["a", "b"], "n": 2}
    assert patched["metadata"]["finalizers"] == ["x/y"]


async def test_json_patch_with_a_failing_test_is_unprocessable(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1234567"},
           {"op": "remove", "path": "/spec"}]
    status, answer = await api.patch(f"{WIDGETS}/chat", ops, JSON_PATCH)
    assert (status, answer["reason"]) == (422, "Invalid")
    _, current = await api.get(f"{WIDGETS}/chat")
    assert current["spec"] == {"replicas": 1}


async def test_json_patch_needs_a_list_of_operations(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, answer = await api.patch(f"{WIDGETS}/chat", {"spec": {"replicas": 2}}, JSON_PATCH)
    assert (status, answer["reason"]) == (400, "BadRequest")


async def test_strategic_merge_patch_merges_lists_by_their_keys(api: Api) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"] = [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]
    body["spec"]["template"]["spec"]["tolerations"] = [{"key": "x", "operator": "Exists"}]
    await api.ok("POST", DEPLOY, body)
    patch = {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}],
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
        "tolerations": [{"key": "y", "operator": "Exists"}],
    }}}}  # fmt: skip
    patched = await api.ok("PATCH", f"{DEPLOY}/web", patch, content_type=STRATEGIC_MERGE_PATCH)
    pod = patched["spec"]["template"]["spec"]
    # containers merge by name, in the order asked; tolerations have no strategy: replaced whole
    assert [(c["name"], c["image"]) for c in pod["containers"]] == [("c", "3"), ("a", "1"), ("b", "2")]
    assert [t["key"] for t in pod["tolerations"]] == ["y"]
    deleted = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}
    patched = await api.ok("PATCH", f"{DEPLOY}/web", deleted, content_type=STRATEGIC_MERGE_PATCH)
    assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["c", "b"]
    replaced = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    patched = await api.ok("PATCH", f"{DEPLOY}/web", replaced, content_type=STRATEGIC_MERGE_PATCH)
    assert patched["spec"]["strategy"] == {"type": "Recreate"}


async def test_a_custom_resource_has_no_strategic_merge_patch(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, answer = await api.patch(f"{WIDGETS}/chat", {"spec": {"replicas": 2}}, STRATEGIC_MERGE_PATCH)
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")


async def test_server_side_apply_of_a_custom_resource(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, answer = await api.call("PATCH", f"{WIDGETS}/chat", raw="spec: {replicas: 5}", content_type=APPLY_PATCH)
    assert (status, answer["reason"]) == (422, "Invalid")  # no fieldManager
    status, answer = await api.call("PATCH", f"{WIDGETS}/chat?fieldManager=t",
                                    raw="spec: {replicas: 5}", content_type=APPLY_PATCH)  # fmt: skip
    assert (status, answer["spec"]) == (200, {"replicas": 5})
    assert [e["manager"] for e in answer["metadata"]["managedFields"]] == ["t"]


async def test_server_side_apply_of_a_built_in_kind_creates_then_updates_it(api: Api) -> None:
    config = "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {a: b}}\nspec: {ports: [{port: 80}]}\n"
    status, created = await api.call("PATCH", f"/api/v1/namespaces/{NS}/services/web?fieldManager=helm", raw=config, content_type=APPLY_PATCH)
    assert status == 201, created
    assert created["spec"]["clusterIP"]  # admitted with the Service's defaults
    assert [e["manager"] for e in created["metadata"]["managedFields"]] == ["helm"]
    relabelled = config.replace("labels: {a: b}", "labels: {c: d}")
    status, updated = await api.call("PATCH", f"/api/v1/namespaces/{NS}/services/web?fieldManager=helm", raw=relabelled, content_type=APPLY_PATCH)
    assert (status, updated["metadata"]["labels"]) == (200, {"c": "d"})
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]


async def test_patch_with_an_unknown_content_type_is_unsupported(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, _ = await api.patch(f"{WIDGETS}/chat", {"spec": {}}, "application/json")
    assert status == 415


async def test_put_replaces_the_whole_object(api: Api) -> None:
    created = await api.ok("POST", WIDGETS, widget(spec={"a": 1, "b": 2}))
    body = {"metadata": {"name": "chat", "labels": {"l": "v"}}, "spec": {"c": 3}}
    replaced = await api.ok("PUT", f"{WIDGETS}/chat", body)
    assert replaced["spec"] == {"c": 3}
    assert replaced["metadata"]["labels"] == {"l": "v"}
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["generation"] == 2


async def test_put_on_a_missing_object_is_not_found(api: Api) -> None:
    status, answer = await api.put(f"{WIDGETS}/ghost", widget("ghost"))
    assert (status, answer["reason"]) == (404, "NotFound")


async def test_a_dry_run_stores_nothing(api: Api, emulator: KubeEmulator) -> None:
    status, answer = await api.post(f"{WIDGETS}?dryRun=All", widget())
    assert (status, answer["metadata"]["name"], answer["metadata"]["resourceVersion"]) == (201, "chat", "")
    assert (await api.get(f"{WIDGETS}/chat"))[0] == 404
    await api.ok("POST", WIDGETS, widget())
    stored = emulator.get_object(WIDGET_RESOURCE, NS, "chat")
    status, answer = await api.call("PATCH", f"{WIDGETS}/chat?dryRun=All", {"spec": {"replicas": 5}},
                                    content_type=MERGE_PATCH)  # fmt: skip
    assert (status, answer["spec"]["replicas"]) == (200, 5)
    assert (await api.call("DELETE", f"{WIDGETS}/chat", {"dryRun": ["All"]}))[0] == 200
    assert emulator.get_object(WIDGET_RESOURCE, NS, "chat") == stored
    status, answer = await api.post(f"{WIDGETS}?dryRun=Some", widget("other"))
    assert (status, answer["message"]) == (400, 'dryRun: Unsupported value: "Some": supported values: "All"')


async def test_a_write_intercepted_by_a_kmock_reaction_changes_nothing(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", WIDGETS, widget())
    emulator["patch"] << 500
    status, _ = await api.call("PATCH", f"{WIDGETS}/chat", {"spec": {"replicas": 9}},
                               content_type=MERGE_PATCH)
    assert status == 500
    stored = emulator.get_object(WIDGET_RESOURCE, "ns", "chat") or {}
    assert stored["spec"] == {"replicas": 1}


async def test_a_reaction_on_a_slice_of_requests_serves_only_that_slice(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", WIDGETS, widget())
    emulator["get"][1:2] << 503  # a slice: kmock's own check decides which requests it sees
    statuses = [(await api.get(f"{WIDGETS}/chat"))[0] for _ in range(3)]
    assert statuses == [200, 503, 200]


async def test_objects_stored_kmock_style_are_listed_beside_created_ones(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", WIDGETS, widget("created"))
    seeded = {**widget("seeded"), "metadata": {"name": "seeded", "namespace": "ns"}}
    emulator.objects[WIDGET_RESOURCE, "ns", "seeded"] = seeded
    await api.ok("POST", WIDGETS, widget("later"))
    status, listed = await api.get(WIDGETS)
    assert status == 200
    assert [item["metadata"]["name"] for item in listed["items"]] == ["created", "later", "seeded"]


async def test_patch_object_writes_like_a_patch_without_a_request(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", WIDGETS, widget())
    since = emulator.request_count
    patched = emulator.patch_object(WIDGET_RESOURCE, "ns", "chat", {"spec": {"replicas": 3}})
    assert patched["spec"] == {"replicas": 3} and patched["metadata"]["generation"] == 2
    assert emulator.request_count == since


# -- 5. selectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "expected"), [
    ("tier=web", {"a", "b"}),
    ("tier==web", {"a", "b"}),
    ("tier!=web", {"c", "d"}),
    ("tier", {"a", "b", "c"}),
    ("!tier", {"d"}),
    ("tier in (db, cache)", {"c"}),
    ("tier notin (web)", {"c", "d"}),
    ("tier=web,track=canary", {"b"}),
    ("tier in (web,db),!track", {"a", "c"}),
])
async def test_label_selectors_on_lists(api: Api, selector: str, expected: set[str]) -> None:
    labels = {"a": {"tier": "web"}, "b": {"tier": "web", "track": "canary"},
              "c": {"tier": "db"}, "d": {}}
    for name, labelset in labels.items():
        await api.ok("POST", PODS, {"metadata": {"name": name, "labels": labelset}})
    _, listing = await api.get(f"{PODS}?labelSelector={selector}")
    assert {item["metadata"]["name"] for item in listing["items"]} == expected


async def test_a_label_selector_follows_labels_changed_by_a_patch(api: Api) -> None:
    for name in ("a", "b"):
        await api.ok("POST", PODS, {"metadata": {"name": name, "labels": {"tier": "web"}}})
    await api.ok("PATCH", f"{PODS}/a", {"metadata": {"labels": {"tier": "db"}}},
                 content_type="application/merge-patch+json")
    for selector, expected in [("tier=web", ["b"]), ("tier=db", ["a"])]:
        _, listing = await api.get(f"{PODS}?labelSelector={selector}")
        assert [item["metadata"]["name"] for item in listing["items"]] == expected


async def test_a_malformed_label_selector_is_a_bad_request(api: Api) -> None:
    status, answer = await api.get(f"{PODS}?labelSelector=a%3D%3D%3Db")
    assert (status, answer["reason"]) == (400, "BadRequest")


async def test_field_selectors_on_name_and_namespace(api: Api) -> None:
    for namespace in ("ns", "other"):
        for name in ("a", "b"):
            await api.ok("POST", f"/api/v1/namespaces/{namespace}/pods",
                         {"metadata": {"name": name}})
    _, listing = await api.get(
        "/api/v1/pods?fieldSelector=metadata.name=a,metadata.namespace!=other"
    )
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listing["items"]] == [
        ("ns", "a")]
    status, answer = await api.get("/api/v1/pods?fieldSelector=spec.color=red")
    assert (status, answer["message"]) == (400, "field label not supported: spec.color")


async def test_field_selectors_of_a_kind(api: Api) -> None:
    """A pod's own field labels (status.phase): an absent field is the empty value."""
    await api.ok("POST", PODS, {"metadata": {"name": "a"}})
    _, listing = await api.get(f"{PODS}?fieldSelector=status.phase!=Running")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["a"]
    _, listing = await api.get(f"{PODS}?fieldSelector=status.phase=Running")
    assert listing["items"] == []
    status, _ = await api.get("/apis/apps/v1/deployments?fieldSelector=status.phase=Running")
    assert status == 400  # a pod's field label, not a Deployment's


async def test_a_filtered_watch_sees_objects_enter_and_leave_the_selection(api: Api) -> None:
    await api.ok("POST", PODS, {"metadata": {"name": "p", "labels": {"app": "x"}}})
    async with api.watch(f"{PODS}?watch=true&labelSelector=app%3Dy") as events:
        await api.ok("PATCH", f"{PODS}/p", {"metadata": {"labels": {"app": "y"}}},
                     content_type=MERGE_PATCH)
        await api.ok("PATCH", f"{PODS}/p", {"metadata": {"labels": {"team": "t"}}},
                     content_type=MERGE_PATCH)
        await api.ok("PATCH", f"{PODS}/p", {"metadata": {"labels": {"app": "z"}}},
                     content_type=MERGE_PATCH)
        seen = [await events() for _ in range(3)]
    assert [e["type"] for e in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[2]["object"]["metadata"]["labels"]["app"] == "z"


# -- watches ---------------------------------------------------------------------------------------


async def test_a_watch_resumes_after_the_given_resource_version(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget("a"))
    b = await api.ok("POST", WIDGETS, widget("b"))
    await api.ok("POST", WIDGETS, widget("c"))
    await api.ok("DELETE", f"{WIDGETS}/a")
    since = b["metadata"]["resourceVersion"]
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={since}&timeoutSeconds=0.3") as events:
        seen = [await events() for _ in range(3)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen[:2]] == [
        ("ADDED", "c"), ("DELETED", "a")]
    assert seen[2] is None  # timeoutSeconds ends the stream


async def test_a_watch_from_an_unknown_resource_version_is_gone(api: Api) -> None:
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion=99999") as events:
        event = await events()
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410


async def test_a_watch_with_initial_events_ends_them_with_a_bookmark(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget("a"))
    path = f"{WIDGETS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
    async with api.watch(path) as events:
        added, bookmark = await events(), await events()
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


# -- finalizers and 6. garbage collection -------------------------------------------------------------


async def test_deletion_waits_for_finalizers(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget(metadata={"name": "chat", "finalizers": ["x/y"]}))
    marked = await api.ok("DELETE", f"{WIDGETS}/chat")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    rv = marked["metadata"]["resourceVersion"]
    status, answer = await api.patch(f"{WIDGETS}/chat", {"metadata": {"finalizers": ["x/y", "new"]}})
    assert (status, answer["reason"]) == (422, "Invalid")
    async with api.watch(f"{WIDGETS}?watch=true&resourceVersion={rv}") as events:
        await api.ok("PATCH", f"{WIDGETS}/chat", {"metadata": {"finalizers": None}},
                     content_type=MERGE_PATCH)
        event = await events()
    assert event["type"] == "DELETED"
    assert (await api.get(f"{WIDGETS}/chat"))[0] == 404


async def test_every_version_of_an_object_is_kept_for_the_tests(api: Api, emulator: KubeEmulator) -> None:
    assert emulator.versions(WIDGET_RESOURCE, "ns", "chat") == []
    await api.ok("POST", WIDGETS, widget(metadata={"name": "chat", "finalizers": ["x/y"]}))
    await api.ok("DELETE", f"{WIDGETS}/chat")
    await api.ok("PATCH", f"{WIDGETS}/chat", {"metadata": {"finalizers": None}}, content_type=MERGE_PATCH)
    versions = emulator.versions(WIDGET_RESOURCE, "ns", "chat")
    assert [v["metadata"].get("finalizers") for v in versions] == [["x/y"], ["x/y"], None]
    assert [bool(v["metadata"].get("deletionTimestamp")) for v in versions] == [False, True, True]


async def test_removing_an_owner_deletes_its_dependents_transitively(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget())
    child = await api.ok("POST", DEPLOY, deployment(ownerReferences=[owner_ref(owner)]))
    await api.ok("POST", PODS, {"metadata": {"name": "pod", "ownerReferences": [owner_ref(child)]}})
    await api.ok("POST", PODS, {"metadata": {"name": "bystander"}})
    await api.ok("DELETE", f"{WIDGETS}/chat")
    assert (await api.get(f"{DEPLOY}/web"))[0] == 404
    assert (await api.get(f"{PODS}/pod"))[0] == 404
    assert (await api.get(f"{PODS}/bystander"))[0] == 200


async def test_garbage_collection_honours_the_dependents_finalizers(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget())
    await api.ok("POST", DEPLOY, deployment(ownerReferences=[owner_ref(owner)],
                                            finalizers=["keep/me"]))
    await api.ok("DELETE", f"{WIDGETS}/chat")
    _, child = await api.get(f"{DEPLOY}/web")
    assert child["metadata"]["deletionTimestamp"]
    await api.ok("PATCH", f"{DEPLOY}/web", {"metadata": {"finalizers": []}},
                 content_type=MERGE_PATCH)
    assert (await api.get(f"{DEPLOY}/web"))[0] == 404


async def test_a_dependent_with_another_owner_loses_only_the_reference(api: Api) -> None:
    first = await api.ok("POST", WIDGETS, widget("first"))
    second = await api.ok("POST", WIDGETS, widget("second"))
    refs = [owner_ref(first), owner_ref(second)]
    await api.ok("POST", DEPLOY, deployment(ownerReferences=refs))
    await api.ok("DELETE", f"{WIDGETS}/first")
    _, child = await api.get(f"{DEPLOY}/web")
    assert child["metadata"]["ownerReferences"] == [owner_ref(second)]
    await api.ok("DELETE", f"{WIDGETS}/second")
    assert (await api.get(f"{DEPLOY}/web"))[0] == 404


async def test_a_dependent_created_after_its_owner_was_deleted_is_collected(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget())
    await api.ok("DELETE", f"{WIDGETS}/chat")
    await api.ok("POST", DEPLOY, deployment(ownerReferences=[owner_ref(owner)]))  # a late writer
    assert (await api.get(f"{DEPLOY}/web"))[0] == 404
    await api.ok("POST", DEPLOY, deployment("unowned"))
    assert (await api.get(f"{DEPLOY}/unowned"))[0] == 200


# -- 7. namespaces and discovery ---------------------------------------------------------------------


async def test_namespaces_are_served_cluster_scoped(api: Api) -> None:
    rv = (await api.get("/api/v1/namespaces"))[1]["metadata"]["resourceVersion"]
    async with api.watch(f"/api/v1/namespaces?watch=true&resourceVersion={rv}") as events:
        created = await api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "llm"}})
        event = await events()
    assert "namespace" not in created["metadata"]
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "llm")
    _, listing = await api.get("/api/v1/namespaces")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["default", "llm", "ns", "other"]
    assert (await api.get("/api/v1/namespaces/llm"))[1]["kind"] == "Namespace"
    _, discovery = await api.get("/api/v1")
    namespaces = next(r for r in discovery["resources"] if r["name"] == "namespaces")
    assert namespaces["namespaced"] is False


async def test_discovery_declares_the_operators_resources(api: Api) -> None:
    _, discovery = await api.get("/apis/qwenops.io/v1alpha1")
    names = {r["name"]: r for r in discovery["resources"]}
    assert set(names) == {"qwendeployments", "qwendeployments/status"}
    assert names["qwendeployments"]["kind"] == "QwenDeployment"
    assert names["qwendeployments"]["namespaced"] is True
    assert "qwd" in names["qwendeployments"]["shortNames"]
    for group_version, plural in [
        ("apps/v1", "deployments"), ("events.k8s.io/v1", "events"),
        ("gateway.networking.k8s.io/v1", "httproutes"), ("coordination.k8s.io/v1", "leases"),
        ("kopf.dev/v1", "kopfpeerings"), ("kopf.dev/v1", "clusterkopfpeerings"),
        ("inference.networking.k8s.io/v1", "inferencepools"),
    ]:
        _, answer = await api.get(f"/apis/{group_version}")
        assert plural in {r["name"] for r in answer["resources"]}, group_version


async def test_an_undeclared_resource_is_not_found(api: Api) -> None:
    status, _ = await api.post("/api/v1/namespaces/ns/configmaps", {"metadata": {"name": "c"}})
    assert status == 404


# -- 8. the simulated Deployment controller ------------------------------------------------------------


async def test_deployment_status_is_left_alone_by_default(api: Api) -> None:
    await api.ok("POST", DEPLOY, deployment())
    _, fetched = await api.get(f"{DEPLOY}/web")
    assert "status" not in fetched


async def test_deployments_become_available_like_the_real_controller_says(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.deployments_become_available = True
    created = await api.ok("POST", DEPLOY, deployment(replicas=3))
    assert "status" not in created  # the controller writes after the create, as in a cluster

    async def available() -> Json:
        _, fetched = await api.get(f"{DEPLOY}/web")
        status = fetched.get("status") or {}
        return status if status.get("availableReplicas") == 3 else None

    status = await until(available, "3 available replicas")
    assert status["observedGeneration"] == 1
    assert {k: status[k] for k in ("replicas", "readyReplicas", "availableReplicas",
                                   "updatedReplicas")} == dict.fromkeys(
        ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"), 3)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}
    patched = await api.ok("PATCH", f"{DEPLOY}/web", {"spec": {"replicas": 4}}, content_type=MERGE_PATCH)
    assert patched["metadata"]["generation"] == 2
    assert patched["status"]["observedGeneration"] == 1  # the controller has not seen it yet

    async def scaled() -> Json:
        _, fetched = await api.get(f"{DEPLOY}/web")
        return fetched if fetched["status"].get("availableReplicas") == 4 else None

    fetched = await until(scaled, "4 available replicas")
    assert fetched["status"]["observedGeneration"] == fetched["metadata"]["generation"] == 2


async def test_switching_the_controller_on_marks_existing_deployments(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", DEPLOY, deployment())
    emulator.deployments_become_available = True

    async def available() -> bool:
        _, fetched = await api.get(f"{DEPLOY}/web")
        return (fetched.get("status") or {}).get("availableReplicas") == 2

    await until(available, "2 available replicas")


async def test_one_deployment_can_be_held_unready_and_released(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.deployments_become_available = True
    emulator.set_deployment_ready("ns", "canary", False)  # before it exists
    await api.ok("POST", DEPLOY, deployment("canary"))

    async def status_where(check: Callable[[Json], bool]) -> Json:
        _, fetched = await api.get(f"{DEPLOY}/canary")
        status = fetched.get("status") or {}
        return status if check(status) else None

    held = await until(lambda: status_where(lambda s: s.get("replicas") == 2), "2 pods running unready")
    assert "availableReplicas" not in held  # the API omits zero counts
    assert held["unavailableReplicas"] == 2
    available = next(c for c in held["conditions"] if c["type"] == "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    emulator.set_deployment_ready("ns", "canary", True)
    await until(lambda: status_where(lambda s: s.get("availableReplicas") == 2), "released")
    emulator.deployments_become_available = False
    emulator.set_deployment_ready("ns", "canary", None)  # back to the default: left alone
    _, after = await api.get(f"{DEPLOY}/canary")
    assert after["status"]["availableReplicas"] == 2


# -- 9. the request log ----------------------------------------------------------------------------


async def test_the_request_log_records_what_was_sent(api: Api, emulator: KubeEmulator) -> None:
    since = emulator.request_count
    await api.ok("POST", f"{WIDGETS}?fieldManager=me", widget())
    await api.ok("PATCH", f"{WIDGETS}/chat", {"spec": {"replicas": 2}}, content_type=MERGE_PATCH)
    log = emulator.request_log(since)
    assert [(r.method, r.path) for r in log] == [("POST", WIDGETS), ("PATCH", f"{WIDGETS}/chat")]
    assert log[0].query == {"fieldManager": "me"}
    assert log[1].content_type == MERGE_PATCH
    assert log[1].body == {"spec": {"replicas": 2}}
    assert (log[1].resource, log[1].namespace, log[1].name) == (
        WIDGET_RESOURCE, "ns", "chat")


async def test_writes_counts_writes_only_and_leaves_out_events(
    api: Api, emulator: KubeEmulator
) -> None:
    await api.ok("POST", WIDGETS, widget())
    since = emulator.request_count
    await api.get(f"{WIDGETS}/chat")
    await api.get(WIDGETS)
    await api.ok("POST", "/api/v1/namespaces/ns/events", {"metadata": {"generateName": "e-"}})
    await api.ok("POST", "/apis/events.k8s.io/v1/namespaces/ns/events",
                 {"metadata": {"generateName": "e-"}})
    assert emulator.writes(since) == []
    await api.ok("DELETE", f"{WIDGETS}/chat")
    assert [w.method for w in emulator.writes(since)] == ["DELETE"]
    assert len(emulator.writes(since, include_events=True)) == 3


# -- 10. running it: kubeconfig, the official client, the CLI ------------------------------------------


async def test_the_kubernetes_client_works_through_the_kubeconfig(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    import kubernetes  # noqa: PLC0415 - only this test needs it

    path = write_kubeconfig(tmp_path / "kubeconfig", emulator.url)

    def use_client() -> list[str]:
        client = kubernetes.config.new_client_from_config(config_file=str(path))
        core = kubernetes.client.CoreV1Api(client)
        apps = kubernetes.client.AppsV1Api(client)
        core.create_namespace({"metadata": {"name": "llm"}})
        apps.create_namespaced_deployment("llm", deployment())
        apps.patch_namespaced_deployment("web", "llm", {"spec": {"replicas": 5}},
                                         _content_type=MERGE_PATCH)
        apps.patch_namespaced_deployment("web", "llm", {"spec": {"paused": True}})
        names = [ns.metadata.name for ns in core.list_namespace().items]
        spec = apps.read_namespaced_deployment("web", "llm").spec
        client.close()
        return [*names, str(spec.replicas), str(spec.paused)]

    since = emulator.request_count
    assert await asyncio.to_thread(use_client) == ["default", "llm", "ns", "other", "5", "True"]
    patches = [w.content_type for w in emulator.writes(since) if w.method == "PATCH"]
    # The client's default for a dict body is a strategic merge patch: lists such as containers
    # merge by name, here as on a real server.
    assert patches == [MERGE_PATCH, STRATEGIC_MERGE_PATCH]


async def test_the_cli_serves_and_marks_deployments_available(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops_testing.emulator", "--port", "0", "--kubeconfig", str(kubeconfig),
        "--resources", "v1/configmaps:ConfigMap", "--namespaces", "ns",
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url in kubeconfig.read_text()
        async with aiohttp.ClientSession(url) as session:
            api = Api(session)
            await api.ok("POST", DEPLOY, deployment())
            await api.ok("POST", "/api/v1/namespaces/ns/configmaps", {"metadata": {"name": "c"}})

            async def available() -> bool:
                _, fetched = await api.get(f"{DEPLOY}/web")
                return (fetched.get("status") or {}).get("availableReplicas") == 2

            await until(available, "2 available replicas")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# -- 11. the real kopf, end to end ----------------------------------------------------------------------

OPERATOR = textwrap.dedent("""
    import kopf
    import kubernetes

    @kopf.on.create("qwenops.io", "v1alpha1", "qwendeployments")
    def created(spec, name, namespace, body, patch, **_):
        child = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{name}-web", "namespace": namespace},
            "spec": {
                "replicas": spec["replicas"], "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "vllm", "image": "vllm"}]}},
            },
        }
        kopf.adopt(child, owner=body)
        kubernetes.client.AppsV1Api().create_namespaced_deployment(namespace, child)
        patch.status["phase"] = "Progressing"

    @kopf.on.delete("qwenops.io", "v1alpha1", "qwendeployments")
    def deleted(**_):
        pass
""")


async def _eventually(check: Callable[[], bool], what: str, log: Path, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not seen within {timeout}s: {what}\n--- kopf log ---\n{log.read_text()}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def kopf_running(tmp_path: Path, url: object, *args: str) -> AsyncIterator[Path]:
    """Run `kopf run ARGS operator.py` against the emulator; always stopped, killed if need be."""
    (tmp_path / "operator.py").write_text(OPERATOR)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
    log = tmp_path / "kopf.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kopf", "run", *args, "--standalone", "--verbose",
            str(tmp_path / "operator.py"),
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=output, stderr=output,
        )
        try:
            yield log
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


@pytest.mark.parametrize("scope", [["-A"], ["-n", "ns"]], ids=["all-namespaces", "namespaced"])
async def test_kopf_runs_end_to_end(
    emulator: KubeEmulator, api: Api, tmp_path: Path, scope: list[str]
) -> None:
    emulator.deployments_become_available = True
    qwds, deployments = "qwenops.io/v1alpha1/qwendeployments", "apps/v1/deployments"
    async with kopf_running(tmp_path, emulator.url, *scope) as log:
        # kopf watches before it handles anything: wait for its watch request to arrive.
        await _eventually(lambda: any(r.query.get("watch") == "true" and r.resource == qwds
                                      for r in emulator.request_log()), "kopf's watch", log)
        owner = await api.ok("POST", QWD, qwen_deployment("a" * 40, namespace="ns", replicas=2))

        def handled() -> bool:
            obj = emulator.get_object(qwds, "ns", "chat") or {}
            return (obj.get("status") or {}).get("phase") == "Progressing"

        await _eventually(handled, "the handler's status", log)
        child = emulator.get_object(deployments, "ns", "chat-web")
        assert child is not None
        assert child["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
        await _eventually(
            lambda: ((emulator.get_object(deployments, "ns", "chat-web") or {}).get("status") or {}).get(
                "availableReplicas") == 2, "2 available replicas", log)
        stored = emulator.get_object(qwds, "ns", "chat") or {}
        assert stored["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]

        await api.ok("DELETE", f"{QWD}/chat")
        await _eventually(lambda: emulator.get_object(qwds, "ns", "chat") is None,
                          "the finalizer released", log)
        assert emulator.get_object(deployments, "ns", "chat-web") is None  # collected
