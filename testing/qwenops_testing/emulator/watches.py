"""The log of every change, numbered by resourceVersion, and the watch streams that follow it.

A watch starts from now (``resourceVersion`` empty or 0: the current objects first, as ADDED),
after a given resourceVersion, or with ``sendInitialEvents`` (then a BOOKMARK marks the end of the
initial events); a resourceVersion the log does not know answers 410 Gone in an ERROR event.
An object entering or leaving a filtered watch's selection is ADDED or DELETED for that watch.

The log is compacted as etcd compacts its history: the changes older than
:attr:`EventLog.window` seconds go, or all of them at once with :meth:`EventLog.compact`. A watch
from a resourceVersion before the compacted one then answers an ERROR event with a ``Status`` of
code 410, reason ``Expired``, and so does an open stream that had not read what went (or every open
stream, when the compaction is asked to expire them). With ``allowWatchBookmarks=true`` a stream
that has nothing to send for :attr:`EventLog.bookmark_interval` seconds sends a BOOKMARK with the
current resourceVersion.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal

import kmock

from qwenops_testing.emulator.errors import expired, gone
from qwenops_testing.emulator.selectors import Scope

Body = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    rv: int
    resource: kmock.resource
    type: str  # ADDED | MODIFIED | DELETED
    old: Body | None  # the previous state, for selector transitions
    new: Body
    at: float = 0.0  # when it was logged (time.monotonic), for compaction by age


Tick = Literal["BOOKMARK", "EXPIRED"]


@dataclasses.dataclass(eq=False)
class _Follower:
    wakeup: asyncio.Event
    expired: bool = False


class EventLog:
    """Every change in resourceVersion order; the resourceVersion counter is global, as in etcd.

    Positions in the log are absolute: ``offset`` counts the events compaction dropped.
    """

    def __init__(self) -> None:
        self.rv = 0
        self.events: list[WatchEvent] = []
        self.offset = 0
        self.compacted_rv = 0
        """The resourceVersion of the last change compaction dropped (0: none)."""
        self.window: float | None = None
        """Keep the changes of this many seconds (None: all of them)."""
        self.bookmark_interval = 60.0
        """Seconds of silence after which a stream that allows bookmarks gets one."""
        self.closed = False
        self._wakeups: set[asyncio.Event] = set()
        self._followers: set[_Follower] = set()

    @property
    def position(self) -> int:
        return self.offset + len(self.events)

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def append(self, type_: str, resource: kmock.resource, old: Body | None, new: Body) -> None:
        """Record a change at the current resourceVersion and wake every watch."""
        at = time.monotonic()
        self.events.append(WatchEvent(self.rv, resource, type_, old, new, at))
        if self.window is not None and self.events[0].at < at - self.window:
            self.compact(bisect.bisect_left(self.events, at - self.window, key=lambda e: e.at))
        self._wake()

    def compact(self, count: int | None = None, *, expire_watches: bool = False) -> None:
        """Drop the `count` oldest changes (None: all); with `expire_watches`, end every open stream
        with 410 Gone, as when a watch falls behind a compaction."""
        count = len(self.events) if count is None else count
        if count > 0:
            self.compacted_rv = self.events[count - 1].rv
            del self.events[:count]
            self.offset += count
        if expire_watches:
            for follower in self._followers:
                follower.expired = True
        self._wake()

    def since(self, position: int) -> tuple[list[WatchEvent] | None, int]:
        """The events from `position` on (None when some went in a compaction), and the new position."""
        if position < self.offset:
            return None, self.position
        return self.events[position - self.offset :], self.position

    def listen(self, wakeup: asyncio.Event) -> None:
        """Set `wakeup` on every change (for the in-process controllers)."""
        self._wakeups.add(wakeup)

    def unlisten(self, wakeup: asyncio.Event) -> None:
        self._wakeups.discard(wakeup)

    def close(self) -> None:
        """End every watch stream."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        for wakeup in self._wakeups:
            wakeup.set()

    async def follow(
        self, position: int, deadline: float | None, bookmarks: float | None = None
    ) -> AsyncGenerator[WatchEvent | Tick, None]:
        """The events from `position` on, as they come, until `deadline` (loop time) or closing;
        "BOOKMARK" after `bookmarks` seconds without one, "EXPIRED" (and the end) once compacted."""
        follower = _Follower(asyncio.Event())
        self._wakeups.add(follower.wakeup)
        self._followers.add(follower)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        try:
            while not self.closed:
                if follower.expired or position < self.offset:
                    yield "EXPIRED"
                    return
                while position < self.position:
                    position += 1
                    quiet_since = loop.time()
                    yield self.events[position - 1 - self.offset]
                follower.wakeup.clear()
                now = loop.time()
                if bookmarks is not None and now - quiet_since >= bookmarks:
                    quiet_since = now
                    yield "BOOKMARK"
                    continue
                waits = [t - now for t in (deadline, None if bookmarks is None else quiet_since + bookmarks)
                         if t is not None]  # fmt: skip
                if deadline is not None and deadline <= now:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(waits) if waits else None):
                        await follower.wakeup.wait()
        finally:
            self._wakeups.discard(follower.wakeup)
            self._followers.discard(follower)


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
    bookmark: Callable[[bool], Body],
    bookmarks: bool = False,
) -> AsyncIterator[Any]:
    """A watch stream's events; `current` lists the objects in scope now (for a watch from now),
    `bookmark` makes a BOOKMARK's object (True: the one ending the initial events)."""
    # Take the starting point before the headers go out: a client may write as soon as it sees
    # them, and that write must be in this stream.
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    position = log.position
    snapshot: list[Body] = []
    if since in ("", "0") or initial:
        snapshot = [{"type": "ADDED", "object": obj} for obj in current()]
        if initial:
            snapshot.append({"type": "BOOKMARK", "object": bookmark(True)})
    elif since.isdigit() and int(since) < log.compacted_rv:
        message = f"too old resource version: {since} ({log.compacted_rv})"
        snapshot = [{"type": "ERROR", "object": expired(message)}]
    elif since.isdigit() and int(since) <= log.rv:
        position = log.offset + bisect.bisect_right(log.events, int(since), key=lambda e: e.rv)
    else:  # not ours (e.g. from an earlier emulator): make the client list again
        snapshot = [{"type": "ERROR", "object": gone(since)}]
    yield b""  # send the headers now, even if nothing happens for a while
    for event in snapshot:
        yield event
        if event["type"] == "ERROR":
            return
    every = log.bookmark_interval if bookmarks else None
    async with contextlib.aclosing(log.follow(position, deadline, every)) as events:
        async for logged in events:
            if logged == "EXPIRED":
                message = "The resourceVersion for the provided watch is too old."
                yield {"type": "ERROR", "object": expired(message)}
                return
            if logged == "BOOKMARK":
                yield {"type": "BOOKMARK", "object": bookmark(False)}
                continue
            translated = translate(scope, logged)
            if translated is not None:
                yield translated
