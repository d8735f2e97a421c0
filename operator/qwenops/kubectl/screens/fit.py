"""A screen fitted to a terminal: no line wider, no more lines than it shows. Pure: the size is an argument.

The top section (name, namespace, phase, the operator's message) is wrapped rather than
clipped, so what matters most at 3 a.m. is read whole; every other line is clipped to
the width, and what does not fit the height is cut from the bottom, said in one line.
The footer (the watch's own lines) is always shown.
"""

import re
from collections.abc import Sequence

from qwenops.kubectl.screens.screen import LABEL_WIDTH
from qwenops.kubectl.screens.style import Style, visible_len

_TOKEN = re.compile(r"(\x1b\[[0-9;]*m)|(.)", re.DOTALL)
RESET = "\x1b[0m"


def clip(line: str, width: int) -> str:
    """`line` cut to `width` visible characters; ANSI codes kept, and closed if the cut left one open."""
    if visible_len(line) <= width:
        return line
    out, shown, styled = [], 0, False
    for code, char in _TOKEN.findall(line):
        if code:
            out.append(code)
            styled = code != RESET
        elif shown < width:
            out.append(char)
            shown += 1
    return "".join(out) + (RESET if styled else "")


def wrap(line: str, width: int, indent: int = LABEL_WIDTH) -> list[str]:
    """`line` as rows of at most `width`, continued under its value column; ANSI codes carried over."""
    if visible_len(line) <= width or width <= indent + 10:
        return [clip(line, width)]
    rows: list[str] = []
    row, shown, room, open_code = [], 0, width, ""
    for code, char in _TOKEN.findall(line):
        if code:
            row.append(code)
            open_code = "" if code == RESET else code
            continue
        if shown == room:
            rows.append("".join(row) + (RESET if open_code else ""))
            row, shown, room = [" " * indent, open_code], 0, width - indent
        row.append(char)
        shown += 1
    rows.append("".join(row))
    return rows


def fit(text: str, footer: Sequence[str], width: int, height: int) -> list[str]:
    """The rows of `text` and then `footer` on a `width` x `height` terminal (each row at most `width`)."""
    width, height = max(width, 1), max(height, 1)
    lines = text.rstrip("\n").split("\n")
    top = lines.index("") if "" in lines else len(lines)
    rows = [row for line in lines[:top] for row in wrap(line, width)]
    rows += [clip(line, width) for line in lines[top:]]
    room = max(height - len(footer), 1)
    if len(rows) > room:
        hidden = len(rows) - room + 1
        rows = [*rows[: room - 1], clip(f"... {hidden} more lines: a taller terminal shows them", width)]
    return [*rows, *(clip(line, width) for line in footer)][:height]


def watch_footer(
    *, interval: float, last_read: str, outage_since: str | None, outage: str | None, color: bool
) -> list[str]:
    """The watch's own lines under the screen: since when the API server is out (the times as text)."""
    style = Style(color)
    lines = []
    if outage is not None:
        lines.append(style.paint(f"API server unreachable since {outage_since}: {outage}", "red", "bold"))
        lines.append(style.paint(f"showing the read of {last_read}; still watching", "yellow"))
    else:
        lines.append(style.paint(f"every {interval:g}s, last read {last_read}; Ctrl-C to stop", "dim"))
    return lines
