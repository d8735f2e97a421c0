"""The rollout state machine: what should run, how much traffic the canary gets, and why.

`decide` is a pure function of the spec, the status written last time, what
the API shows now, the analysis reading taken for this reconcile (if one was
due) and the time. The caller renders and applies the plan and writes
`plan.status`; nothing here reads a clock or talks to a server.

A canary walks the declared steps. At each step it first gets the pods that
carry the step's weight, and the weight counts only once they are ready; the
step's pause runs from then. It advances when the pause is over and the
latest analysis reading of the step passed (a person's `promote` skips both).
After the last step it scales up to full size and takes over as the stable
revision: the same Deployment, so no pod loads its model twice.
`failureLimit` consecutive failed readings, a person's `abort`, or pods not
ready within `progressDeadline` roll it back: weight 0 at once, scaled to 0,
and its revision is not tried again until the spec changes or a person asks
(`retry`). Inconclusive and Error readings hold the step; they never promote
and never roll back.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.api.spec import QwenDeploymentSpec, Step
from qwenops.api.status import (
    AnalysisReading,
    CanaryRevision,
    Condition,
    ConditionType,
    HistoryEntry,
    Override,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    condition,
    with_condition,
)
from qwenops.policy.startup import RevisionStartup
from qwenops.render.desired import with_pods_of
from qwenops.render.startup_budget import progress_deadline


@dataclass(frozen=True)
class DeploymentState:
    """What the API shows of one revision's Deployment."""

    revision: str
    replicas: int
    ready_replicas: int
    available: bool
    """Every wanted replica is ready and the Deployment's own status is current."""


@dataclass(frozen=True)
class Observed:
    generation: int | None
    deployments: Mapping[str, DeploymentState]
    """Existing Deployments of this QwenDeployment, by revision."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """The QwenDeployment's annotations: where a person's promote, abort and retry arrive."""
    route_error: str | None = None
    """With an HTTPRoute: why its backendRefs do not carry the weights last set (None: they do)."""
    startups: Mapping[str, RevisionStartup] = field(default_factory=dict)
    """Where each revision's pods are on their way to serving, by revision."""

    def refused(self, revision: str) -> str | None:
        """Why a pod of `revision` refused its checkpoint (a terminal failure), if one did."""
        startup = self.startups.get(revision)
        return startup.failure if startup is not None else None


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


@dataclass(frozen=True)
class Plan:
    status: QwenDeploymentStatus
    deployments: tuple[DeploymentPlan, ...]
    """Deployments that must exist, each with its track and replica count."""
    delete: tuple[str, ...]
    """Revisions whose Deployments must go (their GPUs are freed)."""
    stable_revision: str
    canary_revision: str | None
    canary_weight: int = 0
    """Percent of traffic for the canary: what an HTTPRoute's backendRefs get."""
    events: tuple[Event, ...] = field(default=())
    requeue_after: timedelta | None = None
    """When something is due (a pause ends, a reading is due), if before the next resync."""
    rollback_reason: str | None = None
    """Set when this plan rolls a canary back: SLOBreached, ProgressDeadlineExceeded,
    VerificationFailed or Aborted."""


def traffic_weight(canary: CanaryRevision | None) -> int:
    """The canary's weight as routed: 0 until its step's pods were ready (or it is promoting)."""
    if canary is None or (canary.step_started_at is None and not canary.promoting):
        return 0
    return canary.weight


def _strays(observed: Observed, *keep: str) -> tuple[str, ...]:
    """Existing revisions that are none of `keep`: their Deployments go."""
    return tuple(sorted(r for r in observed.deployments if r not in keep))


def short(commit: str) -> str:
    return commit[:7]


def canary_replicas(replicas: int, weight: int, *, exact_routing: bool) -> int:
    """Canary pods for a step: with exact routing, the weight's share; else enough to carry it.

    Behind one Service the split follows the ready pods, and the stable keeps
    all of its pods until promotion, so the canary needs `R*w/(100-w)` pods for
    its share to reach `w` (rounded up: never less than declared, at least one).
    """
    if exact_routing:
        return max(1, math.ceil(replicas * weight / 100))
    return max(1, math.ceil(replicas * weight / (100 - weight)))


