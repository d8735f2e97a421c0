"""The operator's metrics of one reconcile pass: its state and weight, its rollbacks, the GPUs each
track asks for and the capacity missing (:mod:`qwenops.io.metrics` holds the series)."""

from contextlib import suppress
from datetime import datetime

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus
from qwenops.io import metrics
from qwenops.policy.budget import gpus_by_track
from qwenops.policy.rollout import Observed, Plan
from qwenops.render.defaults import with_pods_of


def record_pass(
    namespace: str,
    name: str,
    spec: QwenDeploymentSpec,
    target: str,
    statuses: tuple[QwenDeploymentStatus, QwenDeploymentStatus],
    plan: Plan,
    observed: Observed,
    now: datetime,
) -> None:
    """Everything a pass whose status was written counts: `statuses` is (before, after)."""
    before, after = statuses
    _count_state(namespace, name, before, after, plan, now)
    metrics.record_rollout(namespace, name, after, spec.rollout.analysis)
    _count_gpus(namespace, name, spec, target, after, plan, observed)


def _count_state(
    namespace: str,
    name: str,
    before: QwenDeploymentStatus,
    after: QwenDeploymentStatus,
    plan: Plan,
    now: datetime,
) -> None:
    metrics.record_state(namespace, name, after.phase, plan.canary_weight)
    if plan.rollback_reason is None:
        return
    metrics.ROLLBACKS.labels(namespace, name, plan.rollback_reason).inc()
    # The run the rollback ends, as the pass recorded it: a reading conclusive on its own starts it.
    first_failed = next(
        (r.first_failed_at for r in (after.analysis, before.analysis) if r and r.first_failed_at), None
    )
    decided = plan.rejection.at if plan.rejection is not None and plan.rejection.at is not None else now
    if plan.rollback_reason == "SLOBreached" and first_failed is not None:
        metrics.BREACH_TO_ROLLBACK.observe((decided - first_failed).total_seconds())


def _count_gpus(
    namespace: str,
    name: str,
    spec: QwenDeploymentSpec,
    target: str,
    status: QwenDeploymentStatus,
    plan: Plan,
    observed: Observed,
) -> None:
    """The GPUs each track's pods ask for, and the capacity missing, as metrics."""
    gpus: dict[str, int] = {}
    for revision in observed.pods or {}:
        with suppress(LookupError):  # a revision leaving: the spec's GPUs a pod
            gpus[revision] = spec_of(spec, target, revision, status).node_pool.gpus_per_replica
    default = dict.fromkeys(observed.pods or {}, spec.node_pool.gpus_per_replica)
    counted = gpus_by_track(
        observed.pods or {}, default | gpus, plan.stable_revision, plan.canary_revision, plan.warm_revision
    )
    missing = status.capacity.missing if status.capacity is not None else 0
    metrics.record_gpus(namespace, name, counted, missing)


def spec_of(
    spec: QwenDeploymentSpec, target: str, revision: str, status: QwenDeploymentStatus
) -> QwenDeploymentSpec:
    """The spec a revision's pods come from: the current one, or the one recorded in status."""
    if revision == target:
        return spec
    for recorded in (status.stable, status.canary, status.previous):
        if recorded is not None and recorded.revision == revision:
            return with_pods_of(spec, recorded)
    raise LookupError(f"revision {revision} is neither the spec's nor recorded in status")
