"""Where `kubectl qwen` writes: whether stdout is a terminal (colour, Unicode, its size), and `-o`.

`-o json` and `-o yaml` print the QwenDeployment as the API returns it (as `kubectl get
-o json|yaml` does), for scripts; `-o wide` is the human screen with more in it.
"""

import json
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from qwenops.kubectl.screens.style import UNICODE_MARKS

FORMATS = ("json", "yaml", "wide")


@dataclass(frozen=True)
class Terminal:
    """What a screen may use of `stream`: colour, Unicode marks, and (on a terminal) its size."""

    stream: TextIO
    tty: bool
    color: bool
    unicode: bool

    @classmethod
    def of(cls, stream: TextIO) -> "Terminal":
        """Colour on a terminal unless NO_COLOR is set; Unicode marks on a terminal that can show them."""
        tty = stream.isatty()
        try:
            UNICODE_MARKS.encode(stream.encoding or "ascii")
            encodable = True
        except (UnicodeEncodeError, LookupError):
            encodable = False
        return cls(stream, tty, tty and not os.environ.get("NO_COLOR"), tty and encodable)

    def size(self) -> tuple[int, int]:
        """(columns, lines), asked each time: the terminal may have been resized."""
        try:
            found = os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError):
            found = shutil.get_terminal_size()
        return found.columns, found.lines

    def width(self) -> int | None:
        """The width to fit tables to: the terminal's; None when piped (`| grep` sees whole lines)."""
        return self.size()[0] if self.tty else None


def stdout() -> Terminal:
    return Terminal.of(sys.stdout)


def structured(obj: Any, fmt: str) -> str:
    """`obj` as `kubectl get -o json|yaml` prints it."""
    if fmt == "json":
        return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"
    return str(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def structured_list(items: list[dict[str, Any]], fmt: str) -> str:
    """A list of objects as kubectl prints one: a `v1` `List` of the items."""
    return structured({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}, fmt)
