"""The log of every change, numbered by resourceVersion, and the watch streams that follow it.

A watch starts from now (``resourceVersion`` empty or 0: the current objects first, as ADDED),
after a given resourceVersion, or with ``sendInitialEvents`` (then a BOOKMARK marks the end of the
initial events); a resourceVersion the log does not know answers 410 Gone in an ERROR event.
An object entering or leaving a filtered watch's selection is ADDED or DELETED for that watch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import kmock

from qwenops_testing.emulator.errors import gone
from qwenops_testing.emulator.selectors import Scope

Body = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    rv: int
    resource: kmock.resource
    type: str  # ADDED | MODIFIED | DELETED
    old: Body | None  # the previous state, for selector transitions
    new: Body


class EventLog:
    """Every change in resourceVersion order; the resourceVersion counter is global, as in etcd."""

    def __init__(self) -> None:
        self.rv = 0
        self.events: list[WatchEvent] = []
        self.closed = False
        self._wakeups: set[asyncio.Event] = set()

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def append(self, type_: str, resource: kmock.resource, old: Body | None, new: Body) -> None:
        """Record a change at the current resourceVersion and wake every watch."""
        self.events.append(WatchEvent(self.rv, resource, type_, old, new))
        for wakeup in self._wakeups:
            wakeup.set()

    def close(self) -> None:
        """End every watch stream."""
        self.closed = True
        for wakeup in self._wakeups:
            wakeup.set()

    async def follow(self, position: int, deadline: float | None) -> AsyncGenerator[WatchEvent, None]:
        """The events from `position` on, as they come, until `deadline` (loop time) or closing."""
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        loop = asyncio.get_running_loop()
        try:
            while not self.closed:
                while position < len(self.events):
                    position += 1
                    yield self.events[position - 1]
                wakeup.clear()
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await wakeup.wait()
        finally:
            self._wakeups.discard(wakeup)


def translate(scope: Scope, event: WatchEvent) -> Body | None:
    """What a filtered watch sees: objects entering/leaving the selection are ADDED/DELETED."""
    now = scope.sees(event.resource, event.new)
    before = event.old is not None and scope.sees(event.resource, event.old)
    if event.type == "MODIFIED" and now and not before:
        return {"type": "ADDED", "object": event.new}
    if event.type == "MODIFIED" and before and not now:
        return {"type": "DELETED", "object": event.new}
    if event.type == "DELETED":
        return {"type": "DELETED", "object": event.new} if before else None
    return {"type": event.type, "object": event.new} if now else None


async def watch(
    log: EventLog,
    scope: Scope,
    *,
    since: str,
    initial: bool,
    timeout: float | None,
    current: Callable[[], list[Body]],
    bookmark: Callable[[], Body],
) -> AsyncIterator[Any]:
    """A watch stream's events; `current` lists the objects in scope now (for a watch from now)."""
    # Take the starting point before the headers go out: a client may write as soon as it sees
    # them, and that write must be in this stream.
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    position = len(log.events)
    snapshot: list[Body] = []
    if since in ("", "0") or initial:
        snapshot = [{"type": "ADDED", "object": obj} for obj in current()]
        if initial:
            snapshot.append({"type": "BOOKMARK", "object": bookmark()})
    elif since.isdigit() and int(since) <= log.rv:
        position = bisect.bisect_right(log.events, int(since), key=lambda e: e.rv)
    else:  # not ours (e.g. from an earlier emulator): make the client list again
        snapshot = [{"type": "ERROR", "object": gone(since)}]
    yield b""  # send the headers now, even if nothing happens for a while
    for event in snapshot:
        yield event
        if event["type"] == "ERROR":
            return
    async with contextlib.aclosing(log.follow(position, deadline)) as events:
        async for logged in events:
            translated = translate(scope, logged)
            if translated is not None:
                yield translated
