"""Reading a QwenDeployment as the API returns it: plain dicts, camelCase keys, nothing assumed.

Each reader takes a path of keys and tolerates what it does not know: a step
that is missing or not a mapping, a value of another type (a field a newer
operator adds, a spec the operator refused, a status not written yet) reads
as nothing rather than failing.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def field(obj: Any, *path: str) -> Any:
    """`obj[path[0]][path[1]]...`, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def text_at(obj: Any, *path: str) -> str:
    """The field as text; "" when it is missing."""
    value = field(obj, *path)
    return "" if value is None else str(value)


def number_at(obj: Any, *path: str) -> float | None:
    """The field when it is a number (not a bool), else None."""
    value = field(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def items_at(obj: Any, *path: str) -> list[Mapping[str, Any]]:
    """The mappings of a list field; anything else in it, or a field that is no list, is left out."""
    value = field(obj, *path)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def time_at(obj: Any, *path: str) -> datetime | None:
    """An RFC 3339 time field (UTC when it names no zone), or None when it is missing or unreadable."""
    value = field(obj, *path)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def short(commit: str) -> str:
    return commit[:7]


def model_text(model: Any) -> str:
    """`Qwen/Qwen3-8B@9c925d6`: the repo and the short commit."""
    name, commit = text_at(model, "name"), text_at(model, "revision")
    if not name:
        return "?"
    return f"{name}@{short(commit)}" if commit else name


def command(obj: Any, verb: str) -> str:
    """The `kubectl qwen` command that asks `verb` of this object, namespace included: a hint is
    copied into a shell whose namespace may be another (`kubectl qwen promote -n llm chat`)."""
    namespace, name = text_at(obj, "metadata", "namespace"), text_at(obj, "metadata", "name")
    return f"kubectl qwen {verb} -n {namespace} {name}" if namespace else f"kubectl qwen {verb} {name}"
