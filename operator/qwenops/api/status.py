"""The `status` of a QwenDeployment: only what cannot be observed again, plus readings for people."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from qwenops.api.base import Model, with_fields
from qwenops.api.checkpoint import ModelRef
from qwenops.api.engine import Engine
from qwenops.api.placement import NodePool
from qwenops.api.pods import PodSettings
from qwenops.api.slos import SLOS


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    BAKING = "Baking"


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
    """Available, Progressing, Degraded, InvalidSpec, SLOBreached, AnalysisInconclusive, ModelReady,
    SpecOverridden or ChildConflict; one entry per type."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds: True, False or Unknown."""
    reason: str
    """A CamelCase word saying why, for programs."""
    message: str = ""
    """Why, for people."""
    last_transition_time: datetime
    """When status last changed."""
    observed_generation: int | None = None
    """The metadata.generation of the spec this condition was set from."""


class StableRevision(Model):
    """The revision serving all traffic, with the pod-affecting fields it was started from.

    The spec may already describe a newer revision, so these fields are the
    only place left that can re-create the stable Deployment if it is lost.
    """

    revision: str
    """The revision: a hash of the pod-affecting fields, the suffix of its Deployment's name."""
    model: ModelRef
    engine: Engine
    node_pool: NodePool
    pod: PodSettings = Field(default_factory=PodSettings)


class CanaryRevision(Model):
    """The revision being rolled out, with the pod-affecting fields it was started from."""

    revision: str
    """The revision: a hash of the pod-affecting fields, the suffix of its Deployment's name."""
    model: ModelRef
    engine: Engine
    node_pool: NodePool
    pod: PodSettings = Field(default_factory=PodSettings)
    weight: int = Field(default=0, ge=0, le=100, description="Share of traffic the canary gets now.")
    step: int = Field(default=0, ge=0, description="Index of the current step in spec.rollout.steps.")
    started_at: datetime | None = None
    """When the canary was started."""
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
    """Passed, Failed, Inconclusive (too few requests or too little evidence), Error (Prometheus
    could not answer) or Skipped (not applicable to this reading)."""
    value: float | None = Field(
        default=None, description="What was measured: a ratio, a multiple of the stable's ratio, seconds."
    )
    threshold: float
    """The SLO the spec declares, in the unit of value."""


class _AnalysisReading(Model):
    """The canary's last analysis reading and its verdict."""

    # A field per SLO of the registry that names a `reading` (the canary's measurement), added below.

    at: datetime
    """When the reading was taken."""
    requests: float | None = None
    """The canary's inference requests in the window."""
    verdict: Literal["Passed", "Failed", "Inconclusive", "Error"]
    """Passed when every SLO passed; Failed when one failed; else Inconclusive or Error."""
    conclusive: bool = Field(
        default=False,
        description="A Failed reading whose breach is conclusive on everything since the step started "
        "(an always-valid sequential test): the canary rolls back at once, not after failureLimit readings.",
    )
    checks: list[SLOReading] = Field(default_factory=list, max_length=8, description="Each SLO judged.")
    consecutive_failures: int = 0
    """Failed readings in a row; spec.rollout.analysis.failureLimit of them roll the canary back."""
    first_failed_at: datetime | None = Field(
        default=None, description="The first failed reading of the current run of failures."
    )
    message: str = ""
    """The reading in one line, for people."""


if TYPE_CHECKING:
    AnalysisReading = _AnalysisReading
else:
    AnalysisReading = with_fields(
        _AnalysisReading,
        {
            slo.reading: (
                float | None,
                Field(default=None, description=f"The canary's {slo.label} in this reading ({slo.unit})."),
            )
            for slo in SLOS
            if slo.reading
        },
        doc=_AnalysisReading.__doc__,
    )


class Override(Model):
    """A person's undo: serve `revision` instead of the spec's `specRevision` until the spec changes."""

    revision: str
    """The revision served instead of the spec's."""
    model: ModelRef
    engine: Engine
    node_pool: NodePool
    pod: PodSettings = Field(default_factory=PodSettings)
    spec_revision: str = Field(description="The spec's revision this undo overrides.")
    at: datetime
    """When the undo was asked for."""


