"""Fault drills a GPU cluster produces: the real operator on the emulated cluster's finite GPUs.

1. no free GPU for a canary pod: it stays Pending, and the status says why within a pass (the
   scheduler's own message, and an event) until the progress deadline rolls the canary back;
2. the stable revision's pods evicted mid-canary: the Deployment controller replaces them, and
   the operator neither promotes nor rolls back because of it;
3. a node lost during promotion, the canary part-way to full size and the stable short of a pod:
   the promotion waits for the capacity to come back, then completes, nothing lost.

The nodes are the emulator's (`add_nodes`, one `nvidia.com/gpu` each, one per pod here); a node
lost is `drain_node`: cordoned, its pods evicted, as the node lifecycle controller does once a
node stays NotReady. The stage and the timeline's invariants are tests/integration/drills.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qwenops_testing.cluster import deployments_of
from tests.integration.drills import (
    CANARY,
    NAME,
    NS,
    REPLICAS,
    STABLE,
    STABLE_COMMIT,
    Drill,
    drill_stage,
    manifest,
    violations,
    writes_by,
)

pytestmark = pytest.mark.integration

PODS = "v1/pods"
REVISION_LABEL = "qwenops.io/revision"
FULL = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
DEADLINE = 8.0


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[Drill]:
    async with drill_stage(tmp_path) as stage:
        yield stage


def pods_of(drill: Drill, revision: str) -> list[dict[str, Any]]:
    """The revision's pods that are not on their way out."""
    return [
        pod
        for pod in drill.emulator.list_objects(PODS)
        if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision
        and not pod["metadata"].get("deletionTimestamp")
    ]


def unscheduled(pod: dict[str, Any]) -> str | None:
    """The scheduler's message on a pod it could not place (None: placed, or not tried yet)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message", ""))
    return None


def ready_replicas(drill: Drill, revision: str) -> int:
    deployment = deployments_of(drill.emulator, NS, NAME).get(revision) or {}
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def node_of_a_pod(drill: Drill, revision: str) -> str:
    return str(
        next(pod["spec"]["nodeName"] for pod in pods_of(drill, revision) if pod["spec"].get("nodeName"))
    )


async def test_a_canary_pod_with_no_free_gpu_says_why_and_rolls_back_at_the_deadline(drill: Drill) -> None:
    """Every GPU serves the stable revision: the canary's pod is Pending, and the status says so in
    the scheduler's words within a pass; the progress deadline rolls the canary back, naming it."""
    drill.emulator.add_nodes(REPLICAS, gpus=1)
    await drill.start_operator()
    stable = manifest(STABLE_COMMIT, drill.prometheus.url)
    stable["spec"]["rollout"]["progressDeadline"] = f"{DEADLINE:.0f}s"
    await drill.client.apply_qwd(stable)
    await drill.until(lambda: drill.status().get("phase") == "Healthy", "the stable revision Healthy")
    asked = time.monotonic()
    await drill.start_canary()

    def refused() -> str | None:
        return next((m for pod in pods_of(drill, CANARY) if (m := unscheduled(pod))), None)

    message = await drill.until(refused, "the canary's pod refused by the scheduler")
    refused_at = time.monotonic()
    assert message.startswith(FULL), message

    def reported() -> bool:
        startup = drill.status().get("startup") or {}
        return startup.get("revision") == CANARY and startup.get("stage") == "Unschedulable"

    await drill.until(reported, "status.startup saying Unschedulable", timeout=10)
    within = time.monotonic() - refused_at
    assert within < 3.0, f"the status said so {within:.1f}s after the scheduler (a pass is 1s here)"
    startup = drill.status()["startup"]
    assert startup["pods"] == {"Unschedulable": 1} and FULL in startup["message"], startup
    ready = drill.condition("ModelReady")
    assert (ready["status"], ready["reason"]) == ("False", "Unschedulable") and FULL in ready["message"]
    assert drill.status()["phase"] == "Progressing"
    await drill.until(lambda: "Unschedulable" in drill.events(), "an Unschedulable event")
    event = next(
        e for e in drill.emulator.list_objects("v1/events")
        if e.get("reason") == "Unschedulable" and e["involvedObject"]["name"] == NAME
    )  # fmt: skip
    assert event["type"] == "Warning" and FULL in event["message"], event

    status = await drill.rolled_back(timeout=DEADLINE + 20)
    assert time.monotonic() - asked >= DEADLINE, "rolled back before the progress deadline"
    (entry,) = status["history"]
    assert entry["revision"] == CANARY and entry["outcome"] == "RolledBack"
    assert entry["reason"].startswith("ProgressDeadlineExceeded: "), entry
    assert FULL in entry["reason"], entry
    assert status["stable"]["revision"] == STABLE and status["rejectedRevision"] == CANARY
    assert deployments_of(drill.emulator, NS, NAME)[STABLE]["spec"]["replicas"] == REPLICAS
    await drill.until(lambda: not pods_of(drill, CANARY), "the pending canary pod gone")
    assert violations(drill.timeline) == [], drill.logs()


