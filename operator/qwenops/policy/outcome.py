"""What a transition decided, before it is written down as a status and a Plan (see `conclude`).

Each transition returns one of these with the events it said on the way; what
the pass handled, recorded and said before it travels beside it in `Said`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from qwenops.api.status import (
    AnalysisReading,
    CanaryRevision,
    Condition,
    HandledRequests,
    HistoryEntry,
    Phase,
    Rejection,
)
from qwenops.policy.plan import Event


@dataclass(frozen=True)
class Said:
    """What a pass handled and said on its way to an outcome."""

    handled: HandledRequests
    conditions: list[Condition]
    analysis: AnalysisReading | None
    """The canary's last reading: the status's, or the one recorded on this pass."""
    events: tuple[Event, ...] = ()
    recorded: tuple[HistoryEntry, ...] = ()
    """What goes into `status.history` whatever the outcome (a canary replaced)."""


@dataclass(frozen=True)
class Steady:
    """No canary: the stable revision serves (or starts, or lost pods) and nothing else runs."""

    phase: Phase
    message: str


@dataclass(frozen=True)
class Progressing:
    """The canary goes on beside the stable, on `canary_pods` pods."""

    canary: CanaryRevision
    message: str
    canary_pods: int
    phase: Phase = Phase.PROGRESSING
    requeue: timedelta | None = None
    events: tuple[Event, ...] = ()
    promote_kept: bool = False
    """A promote asked while the step's pods are not ready is left unhandled: it ends the step
    once the step starts."""


@dataclass(frozen=True)
class Promoted:
    """The canary takes over as the stable revision."""

    canary: CanaryRevision
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class RolledBack:
    """The canary goes to zero pods and weight, and its revision is not tried again by itself."""

    canary: CanaryRevision
    reason: str
    """SLOBreached, ProgressDeadlineExceeded, VerificationFailed or Aborted."""
    why: str
    at: datetime | None = None
    """When it was decided: now (None), or as recorded on the Deployment by an earlier pass."""
    after_promotion: bool = False
    """It had been promoted: rolled back during its bake, to the revision it replaced."""


@dataclass(frozen=True)
class Held:
    """The rejected revision stays at zero pods until the spec changes or a retry is asked."""

    rejection: Rejection
    """The rollback, as its Deployment is to keep recording it."""


CanaryOutcome = Progressing | Promoted | RolledBack | Held
