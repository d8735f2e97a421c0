"""`kubectl qwen list`: one row per QwenDeployment, fitted to the terminal's width. Pure.

The message is the last column, cut to what is left of the width; `wide` adds the
canary's step and both models, and never cuts the message (as `kubectl get -o wide`).
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qwenops.analysis.checks import without_queries
from qwenops.kubectl.screens.fit import clip
from qwenops.kubectl.screens.read import field, model_text, number_at, text_at, time_at
from qwenops.kubectl.screens.style import Style, phase_text, table
from qwenops.kubectl.screens.times import human_duration


def render_list(
    objects: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    namespaces: bool,
    width: int | None,
    wide: bool = False,
    color: bool = False,
) -> str:
    """The table of `objects` (as the API lists them), sorted by namespace and name; `width` None: uncut."""
    style = Style(color)
    if not objects:
        return ""
    head = ["NAMESPACE"] if namespaces else []
    head += ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "AGE"]
    head += ["STEP", "STABLE MODEL", "CANARY MODEL", "MESSAGE"] if wide else ["MESSAGE"]
    rows = [[style.paint(h, "dim") for h in head]]
    ordered = sorted(
        objects, key=lambda o: (text_at(o, "metadata", "namespace"), text_at(o, "metadata", "name"))
    )
    for obj in ordered:
        rows.append(_row(obj, now, style, namespaces=namespaces, wide=wide))
    lines = [line.rstrip() for line in table(rows)]
    if width is not None and not wide:
        lines = [clip(line, width) for line in lines]
    return "\n".join(lines) + "\n"


def _row(obj: Mapping[str, Any], now: datetime, style: Style, *, namespaces: bool, wide: bool) -> list[str]:
    status = obj.get("status") or {}
    canary = field(status, "canary")
    has_canary = isinstance(canary, Mapping)
    weight = number_at(canary, "weight") if has_canary else None
    created = time_at(obj, "metadata", "creationTimestamp")
    message = without_queries(text_at(status, "message")) if not wide else text_at(status, "message")
    row = [text_at(obj, "metadata", "namespace")] if namespaces else []
    row += [
        text_at(obj, "metadata", "name"),
        phase_text(text_at(status, "phase"), style) if status else style.paint("<none>", "dim"),
        text_at(status, "stable", "revision") or "<none>",
        text_at(canary, "revision") if has_canary else "<none>",
        f"{weight:g}%" if weight is not None else "-",
        human_duration(now - created) if created is not None else "?",
    ]
    if wide:
        step = number_at(canary, "step") if has_canary else None
        steps = field(obj, "spec", "rollout", "steps")
        total = len(steps) if isinstance(steps, list) else 0
        row += [
            f"{step + 1:g}/{total}" if step is not None and total else "-",
            model_text(field(status, "stable", "model")) if field(status, "stable") else "<none>",
            model_text(field(canary, "model")) if has_canary else "<none>",
        ]
    row.append(" ".join(message.split()))
    return row