async def test_the_stable_revisions_pods_evicted_mid_canary_move_nothing(drill: Drill) -> None:
    """Two nodes of the stable revision drained while the canary holds its first step: the
    Deployment controller replaces the pods on the spare nodes; the operator writes no
    Deployment, keeps the step, its weight and its start, and promotes once the reading passes."""
    # A GPU for each pod of both revisions at full size, and one for each of the 2 drained nodes'.
    drill.emulator.add_nodes(2 * REPLICAS + 2, gpus=1)
    drill.emulator.pod_timing.load_seconds = 1.0  # replacements take a moment to serve
    await drill.start_operator()
    await drill.serve_stable()
    drill.prometheus.hold()  # the first step's reading stays in flight: the step cannot end
    await drill.start_canary()
    await drill.until(
        lambda: "stepStartedAt" in drill.canary() and drill.prometheus.arrived.is_set(),
        "the first step started, its reading in flight",
    )
    first = drill.canary()
    since = drill.emulator.request_count
    evicted = set()
    for _ in range(2):
        node = node_of_a_pod(drill, STABLE)
        evicted.update(drill.emulator.drain_node(node))
    assert len(evicted) == 2, evicted

    await drill.until(lambda: ready_replicas(drill, STABLE) < REPLICAS, "the stable short of ready pods")

    def replaced() -> bool:
        names = {pod["metadata"]["name"] for pod in pods_of(drill, STABLE)}
        return ready_replicas(drill, STABLE) == REPLICAS and not names & evicted and len(names) == REPLICAS

    await drill.until(replaced, "the evicted stable pods replaced and ready")
    await asyncio.sleep(1.5)  # passes that saw the stable short, and one after: none moves anything
    status, canary = drill.status(), drill.canary()
    assert status["phase"] == "Progressing" and not status.get("history"), status
    assert (canary["step"], canary["weight"], canary["stepStartedAt"]) == (
        first["step"], first["weight"], first["stepStartedAt"]
    )  # fmt: skip
    moved = [w for w in writes_by(drill.emulator, since) if "/deployments" in w.path]
    assert moved == [], f"the operator wrote Deployments because of an eviction: {moved}"
    assert "RolledBack" not in drill.events()

    drill.prometheus.release()
    status = await drill.promoted()
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "Promoted")]
    assert violations(drill.timeline) == [], drill.logs()


async def test_a_node_lost_during_promotion_waits_for_capacity_then_completes(drill: Drill) -> None:
    """Five GPUs: the stable's 3 and the second step's 2 canary pods. Promotion asks for a third
    canary pod, which fits nowhere; then a node of the stable revision is lost, its pod's
    replacement Pending too. Nothing is deleted, scaled down or rolled back while the capacity is
    missing; two nodes coming back let both Deployments fill, and the promotion completes."""
    drill.emulator.add_nodes(REPLICAS + 2, gpus=1)
    await drill.start_operator()
    await drill.serve_stable()
    await drill.start_canary()

    def promotion_stuck() -> bool:
        return drill.canary().get("promoting") is True and any(unscheduled(p) for p in pods_of(drill, CANARY))

    await drill.until(promotion_stuck, "the promotion waiting for a GPU for the canary's third pod")
    lost = node_of_a_pod(drill, STABLE)
    assert len(drill.emulator.drain_node(lost)) == 1
    await drill.until(lambda: ready_replicas(drill, STABLE) == REPLICAS - 1, "the stable a pod short")
    await drill.until(
        lambda: sum(1 for p in pods_of(drill, STABLE) if unscheduled(p)) == 1,
        "the stable's replacement pod Pending",
    )
    await asyncio.sleep(2)  # passes with both Deployments short: none gives up on either
    status = drill.status()
    assert status["phase"] == "Progressing" and drill.canary().get("promoting") is True, status
    deployments = deployments_of(drill.emulator, NS, NAME)
    assert deployments[STABLE]["spec"]["replicas"] == REPLICAS
    assert deployments[CANARY]["spec"]["replicas"] == REPLICAS
    assert ready_replicas(drill, CANARY) == REPLICAS - 1

    drill.emulator.add_nodes(2, gpus=1, prefix="replacement")
    status = await drill.promoted()
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "Promoted")]
    assert ready_replicas(drill, CANARY) == REPLICAS
    await drill.until(lambda: "Promoted" in drill.events(), "the Promoted event")
    assert drill.events().count("Promoted") == 1 and "RolledBack" not in drill.events()
    assert violations(drill.timeline) == [], drill.logs()
