"""How a screen is drawn: ANSI colour and Unicode marks when the caller asks, columns that line up.

The caller switches colour and Unicode on (it knows whether it writes to a
terminal); off, every mark is ASCII and there is no escape code.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

PHASE_COLOURS = {
    "Healthy": "green",
    "Baking": "green",
    "Progressing": "yellow",
    "Paused": "yellow",
    "Degraded": "red",
    "RolledBack": "red",
    "Failed": "red",
}

TROUBLE_STAGES = frozenset({"Unschedulable", "DownloadFailed", "Crashing", "VerificationFailed"})
"""The startup stages that mean trouble: shown red, and a ModelReady condition worth a look."""

UNICODE_MARKS = "\u2714\u2718\u2192\u2264\u2013"
"""✔ ✘ → ≤ and an en dash: what a terminal must be able to show for `Style(unicode=True)`."""


@dataclass(frozen=True)
class Style:
    """How to draw: ANSI colour, and Unicode marks (`✔ → ≤`) instead of ASCII ones (`ok -> <=`)."""

    color: bool = False
    unicode: bool = False

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    @property
    def done(self) -> str:
        return "✔" if self.unicode else "ok"

    @property
    def fail(self) -> str:
        return "✘" if self.unicode else "FAIL"

    @property
    def arrow(self) -> str:
        return "→" if self.unicode else "->"

    @property
    def at_most(self) -> str:
        return "≤" if self.unicode else "<="

    @property
    def none(self) -> str:
        return "\u2013" if self.unicode else "-"  # an en dash


_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def visible_len(text: str) -> int:
    return len(_ANSI_CODE.sub("", text))


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` visible characters (ANSI codes do not count)."""
    return text + " " * max(0, width - visible_len(text))


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell (ANSI codes do not count); the last column is not padded."""
    if not rows:
        return []
    widths = [max(visible_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        for row in rows
    ]


def phase_text(phase: str, style: Style) -> str:
    return style.paint(phase or "Unknown", PHASE_COLOURS.get(phase, "yellow"), "bold")
