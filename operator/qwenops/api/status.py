"""The `status` of a QwenDeployment: only what cannot be observed again, plus readings for people."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qwenops.api.base import Model, with_fields
from qwenops.api.checkpoint import ModelRef
from qwenops.api.engine import Engine
from qwenops.api.placement import NodePool
from qwenops.api.slos import SLOS


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class ConditionType(StrEnum):
    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    INVALID_SPEC = "InvalidSpec"
    SLO_BREACHED = "SLOBreached"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    MODEL_READY = "ModelReady"
    SPEC_OVERRIDDEN = "SpecOverridden"
    CHILD_CONFLICT = "ChildConflict"
    """A child's name is held by an object this QwenDeployment does not control: left alone, named."""


class Condition(Model):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class StableRevision(Model):
    """The revision serving all traffic, with the pod-affecting fields it was started from.

    The spec may already describe a newer revision, so these fields are the
    only place left that can re-create the stable Deployment if it is lost.
    """

    revision: str
    model: ModelRef
    engine: Engine
    node_pool: NodePool


class CanaryRevision(Model):
    revision: str
    model: ModelRef
    engine: Engine
    node_pool: NodePool
    weight: int = Field(default=0, ge=0, le=100, description="Share of traffic the canary gets now.")
    step: int = Field(default=0, ge=0, description="Index of the current step in spec.rollout.steps.")
    started_at: datetime | None = None
    step_started_at: datetime | None = Field(
        default=None, description="When the current step's weight took effect; its pause counts from here."
    )
    waiting_since: datetime | None = Field(
        default=None,
        description="When the pods of the current step (or of the promotion) were asked for: "
        "the progress deadline counts from here.",
    )
    promoting: bool = Field(default=False, description="Every step passed: scaling up to take over.")


class SLOReading(Model):
    """One SLO judged on one reading."""

    slo: str = Field(description=", ".join(slo.key for slo in SLOS[:3]) + ", ...")
    outcome: Literal["Passed", "Failed", "Inconclusive", "Error", "Skipped"]
    value: float | None = Field(
        default=None, description="What was measured: a ratio, a multiple of the stable's ratio, seconds."
    )
    threshold: float


class _AnalysisReading(Model):
    # A field per SLO of the registry that names a `reading` (the canary's measurement), added below.

    at: datetime
    requests: float | None = None
    verdict: Literal["Passed", "Failed", "Inconclusive", "Error"]
    conclusive: bool = Field(
        default=False,
        description="A Failed reading whose breach is conclusive on everything since the step started "
        "(an always-valid sequential test): the canary rolls back at once, not after failureLimit readings.",
    )
    checks: list[SLOReading] = Field(default_factory=list, max_length=8, description="Each SLO judged.")
    consecutive_failures: int = 0
    first_failed_at: datetime | None = Field(
        default=None, description="The first failed reading of the current run of failures."
    )
    message: str = ""


if TYPE_CHECKING:
    AnalysisReading = _AnalysisReading
else:
    AnalysisReading = with_fields(
        _AnalysisReading, {slo.reading: (float | None, None) for slo in SLOS if slo.reading}, doc=None
    )


class Override(Model):
    """A person's undo: serve `revision` instead of the spec's `specRevision` until the spec changes."""

    revision: str
    model: ModelRef
    engine: Engine
    node_pool: NodePool
    spec_revision: str = Field(description="The spec's revision this undo overrides.")
    at: datetime


class StartupStatus(Model):
    """How far the newest revision's pods are on the way to serving, and the time they are given."""

    revision: str
    stage: str = Field(
        description="Pending, Unschedulable, Downloading, DownloadFailed, Verifying, VerificationFailed, "
        "Loading, Crashing or Ready: the most serious trouble, else the slowest pod."
    )
    pods: dict[str, int] = Field(default_factory=dict, description="Pods at each stage.")
    message: str = ""
    since: datetime = Field(description="When the revision reached this stage.")
    model_bytes: int = Field(description="Size of the weights the budget is derived from.")
    warm_cache: bool = Field(description="Whether the cache volume already held this checkpoint.")
    deadline_seconds: int = Field(description="Time from the revision's start until its pods must be ready.")
    budget: str = Field(default="", description="How the deadline was derived, for people.")


class HistoryEntry(Model):
    revision: str
    model: ModelRef
    outcome: Literal["Promoted", "RolledBack", "Replaced"]
    at: datetime
    reason: str = ""
    replaced_by: str | None = Field(
        default=None, description="The revision that replaced this canary (outcome Replaced)."
    )


class Rejection(Model):
    """A rollback as recorded on the rejected revision's Deployment (the annotation
    `qwenops.io/rejected`, this model's JSON), by the same write that scales it to 0.

    Not part of the status: the status write comes after the children's, and may be lost
    with the operator that made it. A restarted operator reads this before it touches a
    child, so the decision holds whatever Prometheus answers by then.
    """

    reason: str
    """SLOBreached, ProgressDeadlineExceeded, VerificationFailed or Aborted."""
    message: str = ""
    at: datetime | None = None
    """When it was decided (None: a record that no longer parses, still a rejection)."""


class HandledRequests(Model):
    """The last value of each request annotation acted on, so each request is acted on once."""

    promote: str | None = None
    abort: str | None = None
    retry: str | None = None
    undo: str | None = None


class QwenDeploymentStatus(Model):
    observed_generation: int | None = None
    phase: Phase | None = None
    message: str = Field(default="", description="One line for people: what is happening and why.")
    stable: StableRevision | None = None
    canary: CanaryRevision | None = None
    previous: StableRevision | None = Field(
        default=None, description="The stable revision before the current one: where an undo goes back to."
    )
    override: Override | None = None
    analysis: AnalysisReading | None = None
    startup: StartupStatus | None = None
    rejected_revision: str | None = Field(
        default=None, description="Rolled back; not tried again until spec changes or a retry is asked."
    )
    handled: HandledRequests = Field(default_factory=HandledRequests)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=100)
    conditions: list[Condition] = Field(default_factory=list, max_length=16)


def with_condition(
    conditions: list[Condition],
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Set one condition; its lastTransitionTime moves only when its status changes."""
    previous = next((c for c in conditions if c.type == type_), None)
    transition = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    if previous == updated:
        return conditions
    return [updated if c.type == type_ else c for c in conditions] if previous else [*conditions, updated]


def condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
