"""What every section of the status screen draws with: the object, the time, the style, a labelled line.

Each section (`revisions`, `canary`, `pods`, `readings`, `trouble`) is a function
of a :class:`Screen` that returns its lines; `status` puts them in order.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qwenops.kubectl.screens.read import command, text_at
from qwenops.kubectl.screens.style import Style, pad

LABEL_WIDTH = 15
"""The width of the label column (`Last rollback: ` is the longest label)."""


@dataclass(frozen=True)
class Screen:
    """One QwenDeployment (as the API returns it), drawn at `now` in `style`."""

    obj: Mapping[str, Any]
    now: datetime
    style: Style
    wide: bool = False
    """Everything in full: the message with each breached SLO's query."""

    @property
    def spec(self) -> Any:
        return self.obj.get("spec") or {}

    @property
    def status(self) -> Any:
        return self.obj.get("status") or {}

    @property
    def name(self) -> str:
        return text_at(self.obj, "metadata", "name")

    def command(self, verb: str) -> str:
        """The `kubectl qwen` command asking `verb` of this object (see `read.command`)."""
        return command(self.obj, verb)

    def line(self, label: str, value: str, *, indent: int = 0) -> str:
        """`Label:        value`: a top-level label in bold, an indented one (a detail) plain."""
        head = " " * indent + (label + ":" if label else "")
        return pad(self.style.paint(head, "bold") if indent == 0 else head, LABEL_WIDTH) + value
