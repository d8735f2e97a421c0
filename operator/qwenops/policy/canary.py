"""Which canary this pass decides about, and where it is: derived once per pass.

The status may hold a canary of another revision (the spec moved on: it is
replaced, and `status.history` says so), none (a rollout starts), or the
revision may have been rolled back (held until the spec changes or a person asks
to retry). A rollback is known from the status, or from the mark the pass that
decided it left on its Deployment before it moved anything (`qwenops.io/rejected`): the status
written after the children may have been lost with the operator that wrote them,
and a decision once made is never undone. From these the canary is chosen, what
that choice says and records is gathered, and its sub-state is named, so every
later transition reads one value instead of asking the status again.
"""

from dataclasses import dataclass
from enum import StrEnum

from qwenops.api.status import CanaryRevision, HistoryEntry, Rejection
from qwenops.policy.observed import Situation
from qwenops.policy.plan import Event, short


class CanaryState(StrEnum):
    ROLLED_BACK = "RolledBack"
    """Its revision was rolled back: held at zero pods until the spec changes or a retry."""
    WAITING_FOR_PODS = "WaitingForPods"
    """Its step's weight is not in effect yet: the pods for it are asked for."""
    STEP_RUNNING = "StepRunning"
    """Its step's pods were ready: the weight is in effect and the pause runs."""
    PROMOTING = "Promoting"
    """Every step passed: scaling to full size to take over."""


@dataclass(frozen=True)
class Canary:
    state: CanaryState
    revision: CanaryRevision
    events: tuple[Event, ...]
    """What choosing it said: a rollout started, a canary replaced, a retry asked."""
    recorded: tuple[HistoryEntry, ...] = ()
    """What choosing it adds to `status.history`: the canary it replaced."""
    rejection: Rejection | None = None
    """ROLLED_BACK: the rollback as the revision's Deployment records it (None: it records none)."""


def derive(sit: Situation, *, retry: bool) -> Canary:
    """The canary of the target revision, and its sub-state (`retry`: a person asked anew)."""
    marked = _marked(sit)
    rejected = sit.status.rejected_revision == sit.target or marked is not None
    current = sit.status.canary
    events: list[Event] = []
    recorded: list[HistoryEntry] = []
    if current is not None and current.revision == sit.target:
        canary = current
    else:
        if current is not None:
            events.append(
                Event("Normal", "CanaryReplaced", f"canary {current.revision} replaced by {sit.target}")
            )
            recorded.append(replaced(sit, current, by=sit.target))
        if not rejected:
            events.append(_started(sit))
        canary = _new(sit)
    if rejected:
        if not retry:
            return Canary(CanaryState.ROLLED_BACK, canary, tuple(events), tuple(recorded), marked)
        events += [Event("Normal", "RetryRequested", f"retrying revision {sit.target}"), _started(sit)]
        canary = _new(sit)
    return Canary(state_of(canary), canary, tuple(events), tuple(recorded))


def replaced(sit: Situation, current: CanaryRevision, *, by: str) -> HistoryEntry:
    """The record of canary `current`, which revision `by` replaces: Replaced, or RolledBack when
    its Deployment is marked so (the status saying so was lost)."""
    state = sit.observed.deployments.get(current.revision)
    mark = state.rejection if state is not None else None
    if mark is not None:
        return HistoryEntry(
            revision=current.revision, model=current.model, outcome="RolledBack",
            at=mark.at or sit.now, reason=f"{mark.reason}: {mark.message}",
        )  # fmt: skip
    return HistoryEntry(
        revision=current.revision, model=current.model, outcome="Replaced", at=sit.now,
        reason=_where(current), replaced_by=by,
    )  # fmt: skip


def _where(canary: CanaryRevision) -> str:
    """How far a canary had come."""
    if canary.promoting:
        return "while scaling up to take over"
    if canary.step_started_at is None:
        return f"waiting for the pods of step {canary.step + 1}"
    return f"at step {canary.step + 1} ({canary.weight}%)"


def _marked(sit: Situation) -> Rejection | None:
    """The rollback the target's Deployment records, if it still holds.

    A mark older than the status's canary of that revision was left behind by an operator
    that knew no marks (it then acted on a retry, and the canary started again): it no longer
    holds, and is removed. A retry otherwise removes the mark with the write that scales up.
    """
    state = sit.target_state
    mark = state.rejection if state is not None else None
    current = sit.status.canary
    if mark is None or mark.at is None or current is None or current.revision != sit.target:
        return mark
    return None if current.started_at is not None and current.started_at > mark.at else mark


def state_of(canary: CanaryRevision) -> CanaryState:
    """Where a canary that is not rolled back stands."""
    if canary.promoting:
        return CanaryState.PROMOTING
    if canary.step_started_at is None:
        return CanaryState.WAITING_FOR_PODS
    return CanaryState.STEP_RUNNING


def _started(sit: Situation) -> Event:
    pin = f"{sit.spec.model.name}@{short(sit.spec.model.revision)}"
    return Event(
        "Normal",
        "RolloutStarted",
        f"starting revision {sit.target} ({pin}) beside stable {sit.stable.revision}",
    )


def _new(sit: Situation) -> CanaryRevision:
    return CanaryRevision(
        revision=sit.target,
        model=sit.spec.model,
        engine=sit.spec.engine,
        node_pool=sit.spec.node_pool,
        pod=sit.spec.pod,
        started_at=sit.now,
        waiting_since=sit.now,
    )
