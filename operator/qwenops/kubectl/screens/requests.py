"""What a request (promote, abort, retry, undo) says: whether it makes sense now, what it does, its result.

Pure: each reads the object as the API returns it. The plugin sends the request.
"""

from collections.abc import Mapping
from typing import Any

from qwenops.analysis.checks import without_queries
from qwenops.kubectl.screens.read import command, field, items_at, model_text, number_at, text_at
from qwenops.kubectl.screens.style import Style, phase_text
from qwenops.policy.undo import undo_destination


def undo_target(status: Any) -> tuple[str, str] | None:
    """Where an undo goes back to, as (revision, model text); None when there is nowhere to go.

    The operator's own answer (`undo.undo_destination`), asked of the object as the API returns it.
    """

    def recorded(key: str) -> Mapping[str, Any] | None:
        found = field(status, key)
        return found if isinstance(found, Mapping) and text_at(found, "revision") else None

    canary_running = isinstance(field(status, "canary"), Mapping)
    back_to = undo_destination(canary_running, recorded("stable"), recorded("previous"))
    return None if back_to is None else (text_at(back_to, "revision"), model_text(back_to.get("model")))


def refusal(verb: str, obj: Mapping[str, Any]) -> str | None:
    """Why `verb` makes no sense for this object now (None: it does)."""
    status = obj.get("status") or {}
    phase = text_at(status, "phase") or "unknown"
    canary = field(status, "canary")
    rejected = text_at(status, "rejectedRevision")
    if verb in ("promote", "abort"):
        if isinstance(field(status, "bake"), Mapping):
            return None  # a bake: promote ends it, abort rolls the new stable back
        if not isinstance(canary, Mapping):
            hint = (
                f"; revision {rejected} was rolled back: `{command(obj, 'retry')}` tries it again"
                if (rejected and verb == "promote")
                else ""
            )
            return f"no canary is running (phase {phase}){hint}"
        if verb == "promote" and field(canary, "promoting") is True:
            return f"canary {text_at(canary, 'revision')} is already being promoted (every step passed)"
        return None
    if verb == "retry":
        return None if rejected else f"nothing is rolled back (phase {phase})"
    if verb == "undo" and undo_target(status) is None:
        return "there is no earlier promoted revision to go back to"
    return None


def describe_request(verb: str, obj: Mapping[str, Any]) -> str:
    """What the request will do, in one line."""
    status = obj.get("status") or {}
    canary = field(status, "canary")
    revision = text_at(canary, "revision")
    steps = items_at(obj.get("spec"), "rollout", "steps")
    bake = field(status, "bake")
    if verb in ("promote", "abort") and isinstance(bake, Mapping):
        stable, previous = text_at(status, "stable", "revision"), text_at(bake, "revision")
        if verb == "promote":
            return f"end the bake of revision {stable} now and remove revision {previous}"
        return f"roll revision {stable} back to {previous}, on its warm pods first"
    if verb == "promote" and isinstance(canary, Mapping):
        index = int(number_at(canary, "step") or 0)
        last = index + 1 >= len(steps)
        ahead = "promote it to take over" if last else f"go on to step {index + 2}/{len(steps)}"
        return f"end step {index + 1}/{len(steps)} of canary {revision} now and {ahead}"
    if verb == "abort" and isinstance(canary, Mapping):
        return f"roll canary {revision} back to the stable revision {text_at(status, 'stable', 'revision')}"
    if verb == "retry":
        return f"start rolled-back revision {text_at(status, 'rejectedRevision')} again as a canary"
    if verb == "undo" and (target := undo_target(status)) is not None:
        drop = f"remove canary {revision} and " if isinstance(canary, Mapping) else ""
        if isinstance(bake, Mapping):
            drop = f"remove revision {text_at(status, 'stable', 'revision')} and, on its warm pods first, "
        return f"{drop}serve revision {target[0]} ({target[1]}) instead of the spec's until the spec changes"
    return f"{verb} (forced)"


def summary(obj: Mapping[str, Any], *, color: bool = False) -> str:
    """`phase: message`, one line, as a request's result."""
    status = obj.get("status") or {}
    phase = phase_text(text_at(status, "phase"), Style(color))
    return f"{phase}: {without_queries(text_at(status, 'message'))}"
