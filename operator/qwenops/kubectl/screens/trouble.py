"""The status screen's bottom: the last rollback and why, and the conditions a person should look at."""

from collections.abc import Mapping
from typing import Any

from qwenops.analysis.checks import without_queries
from qwenops.kubectl.screens.read import items_at, model_text, text_at, time_at
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.style import TROUBLE_STAGES
from qwenops.kubectl.screens.times import ago

_GOOD_WHEN_TRUE = frozenset({"Available", "ModelReady"})
_BAD_WHEN_TRUE = frozenset(
    {"InvalidSpec", "SLOBreached", "AnalysisInconclusive", "Degraded", "SpecOverridden", "ChildConflict"}
)


def last_rollback(screen: Screen) -> list[str]:
    """The newest rolled-back entry of `status.history`, with its reason (no queries)."""
    entry = next(
        (e for e in reversed(items_at(screen.status, "history")) if e.get("outcome") == "RolledBack"), None
    )
    if entry is None:
        return [screen.line("Last rollback", "none recorded")]
    head = (
        f"{text_at(entry, 'revision')} ({model_text(entry.get('model'))}), "
        f"{ago(time_at(entry, 'at'), screen.now)}"
    )
    lines = [screen.line("Last rollback", head)]
    if reason := text_at(entry, "reason"):
        lines.append(screen.line("Reason", without_queries(reason), indent=2))
    return lines


def conditions(screen: Screen) -> list[str]:
    """The abnormal conditions, one a line, each message unless the header already says it."""
    abnormal = [c for c in items_at(screen.status, "conditions") if is_abnormal(c)]
    if not abnormal:
        return [screen.line("Conditions", "none abnormal")]
    lines = []
    for i, c in enumerate(abnormal):
        text = f"{text_at(c, 'type')}={text_at(c, 'status')} ({text_at(c, 'reason')}) " + ago(
            time_at(c, "lastTransitionTime"), screen.now
        )
        message = text_at(c, "message")
        if message and message != text_at(screen.status, "message"):
            text += f": {without_queries(message)}"
        lines.append(screen.line("Conditions" if i == 0 else "", screen.style.paint(text, "red")))
    return lines


def is_abnormal(condition: Mapping[str, Any]) -> bool:
    """A condition a person should look at: not Available, a model in trouble, an invalid spec, ..."""
    kind, status = text_at(condition, "type"), text_at(condition, "status")
    reason = text_at(condition, "reason")
    if kind == "ModelReady":
        return status != "True" and reason in TROUBLE_STAGES
    if kind in _GOOD_WHEN_TRUE:
        return status != "True" and reason != "ScaledToZero"
    if kind in _BAD_WHEN_TRUE:
        return status == "True"
    return status == "Unknown"
