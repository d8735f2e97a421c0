"""The emulated cluster's nodes and scheduler (qwenops_testing.emulator.scheduler, nodes), checked
over HTTP: finite ``nvidia.com/gpu``, kube-scheduler's Unschedulable messages, selectors, taints
and affinity, evictions and drains, and pods rescheduled when room frees."""

from __future__ import annotations

from typing import Any

import pytest

from qwenops.policy import startup
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

GPU = "nvidia.com/gpu"


@pytest.fixture(autouse=True)
def pods_run(emulator: KubeEmulator) -> None:
    """The emulated cluster runs every Deployment's pods in these tests."""
    emulator.deployments_become_available = True


def gpu_deployment(replicas: int, gpus: int = 1, name: str = "web", **pod_spec: Any) -> Json:
    body = deployment(name, replicas=replicas)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {GPU: str(gpus)}, "requests": {GPU: str(gpus)}}
    body["spec"]["template"]["spec"].update(pod_spec)
    return body


async def pods_where(api: Api, check: Any, what: str, count: int) -> list[Json]:
    async def found() -> list[Json] | None:
        _, listing = await api.get(PODS)
        matching = [pod for pod in listing["items"] if check(pod)]
        return matching if len(matching) == count else None

    result: list[Json] = await until(found, what)
    return result


def scheduled(pod: Json) -> bool:
    return bool(pod["spec"].get("nodeName"))


def unschedulable(pod: Json) -> Json | None:
    return next(
        (
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c["type"] == "PodScheduled" and c["status"] == "False"
        ),
        None,
    )


async def test_without_nodes_every_pod_fits(api: Api) -> None:
    await api.ok("POST", DEPLOY, gpu_deployment(3, gpus=8))
    pods = await pods_where(api, scheduled, "3 pods scheduled", 3)
    assert {pod["spec"]["nodeName"] for pod in pods} == {"emulated-node"}
    assert (await api.get("/api/v1/nodes"))[1]["items"] == []


async def test_a_pod_that_fits_nowhere_is_pending_with_the_schedulers_message(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.add_nodes(3, gpus=1)
    _, nodes = await api.get("/api/v1/nodes")
    assert [n["status"]["allocatable"][GPU] for n in nodes["items"]] == ["1", "1", "1"]
    await api.ok("POST", DEPLOY, gpu_deployment(4))
    running = await pods_where(api, scheduled, "3 pods scheduled", 3)
    assert len({pod["spec"]["nodeName"] for pod in running}) == 3  # one GPU each
    [pending] = await pods_where(api, unschedulable, "1 pod unschedulable", 1)
    condition = unschedulable(pending)
    assert condition is not None
    assert condition["reason"] == "Unschedulable"
    assert condition["message"] == (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    assert pending["status"]["phase"] == "Pending" and "nodeName" not in pending["spec"]
    # The operator reads the stage off that very status.
    stage = startup.stage_of(pending)
    assert stage is not None and stage.stage == startup.Stage.UNSCHEDULABLE
    assert stage.message == condition["message"]
    summary = startup.summarize("r", [*running, pending])
    assert summary.stage == startup.Stage.UNSCHEDULABLE and summary.pods["Unschedulable"] == 1


async def test_mixed_reasons_are_counted_and_sorted_as_kube_scheduler_words_them(
    api: Api, emulator: KubeEmulator
) -> None:
    emulator.add_nodes(
        1, gpus=8, taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}], prefix="tainted"
    )
    emulator.add_nodes(2, gpus=1)
    await api.ok("POST", DEPLOY, gpu_deployment(1, gpus=2))
    [pending] = await pods_where(api, unschedulable, "the pod unschedulable", 1)
    assert unschedulable(pending)["message"] == (  # type: ignore[index]
        "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: true}, "
        "2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    )


async def test_a_toleration_and_a_node_selector_choose_the_node(api: Api, emulator: KubeEmulator) -> None:
    emulator.add_nodes(
        1,
        gpus=8,
        taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}],
        labels={"pool": "h100"},
        prefix="h100",
    )
    emulator.add_nodes(1, gpus=8, labels={"pool": "l4"}, prefix="l4")
    tolerations = [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    await api.ok(
        "POST", DEPLOY, gpu_deployment(2, name="big", nodeSelector={"pool": "h100"}, tolerations=tolerations)
    )
    await api.ok("POST", DEPLOY, gpu_deployment(1, name="lost", nodeSelector={"pool": "a100"}))
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["l4"]}]}
                ]
            }
        }
    }
    await api.ok("POST", DEPLOY, gpu_deployment(1, name="small", affinity=affinity))
    big = await pods_where(api, lambda p: p["metadata"]["name"].startswith("big-") and scheduled(p), "big", 2)
    assert {pod["spec"]["nodeName"] for pod in big} == {"h100-0"}
    [small] = await pods_where(
        api, lambda p: p["metadata"]["name"].startswith("small-") and scheduled(p), "small", 1
    )
    assert small["spec"]["nodeName"] == "l4-0"
    [lost] = await pods_where(api, unschedulable, "lost", 1)
    assert unschedulable(lost)["message"] == (  # type: ignore[index]
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {gpu: true}. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling."
    )


