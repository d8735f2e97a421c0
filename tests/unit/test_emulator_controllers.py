"""The emulated cluster's Deployment and ReplicaSet controllers and kubelets
(qwenops_testing.emulator.controllers), checked over HTTP: ReplicaSets per template, pods over
time, readiness per pod, the real status and conditions, rolling updates within the strategy's
bounds, and graceful termination."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from qwenops_testing.emulator import KubeEmulator
from tests.unit.emulator_http import (
    DEPLOY,
    PODS,
    Api,
    Json,
    api,
    deployment,
    emulator,
    until,
)

__all__ = ["api", "emulator"]  # the fixtures

REPLICASETS = "/apis/apps/v1/namespaces/ns/replicasets"


@pytest.fixture(autouse=True)
def pods_run(emulator: KubeEmulator) -> None:
    """The emulated cluster runs every Deployment's pods in these tests."""
    emulator.deployments_become_available = True


def rolling(replicas: int, surge: Any, unavailable: Any, **spec: Any) -> Json:
    body = deployment(replicas=replicas)
    body["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    body["spec"].update(spec)
    return body


async def since_now(api: Api, path: str, query: str = "") -> str:
    """A watch of `path` from now on: its changes only, not the objects there already."""
    _, listing = await api.get(f"{path}?{query}")
    return f"{path}?watch=true&resourceVersion={listing['metadata']['resourceVersion']}&{query}"


async def listed(api: Api, path: str) -> list[Json]:
    _, listing = await api.get(path)
    return list(listing["items"])


async def deployment_status(api: Api, check: Callable[[Json], bool], what: str, name: str = "web") -> Json:
    async def matching() -> Json:
        _, fetched = await api.get(f"{DEPLOY}/{name}")
        status = fetched.get("status") or {}
        return status if check(status) else None

    return await until(matching, what)


def condition(status: Json, type_: str) -> Json:
    return next(c for c in status["conditions"] if c["type"] == type_)


async def new_image(api: Api, image: str, name: str = "web") -> None:
    await api.patch(
        f"{DEPLOY}/{name}", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    )


async def test_a_deployment_owns_a_replicaset_per_template_which_owns_the_pods(api: Api) -> None:
    created = await api.ok("POST", DEPLOY, deployment(replicas=3))
    status = await deployment_status(api, lambda s: s.get("availableReplicas") == 3, "3 available")
    [replicaset] = await listed(api, REPLICASETS)
    rs_meta = replicaset["metadata"]
    template_hash = rs_meta["labels"]["pod-template-hash"]
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{6,10}", template_hash)
    assert rs_meta["name"] == f"web-{template_hash}"
    assert rs_meta["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert replicaset["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": template_hash}
    assert replicaset["status"]["availableReplicas"] == 3
    pods = await listed(api, PODS)
    assert len(pods) == 3
    for pod in pods:
        assert re.fullmatch(
            rf"web-{template_hash}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod["metadata"]["name"]
        )
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs_meta["uid"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == template_hash
        assert pod["spec"]["nodeName"]  # scheduled
    assert (
        condition(status, "Progressing")["message"]
        == f'ReplicaSet "{rs_meta["name"]}" has successfully progressed.'
    )
    assert condition(status, "Available")["message"] == "Deployment has minimum availability."


async def test_a_replicaset_creates_its_pods_one_after_another(api: Api) -> None:
    async with api.watch(await since_now(api, REPLICASETS)) as events:
        await api.ok("POST", DEPLOY, deployment(replicas=3))
        counts: list[int] = []
        while not counts or counts[-1] < 3:
            replicaset = (await events())["object"]
            count = (replicaset.get("status") or {}).get("replicas")
            if count and (not counts or counts[-1] != count):
                counts.append(count)
    assert counts == [1, 2, 3]


async def test_a_replicasets_pods_are_admitted_like_a_clients(api: Api) -> None:
    """The ReplicaSet controller creates its pods through the API server: defaulted (requests from
    limits, quantities canonical, the pod's own defaults), as the admission of any create does."""
    body = deployment(replicas=1)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "1024Mi", "cpu": 0.5}}
    await api.ok("POST", DEPLOY, body)

    async def a_pod() -> Json:
        return (await api.ok("GET", PODS))["items"]

    pod = (await until(a_pod, "a pod"))[0]
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"memory": "1Gi", "cpu": "500m"},
                                      "requests": {"memory": "1Gi", "cpu": "500m"}}  # fmt: skip
    assert container["imagePullPolicy"] == "Always"  # image "i": the tag latest
    assert (pod["spec"]["dnsPolicy"], pod["spec"]["enableServiceLinks"]) == ("ClusterFirst", True)


