"""The bake: after a promotion, the new stable is still judged, with the previous revision warm.

For `spec.rollout.bake.duration` after a promotion the previous revision keeps
`warmReplicas` ready pods in no Service (counted in the budget, see `warm`) and a
reading of the new stable's SLOs is due every `analysis.interval`. Each pass, in
order:

- the spec (or a person's undo) names the previous revision: it serves again at
  once on its warm pods, and is given its replicas back as the new revision's
  pods go (:func:`returned`);
- the new stable's Deployment is marked rejected (a pass rolled it back and its
  status write was lost), a person's abort, or `failureLimit` failed readings (or
  one conclusive breach): rolled back after promotion, as a canary is, to the
  previous revision (:func:`rolled_back`): its Deployment is kept at zero pods
  and marked, and the revision not tried again until the spec changes or a retry;
- the bake's time is over, the spec declares no bake any more, or a person's
  promote: the previous revision's Deployment goes (:func:`over`);
- else the bake goes on (:func:`baking`).

A spec naming a newer revision ends the bake before any of these (`rollout.decide`).
"""

from dataclasses import replace
from typing import Literal

from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.api.status import (
    AnalysisReading,
    BakeStatus,
    CanaryRevision,
    ConditionType,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    with_condition,
)
from qwenops.policy import budget, requests, rollback, warm
from qwenops.policy.conclude import conclude_canary, conclude_steady, strays
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import RolledBack, Said
from qwenops.policy.plan import DeploymentPlan, Event, Plan
from qwenops.policy.readings import record
from qwenops.policy.steady import steady


def ended_by(status: QwenDeploymentStatus, revision: str) -> tuple[QwenDeploymentStatus, Event | None]:
    """A spec naming `revision`, neither the new stable nor the warm one, ends the bake: the status
    without it, and what to say (None: no bake was under way)."""
    bake, stable = status.bake, status.stable
    if bake is None or stable is None or revision in (stable.revision, bake.revision):
        return status, None
    said = (
        f"bake of revision {stable.revision} ended: the spec names revision {revision}; "
        f"revision {bake.revision} removed"
    )
    return status.model_copy(update={"bake": None}), Event("Normal", "BakeEnded", said)


def decide(sit: Situation, bake: BakeStatus, reading: AnalysisReading | None) -> Plan:
    """The pass's plan while `bake` is under way and the spec names the new stable or the previous."""
    previous = sit.status.previous
    if previous is None or previous.revision != bake.revision:  # a status edited by hand
        kept = Said(sit.status.handled, sit.status.conditions, sit.status.analysis)
        return over(sit, kept, "no revision to keep")
    if sit.target == bake.revision:
        return returned(sit, previous)
    asked = requests.take(sit.status.handled, sit.observed.annotations)
    said = Said(asked.handled, sit.status.conditions, sit.status.analysis)
    state = sit.observed.deployments.get(sit.stable.revision)
    if state is not None and (mark := state.rejection) is not None:
        marked = RolledBack(_as_canary(sit.stable), mark.reason, mark.message, mark.at)
        return rolled_back(sit, previous, said, marked)
    if asked.abort:
        why = "aborted by a person during the bake (annotation qwenops.io/abort)"
        return rolled_back(sit, previous, said, RolledBack(_as_canary(sit.stable), "Aborted", why))
    if reading is not None:
        last = sit.status.analysis
        last = last if last is not None and last.at >= bake.started_at else None  # the steps' run ends
        recorded = record(reading, last, said.conditions, sit.now, sit.generation)
        said = replace(said, conditions=recorded.conditions, analysis=recorded.analysis)
        if rollback.breached(sit, recorded.analysis):
            breach = RolledBack(_as_canary(sit.stable), "SLOBreached", recorded.analysis.message)
            return rolled_back(sit, previous, said, breach)
    if asked.promote:
        return over(sit, said, "a person's promote (annotation qwenops.io/promote)")
    if (declared := warm.declared(sit.spec)) is None:
        return over(sit, said, "spec.rollout.bake removed")
    if sit.now >= bake.until:
        return over(sit, said, f"{declared.duration} passed")
    return baking(sit, bake, said)


def rolled_back(sit: Situation, previous: StableRevision, said: Said, outcome: RolledBack) -> Plan:
    """The new stable is rolled back as a canary would be, to the previous revision: its warm pods
    serve at once, and are given their replicas back as the rejected revision's go."""
    status = sit.status.model_copy(update={"bake": None, "previous": None})
    back = replace(sit, stable=previous, status=status)
    return conclude_canary(back, replace(outcome, after_promotion=True), said)


