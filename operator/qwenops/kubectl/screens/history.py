"""`kubectl qwen history`: the promoted, rolled-back and replaced revisions of `status.history`,
newest first. Pure."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qwenops.analysis.checks import without_queries
from qwenops.kubectl.screens.read import items_at, model_text, text_at, time_at
from qwenops.kubectl.screens.style import Style, table
from qwenops.kubectl.screens.times import ago

_OUTCOME_COLOURS = {"Promoted": "green", "RolledBack": "red", "Replaced": "dim"}


def render_history(
    obj: Mapping[str, Any], now: datetime, *, color: bool = False, unicode: bool = False, wide: bool = False
) -> str:
    """`kubectl qwen history`: status.history newest first; `*` marks the revision serving now."""
    style = Style(color, unicode)
    status = obj.get("status") or {}
    entries = list(reversed(items_at(status, "history")))
    if not entries:
        namespace, name = text_at(obj, "metadata", "namespace"), text_at(obj, "metadata", "name")
        return f"no history yet for {namespace}/{name}\n"
    stable = text_at(status, "stable", "revision")
    serving = next(
        (
            i
            for i, e in enumerate(entries)
            if e.get("outcome") == "Promoted" and text_at(e, "revision") == stable
        ),
        None,
    )
    rows = [[style.paint(h, "dim") for h in ("", "REVISION", "MODEL", "OUTCOME", "WHEN", "REASON")]]
    for i, entry in enumerate(entries):
        outcome = text_at(entry, "outcome")
        reason = text_at(entry, "reason")
        if replaced_by := text_at(entry, "replacedBy"):
            reason = f"by {replaced_by} {reason}".rstrip()
        if entry.get("afterPromotion") is True:
            reason = f"after promotion: {reason}"
        rows.append(
            [
                "*" if i == serving else "",
                text_at(entry, "revision"),
                model_text(entry.get("model")),
                style.paint(outcome, _OUTCOME_COLOURS.get(outcome, "yellow")),
                ago(time_at(entry, "at"), now),
                reason if wide else without_queries(reason),
            ]
        )
    lines = table(rows)
    if serving is not None:
        lines.append("")
        lines.append("* serving now")
    return "\n".join(line.rstrip() for line in lines) + "\n"