async def test_the_controllers_revision_annotation_is_no_new_generation(api: Api) -> None:
    """It is written as UpdateStatus writes it: a Deployment's generation follows its spec and the
    annotations a client writes, not the controller's."""
    await api.ok("POST", DEPLOY, deployment(replicas=1))
    done = await deployment_status(api, lambda s: s.get("availableReplicas") == 1, "1 available")
    _, stored = await api.get(f"{DEPLOY}/web")
    assert stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert stored["metadata"]["generation"] == done["observedGeneration"] == 1
    annotated = await api.patch(f"{DEPLOY}/web", {"metadata": {"annotations": {"a": "b"}}})
    assert annotated[1]["metadata"]["generation"] == 2


async def test_observed_generation_lags_until_the_controller_has_seen_the_change(api: Api) -> None:
    await api.ok("POST", DEPLOY, deployment(replicas=1))
    await deployment_status(api, lambda s: s.get("availableReplicas") == 1, "1 available")
    patched = await api.patch(f"{DEPLOY}/web", {"spec": {"replicas": 2}})
    assert patched[1]["metadata"]["generation"] == 2
    assert patched[1]["status"]["observedGeneration"] == 1
    await deployment_status(api, lambda s: s.get("observedGeneration") == 2, "generation 2 observed")