def returned(sit: Situation, previous: StableRevision) -> Plan:
    """The spec (or an undo) names the previous revision: it serves again at once on its warm pods,
    the new one's Deployment goes, and the previous is given its replicas back as its pods go."""
    left = sit.stable
    undone = sit.status.override is not None and sit.status.override.revision == previous.revision
    reason = "Undo: a person's undo"
    if not undone:
        reason = f"SpecReverted: the spec names revision {previous.revision}"
    entry = HistoryEntry(
        revision=left.revision, model=left.model, outcome="RolledBack", at=sit.now,
        reason=f"{reason} during the bake", after_promotion=True,
    )  # fmt: skip
    ready = sit.observed.pods_of(previous.revision).ready
    message = (
        f"revision {previous.revision} serving again on its {ready} warm pods; "
        f"revision {left.revision} removed"
    )
    conditions = with_condition(
        sit.status.conditions, ConditionType.AVAILABLE, "False", "PreviousRevisionReturning", message,
        now=sit.now, generation=sit.generation,
    )  # fmt: skip
    capacity = sit.status.capacity
    if sit.bounds is not None and capacity is None:  # the way back's dip is reported until it is whole
        capacity = budget.capacity(None, sit.spec.replicas, ready, sit.now)[0]
    status = sit.status.model_copy(
        update={"bake": None, "previous": left, "conditions": conditions, "capacity": capacity}
    )
    back = replace(sit, stable=previous, status=status)
    said_so = Event(
        "Warning", "RolledBack", f"revision {left.revision} rolled back after promotion: {message}"
    )
    outcome, said = steady(back, (said_so,))
    return conclude_steady(back, outcome, replace(said, recorded=(*said.recorded, entry)))


def over(sit: Situation, said: Said, why: str) -> Plan:
    """The bake ends: the previous revision's Deployment goes (within a budget the new stable grows
    to its replicas as those pods go)."""
    bake = sit.status.bake
    previous = bake.revision if bake is not None else "previous"
    update = {"bake": None, "handled": said.handled, "analysis": said.analysis, "conditions": said.conditions}
    status = sit.status.model_copy(update=update)
    ended = replace(sit, status=status)
    done = Event(
        "Normal", "BakeCompleted",
        f"bake of revision {sit.stable.revision} over ({why}); revision {previous} removed",
    )  # fmt: skip
    return conclude_steady(ended, *steady(ended, (done,)))


def baking(sit: Situation, bake: BakeStatus, said: Said) -> Plan:
    """The bake goes on: the new stable serves, the previous revision's pods stay warm."""
    gen, spec, stable = sit.generation, sit.spec, sit.stable.revision
    serving, kept = warm.split(spec, bake.warm_replicas)
    ready = sit.observed.pods_of(stable).ready
    warm_ready = sit.observed.pods_of(bake.revision).ready
    message = (
        f"revision {stable} baking until {bake.until:%H:%M:%S} on {ready}/{serving} replicas; "
        f"revision {bake.revision} kept warm on {warm_ready}/{kept} pods"
    )
    state = sit.observed.deployments.get(stable)
    available: Literal["True", "False"] = "True" if state is not None and state.available else "False"
    reason = "ReplicasReady" if available == "True" else "ReplicasNotReady"
    conditions = with_condition(
        said.conditions, ConditionType.AVAILABLE, available, reason, message, now=sit.now, generation=gen
    )
    conditions = with_condition(
        conditions, ConditionType.PROGRESSING, "True", "Baking", message, now=sit.now, generation=gen
    )
    update: dict[str, object] = {
        "observed_generation": gen, "phase": Phase.BAKING, "message": message, "canary": None,
        "analysis": said.analysis, "handled": said.handled, "conditions": conditions,
    }  # fmt: skip
    if sit.bounds is not None:
        update["capacity"] = budget.capacity(sit.status.capacity, spec.replicas, ready, sit.now)[0]
    requeue = bake.until - sit.now
    if spec.rollout.analysis.prometheus is not None:
        requeue = min(requeue, parse_duration(spec.rollout.analysis.interval))
    return Plan(
        status=sit.status.model_copy(update=update),
        deployments=(
            DeploymentPlan(stable, naming.TRACK_STABLE, serving),
            DeploymentPlan(bake.revision, naming.TRACK_WARM, kept),
        ),
        delete=strays(sit.observed, stable, bake.revision),
        stable_revision=stable,
        canary_revision=None,
        warm_revision=bake.revision,
        requeue_after=requeue,
    )


def _as_canary(stable: StableRevision) -> CanaryRevision:
    """The new stable, as the canary a rollback removes."""
    return CanaryRevision(
        revision=stable.revision, model=stable.model, engine=stable.engine, node_pool=stable.node_pool,
        pod=stable.pod,
    )  # fmt: skip
