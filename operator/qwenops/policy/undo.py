"""A person's undo (`qwenops.io/undo`): serve the revision before the current one until the spec changes.

Undo serves the earlier revision without touching `spec`, so a GitOps tool sees
no drift: with a canary running, the stable revision (the canary is removed);
otherwise the previous stable revision, rolled out like any new one. It holds
until the spec names another revision; then the spec wins again. Undoing twice
goes back and forth, like `kubectl rollout undo`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import ConditionType, Override, QwenDeploymentStatus, condition, with_condition
from qwenops.policy.plan import Event, short
from qwenops.render.defaults import with_pods_of

Recorded = TypeVar("Recorded")


def undo_destination(
    canary_running: bool, stable: Recorded | None, previous: Recorded | None
) -> Recorded | None:
    """Where an undo goes back to: the stable revision while a canary runs, else the previous one.

    Generic over how a revision is recorded, so that `kubectl qwen` asks the same
    question of the object as the API returns it.
    """
    return stable if canary_running else previous


@dataclass(frozen=True)
class Target:
    """What to serve: the spec's revision, or the one a person's undo went back to."""

    spec: QwenDeploymentSpec
    revision: str
    status: QwenDeploymentStatus
    events: tuple[Event, ...] = ()


def _undone(
    revision: str, status: QwenDeploymentStatus, override: Override | None, now: datetime
) -> tuple[Override | None, Event]:
    """The override after a new undo request, and what it says."""
    back_to = undo_destination(status.canary is not None, status.stable, status.previous)
    spec_again = Event("Normal", "UndoRequested", f"serving the spec's revision {revision} again")
    if back_to is None and override is not None:
        return None, spec_again  # an undo of an undo with nothing further back: the spec again
    if back_to is None:
        return None, Event("Warning", "UndoImpossible", "no earlier revision to go back to")
    if back_to.revision == revision:
        return None, spec_again
    undone = Override(
        revision=back_to.revision, model=back_to.model, engine=back_to.engine,
        node_pool=back_to.node_pool, pod=back_to.pod, spec_revision=revision, at=now,
    )  # fmt: skip
    said = f"serving revision {back_to.revision} instead of the spec's {revision} until the spec changes"
    return undone, Event("Normal", "UndoRequested", said)


def resolve_target(
    spec: QwenDeploymentSpec,
    revision: str,
    status: QwenDeploymentStatus,
    annotations: Mapping[str, str],
    now: datetime,
    generation: int | None,
) -> Target:
    """Apply a person's undo, and drop an undo the spec has moved past."""
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
        override, said = _undone(revision, status, override, now)
        events.append(said)
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
