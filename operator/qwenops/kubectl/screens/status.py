"""`kubectl qwen status`: one QwenDeployment as a screen for a person on call. Pure: no I/O, no clock.

The screen reads the object as the API returns it (plain dicts, camelCase keys)
and tolerates what it does not know. The time comes in as `now`; colour (ANSI)
and Unicode marks are switched on by the caller, which knows whether it writes
to a terminal. Each section is a module of its own; this one puts them in order.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qwenops.api.naming import KIND
from qwenops.kubectl.screens.canary import canary
from qwenops.kubectl.screens.pods import pods
from qwenops.kubectl.screens.readings import analysis
from qwenops.kubectl.screens.revisions import header, revisions
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.style import Style
from qwenops.kubectl.screens.trouble import conditions, last_rollback


def render_status(
    obj: Mapping[str, Any], now: datetime, *, color: bool = False, unicode: bool = False, wide: bool = False
) -> str:
    """The `kubectl qwen status` screen of one QwenDeployment (as the API returns it)."""
    screen = Screen(obj, now, Style(color, unicode), wide)
    sections = [
        header(screen),
        [*revisions(screen), *canary(screen), *pods(screen)],
        analysis(screen),
        [*last_rollback(screen), *conditions(screen)],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def render_not_found(namespace: str, name: str) -> str:
    return f"{KIND} {namespace}/{name} not found"