class StartupStatus(Model):
    """How far the newest revision's pods are on the way to serving, and the time they are given."""

    revision: str
    """The revision whose pods these are."""
    stage: str = Field(
        description="Pending, Unschedulable, Downloading, DownloadFailed, Verifying, VerificationFailed, "
        "Loading, Crashing or Ready: the most serious trouble, else the slowest pod."
    )
    pods: dict[str, int] = Field(default_factory=dict, description="Pods at each stage.")
    message: str = ""
    """What holds the pods, in one line, for people."""
    since: datetime = Field(description="When the revision reached this stage.")
    model_bytes: int = Field(description="Size of the weights the budget is derived from.")
    warm_cache: bool = Field(description="Whether the cache volume already held this checkpoint.")
    deadline_seconds: int = Field(description="Time from the revision's start until its pods must be ready.")
    budget: str = Field(default="", description="How the deadline was derived, for people.")


class Capacity(Model):
    """Serving replicas missing below `spec.replicas` during a rollout within a budget, or after
    its rollback while the stable's pods come back."""

    missing: int = Field(ge=0, description="Replicas short of spec.replicas.")
    serving: int = Field(ge=0, description="Ready serving replicas.")
    since: datetime = Field(description="When capacity first went missing.")
    message: str = ""
    """What is missing and why, for a person (e.g. the stable's pods reloading after a rollback)."""


class BakeStatus(Model):
    """A bake under way: the new stable still judged, pods of the previous revision kept warm."""

    revision: str = Field(description="The previous revision, whose warm pods are the way back.")
    warm_replicas: int = Field(ge=0, description="Pods the previous revision keeps out of traffic.")
    started_at: datetime = Field(description="The promotion: the analysis counts requests from here.")
    until: datetime = Field(description="When the bake ends and the previous revision's Deployment goes.")


class HistoryEntry(Model):
    """One revision's rollout, as it ended."""

    revision: str
    """The revision rolled out."""
    model: ModelRef
    outcome: Literal["Promoted", "RolledBack", "Replaced"]
    """Promoted, RolledBack, or Replaced by a newer spec before it ended."""
    at: datetime
    """When it ended."""
    reason: str = ""
    """Why it ended (a rollback's reason: SLOBreached, ProgressDeadlineExceeded, Aborted, ...)."""
    replaced_by: str | None = Field(
        default=None, description="The revision that replaced this canary (outcome Replaced)."
    )
    after_promotion: bool = Field(
        default=False,
        description="Rolled back during its bake, after it had been promoted (outcome RolledBack).",
    )


class Rejection(Model):
    """A rollback as recorded on the rejected revision's Deployment (the annotation
    `qwenops.io/rejected`, this model's JSON), by the pass's first write, before traffic or pods move.

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
    """The qwenops.io/promote annotation's value last acted on."""
    abort: str | None = None
    """The qwenops.io/abort annotation's value last acted on."""
    retry: str | None = None
    """The qwenops.io/retry annotation's value last acted on."""
    undo: str | None = None
    """The qwenops.io/undo annotation's value last acted on."""


class QwenDeploymentStatus(Model):
    observed_generation: int | None = None
    """The metadata.generation of the spec the operator last acted on."""
    replicas: int | None = Field(default=None, ge=0)
    """Model pods serving now (ready), the stable's and the canary's together: the scale
    subresource's status.replicas."""
    selector: str | None = None
    """A label selector matching every model pod of this QwenDeployment, stable and canary: the
    scale subresource's status.selector, which an HPA reads pod metrics through."""
    phase: Phase | None = None
    """Progressing (a revision starts or a canary runs), Paused (a step waits for a person),
    Healthy (the stable serves everything), Baking (promoted; still judged, with the previous
    revision warm until the bake ends), Degraded (ready replicas lost, the spec refused, or a
    child's name held by another object), RolledBack (the canary was rolled back; the stable
    serves) or Failed (a first revision's pods refused its checkpoint)."""
    message: str = Field(default="", description="One line for people: what is happening and why.")
    stable: StableRevision | None = None
    canary: CanaryRevision | None = None
    previous: StableRevision | None = Field(
        default=None, description="The stable revision before the current one: where an undo goes back to."
    )
    override: Override | None = None
    bake: BakeStatus | None = Field(
        default=None, description="A bake under way after the last promotion (absent: none)."
    )
    analysis: AnalysisReading | None = None
    startup: StartupStatus | None = None
    capacity: Capacity | None = Field(
        default=None,
        description="Serving replicas missing within spec.rollout.budget, and since when (absent: none).",
    )
    rejected_revision: str | None = Field(
        default=None, description="Rolled back; not tried again until spec changes or a retry is asked."
    )
    handled: HandledRequests = Field(default_factory=HandledRequests)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=100)
    """Past rollouts, oldest first; spec.revisionHistoryLimit of them are kept."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        # A map list, as metav1.Condition lists are: one entry per type, merged by type.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """The state as standard conditions (kubectl wait --for=condition=Available)."""


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
