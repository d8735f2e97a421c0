"""The JSONPath of a CRD's ``additionalPrinterColumns``, evaluated as the API server does.

The API server accepts a "simple" JSONPath in a printer column (``.status.phase``,
``.spec.containers[0].image``, ``.status.conditions[?(@.type=="Ready")].status``, with or without
the surrounding ``{}``), evaluates it with client-go's jsonpath, and shows the first result: a string
as it is, anything else as JSON. A path that finds nothing is an empty cell (None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-/]+)
      | \[(?P<index>-?\d+)\]
      | \['(?P<quoted>[^']*)'\]
      | \[\?\(@\.(?P<key>[A-Za-z0-9_\-.]+)\s*==\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^)\s]+))\)\]
      | \[\*\]|\.\*""",
    re.VERBOSE,
)

Step = tuple[str, Any]


def compile_path(path: str) -> list[Step]:
    """The steps of a path; ValueError for what a printer column may not hold."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.removeprefix("$")
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {text[position:]!r}")
        position = match.end()
        if match["field"] is not None or match["quoted"] is not None:
            steps.append(("field", match["field"] if match["field"] is not None else match["quoted"]))
        elif match["index"] is not None:
            steps.append(("index", int(match["index"])))
        elif match["key"] is not None:
            expected = next(v for v in (match["dq"], match["sq"], match["bare"]) if v is not None)
            steps.append(("filter", (match["key"].split("."), expected)))
        else:
            steps.append(("all", None))
    return steps


def find(obj: Any, steps: list[Step]) -> list[Any]:
    """Every value the steps reach, in order."""
    values = [obj]
    for kind, arg in steps:
        found: list[Any] = []
        for value in values:
            found.extend(_step(value, kind, arg))
        values = found
    return values


def _step(value: Any, kind: str, arg: Any) -> list[Any]:
    if kind == "field":
        return [value[arg]] if isinstance(value, Mapping) and arg in value else []
    if kind == "index":
        return [value[arg]] if isinstance(value, list) and -len(value) <= arg < len(value) else []
    if kind == "all":
        if isinstance(value, Mapping):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    keys, expected = arg  # a filter
    return [item for item in value if _text(_dig(item, keys)) == expected] if isinstance(value, list) else []


def _dig(value: Any, keys: list[str]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def text(value: Any) -> str:
    """A result as client-go's jsonpath prints it: a string raw, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))
