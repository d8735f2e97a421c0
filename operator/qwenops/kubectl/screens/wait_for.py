"""`kubectl qwen wait --for=...`: what is waited for, whether it is met, and when it never will be. Pure.

Three forms, as kubectl writes them, and the outcomes of the status model:

- `condition=Available` (`=True` implied), `condition=Degraded=False`: a condition's status;
- `jsonpath={.status.phase}=Healthy`, or `jsonpath={.status.canary}` (the field is there):
  a path of keys and `[N]` list indices;
- `phase=Healthy` (any phase of the status), and `promoted`: the latest spec serves all
  traffic (Healthy, no canary, no undo override). Both count only once the operator has
  observed the latest generation, so a wait right after `kubectl apply` is not met by the
  status of the spec before.

A rollout that ended, for the latest generation, RolledBack or Failed without meeting the
condition never will (not until someone changes the spec or asks for a retry): `never`
says why, and the command ends at once with its own exit code.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qwenops.api.status import Phase
from qwenops.kubectl.screens.read import field, items_at, number_at, text_at

ENDED = frozenset({Phase.ROLLED_BACK.value, Phase.FAILED.value})
"""Phases a rollout ends in that nothing but a person (a new spec, a retry) moves it out of."""

_INDEX = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Wanted:
    kind: Literal["condition", "jsonpath", "phase", "promoted"]
    key: str
    """The condition's type, the path's keys (`.status.phase`), or the phase."""
    value: str | None
    """What it must equal; None: the field is there (jsonpath only)."""
    text: str


def parse_for(text: str) -> Wanted:
    """`--for`'s argument; ValueError naming the accepted forms otherwise."""
    kind, _, rest = text.partition("=")
    if kind == "condition" and rest:
        key, _, value = rest.partition("=")
        return Wanted("condition", key, value or "True", text)
    if kind == "jsonpath" and rest.startswith("{"):
        close = rest.find("}")
        path, value = rest[1:close], rest[close + 1 :]
        if close > 0 and path.startswith(".") and (not value or value.startswith("=")):
            return Wanted("jsonpath", path, value[1:] if value else None, text)
    if kind == "phase" and rest in {p.value for p in Phase}:
        return Wanted("phase", rest, rest, text)
    if text == "promoted":
        return Wanted("promoted", "", None, text)
    phases = "|".join(p.value for p in Phase)
    raise ValueError(
        f"{text!r}: write condition=TYPE[=STATUS], jsonpath='{{.path}}'[=VALUE], phase={phases} or promoted"
    )


def _at(obj: Any, path: str) -> Any:
    for key, index in _INDEX.findall(path):
        if key:
            obj = field(obj, key)
        else:
            obj = obj[int(index)] if isinstance(obj, list) and int(index) < len(obj) else None
        if obj is None:
            return None
    return obj


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def observed(obj: Mapping[str, Any]) -> bool:
    """The status describes the latest spec: the operator has seen its generation."""
    generation = number_at(obj, "metadata", "generation")
    seen = number_at(obj, "status", "observedGeneration")
    return generation is None or (seen is not None and seen >= generation)


def met(wanted: Wanted, obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    if wanted.kind == "condition":
        conditions = items_at(status, "conditions")
        found = next((c for c in conditions if c.get("type") == wanted.key), None)
        return found is not None and text_at(found, "status").lower() == (wanted.value or "").lower()
    if wanted.kind == "jsonpath":
        value = _at(obj, wanted.key)
        return value is not None and (wanted.value is None or _as_text(value) == wanted.value)
    if not observed(obj):
        return False
    phase = text_at(status, "phase")
    if wanted.kind == "phase":
        return phase == wanted.value
    return phase == Phase.HEALTHY.value and not field(status, "canary") and not field(status, "override")


def never(wanted: Wanted, obj: Mapping[str, Any]) -> str | None:
    """Why `wanted` cannot be met any more (the rollout of the latest spec ended elsewhere), or None."""
    phase = text_at(obj, "status", "phase")
    if phase not in ENDED or not observed(obj) or met(wanted, obj):
        return None
    message = " ".join(text_at(obj, "status", "message").split())
    return f"the rollout ended {phase}" + (f": {message}" if message else "")


def state(obj: Mapping[str, Any]) -> str:
    """The phase and message, for a line that says where the object is."""
    phase = text_at(obj, "status", "phase") or "no status yet"
    message = " ".join(text_at(obj, "status", "message").split())
    return f"{phase}: {message}" if message else phase