async def test_each_pod_becomes_ready_on_its_own_after_its_load_delay(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.pod_timing.load_seconds = 1.0
    async with api.watch(f"{PODS}?watch=true") as events:
        await api.ok("POST", DEPLOY, deployment(replicas=2))
        loop_time = asyncio.get_running_loop().time
        bound: dict[str, float] = {}
        loading: set[str] = set()
        ready: dict[str, float] = {}
        while len(ready) < 2:
            event = await events()
            pod = event["object"]
            name = pod["metadata"]["name"]
            conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
            if pod["spec"].get("nodeName"):
                bound.setdefault(name, loop_time())
            if conditions.get("Ready") == "True":
                assert name not in ready  # one write makes one pod ready
                assert name in loading  # after it was seen loading
                ready[name] = loop_time()
            elif pod.get("status", {}).get("phase") == "Running":
                assert pod["status"]["containerStatuses"][0]["state"]["running"]
                loading.add(name)
    for name, at in ready.items():  # seen bound late rather than early: the margin is the client's
        assert at - bound[name] >= 0.5, (name, at - bound[name])
    await deployment_status(api, lambda s: s.get("readyReplicas") == 2, "2 ready")


async def test_a_rolling_update_stays_within_max_surge_and_max_unavailable(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.pod_timing.load_seconds = 0.05
    await api.ok("POST", DEPLOY, rolling(3, 1, 0))
    await deployment_status(api, lambda s: s.get("availableReplicas") == 3, "3 available")
    seen: list[Json] = []
    async with api.watch(await since_now(api, DEPLOY, "fieldSelector=metadata.name=web")) as events:
        await new_image(api, "j")
        while True:
            status = (await events())["object"].get("status") or {}
            seen.append(status)
            if (
                status.get("updatedReplicas") == 3
                and status.get("replicas") == 3
                and status.get("availableReplicas") == 3
                and status.get("observedGeneration") == 2
            ):
                break
    assert all(s.get("replicas", 0) <= 4 for s in seen), seen  # 3 + maxSurge 1
    assert all(s.get("availableReplicas", 0) >= 3 for s in seen), seen  # 3 - maxUnavailable 0
    updated = [s.get("updatedReplicas", 0) for s in seen if s.get("observedGeneration") == 2]
    assert updated == sorted(updated) and {1, 2, 3} <= set(updated), updated  # one new pod at a time
    replicasets = {rs["metadata"]["name"]: rs for rs in await listed(api, REPLICASETS)}
    assert sorted(rs["spec"]["replicas"] for rs in replicasets.values()) == [0, 3]
    revisions = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in replicasets.values()
    }
    assert revisions == {"1", "2"}


async def test_max_unavailable_lets_old_pods_go_before_new_ones_are_ready(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.pod_timing.load_seconds = 0.05
    await api.ok("POST", DEPLOY, rolling(4, 0, "50%"))
    await deployment_status(api, lambda s: s.get("availableReplicas") == 4, "4 available")
    seen: list[Json] = []
    async with api.watch(await since_now(api, DEPLOY, "fieldSelector=metadata.name=web")) as events:
        await new_image(api, "j")
        while True:
            status = (await events())["object"].get("status") or {}
            seen.append(status)
            if (
                status.get("updatedReplicas") == 4
                and status.get("availableReplicas") == 4
                and status.get("observedGeneration") == 2
            ):
                break
    assert all(s.get("replicas", 0) <= 4 for s in seen), seen  # no surge
    assert all(s.get("availableReplicas", 0) >= 2 for s in seen), seen  # 4 - 50 %
    assert any(s.get("availableReplicas", 0) < 4 for s in seen), seen


async def test_recreate_removes_every_old_pod_before_the_first_new_one(
    api: Api, emulator: KubeEmulator
) -> None:
    body = deployment(replicas=2)
    body["spec"]["strategy"] = {"type": "Recreate"}
    await api.ok("POST", DEPLOY, body)
    await deployment_status(api, lambda s: s.get("availableReplicas") == 2, "2 available")
    old = {pod["metadata"]["name"] for pod in await listed(api, PODS)}
    async with api.watch(await since_now(api, PODS)) as events:
        await new_image(api, "j")
        gone: set[str] = set()
        while True:
            event = await events()
            name = event["object"]["metadata"]["name"]
            if event["type"] == "DELETED":
                gone.add(name)
            elif event["type"] == "ADDED":
                assert gone == old, "a new pod before the old ones were gone"
                break
    await deployment_status(
        api,
        lambda s: s.get("updatedReplicas") == 2 and s.get("availableReplicas") == 2,
        "the new pods available",
    )


async def test_a_deployment_that_makes_no_progress_exceeds_its_deadline(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.set_deployment_ready("ns", "web", False)
    await api.ok("POST", DEPLOY, rolling(2, 1, 0, progressDeadlineSeconds=1))
    status = await deployment_status(
        api,
        lambda s: any(c["reason"] == "ProgressDeadlineExceeded" for c in s.get("conditions") or []),
        "ProgressDeadlineExceeded",
    )
    [replicaset] = await listed(api, REPLICASETS)
    progressing = condition(status, "Progressing")
    assert progressing["status"] == "False"
    assert (
        progressing["message"] == f'ReplicaSet "{replicaset["metadata"]["name"]}" has timed out progressing.'
    )
    available = condition(status, "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert status["unavailableReplicas"] == 2 and "readyReplicas" not in status
    emulator.set_deployment_ready("ns", "web", True)
    status = await deployment_status(
        api, lambda s: condition(s, "Progressing")["reason"] == "NewReplicaSetAvailable", "progress again"
    )
    assert condition(status, "Progressing")["status"] == "True"


async def test_a_terminating_pod_keeps_its_deletion_timestamp_for_its_grace_period(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.pod_timing.shutdown_seconds = math.inf  # containers that ignore SIGTERM
    body = deployment(replicas=2)
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 2
    await api.ok("POST", DEPLOY, body)
    await deployment_status(api, lambda s: s.get("availableReplicas") == 2, "2 available")
    loop_time = asyncio.get_running_loop().time
    async with api.watch(await since_now(api, PODS)) as events:
        await api.patch(f"{DEPLOY}/web", {"spec": {"replicas": 1}})
        marked_at = deleted_at = None
        while deleted_at is None:
            event = await events()
            meta = event["object"]["metadata"]
            if event["type"] == "MODIFIED" and meta.get("deletionTimestamp") and marked_at is None:
                assert meta["deletionGracePeriodSeconds"] == 2
                marked_at = loop_time()
                status, still = await api.get(f"{PODS}/{meta['name']}")
                assert status == 200 and still["metadata"]["deletionTimestamp"]
            elif event["type"] == "DELETED":
                assert marked_at is not None
                deleted_at = loop_time()
    assert deleted_at - marked_at >= 1.0  # 2 s, less what the client may have seen late
    status = await deployment_status(api, lambda s: s.get("replicas") == 1, "1 replica")
    assert status["availableReplicas"] == 1


async def test_deleting_a_deployment_in_the_foreground_waits_for_its_pods(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.pod_timing.shutdown_seconds = 0.3
    await api.ok("POST", DEPLOY, deployment(replicas=2))
    await deployment_status(api, lambda s: s.get("availableReplicas") == 2, "2 available")
    marked = await api.ok("DELETE", f"{DEPLOY}/web", {"propagationPolicy": "Foreground"})
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    [replicaset] = await listed(api, REPLICASETS)
    assert replicaset["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert all(pod["metadata"]["deletionTimestamp"] for pod in await listed(api, PODS))

    async def all_gone() -> bool:
        return (await api.get(f"{DEPLOY}/web"))[0] == 404

    await until(all_gone, "the Deployment gone after its pods")
    assert await listed(api, PODS) == [] and await listed(api, REPLICASETS) == []