def replica_share(stable: int, canary: int) -> int:
    """Percent of traffic the canary's ready pods get behind one Service."""
    return 0 if canary <= 0 else round(100 * canary / (stable + canary))


def analysis_due(spec: QwenDeploymentSpec, status: QwenDeploymentStatus, now: datetime) -> bool:
    """Whether this reconcile should read the canary's SLOs from Prometheus."""
    canary = status.canary
    analysis = spec.rollout.analysis
    if analysis.prometheus is None or canary is None or canary.step_started_at is None or canary.promoting:
        return False
    last = status.analysis
    if last is None or last.at < canary.step_started_at:
        return True
    return now - last.at >= parse_duration(analysis.interval)


@dataclass(frozen=True)
class Target:
    """What to serve: the spec's revision, or the one a person's undo went back to."""

    spec: QwenDeploymentSpec
    revision: str
    status: QwenDeploymentStatus
    events: tuple[Event, ...] = ()


def resolve_target(
    spec: QwenDeploymentSpec,
    revision: str,
    status: QwenDeploymentStatus,
    annotations: Mapping[str, str],
    now: datetime,
    generation: int | None,
) -> Target:
    """Apply a person's undo (`qwenops.io/undo`), and drop an undo the spec has moved past.

    Undo serves the revision before the current one without touching `spec`, so
    a GitOps tool sees no drift: with a canary running, the stable revision (the
    canary is removed); otherwise the previous stable revision, rolled out like
    any new one. It holds until the spec names another revision; then the spec
    wins again. Undoing twice goes back and forth, like `kubectl rollout undo`.
    """
    events: list[Event] = []
    override = status.override
    if override is not None and override.spec_revision != revision:
        ended = f"spec changed to revision {revision}: the undo to {override.revision} ends"
        events.append(Event("Normal", "UndoSuperseded", ended))
        override = None
    request = annotations.get(naming.ANNOTATION_UNDO)
    handled = status.handled
    if request and request != handled.undo:
        handled = handled.model_copy(update={"undo": request})
        back_to = status.stable if status.canary is not None else status.previous
        if back_to is None and override is not None:
            override = None  # an undo of an undo with nothing further back: the spec again
            events.append(Event("Normal", "UndoRequested", f"serving the spec's revision {revision} again"))
        elif back_to is None:
            events.append(Event("Warning", "UndoImpossible", "no earlier revision to go back to"))
        elif back_to.revision == revision:
            override = None
            events.append(Event("Normal", "UndoRequested", f"serving the spec's revision {revision} again"))
        else:
            override = Override(
                revision=back_to.revision, model=back_to.model, engine=back_to.engine,
                node_pool=back_to.node_pool, spec_revision=revision, at=now,
            )  # fmt: skip
            events.append(Event("Normal", "UndoRequested",
                                f"serving revision {back_to.revision} instead of the spec's {revision} "
                                "until the spec changes"))  # fmt: skip
    conditions = status.conditions
    if override is not None:
        pin = f"{override.model.name}@{short(override.model.revision)}"
        message = (
            f"undo: serving revision {override.revision} ({pin}) "
            f"instead of the spec's {revision} until the spec changes"
        )
        conditions = with_condition(conditions, ConditionType.SPEC_OVERRIDDEN, "True", "Undo", message,
                                    now=now, generation=generation)  # fmt: skip
    elif condition(conditions, ConditionType.SPEC_OVERRIDDEN) is not None:
        conditions = with_condition(conditions, ConditionType.SPEC_OVERRIDDEN, "False", "SpecServed", "",
                                    now=now, generation=generation)  # fmt: skip
    resolved = status.model_copy(update={"override": override, "handled": handled, "conditions": conditions})
    if override is None:
        return Target(spec, revision, resolved, tuple(events))
    return Target(with_pods_of(spec, override), override.revision, resolved, tuple(events))


