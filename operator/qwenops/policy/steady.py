"""The spec asks for the stable revision: keep it, and remove anything else."""

from typing import Literal

from qwenops.api.status import ConditionType, HistoryEntry, Phase, condition, with_condition
from qwenops.policy import canary as canaries
from qwenops.policy import requests
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import Said, Steady
from qwenops.policy.plan import Event

_PROGRESSING_REASONS = {Phase.PROGRESSING: "RevisionStarting", Phase.FAILED: "VerificationFailed"}


def steady(sit: Situation, events: tuple[Event, ...]) -> tuple[Steady, Said]:
    """Where the stable revision stands, and what saying so sets (after `events`, said already)."""
    spec, stable, observed, now, gen = sit.spec, sit.stable, sit.observed, sit.now, sit.generation
    handled, ignored = requests.ignored(sit.status.handled, observed.annotations)
    said = [*events, *ignored]
    recorded: tuple[HistoryEntry, ...] = ()
    if sit.status.canary is not None:
        abandoned = (
            f"spec returned to revision {stable.revision}; canary {sit.status.canary.revision} removed"
        )
        said.append(Event("Normal", "CanaryAbandoned", abandoned))
        recorded = (canaries.replaced(sit, sit.status.canary, by=stable.revision),)
    state = observed.deployments.get(stable.revision)
    conditions = sit.status.conditions
    was_available = (c := condition(conditions, ConditionType.AVAILABLE)) is not None and c.status == "True"
    available: Literal["True", "False"]
    if spec.replicas == 0:
        phase, message = Phase.HEALTHY, "scaled to zero replicas"
        available, reason = "False", "ScaledToZero"
    elif state is not None and state.available:
        phase, available, reason = Phase.HEALTHY, "True", "ReplicasReady"
        message = f"revision {stable.revision} serving on {state.ready_replicas}/{spec.replicas} replicas"
        if not was_available:
            said.append(Event("Normal", "Available", message))
    elif (refused := observed.refused(stable.revision)) is not None:
        phase, available, reason = Phase.FAILED, "False", "VerificationFailed"
        message = (
            f"revision {stable.revision} cannot serve: a pod refused the checkpoint: {refused}; "
            "fix spec.model and apply it again"
        )
    else:
        ready = state.ready_replicas if state else 0
        available, reason = "False", "ReplicasNotReady"
        if was_available:
            phase = Phase.DEGRADED
            message = f"revision {stable.revision} lost replicas: {ready}/{spec.replicas} ready"
            said.append(Event("Warning", "Degraded", message))
        else:
            phase = Phase.PROGRESSING
            message = f"revision {stable.revision} starting: {ready}/{spec.replicas} replicas ready"
    conditions = with_condition(
        conditions, ConditionType.AVAILABLE, available, reason, message, now=now, generation=gen
    )
    conditions = with_condition(
        conditions, ConditionType.PROGRESSING, "True" if phase == Phase.PROGRESSING else "False",
        _PROGRESSING_REASONS.get(phase, "RolloutComplete"), message, now=now, generation=gen,
    )  # fmt: skip
    return Steady(phase, message), Said(handled, conditions, sit.status.analysis, tuple(said), recorded)
