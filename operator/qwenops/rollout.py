"""The rollout state machine: what should run, and what status says about it.

`decide` is a pure function of the spec, the status written last time, what
the API shows now, and the time. The caller renders and applies the plan and
writes `plan.status`; nothing here reads a clock or talks to a server.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from qwenops import naming
from qwenops.spec import QwenDeploymentSpec
from qwenops.status import (
    CanaryRevision,
    Condition,
    ConditionType,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    condition,
    with_condition,
)


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
    events: tuple[Event, ...] = field(default=())


def short(commit: str) -> str:
    return commit[:7]


def decide(
    spec: QwenDeploymentSpec,
    target: str,
    status: QwenDeploymentStatus,
    observed: Observed,
    now: datetime,
) -> Plan:
    """Move one step towards serving revision `target` (the hash of the current spec)."""
    events: list[Event] = []
    model = spec.model
    stable = status.stable
    if stable is None:
        stable = StableRevision(revision=target, model=model, engine=spec.engine, node_pool=spec.node_pool)
        events.append(
            Event("Normal", "Serving", f"serving {model.name}@{short(model.revision)} as revision {target}")
        )

    if target == stable.revision:
        return _steady(spec, status, stable, observed, now, events)
    return _replacing(spec, target, status, stable, observed, now, events)


def _steady(
    spec: QwenDeploymentSpec,
    status: QwenDeploymentStatus,
    stable: StableRevision,
    observed: Observed,
    now: datetime,
    events: list[Event],
) -> Plan:
    """The spec asks for the stable revision: keep it, and remove anything else."""
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
        "RevisionStarting" if phase == Phase.PROGRESSING else "RolloutComplete",
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
            "conditions": _spec_valid(conditions, now, gen),
        }
    )
    return Plan(
        status=new_status,
        deployments=(DeploymentPlan(stable.revision, naming.TRACK_STABLE, spec.replicas),),
        delete=tuple(sorted(r for r in observed.deployments if r != stable.revision)),
        stable_revision=stable.revision,
        canary_revision=None,
        events=tuple(events),
    )


def _replacing(
    spec: QwenDeploymentSpec,
    target: str,
    status: QwenDeploymentStatus,
    stable: StableRevision,
    observed: Observed,
    now: datetime,
    events: list[Event],
) -> Plan:
    """A new revision: start it beside the stable one; promote it once all its replicas are ready."""
    gen = observed.generation
    canary = status.canary
    if canary is None or canary.revision != target:
        if canary is not None:
            events.append(Event("Normal", "CanaryReplaced", f"canary {canary.revision} replaced by {target}"))
        canary = CanaryRevision(
            revision=target,
            model=spec.model,
            engine=spec.engine,
            node_pool=spec.node_pool,
            step_started_at=now,
        )
        events.append(
            Event(
                "Normal",
                "RolloutStarted",
                f"starting revision {target} ({spec.model.name}@{short(spec.model.revision)}) "
                f"beside stable {stable.revision}",
            )
        )
    state = observed.deployments.get(target)
    conditions = status.conditions
    if state is not None and state.available:
        promoted = StableRevision(
            revision=target, model=canary.model, engine=canary.engine, node_pool=canary.node_pool
        )
        message = f"revision {target} promoted; revision {stable.revision} removed"
        events.append(Event("Normal", "Promoted", message))
        entry = HistoryEntry(
            revision=target, model=canary.model, outcome="Promoted", at=now, reason="all replicas ready"
        )
        history = [*status.history, entry][-max(spec.revision_history_limit, 1) :]
        conditions = with_condition(
            conditions, ConditionType.AVAILABLE, "True", "ReplicasReady", message, now=now, generation=gen
        )
        conditions = with_condition(
            conditions,
            ConditionType.PROGRESSING,
            "False",
            "RolloutComplete",
            message,
            now=now,
            generation=gen,
        )
        new_status = status.model_copy(
            update={
                "observed_generation": gen,
                "phase": Phase.HEALTHY,
                "message": message,
                "stable": promoted,
                "canary": None,
                "history": history,
                "conditions": _spec_valid(conditions, now, gen),
            }
        )
        return Plan(
            status=new_status,
            deployments=(DeploymentPlan(target, naming.TRACK_STABLE, spec.replicas),),
            delete=tuple(sorted(r for r in observed.deployments if r != target)),
            stable_revision=target,
            canary_revision=None,
            events=tuple(events),
        )

    ready = state.ready_replicas if state else 0
    message = (
        f"revision {target} starting beside stable {stable.revision}: {ready}/{spec.replicas} replicas ready"
    )
    conditions = with_condition(
        conditions, ConditionType.PROGRESSING, "True", "NewRevisionStarting", message, now=now, generation=gen
    )
    new_status = status.model_copy(
        update={
            "observed_generation": gen,
            "phase": Phase.PROGRESSING,
            "message": message,
            "stable": stable,
            "canary": canary,
            "conditions": _spec_valid(conditions, now, gen),
        }
    )
    keep = {stable.revision, target}
    return Plan(
        status=new_status,
        deployments=(
            DeploymentPlan(stable.revision, naming.TRACK_STABLE, spec.replicas),
            DeploymentPlan(target, naming.TRACK_CANARY, spec.replicas),
        ),
        delete=tuple(sorted(r for r in observed.deployments if r not in keep)),
        stable_revision=stable.revision,
        canary_revision=target,
        events=tuple(events),
    )


def _spec_valid(conditions: list[Condition], now: datetime, gen: int | None) -> list[Condition]:
    return with_condition(
        conditions, ConditionType.INVALID_SPEC, "False", "SpecValid", "", now=now, generation=gen
    )


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