async def test_a_pending_pod_is_scheduled_once_a_gpu_frees(api: Api, emulator: KubeEmulator) -> None:
    emulator.add_nodes(1, gpus=2)
    await api.ok("POST", DEPLOY, gpu_deployment(2, name="first"))
    await pods_where(api, scheduled, "2 pods scheduled", 2)
    await api.ok("POST", DEPLOY, gpu_deployment(1, name="second"))
    [waiting] = await pods_where(api, unschedulable, "the second waits", 1)
    await api.patch(f"{DEPLOY}/first", {"spec": {"replicas": 1}})
    await pods_where(
        api,
        lambda p: p["metadata"]["name"] == waiting["metadata"]["name"] and scheduled(p),
        "the second scheduled",
        1,
    )


async def test_evicting_a_pod_over_the_eviction_subresource(api: Api, emulator: KubeEmulator) -> None:
    await api.ok("POST", DEPLOY, gpu_deployment(1))
    [pod] = await pods_where(api, scheduled, "1 pod scheduled", 1)
    name = pod["metadata"]["name"]
    status, answer = await api.post(
        f"{PODS}/{name}/eviction",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "ns"}},
    )
    assert (status, answer["status"]) == (201, "Success")
    await pods_where(api, lambda p: p["metadata"]["name"] != name and scheduled(p), "a replacement", 1)
    await until(lambda: _gone(api, name), "the evicted pod gone")


async def _gone(api: Api, name: str) -> bool:
    return (await api.get(f"{PODS}/{name}"))[0] == 404


async def test_draining_a_node_cordons_it_and_moves_its_pods(api: Api, emulator: KubeEmulator) -> None:
    emulator.add_nodes(2, gpus=1)
    await api.ok("POST", DEPLOY, gpu_deployment(1))
    [pod] = await pods_where(api, scheduled, "1 pod scheduled", 1)
    node = pod["spec"]["nodeName"]
    assert emulator.drain_node(node) == [pod["metadata"]["name"]]
    _, drained = await api.get(f"/api/v1/nodes/{node}")
    assert drained["spec"]["unschedulable"] is True
    [moved] = await pods_where(
        api, lambda p: scheduled(p) and not p["metadata"].get("deletionTimestamp"), "the pod moved", 1
    )
    assert moved["spec"]["nodeName"] != node
    other = moved["spec"]["nodeName"]
    emulator.drain_node(other)
    [stuck] = await pods_where(api, unschedulable, "nowhere left", 1)
    assert unschedulable(stuck)["message"] == (  # type: ignore[index]
        "0/2 nodes are available: 2 node(s) were unschedulable. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    await api.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": None}})  # kubectl uncordon
    await pods_where(api, lambda p: p["spec"].get("nodeName") == node, "back on the uncordoned node", 1)
