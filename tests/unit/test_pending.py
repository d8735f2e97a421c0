"""Pending is never silent: pods the scheduler cannot place are named, with the GPUs they miss and
the scheduler's own message, in the rollout's status message, on the pass that first sees them."""

from datetime import UTC, datetime
from typing import Any

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import Phase, QwenDeploymentStatus, StableRevision
from qwenops.controller.observe import pod_counts
from qwenops.policy import startup
from qwenops.policy.budget import PodCount
from qwenops.policy.rollout import DeploymentState, Observed, decide
from tests.unit.test_startup import pod, running

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD, NEW = "aaaaaaaaaa", "bbbbbbbbbb"
SCHEDULER = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def spec_of(**rollout: Any) -> QwenDeploymentSpec:
    return QwenDeploymentSpec.model_validate(
        {
            "model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"},
            "replicas": 3,
            "nodePool": {"gpusPerReplica": 2},
            "engine": {"tensorParallelSize": 2},
            "rollout": {"steps": [{"weight": 50, "pause": "1m"}], **rollout},
        }
    )


def decided(spec: QwenDeploymentSpec, pods: list[dict[str, Any]]) -> str:
    stable = StableRevision(revision=OLD, model=spec.model, engine=spec.engine, node_pool=spec.node_pool)
    world = Observed(
        2,
        {OLD: DeploymentState(OLD, 3, 3, True), NEW: DeploymentState(NEW, 3, 0, False)},
        startups={NEW: startup.summarize(NEW, pods)},
    )
    plan = decide(spec, NEW, QwenDeploymentStatus(stable=stable, phase=Phase.HEALTHY), world, T0)
    return plan.status.message


def test_the_summary_keeps_the_schedulers_message() -> None:
    summary = startup.summarize(NEW, [pod(scheduled=False), pod(download=running())])
    assert summary.stage == startup.Stage.UNSCHEDULABLE
    assert summary.unschedulable == SCHEDULER


def test_without_a_budget_the_message_names_the_missing_gpus_and_says_to_declare_one() -> None:
    message = decided(spec_of(), [pod(scheduled=False), pod(scheduled=False), pod(download=running())])
    assert message == (
        "step 1/1: waiting for 3 canary pods (0 ready) before moving 50% of traffic: "
        f"2 pods Unschedulable, 4 nvidia.com/gpu missing ({SCHEDULER}); "
        "on a full pool, declare spec.rollout.budget (maxSurge: 0) to roll out within it"
    )


def test_within_a_budget_the_pool_is_said_to_be_short() -> None:
    message = decided(spec_of(budget={"maxSurge": 0, "maxUnavailable": 1}), [pod(scheduled=False)])
    assert "1 pod Unschedulable, 2 nvidia.com/gpu missing" in message
    assert message.endswith("the pool has fewer GPUs than spec.replicas + maxSurge needs")


def test_scheduled_pods_say_nothing_of_the_kind() -> None:
    assert "Unschedulable" not in decided(spec_of(), [pod(download=running())])


def test_pods_are_counted_as_a_budget_counts_them() -> None:
    ready = pod(vllm=running(), ready=True)
    ready["status"]["conditions"].append({"type": "Ready", "status": "True"})
    finished = {**pod(), "status": {"phase": "Failed"}}
    other = pod(scheduled=False)
    other["metadata"] = {"name": "q", "labels": {"qwenops.io/revision": "r2"}}
    pods = [ready, pod(scheduled=False), pod(deleting=True), finished, other]
    assert pod_counts(pods) == {"r1": PodCount(live=2, ready=1, terminating=1), "r2": PodCount(live=1)}