def decide(
    spec: QwenDeploymentSpec,
    target: str,
    status: QwenDeploymentStatus,
    observed: Observed,
    now: datetime,
    reading: AnalysisReading | None = None,
) -> Plan:
    """Move one step towards serving revision `target` (the hash of the current spec)."""
    events: list[Event] = []
    stable = status.stable
    if stable is None:
        stable = StableRevision(
            revision=target, model=spec.model, engine=spec.engine, node_pool=spec.node_pool
        )
        events.append(
            Event(
                "Normal",
                "Serving",
                f"serving {spec.model.name}@{short(spec.model.revision)} as revision {target}",
            )
        )
    if target == stable.revision:
        return _steady(spec, status, stable, observed, now, events)
    return _Rollout(spec, target, status, stable, observed, now, events).decide(reading)


_PROGRESSING_REASONS = {Phase.PROGRESSING: "RevisionStarting", Phase.FAILED: "VerificationFailed"}


def _ignore_requests(
    status: QwenDeploymentStatus, observed: Observed, events: list[Event]
) -> QwenDeploymentStatus:
    """With no canary, promote, abort and retry have nothing to act on: they are recorded as
    handled (and said so), so that they do not fire on the next rollout, days later."""
    handled = status.handled
    for kind, annotation in (
        ("promote", naming.ANNOTATION_PROMOTE),
        ("abort", naming.ANNOTATION_ABORT),
        ("retry", naming.ANNOTATION_RETRY),
    ):
        value = observed.annotations.get(annotation)
        if value and value != getattr(handled, kind):
            handled = handled.model_copy(update={kind: value})
            events.append(Event("Normal", "RequestIgnored", f"{annotation}={value}: no canary is running"))
    return status if handled == status.handled else status.model_copy(update={"handled": handled})


def _steady(
    spec: QwenDeploymentSpec,
    status: QwenDeploymentStatus,
    stable: StableRevision,
    observed: Observed,
    now: datetime,
    events: list[Event],
) -> Plan:
    """The spec asks for the stable revision: keep it, and remove anything else."""
    status = _ignore_requests(status, observed, events)
    if status.canary is not None:
        events.append(
            Event(
                "Normal",
                "CanaryAbandoned",
                f"spec returned to revision {stable.revision}; canary {status.canary.revision} removed",
            )
        )
    state = observed.deployments.get(stable.revision)
    conditions = status.conditions
    gen = observed.generation
    was_available = (c := condition(conditions, ConditionType.AVAILABLE)) is not None and c.status == "True"
    if spec.replicas == 0:
        phase, message = Phase.HEALTHY, "scaled to zero replicas"
        conditions = with_condition(
            conditions, ConditionType.AVAILABLE, "False", "ScaledToZero", message, now=now, generation=gen
        )
    elif state is not None and state.available:
        phase = Phase.HEALTHY
        message = f"revision {stable.revision} serving on {state.ready_replicas}/{spec.replicas} replicas"
        conditions = with_condition(
            conditions, ConditionType.AVAILABLE, "True", "ReplicasReady", message, now=now, generation=gen
        )
        if not was_available:
            events.append(Event("Normal", "Available", message))
    elif (refused := observed.refused(stable.revision)) is not None:
        phase = Phase.FAILED
        message = (
            f"revision {stable.revision} cannot serve: a pod refused the checkpoint: {refused}; "
            "fix spec.model and apply it again"
        )
        conditions = with_condition(
            conditions, ConditionType.AVAILABLE, "False", "VerificationFailed", message,
            now=now, generation=gen,
        )  # fmt: skip
    else:
        ready = state.ready_replicas if state else 0
        if was_available:
            phase = Phase.DEGRADED
            message = f"revision {stable.revision} lost replicas: {ready}/{spec.replicas} ready"
            events.append(Event("Warning", "Degraded", message))
        else:
            phase = Phase.PROGRESSING
            message = f"revision {stable.revision} starting: {ready}/{spec.replicas} replicas ready"
        conditions = with_condition(
            conditions, ConditionType.AVAILABLE, "False", "ReplicasNotReady", message, now=now, generation=gen
        )
    conditions = with_condition(
        conditions,
        ConditionType.PROGRESSING,
        "True" if phase == Phase.PROGRESSING else "False",
        _PROGRESSING_REASONS.get(phase, "RolloutComplete"),
        message,
        now=now,
        generation=gen,
    )
    new_status = status.model_copy(
        update={
            "observed_generation": gen,
            "phase": phase,
            "message": message,
            "stable": stable,
            "canary": None,
            "rejected_revision": None,
            "conditions": _rollout_conditions_cleared(_spec_valid(conditions, now, gen), now, gen),
        }
    )
    return Plan(
        status=new_status,
        deployments=(DeploymentPlan(stable.revision, naming.TRACK_STABLE, spec.replicas),),
        delete=_strays(observed, stable.revision),
        stable_revision=stable.revision,
        canary_revision=None,
        events=tuple(events),
    )


