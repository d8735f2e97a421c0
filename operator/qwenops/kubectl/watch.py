"""`kubectl qwen status --watch`: redraw until Ctrl-C, through API outages, fitted to the terminal.

On a terminal the watch draws on the alternate screen (as `less` and `top` do): each
redraw homes the cursor and rewrites every row within the terminal's height and width,
so nothing scrolls and no copy is left in the scrollback; on Ctrl-C the normal screen
comes back and the last screen is printed there once. Piped, it prints a new block only
when the object changed (`-o json|yaml`: a new document).

A read that fails does not end the watch: the screen keeps the last read and says since
when the API server is unreachable; the next read that answers resumes it.
"""

import json
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qwenops.kubectl.output import Terminal, structured
from qwenops.kubectl.screens.fit import fit, watch_footer
from qwenops.kubectl.screens.status import render_not_found
from qwenops.kubectl.target import EXIT_OK, CommandError, Target

ALTERNATE_SCREEN, NORMAL_SCREEN = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"
"""Enter the alternate screen and hide the cursor; show it and leave."""


@dataclass
class Outage:
    since: datetime
    message: str


def frame(rows: list[str], height: int) -> str:
    """`rows` drawn from the top-left corner, each row cleared first, the rest of the screen cleared.

    Each row is placed by its own cursor move, never by a newline: a row as wide as the
    terminal, or the last row, cannot scroll the screen.
    """
    drawn = "".join(f"\x1b[{i + 1};1H\x1b[2K{row}" for i, row in enumerate(rows))
    return drawn + (f"\x1b[{len(rows) + 1};1H\x1b[J" if len(rows) < height else "")


def _clock(when: datetime) -> str:
    return f"{when.astimezone():%H:%M:%S}"


class Watch:
    """One `status --watch`: the last object read, the outage if the API is out, and how to draw."""

    def __init__(
        self,
        target: Target,
        obj: dict[str, Any] | None,
        out: Terminal,
        render: Callable[[dict[str, Any], datetime], str],
        fmt: str | None,
    ) -> None:
        self.target, self.obj, self.out, self.render, self.fmt = target, obj, out, render, fmt
        self.on_screen = out.tty and fmt in (None, "wide")
        self.outage: Outage | None = None
        self.last_read = _now()
        self.last_key: str | None = None
        self.text = ""

    def text_of(self, now: datetime) -> str:
        if self.obj is None:
            return render_not_found(self.target.namespace, self.target.name) + "\n"
        return self.render(self.obj, now) if self.fmt in (None, "wide") else structured(self.obj, self.fmt)

    def draw(self, interval: float) -> None:
        now = _now()
        self.text = self.text_of(now)
        stream = self.out.stream
        if self.on_screen:
            width, height = self.out.size()
            outage = self.outage
            footer = watch_footer(
                interval=interval, last_read=_clock(self.last_read), color=self.out.color,
                outage_since=_clock(outage.since) if outage else None,
                outage=outage.message if outage else None,
            )  # fmt: skip
            stream.write(frame(fit(self.text, footer, width, height), height))
        else:
            key = json.dumps(_change_key(self.obj), sort_keys=True)
            if key == self.last_key:
                return
            separator = "\n" if self.fmt is None else "---\n" if self.fmt == "yaml" else ""
            header = f"--- {now:%Y-%m-%d %H:%M:%S} UTC\n" if self.fmt is None else ""
            stream.write((separator if self.last_key is not None else "") + header + self.text)
            self.last_key = key
        stream.flush()

    def read(self) -> None:
        """Read the object again; a failure is an outage (said once, piped), not the end of the watch."""
        try:
            self.obj, self.last_read = self.target.read(), _now()
        except CommandError as failed:  # keep watching: the API may come back
            outage = self.outage
            if outage is None or outage.message != failed.message:
                self.outage = Outage(outage.since if outage else _now(), failed.message)
                if not self.on_screen:
                    since = _clock(self.outage.since)
                    print(
                        f"error: {failed.message} (since {since}); still watching",
                        file=sys.stderr,
                        flush=True,
                    )
            return
        if self.outage is not None and not self.on_screen:
            since = _clock(self.outage.since)
            print(f"the API server answers again (unreachable since {since})", file=sys.stderr, flush=True)
        self.outage = None


def watch(
    target: Target,
    obj: dict[str, Any] | None,
    interval: float,
    out: Terminal,
    render: Callable[[dict[str, Any], datetime], str],
    fmt: str | None = None,
) -> int:
    """Redraw every `interval` seconds until Ctrl-C (`render` draws one object at a time)."""
    stopping, wake = threading.Event(), threading.Event()
    state = Watch(target, obj, out, render, fmt)

    def on_interrupt(signum: int, frame: object) -> None:
        """The first Ctrl-C ends the watch after the current read; a second one at once.

        Raising from any point would race with `asyncio.run` inside each read, which
        takes the signal over while it runs only if the handler is Python's default one.
        """
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        wake.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    previous_winch = signal.signal(signal.SIGWINCH, lambda *_: wake.set()) if state.on_screen else None
    if state.on_screen:
        out.stream.write(ALTERNATE_SCREEN)
    try:
        while not stopping.is_set():
            state.draw(interval)
            wake.wait(interval)  # a resized terminal (SIGWINCH) redraws at once, without a read
            if wake.is_set():
                wake.clear()
                continue
            state.read()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_winch is not None:
            signal.signal(signal.SIGWINCH, previous_winch)
        if state.on_screen:
            out.stream.write(NORMAL_SCREEN + state.text)  # the last screen, once, where it stays
            out.stream.flush()
    return EXIT_OK


def _now() -> datetime:
    return datetime.now(UTC)


def _change_key(obj: dict[str, Any] | None) -> Any:
    """What a piped watch compares: a new block when it changes (not when only the times age)."""
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    return {
        "spec": obj.get("spec"),
        "status": obj.get("status"),
        "generation": meta.get("generation"),
        "annotations": meta.get("annotations"),
    }
