"""The one place a decision is written down: the status and the Plan from a transition's outcome.

Every Plan and every status a decision writes is built here, so what a phase
writes (which Deployments run, which fields are cleared, which conditions are
set) can be read in one function per outcome.
"""

from collections.abc import Sequence
from datetime import datetime

from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.api.status import (
    Condition,
    ConditionType,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    Rejection,
    StableRevision,
    condition,
    with_condition,
)
from qwenops.policy import warm, within_budget
from qwenops.policy.observed import Observed, Situation
from qwenops.policy.outcome import CanaryOutcome, Held, Progressing, Promoted, RolledBack, Said, Steady
from qwenops.policy.plan import DeploymentPlan, Event, Plan, traffic_weight


def conclude_steady(sit: Situation, outcome: Steady, said: Said) -> Plan:
    """Only the stable revision runs (within a budget: as the GPUs of any other revision's pods
    come free)."""
    gen, replicas, events, extra = sit.generation, sit.spec.replicas, said.events, {}
    if sit.bounds is not None:
        replicas, capacity, said_more = within_budget.stable_back(sit)
        events, extra = (*events, *said_more), {"capacity": capacity}
    status = sit.status.model_copy(
        update={
            **extra,
            "observed_generation": gen,
            "phase": outcome.phase,
            "message": outcome.message,
            "stable": sit.stable,
            "canary": None,
            "rejected_revision": None,
            "handled": said.handled,
            "history": _history(sit, said),
            "conditions": _rollout_conditions_cleared(
                _spec_valid(said.conditions, sit.now, gen), sit.now, gen
            ),
        }
    )
    return Plan(
        status=status,
        deployments=(DeploymentPlan(sit.stable.revision, naming.TRACK_STABLE, replicas),),
        delete=strays(sit.observed, sit.stable.revision),
        stable_revision=sit.stable.revision,
        canary_revision=None,
        events=events,
    )


def conclude_canary(sit: Situation, outcome: CanaryOutcome, said: Said) -> Plan:
    match outcome:
        case Progressing():
            return _progressing(sit, outcome, said)
        case Promoted():
            return _promoted(sit, outcome, said)
        case RolledBack():
            return _rolled_back(sit, outcome, said)
        case Held():
            return _held(sit, outcome, said)


def _progressing(sit: Situation, outcome: Progressing, said: Said) -> Plan:
    """The canary beside the stable: the stable at full size and the canary at its pods, or,
    within a budget, this pass's move towards the step's split (or the canary at full size)."""
    gen, canary = sit.generation, outcome.canary
    stable_pods, canary_pods, weight, extra = sit.spec.replicas, outcome.canary_pods, None, {}
    if sit.bounds is not None:
        split = within_budget.canary_split(sit, canary, outcome.canary_pods)
        stable_pods, canary_pods, canary = split.stable, split.canary, split.canary_revision
        weight, extra = canary.weight, {"capacity": split.capacity}
    conditions = with_condition(
        said.conditions, ConditionType.PROGRESSING, "True", "CanaryProgressing", outcome.message,
        now=sit.now, generation=gen,
    )  # fmt: skip
    handled = said.handled
    if outcome.promote_kept:
        handled = handled.model_copy(update={"promote": sit.status.handled.promote})
    status = sit.status.model_copy(
        update={
            **extra,
            "observed_generation": gen,
            "phase": outcome.phase,
            "message": outcome.message,
            "stable": sit.stable,
            "canary": canary,
            "rejected_revision": None,
            "analysis": said.analysis,
            "handled": handled,
            "history": _history(sit, said),
            "conditions": _spec_valid(conditions, sit.now, gen),
        }
    )
    requeue = outcome.requeue
    if sit.spec.rollout.analysis.prometheus is not None and canary.step_started_at is not None:
        interval = parse_duration(sit.spec.rollout.analysis.interval)  # the next reading is due then
        requeue = interval if requeue is None else min(requeue, interval)
    return Plan(
        status=status,
        deployments=(
            DeploymentPlan(sit.stable.revision, naming.TRACK_STABLE, stable_pods),
            DeploymentPlan(sit.target, naming.TRACK_CANARY, canary_pods),
        ),
        delete=strays(sit.observed, sit.stable.revision, sit.target),
        stable_revision=sit.stable.revision,
        canary_revision=sit.target,
        canary_weight=traffic_weight(canary) if weight is None else weight,
        events=(*said.events, *outcome.events),
        requeue_after=requeue,
    )


