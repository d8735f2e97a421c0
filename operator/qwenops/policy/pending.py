"""Pending is never silent: a revision's pods the scheduler cannot place, said in the rollout's
own message with the GPUs they miss and the scheduler's words (the pods' stage, `startup`, reads
them from the pods' PodScheduled condition)."""

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.policy.startup import RevisionStartup, Stage


def unschedulable(spec: QwenDeploymentSpec, startup: RevisionStartup | None) -> str | None:
    """What the revision's Unschedulable pods miss, and what to do about it (None: none waits)."""
    if startup is None:
        return None
    waiting = startup.pods.get(str(Stage.UNSCHEDULABLE), 0)
    if not waiting:
        return None
    pool = spec.node_pool
    gpus = waiting * pool.gpus_per_replica
    said = (
        f"{waiting} pod{'s' if waiting > 1 else ''} Unschedulable, {gpus} {pool.gpu_resource} missing"
        f" ({startup.unschedulable})"
    )
    if spec.rollout.budget is None:
        return f"{said}; on a full pool, declare spec.rollout.budget (maxSurge: 0) to roll out within it"
    return f"{said}; the pool has fewer GPUs than spec.replicas + maxSurge needs"
