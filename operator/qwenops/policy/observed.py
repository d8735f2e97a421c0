"""What a decision looks at: what the API shows now, and the situation one pass decides in."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus, Rejection, StableRevision
from qwenops.policy.budget import Bounds, PodCount, Pods
from qwenops.policy.startup import RevisionStartup
from qwenops.routing.registry import router_for
from qwenops.routing.router import ObservedRoute, Router


@dataclass(frozen=True)
class DeploymentState:
    """What the API shows of one revision's Deployment."""

    revision: str
    replicas: int
    ready_replicas: int
    available: bool
    """Every wanted replica is ready and the Deployment's own status is current."""
    rejection: Rejection | None = None
    """The rollback recorded on the Deployment itself (`qwenops.io/rejected`), if one is."""


@dataclass(frozen=True)
class Observed:
    generation: int | None
    deployments: Mapping[str, DeploymentState]
    """Existing Deployments of this QwenDeployment, by revision."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """The QwenDeployment's annotations: where a person's promote, abort and retry arrive."""
    route: ObservedRoute | None = None
    """The object the router keeps the weights on, as read this pass (None: none was read)."""
    startups: Mapping[str, RevisionStartup] = field(default_factory=dict)
    """Where each revision's pods are on their way to serving, by revision."""
    pods: Mapping[str, PodCount] | None = None
    """Each revision's pods, counted (None: not listed; the Deployments' counts stand in)."""

    def pods_of(self, revision: str) -> Pods:
        """A revision's Deployment replicas and pods (none when it has no Deployment)."""
        state = self.deployments.get(revision)
        wanted = state.replicas if state is not None else 0
        if self.pods is not None:
            return Pods.of(wanted, self.pods.get(revision, PodCount()))
        ready = state.ready_replicas if state is not None else 0
        return Pods(wanted, max(wanted, ready), ready)

    def refused(self, revision: str) -> str | None:
        """Why a pod of `revision` refused its checkpoint (a terminal failure), if one did."""
        startup = self.startups.get(revision)
        return startup.failure if startup is not None else None


@dataclass(frozen=True)
class Situation:
    """What one decision looks at, the same for every transition of the pass."""

    spec: QwenDeploymentSpec
    target: str
    """The revision to serve: the spec's, or the one an undo went back to."""
    status: QwenDeploymentStatus
    stable: StableRevision
    observed: Observed
    now: datetime
    router: Router

    @classmethod
    def of(
        cls,
        spec: QwenDeploymentSpec,
        target: str,
        status: QwenDeploymentStatus,
        stable: StableRevision,
        observed: Observed,
        now: datetime,
    ) -> "Situation":
        return cls(spec, target, status, stable, observed, now, router_for(spec.rollout.traffic_routing))

    @property
    def generation(self) -> int | None:
        return self.observed.generation

    @property
    def target_state(self) -> DeploymentState | None:
        """The target revision's Deployment, if it exists."""
        return self.observed.deployments.get(self.target)

    @property
    def bounds(self) -> Bounds | None:
        """The declared budget in pods (None: none is declared)."""
        budget = self.spec.rollout.budget
        return None if budget is None else Bounds.of(budget, self.spec.replicas)

    @property
    def target_ready(self) -> int:
        state = self.target_state
        return state.ready_replicas if state else 0
