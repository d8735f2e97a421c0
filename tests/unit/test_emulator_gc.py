"""Deletion propagation as the garbage collector carries it out (qwenops_testing.emulator.collector),
checked over HTTP: background, foreground with blockOwnerDeletion, orphan."""

from __future__ import annotations

from tests.unit.emulator_http import (
    DEPLOY,
    PODS,
    WIDGETS,
    Api,
    Json,
    api,
    deployment,
    emulator,
    owner_ref,
    widget,
)

__all__ = ["api", "emulator"]  # the fixtures


def blocking(owner: Json) -> Json:
    return {**owner_ref(owner), "blockOwnerDeletion": True}


async def test_foreground_deletion_waits_for_blocking_dependents(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget())
    await api.ok("POST", DEPLOY, deployment(ownerReferences=[blocking(owner)], finalizers=["keep/me"]))
    await api.ok("POST", PODS, {"metadata": {"name": "loose", "ownerReferences": [owner_ref(owner)]}})
    marked = await api.ok("DELETE", f"{WIDGETS}/chat", {"propagationPolicy": "Foreground"})
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert (await api.get(f"{PODS}/loose"))[0] == 404  # deleted too, but it never blocked
    _, child = await api.get(f"{DEPLOY}/web")
    assert child["metadata"]["deletionTimestamp"]  # being deleted, held by its own finalizer
    _, waiting = await api.get(f"{WIDGETS}/chat")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    await api.patch(f"{DEPLOY}/web", {"metadata": {"finalizers": None}})
    assert (await api.get(f"{DEPLOY}/web"))[0] == 404
    assert (await api.get(f"{WIDGETS}/chat"))[0] == 404


async def test_foreground_deletion_cascades_in_the_foreground_through_each_level(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget())
    child = await api.ok("POST", DEPLOY, deployment(ownerReferences=[blocking(owner)]))
    await api.ok(
        "POST",
        PODS,
        {"metadata": {"name": "pod", "ownerReferences": [blocking(child)], "finalizers": ["keep/me"]}},
    )
    await api.ok("DELETE", f"{WIDGETS}/chat?propagationPolicy=Foreground")
    _, middle = await api.get(f"{DEPLOY}/web")
    assert middle["metadata"]["finalizers"] == ["foregroundDeletion"]  # it has dependents of its own
    await api.patch(f"{PODS}/pod", {"metadata": {"finalizers": None}})
    for path in (f"{PODS}/pod", f"{DEPLOY}/web", f"{WIDGETS}/chat"):
        assert (await api.get(path))[0] == 404, path


async def test_foreground_deletion_of_an_object_without_dependents_goes_at_once(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    await api.ok("DELETE", f"{WIDGETS}/chat", {"propagationPolicy": "Foreground"})
    assert (await api.get(f"{WIDGETS}/chat"))[0] == 404


async def test_orphan_deletion_leaves_the_dependents_without_the_reference(api: Api) -> None:
    first = await api.ok("POST", WIDGETS, widget("first"))
    second = await api.ok("POST", WIDGETS, widget("second"))
    await api.ok("POST", DEPLOY, deployment(ownerReferences=[owner_ref(first), owner_ref(second)]))
    await api.ok("POST", PODS, {"metadata": {"name": "pod", "ownerReferences": [owner_ref(first)]}})
    await api.ok("DELETE", f"{WIDGETS}/first", {"propagationPolicy": "Orphan"})
    assert (await api.get(f"{WIDGETS}/first"))[0] == 404
    status, pod = await api.get(f"{PODS}/pod")
    assert status == 200 and "ownerReferences" not in pod["metadata"]
    _, child = await api.get(f"{DEPLOY}/web")
    assert child["metadata"]["ownerReferences"] == [owner_ref(second)]


async def test_orphan_dependents_in_the_query_is_the_orphan_policy(api: Api) -> None:
    owner = await api.ok("POST", WIDGETS, widget(metadata={"name": "chat", "finalizers": ["keep/me"]}))
    await api.ok("POST", PODS, {"metadata": {"name": "pod", "ownerReferences": [owner_ref(owner)]}})
    marked = await api.ok("DELETE", f"{WIDGETS}/chat?orphanDependents=true")
    assert marked["metadata"]["finalizers"] == ["keep/me", "orphan"]
    _, held = await api.get(f"{WIDGETS}/chat")
    assert held["metadata"]["finalizers"] == ["keep/me"]  # the orphan finalizer did its work
    status, pod = await api.get(f"{PODS}/pod")
    assert status == 200 and "ownerReferences" not in pod["metadata"]


async def test_an_unknown_propagation_policy_is_a_bad_request(api: Api) -> None:
    await api.ok("POST", WIDGETS, widget())
    status, answer = await api.delete(f"{WIDGETS}/chat", {"propagationPolicy": "Sideways"})
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert (await api.get(f"{WIDGETS}/chat"))[0] == 200
