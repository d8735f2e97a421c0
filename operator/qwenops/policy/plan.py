"""What a decision hands the controller: the Deployments to run, the canary's weight, events."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from qwenops.api.status import CanaryRevision, QwenDeploymentStatus, Rejection


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class DeploymentPlan:
    revision: str
    track: str
    replicas: int
    rejection: Rejection | None = None
    """The rollback to record on the Deployment, by the same write that scales it to 0 (None: it
    carries none; a mark it has is removed)."""


@dataclass(frozen=True)
class Plan:
    status: QwenDeploymentStatus
    deployments: tuple[DeploymentPlan, ...]
    """Deployments that must exist, each with its track and replica count."""
    delete: tuple[str, ...]
    """Revisions whose Deployments must go (their GPUs are freed)."""
    stable_revision: str
    canary_revision: str | None
    warm_revision: str | None = None
    """The previous revision kept warm during a bake: its pods run, out of every Service."""
    canary_weight: int = 0
    """Percent of traffic for the canary: what a router's object (an HTTPRoute's backendRefs) gets."""
    events: tuple[Event, ...] = field(default=())
    requeue_after: timedelta | None = None
    """When something is due (a pause ends, a reading is due), if before the next resync."""
    rollback_reason: str | None = None
    """Set when this plan rolls a canary back: SLOBreached, ProgressDeadlineExceeded,
    VerificationFailed or Aborted."""

    @property
    def rejection(self) -> Rejection | None:
        """The rollback this plan records on a Deployment, if any."""
        return next((d.rejection for d in self.deployments if d.rejection is not None), None)


def traffic_weight(canary: CanaryRevision | None) -> int:
    """The canary's weight as routed: 0 until its step's pods were ready (or it is promoting)."""
    if canary is None or (canary.step_started_at is None and not canary.promoting):
        return 0
    return canary.weight


def short(commit: str) -> str:
    return commit[:7]