class _Rollout:
    """One decision about a canary: a small object so each transition reads as one method."""

    def __init__(
        self,
        spec: QwenDeploymentSpec,
        target: str,
        status: QwenDeploymentStatus,
        stable: StableRevision,
        observed: Observed,
        now: datetime,
        events: list[Event],
    ) -> None:
        self.spec, self.target, self.status, self.stable = spec, target, status, stable
        self.observed, self.now, self.events = observed, now, events
        self.gen = observed.generation
        self.exact = spec.rollout.traffic_routing.http_route is not None
        self.handled = status.handled
        self.conditions = status.conditions

    # -- requests by annotation -------------------------------------------------------------------

    def _request(self, kind: Literal["promote", "abort", "retry"]) -> bool:
        """True once per new value of the `qwenops.io/<kind>` annotation."""
        annotation = {
            "promote": naming.ANNOTATION_PROMOTE,
            "abort": naming.ANNOTATION_ABORT,
            "retry": naming.ANNOTATION_RETRY,
        }[kind]
        value = self.observed.annotations.get(annotation)
        if not value or value == getattr(self.handled, kind):
            return False
        self.handled = self.handled.model_copy(update={kind: value})
        return True

    # -- the decision --------------------------------------------------------------------------------

    def decide(self, reading: AnalysisReading | None) -> Plan:
        retry = self._request("retry")
        abort = self._request("abort")
        promote = self._request("promote")
        canary = self._current_canary()
        if self.status.rejected_revision == self.target:
            if not retry:
                return self._rolled_back_hold()
            self.events.append(Event("Normal", "RetryRequested", f"retrying revision {self.target}"))
            canary = self._new_canary()
        if abort:
            return self._roll_back(canary, "Aborted", "aborted by a person (annotation qwenops.io/abort)")

        refused = self.observed.refused(self.target)
        if refused is not None:
            why = f"a canary pod refused the checkpoint: {refused}"
            return self._roll_back(canary, "VerificationFailed", why)

        state = self.observed.deployments.get(self.target)
        ready = state.ready_replicas if state else 0
        if late := self._late(canary, state):
            return self._roll_back(canary, "ProgressDeadlineExceeded", late)

        analysis = self.status.analysis
        if reading is not None:
            analysis = self._record(reading)
            if analysis.consecutive_failures >= self.spec.rollout.analysis.failure_limit:
                return self._roll_back(canary, "SLOBreached", analysis.message, analysis=analysis)

        if self.exact and self.observed.route_error and canary.step_started_at is not None:
            message = f"holding: traffic weights not in effect: {self.observed.route_error}"
            pods = self.spec.replicas if canary.promoting else self._step_pods(canary)
            return self._progressing(canary, message, pods, analysis)

        if canary.promoting:
            return self._promoting(canary, analysis)

        steps = self.spec.rollout.steps
        if not steps or canary.step >= len(steps):
            return self._start_promoting(canary, analysis, "no canary steps declared")
        step = steps[canary.step]
        wanted = canary_replicas(self.spec.replicas, step.weight, exact_routing=self.exact)
        if canary.step_started_at is None:
            if ready < wanted:
                message = (
                    f"step {canary.step + 1}/{len(steps)}: waiting for {wanted} canary pods "
                    f"({ready} ready) before moving {step.weight}% of traffic"
                )
                # A promote asked for now ends the step as soon as it starts: keep it for then.
                self.handled = self.handled.model_copy(update={"promote": self.status.handled.promote})
                return self._progressing(canary, message, wanted, analysis)
            weight = step.weight if self.exact else replica_share(self.spec.replicas, wanted)
            canary = canary.model_copy(update={"step_started_at": self.now, "weight": weight})
            self.events.append(
                Event("Normal", "StepStarted", f"step {canary.step + 1}/{len(steps)}: canary at {weight}%")
            )

        assert canary.step_started_at is not None
        pause = None if step.pause is None else parse_duration(step.pause)
        elapsed = self.now - canary.step_started_at
        analysed = self.spec.rollout.analysis.prometheus is not None
        passed = not analysed or (
            analysis is not None and analysis.verdict == "Passed" and analysis.at >= canary.step_started_at
        )
        if promote or (pause is not None and elapsed >= pause and passed):
            why = (
                "promoted by a person"
                if promote
                else "pause over" + (" and analysis passed" if analysed else "")
            )
            return self._advance(canary, steps, why, analysis)

        if pause is None:
            message = f"step {canary.step + 1}/{len(steps)} at {canary.weight}%: paused until promoted"
            return self._progressing(canary, message, wanted, analysis, phase=Phase.PAUSED)
        waiting = "pause" if elapsed < pause else "a passing analysis reading"
        message = f"step {canary.step + 1}/{len(steps)} at {canary.weight}%: waiting for {waiting}"
        if analysis is not None and analysis.at >= canary.step_started_at:
            message += f"; last reading {analysis.verdict}: {analysis.message}"
        requeue = pause - elapsed if elapsed < pause else None
        return self._progressing(canary, message, wanted, analysis, requeue=requeue)

    # -- transitions ---------------------------------------------------------------------------------

    def _step_pods(self, canary: CanaryRevision) -> int:
        steps = self.spec.rollout.steps
        weight = steps[min(canary.step, len(steps) - 1)].weight if steps else 100
        return (
            self.spec.replicas
            if weight >= 100
            else canary_replicas(self.spec.replicas, weight, exact_routing=self.exact)
        )

    def _current_canary(self) -> CanaryRevision:
        canary = self.status.canary
        if canary is not None and canary.revision == self.target:
            return canary
        if canary is not None:
            self.events.append(
                Event("Normal", "CanaryReplaced", f"canary {canary.revision} replaced by {self.target}")
            )
        if self.status.rejected_revision == self.target:
            return self._new_canary(announce=False)
        return self._new_canary()

    def _new_canary(self, *, announce: bool = True) -> CanaryRevision:
        if announce:
            self.events.append(
                Event(
                    "Normal",
                    "RolloutStarted",
                    f"starting revision {self.target} "
                    f"({self.spec.model.name}@{short(self.spec.model.revision)}) "
                    f"beside stable {self.stable.revision}",
                )
            )
        return CanaryRevision(
            revision=self.target,
            model=self.spec.model,
            engine=self.spec.engine,
            node_pool=self.spec.node_pool,
            started_at=self.now,
            waiting_since=self.now,
        )

    def _late(self, canary: CanaryRevision, state: DeploymentState | None) -> str | None:
        """Why the pods the canary waits for are past their progress deadline (None: they are not,
        or it waits for none: a step whose pods are ready counts its pause, not the deadline)."""
        ready = state.ready_replicas if state else 0
        if canary.promoting:
            waiting = not (state is not None and state.available)
        else:
            waiting = canary.step_started_at is None and ready < self._step_pods(canary)
        if not waiting:
            return None
        deadline, how = progress_deadline(self.spec, self.status)
        started = canary.waiting_since or canary.started_at or self.now
        if self.now - started < deadline:
            return None
        startup = self.observed.startups.get(self.target)
        where = f" ({startup.message})" if startup is not None and startup.message else ""
        return (
            f"canary pods not ready within {_span(deadline)} ({how}): "
            f"{ready} ready, asked for at {started:%H:%M:%S}{where}"
        )

    def _record(self, reading: AnalysisReading) -> AnalysisReading:
        """The new reading, with the run of consecutive failures it extends or ends."""
        previous = self.status.analysis.consecutive_failures if self.status.analysis else 0
        if reading.verdict == "Failed":
            failures = previous + 1
        elif reading.verdict == "Passed":
            failures = 0
        else:  # Inconclusive and Error hold: they neither count nor reset
            failures = previous
        previous_first = self.status.analysis.first_failed_at if self.status.analysis else None
        first_failed_at = None if failures == 0 else (previous_first if previous else reading.at)
        recorded = reading.model_copy(
            update={"consecutive_failures": failures, "first_failed_at": first_failed_at}
        )
        held = reading.verdict in ("Inconclusive", "Error")
        self.conditions = with_condition(
            self.conditions,
            ConditionType.ANALYSIS_INCONCLUSIVE,
            "True" if held else "False",
            "Reading" + reading.verdict,
            reading.message if held else "",
            now=self.now,
            generation=self.gen,
        )
        if reading.verdict == "Failed":
            self.conditions = with_condition(
                self.conditions, ConditionType.SLO_BREACHED, "True", "ReadingFailed", reading.message,
                now=self.now, generation=self.gen,
            )  # fmt: skip
        elif reading.verdict == "Passed":
            self.conditions = with_condition(
                self.conditions, ConditionType.SLO_BREACHED, "False", "ReadingPassed", "",
                now=self.now, generation=self.gen,
            )  # fmt: skip
        return recorded

    def _advance(
        self, canary: CanaryRevision, steps: list[Step], why: str, analysis: AnalysisReading | None
    ) -> Plan:
        following = canary.step + 1
        if following >= len(steps):
            return self._start_promoting(canary.model_copy(update={"step": following}), analysis, why)
        canary = canary.model_copy(
            update={"step": following, "step_started_at": None, "waiting_since": self.now}
        )
        self.events.append(Event("Normal", "StepAdvanced", f"step {following}/{len(steps)} done: {why}"))
        return self.decide_again(canary, analysis)

    def decide_again(self, canary: CanaryRevision, analysis: AnalysisReading | None) -> Plan:
        """Continue with the next step in the same reconcile (its pods may be ready already)."""
        status = self.status.model_copy(
            update={
                "canary": canary,
                "analysis": analysis,
                "handled": self.handled,
                "conditions": self.conditions,
            }
        )
        follow = _Rollout(self.spec, self.target, status, self.stable, self.observed, self.now, self.events)
        return follow.decide(None)

    def _start_promoting(self, canary: CanaryRevision, analysis: AnalysisReading | None, why: str) -> Plan:
        canary = canary.model_copy(update={"promoting": True, "waiting_since": self.now})
        self.events.append(Event("Normal", "Promoting", f"canary {self.target} scaling to full size: {why}"))
        return self._promoting(canary, analysis)

    def _promoting(self, canary: CanaryRevision, analysis: AnalysisReading | None) -> Plan:
        """Every step passed: the canary grows to full size, then takes over."""
        state = self.observed.deployments.get(self.target)
        if state is not None and state.available and state.replicas >= self.spec.replicas:
            return self._promote(canary)
        ready = state.ready_replicas if state else 0
        message = f"promoting {self.target}: {ready}/{self.spec.replicas} replicas ready"
        return self._progressing(canary, message, self.spec.replicas, analysis)

    def _promote(self, canary: CanaryRevision) -> Plan:
        promoted = StableRevision(
            revision=self.target, model=canary.model, engine=canary.engine, node_pool=canary.node_pool
        )
        message = f"revision {self.target} promoted; revision {self.stable.revision} removed"
        self.events.append(Event("Normal", "Promoted", message))
        entry = HistoryEntry(
            revision=self.target, model=canary.model, outcome="Promoted", at=self.now,
            reason="every step passed",
        )  # fmt: skip
        conditions = with_condition(
            self.conditions, ConditionType.AVAILABLE, "True", "ReplicasReady", message,
            now=self.now, generation=self.gen,
        )  # fmt: skip
        conditions = with_condition(
            conditions, ConditionType.PROGRESSING, "False", "RolloutComplete", message,
            now=self.now, generation=self.gen,
        )  # fmt: skip
        status = self.status.model_copy(
            update={
                "observed_generation": self.gen,
                "phase": Phase.HEALTHY,
                "message": message,
                "stable": promoted,
                "previous": self.stable,
                "canary": None,
                "rejected_revision": None,
                "handled": self.handled,
                "history": self._history(entry),
                "conditions": _rollout_conditions_cleared(
                    _spec_valid(conditions, self.now, self.gen), self.now, self.gen
                ),
            }
        )
        return Plan(
            status=status,
            deployments=(DeploymentPlan(self.target, naming.TRACK_STABLE, self.spec.replicas),),
            delete=_strays(self.observed, self.target),
            stable_revision=self.target,
            canary_revision=None,
            events=tuple(self.events),
        )

    def _roll_back(
        self,
        canary: CanaryRevision,
        reason: str,
        why: str,
        analysis: AnalysisReading | None = None,
    ) -> Plan:
        message = f"revision {self.target} rolled back ({reason}): {why}"
        self.events.append(Event("Warning", "RolledBack", message))
        entry = HistoryEntry(
            revision=self.target,
            model=canary.model,
            outcome="RolledBack",
            at=self.now,
            reason=f"{reason}: {why}",
        )
        conditions = with_condition(
            self.conditions, ConditionType.PROGRESSING, "False", "RolledBack", message,
            now=self.now, generation=self.gen,
        )  # fmt: skip
        status = self.status.model_copy(
            update={
                "observed_generation": self.gen,
                "phase": Phase.ROLLED_BACK,
                "message": message,
                "stable": self.stable,
                "canary": None,
                "rejected_revision": self.target,
                "analysis": analysis if analysis is not None else self.status.analysis,
                "handled": self.handled,
                "history": self._history(entry),
                "conditions": _spec_valid(conditions, self.now, self.gen),
            }
        )
        plan = self._rolled_back_plan(status)
        return Plan(
            status=plan.status, deployments=plan.deployments, delete=plan.delete,
            stable_revision=plan.stable_revision, canary_revision=None, canary_weight=0,
            events=tuple(self.events), rollback_reason=reason,
        )  # fmt: skip

    def _rolled_back_hold(self) -> Plan:
        """The rejected revision stays at zero pods until the spec changes or a retry is asked."""
        status = self.status.model_copy(
            update={
                "observed_generation": self.gen,
                "phase": Phase.ROLLED_BACK,
                "stable": self.stable,
                "canary": None,
                "handled": self.handled,
                "conditions": _spec_valid(self.conditions, self.now, self.gen),
            }
        )
        return self._rolled_back_plan(status)

    def _rolled_back_plan(self, status: QwenDeploymentStatus) -> Plan:
        return Plan(
            status=status,
            deployments=(
                DeploymentPlan(self.stable.revision, naming.TRACK_STABLE, self.spec.replicas),
                DeploymentPlan(self.target, naming.TRACK_CANARY, 0),
            ),
            delete=_strays(self.observed, self.stable.revision, self.target),
            stable_revision=self.stable.revision,
            canary_revision=None,
            events=tuple(self.events),
        )

    def _progressing(
        self,
        canary: CanaryRevision,
        message: str,
        canary_pods: int,
        analysis: AnalysisReading | None,
        *,
        phase: Phase = Phase.PROGRESSING,
        requeue: timedelta | None = None,
    ) -> Plan:
        conditions = with_condition(
            self.conditions, ConditionType.PROGRESSING, "True", "CanaryProgressing", message,
            now=self.now, generation=self.gen,
        )  # fmt: skip
        status = self.status.model_copy(
            update={
                "observed_generation": self.gen,
                "phase": phase,
                "message": message,
                "stable": self.stable,
                "canary": canary,
                "rejected_revision": None,
                "analysis": analysis,
                "handled": self.handled,
                "conditions": _spec_valid(conditions, self.now, self.gen),
            }
        )
        if self.spec.rollout.analysis.prometheus is not None and canary.step_started_at is not None:
            interval = parse_duration(self.spec.rollout.analysis.interval)
            requeue = interval if requeue is None else min(requeue, interval)
        return Plan(
            status=status,
            deployments=(
                DeploymentPlan(self.stable.revision, naming.TRACK_STABLE, self.spec.replicas),
                DeploymentPlan(self.target, naming.TRACK_CANARY, canary_pods),
            ),
            delete=_strays(self.observed, self.stable.revision, self.target),
            stable_revision=self.stable.revision,
            canary_revision=self.target,
            canary_weight=traffic_weight(canary),
            events=tuple(self.events),
            requeue_after=requeue,
        )

    def _history(self, entry: HistoryEntry) -> list[HistoryEntry]:
        return [*self.status.history, entry][-max(self.spec.revision_history_limit, 1) :]


def _span(duration: timedelta) -> str:
    minutes, seconds = divmod(int(duration.total_seconds()), 60)
    return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"


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