def _promoted(sit: Situation, outcome: Promoted, said: Said) -> Plan:
    """The canary is the stable; the previous stable goes, or, with a bake, keeps warm pods."""
    gen, canary = sit.generation, outcome.canary
    promoted = StableRevision(
        revision=sit.target,
        model=canary.model,
        engine=canary.engine,
        node_pool=canary.node_pool,
        pod=canary.pod,
    )
    bake = warm.started(sit.spec, sit.stable.revision, sit.now)
    serving, kept = warm.promotion_pods(sit.spec)
    deployments = [DeploymentPlan(sit.target, naming.TRACK_STABLE, serving)]
    if bake is None:
        message = f"revision {sit.target} promoted; revision {sit.stable.revision} removed"
        phase, progressing, why = Phase.HEALTHY, False, "RolloutComplete"
    else:
        deployments.append(DeploymentPlan(sit.stable.revision, naming.TRACK_WARM, kept))
        message = (
            f"revision {sit.target} promoted, baking until {bake.until:%H:%M:%S}: "
            f"revision {sit.stable.revision} kept warm on {kept} pods"
        )
        phase, progressing, why = Phase.BAKING, True, "Baking"
    entry = HistoryEntry(
        revision=sit.target, model=canary.model, outcome="Promoted", at=sit.now, reason="every step passed"
    )
    conditions = with_condition(
        said.conditions, ConditionType.AVAILABLE, "True", "ReplicasReady", message,
        now=sit.now, generation=gen,
    )  # fmt: skip
    conditions = with_condition(
        conditions, ConditionType.PROGRESSING, "True" if progressing else "False", why, message,
        now=sit.now, generation=gen,
    )  # fmt: skip
    extra = {} if sit.bounds is None else {"capacity": within_budget.promoted(sit)}
    status = sit.status.model_copy(
        update={
            **extra,
            "observed_generation": gen,
            "phase": phase,
            "message": message,
            "stable": promoted,
            "previous": sit.stable,
            "canary": None,
            "bake": bake,
            "rejected_revision": None,
            "handled": said.handled,
            "history": _history(sit, said, entry),
            "conditions": _rollout_conditions_cleared(_spec_valid(conditions, sit.now, gen), sit.now, gen),
        }
    )
    return Plan(
        status=status,
        deployments=tuple(deployments),
        delete=strays(sit.observed, *(d.revision for d in deployments)),
        stable_revision=sit.target,
        canary_revision=None,
        warm_revision=None if bake is None else bake.revision,
        events=(*said.events, *outcome.events, Event("Normal", "Promoted", message)),
    )


def _rolled_back(sit: Situation, outcome: RolledBack, said: Said) -> Plan:
    """Decided now, or found recorded on the canary's Deployment (`outcome.at`) by a pass whose
    status write was lost: written down the same way, at the time it was decided."""
    gen, at = sit.generation, outcome.at or sit.now
    when = " after promotion" if outcome.after_promotion else ""
    message = f"revision {sit.target} rolled back{when} ({outcome.reason}): {outcome.why}"
    entry = HistoryEntry(
        revision=sit.target, model=outcome.canary.model, outcome="RolledBack", at=at,
        reason=f"{outcome.reason}: {outcome.why}", after_promotion=outcome.after_promotion,
    )  # fmt: skip
    conditions = with_condition(
        said.conditions, ConditionType.PROGRESSING, "False", "RolledBack", message,
        now=sit.now, generation=gen,
    )  # fmt: skip
    status = sit.status.model_copy(
        update={
            "observed_generation": gen,
            "phase": Phase.ROLLED_BACK,
            "message": message,
            "stable": sit.stable,
            "canary": None,
            "rejected_revision": sit.target,
            "analysis": said.analysis,
            "handled": said.handled,
            "history": _history(sit, said, entry),
            "conditions": _spec_valid(conditions, sit.now, gen),
        }
    )
    events = (*said.events, Event("Warning", "RolledBack", message))
    rejection = Rejection(reason=outcome.reason, message=outcome.why, at=at)
    return _rolled_back_plan(sit, status, events, rejection, rollback_reason=outcome.reason)


def _held(sit: Situation, outcome: Held, said: Said) -> Plan:
    """The status keeps the message, the rejection and the reading of the rollback."""
    gen = sit.generation
    status = sit.status.model_copy(
        update={
            "observed_generation": gen,
            "phase": Phase.ROLLED_BACK,
            "stable": sit.stable,
            "canary": None,
            "handled": said.handled,
            "history": _history(sit, said),
            "conditions": _spec_valid(said.conditions, sit.now, gen),
        }
    )
    return _rolled_back_plan(sit, status, said.events, outcome.rejection)


def _rolled_back_plan(
    sit: Situation,
    status: QwenDeploymentStatus,
    events: tuple[Event, ...],
    rejection: Rejection,
    rollback_reason: str | None = None,
) -> Plan:
    """The stable at full size, the rejected revision's Deployment kept at zero pods and marked
    rejected (the controller writes the mark first, then moves traffic and pods, then the status). Within a
    budget the stable is given back its replicas as the canary's pods free their GPUs, and the
    status says how much capacity is missing and since when."""
    replicas = sit.spec.replicas
    if sit.bounds is not None:
        replicas, capacity, restored = within_budget.stable_back(sit)
        status, events = status.model_copy(update={"capacity": capacity}), (*events, *restored)
    return Plan(
        status=status,
        deployments=(
            DeploymentPlan(sit.stable.revision, naming.TRACK_STABLE, replicas),
            DeploymentPlan(sit.target, naming.TRACK_CANARY, 0, rejection),
        ),
        delete=strays(sit.observed, sit.stable.revision, sit.target),
        stable_revision=sit.stable.revision,
        canary_revision=None,
        events=events,
        rollback_reason=rollback_reason,
    )


