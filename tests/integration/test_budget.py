"""Rollouts on a full GPU pool: the real operator, the emulated cluster's scheduler and kubelets.

The pool has exactly `replicas x gpusPerReplica` GPUs. Within a budget of surge 0 a rollout is
promoted, and the next one rolled back, with no pod ever waiting for a GPU; the emulator's change
log is replayed instant by instant to check that the pods never ask for more GPUs than the budget
and that ready serving pods never drop below its floor, the operator killed mid-promotion
included. Without a budget, the canary's pods wait
for GPUs and the status names what is missing.
"""

from typing import Any

import pytest

from qwenops_testing.cluster import QWDS, Client, event_reasons, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.gpu_timeline import PODS, replay
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME, R = "llm", "chat", 4
COMMIT_A, COMMIT_B, COMMIT_C = "a" * 40, "b" * 40, "c" * 40
STEPS = [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "2s"}]
BUDGET = {"maxSurge": 0, "maxUnavailable": 1}


def manifest(commit: str, budget: dict[str, Any] | None = BUDGET) -> dict[str, Any]:
    rollout = {} if budget is None else {"budget": budget}
    return qwen_deployment(commit, replicas=R, steps=STEPS, rollout=rollout)


def serving_revision(emulator: KubeEmulator, commit: str) -> bool:
    status = status_of(emulator, NS, NAME)
    revision = expected_revision(manifest(commit))
    return status.get("phase") == "Healthy" and (status.get("stable") or {}).get("revision") == revision


async def full_pool_serving_a(emulator: KubeEmulator, client: Client, operator: Operator, **kw: Any) -> None:
    emulator.deployments_become_available = True
    emulator.pod_timing.start_seconds = 0.2
    emulator.pod_timing.load_seconds = 1.0
    emulator.pod_timing.shutdown_seconds = 0.3
    emulator.add_nodes(R, gpus=1)  # exactly replicas x gpusPerReplica
    await client.apply_qwd(manifest(COMMIT_A, **kw))
    await eventually(lambda: serving_revision(emulator, COMMIT_A), "revision A serving", operator, timeout=60)


async def test_on_a_full_pool_a_rollout_and_a_rollback_stay_within_the_budget(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    await full_pool_serving_a(emulator, client, operator)
    stable_a = expected_revision(manifest(COMMIT_A))
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})
    await eventually(
        lambda: serving_revision(emulator, COMMIT_B), "revision B promoted", operator, timeout=90
    )

    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_C}}})

    def at_step_2() -> bool:
        canary = status_of(emulator, NS, NAME).get("canary") or {}
        return canary.get("step") == 1 and canary.get("stepStartedAt") is not None

    await eventually(at_step_2, "revision C at step 2", operator, timeout=60)
    await client.patch_qwd(NS, NAME, {"metadata": {"annotations": {"qwenops.io/abort": "drill"}}})
    await eventually(
        lambda: status_of(emulator, NS, NAME).get("phase") == "RolledBack", "RolledBack", operator
    )
    await eventually(
        lambda: "CapacityRestored" in event_reasons(emulator, NAME),
        "full capacity again",
        operator,
        timeout=60,
    )
    assert "capacity" not in status_of(emulator, NS, NAME)

    moments = replay(emulator, NS, NAME)
    start = next(i for i, m in enumerate(moments) if m.ready.get(stable_a, 0) == R)
    rolled_back = next(i for i, m in enumerate(moments) if m.rejected)
    assert start < rolled_back
    for moment in moments:
        assert moment.unschedulable == 0, "no pod ever waited for a GPU"
    for moment in moments[start:]:
        assert moment.requested <= R, moment  # maxSurge 0: never a GPU beyond the pool
    for moment in moments[start:rolled_back]:
        assert moment.serving() >= R - 1, moment  # maxUnavailable 1: promotion included
    floor = moments[rolled_back].serving()
    for moment in moments[rolled_back:]:
        assert moment.serving() >= floor, moment  # the stable loses nothing while it comes back
        floor = moment.serving()
    assert moments[-1].serving() == R


async def test_without_a_budget_a_full_pool_is_named_in_the_status(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    await full_pool_serving_a(emulator, client, operator, budget=None)
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})

    def said() -> str:
        message: str = status_of(emulator, NS, NAME).get("message", "")
        return message if "nvidia.com/gpu missing" in message else ""

    message = await eventually(said, "the missing GPUs in the status", operator)
    assert "2 pods Unschedulable, 2 nvidia.com/gpu missing (0/4 nodes are available" in message
    assert "declare spec.rollout.budget" in message
    # Within one pass of the scheduler's verdict: the operator's first status write after it (one
    # more when a pass that read the pods before it was on its way) says so.
    log = emulator.changes(PODS, QWDS)
    verdict = next(
        i
        for i, (_, _, obj) in enumerate(log)
        if any(c.get("reason") == "Unschedulable" for c in (obj.get("status") or {}).get("conditions") or [])
    )
    written = [obj.get("status") or {} for _, _, obj in log[:verdict] if obj.get("kind") == "QwenDeployment"]
    messages = []
    for _, _, obj in log[verdict:]:
        if obj.get("kind") == "QwenDeployment" and (obj.get("status") or {}) != written[-1]:
            written.append(obj.get("status") or {})  # a status write (kopf's own notes are not)
            messages.append(written[-1].get("message", ""))
    assert any("nvidia.com/gpu missing" in m for m in messages[:2]), "\n".join(messages[:3])
