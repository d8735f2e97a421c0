"""A person's promote, abort and retry, asked by annotation: each new value is acted on once.

The last value acted on is kept in `status.handled`, so a request is not acted
on again on the next pass, and an annotation left on the object days ago does
not fire on a later rollout.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from qwenops.api import naming
from qwenops.api.status import HandledRequests
from qwenops.policy.plan import Event

Kind = Literal["promote", "abort", "retry"]

_ANNOTATIONS: dict[Kind, str] = {
    "promote": naming.ANNOTATION_PROMOTE,
    "abort": naming.ANNOTATION_ABORT,
    "retry": naming.ANNOTATION_RETRY,
}


def _new(kind: Kind, handled: HandledRequests, annotations: Mapping[str, str]) -> str | None:
    """The annotation's value when it asks anew (None: absent, or acted on already)."""
    value = annotations.get(_ANNOTATIONS[kind])
    return None if not value or value == getattr(handled, kind) else value


@dataclass(frozen=True)
class Requests:
    """The requests new on this pass, and the handled record that has taken them all."""

    retry: bool
    abort: bool
    promote: bool
    handled: HandledRequests


def take(handled: HandledRequests, annotations: Mapping[str, str]) -> Requests:
    """The requests a canary acts on: each new one is recorded as handled."""
    asked = {kind: _new(kind, handled, annotations) for kind in _ANNOTATIONS}
    taken = handled.model_copy(update={kind: value for kind, value in asked.items() if value is not None})
    return Requests(
        retry=asked["retry"] is not None,
        abort=asked["abort"] is not None,
        promote=asked["promote"] is not None,
        handled=taken,
    )


def ignored(
    handled: HandledRequests, annotations: Mapping[str, str]
) -> tuple[HandledRequests, tuple[Event, ...]]:
    """With no canary, promote, abort and retry have nothing to act on: they are recorded as
    handled (and said so), so that they do not fire on the next rollout, days later."""
    events: list[Event] = []
    for kind, annotation in _ANNOTATIONS.items():
        value = _new(kind, handled, annotations)
        if value is not None:
            handled = handled.model_copy(update={kind: value})
            events.append(Event("Normal", "RequestIgnored", f"{annotation}={value}: no canary is running"))
    return handled, tuple(events)