def strays(observed: Observed, *keep: str) -> tuple[str, ...]:
    """Existing revisions that are none of `keep`: their Deployments go."""
    return tuple(sorted(r for r in observed.deployments if r not in keep))


def _history(sit: Situation, said: Said, *entries: HistoryEntry) -> list[HistoryEntry]:
    """The history with what the pass recorded on its way (a canary replaced) and `entries`."""
    if not said.recorded and not entries:
        return sit.status.history
    return [*sit.status.history, *said.recorded, *entries][-max(sit.spec.revision_history_limit, 1) :]


def _spec_valid(conditions: list[Condition], now: datetime, gen: int | None) -> list[Condition]:
    return with_condition(
        conditions, ConditionType.INVALID_SPEC, "False", "SpecValid", "", now=now, generation=gen
    )


def _rollout_conditions_cleared(
    conditions: list[Condition], now: datetime, gen: int | None
) -> list[Condition]:
    """No canary runs: the analysis conditions say so instead of describing an old reading."""
    for type_ in (ConditionType.SLO_BREACHED, ConditionType.ANALYSIS_INCONCLUSIVE):
        if condition(conditions, type_) is not None:
            conditions = with_condition(conditions, type_, "False", "NoCanary", "", now=now, generation=gen)
    return conditions


def refuse(
    status: QwenDeploymentStatus, problems: list[str], generation: int | None, now: datetime
) -> tuple[QwenDeploymentStatus, Event | None]:
    """The spec is invalid: say why, and change nothing else (every Deployment stays as it is)."""
    message = "; ".join(problems)
    was_invalid = (c := condition(status.conditions, ConditionType.INVALID_SPEC)) is not None and (
        c.status == "True" and c.message == message
    )
    conditions = with_condition(
        status.conditions, ConditionType.INVALID_SPEC, "True", "SpecRejected", message,
        now=now, generation=generation,
    )  # fmt: skip
    new_status = status.model_copy(
        update={
            "observed_generation": generation,
            "phase": Phase.DEGRADED,
            "message": f"spec refused, running Deployments left as they were: {message}",
            "conditions": conditions,
        }
    )
    event = None if was_invalid else Event("Warning", "InvalidSpec", message)
    return new_status, event


CONFLICT_SEPARATOR = "; "


def report_conflicts(
    status: QwenDeploymentStatus, conflicts: Sequence[str], now: datetime, generation: int | None
) -> tuple[QwenDeploymentStatus, Event | None]:
    """Children whose names another owner holds (left alone): `ChildConflict=True` naming each,
    phase `Degraded`, and the message leading with them before the rollout's own, which
    :func:`without_conflicts` gives back. None: the condition, if it was set, clears.

    The event is posted when the conflicts first appear or change, not on every pass.
    """
    before = condition(status.conditions, ConditionType.CHILD_CONFLICT)
    if not conflicts:
        if before is None or before.status == "False":
            return status, None
        cleared = with_condition(
            status.conditions, ConditionType.CHILD_CONFLICT, "False", "NoConflict", "",
            now=now, generation=generation,
        )  # fmt: skip
        return status.model_copy(update={"conditions": cleared}), None
    said = CONFLICT_SEPARATOR.join(conflicts)
    conditions = with_condition(
        status.conditions, ConditionType.CHILD_CONFLICT, "True", "NameTaken", said,
        now=now, generation=generation,
    )  # fmt: skip
    message = f"{said}{CONFLICT_SEPARATOR}{status.message}" if status.message else said
    reported = status.model_copy(
        update={"phase": Phase.DEGRADED, "message": message, "conditions": conditions}
    )
    known = before is not None and before.status == "True" and before.message == said
    return reported, None if known else Event("Warning", "ChildConflict", said)


def without_conflicts(status: QwenDeploymentStatus) -> QwenDeploymentStatus:
    """The stored status with the message the rollout wrote, before :func:`report_conflicts` led it
    with the conflicts: what a transition that keeps the last message (a held rollback) keeps."""
    found = condition(status.conditions, ConditionType.CHILD_CONFLICT)
    if found is None or found.status != "True" or not status.message.startswith(found.message):
        return status
    rest = status.message.removeprefix(found.message).removeprefix(CONFLICT_SEPARATOR)
    return status.model_copy(update={"message": rest})
