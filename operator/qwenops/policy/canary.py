"""Which canary this pass decides about, and where it is: derived once per pass.

The status may hold a canary of another revision (the spec moved on), none (a
rollout starts), or the revision may have been rolled back (held until the spec
changes or a person asks to retry). From these the canary is chosen, what that
choice says is gathered, and its sub-state is named, so every later transition
reads one value instead of asking the status again.
"""

from dataclasses import dataclass
from enum import StrEnum

from qwenops.api.status import CanaryRevision
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


def derive(sit: Situation, *, retry: bool) -> Canary:
    """The canary of the target revision, and its sub-state (`retry`: a person asked anew)."""
    rejected = sit.status.rejected_revision == sit.target
    current = sit.status.canary
    events: list[Event] = []
    if current is not None and current.revision == sit.target:
        canary = current
    else:
        if current is not None:
            events.append(
                Event("Normal", "CanaryReplaced", f"canary {current.revision} replaced by {sit.target}")
            )
        if not rejected:
            events.append(_started(sit))
        canary = _new(sit)
    if rejected:
        if not retry:
            return Canary(CanaryState.ROLLED_BACK, canary, tuple(events))
        events += [Event("Normal", "RetryRequested", f"retrying revision {sit.target}"), _started(sit)]
        canary = _new(sit)
    return Canary(state_of(canary), canary, tuple(events))


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
        started_at=sit.now,
        waiting_since=sit.now,
    )
