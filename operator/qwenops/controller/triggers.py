"""When passes run: one :class:`Triggers` holds what the operator keeps per QwenDeployment between
passes, and starts each pass on a fresh read of the object.

Every trigger (create, update, resume, the resync loop, a child Deployment's or Pod's event)
lands in :meth:`Triggers.reconcile`. The object is re-read under a per-object lock, so two
triggers never act on the same stale snapshot.

Child events come in bursts (a new Deployment's own event, its status, each pod created, then
each pod's status): :meth:`Triggers.poke` gives a burst one pass. One resync loop for the whole
operator (:meth:`Triggers.resync`) looks at every object it was told of (:meth:`Triggers.register`)
once a resync interval has passed without a look, whatever started the last one, or sooner when
the last pass asked for it (:meth:`Triggers.when_due`). It is no kopf daemon or timer: those make
kopf put a finalizer on every object, and deleting one would then wait for a running operator.

Only a leader runs passes (:mod:`qwenops.controller.leader`): a trigger of a follower returns at
once, its resync loop waits until it leads, and then looks at every object it was told of.
"""

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from qwenops.controller import reconcile
from qwenops.controller.config import OperatorConfig
from qwenops.controller.leader import Alone, Leadership
from qwenops.controller.reader import Reader
from qwenops.io import kube, kube_errors, metrics
from qwenops.render.desired import Manifest

log = logging.getLogger(__name__)

Pass = Callable[[kube.KubeClient, Manifest, OperatorConfig, Reader, datetime], Awaitable[timedelta | None]]
"""One pass over an object as read: (client, body, config, reader, now) -> when to look again."""


@dataclass
class _Tracked:
    """What the operator keeps in memory for one QwenDeployment between passes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    due: float = 0.0
    """Event-loop time when the next pass is due: a resync interval after the last pass, or sooner."""
    poked: bool = False
    """A coalesced pass is waiting to start: a child event now rides along with it."""
    not_before: float = 0.0
    """Event-loop time before which no pass asks the API again: its last answer's Retry-After."""


class Triggers:
    """Starts passes over QwenDeployments through `client`, and says when each is due again."""

    def __init__(
        self,
        client: kube.KubeClient,
        config: OperatorConfig,
        reader: Reader,
        run_pass: Pass = reconcile.reconcile,
        leadership: Leadership | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.reader = reader
        self.run_pass = run_pass
        self.leadership = leadership or Alone()
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._wake = asyncio.Event()
        """Set when an object falls due before the resync loop's next wake-up."""
        self._next_wake = -math.inf  # event-loop time; the loop is not waiting yet
        self._resync: asyncio.Task[None] | None = None

    def _track(self, namespace: str, name: str) -> _Tracked:
        return self._tracked.setdefault((namespace, name), _Tracked())

    def tracks(self, namespace: str, name: str) -> bool:
        """Whether anything is kept in memory for the object."""
        return (namespace, name) in self._tracked

    def register(self, namespace: str, name: str) -> None:
        """Have the resync loop look at the object: soon when it is new here (`first_look_seconds`),
        then a resync interval after each pass."""
        if not self.tracks(namespace, name):
            self._schedule(self._track(namespace, name), self.config.first_look_seconds)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is kept in memory for a deleted object; the resync loop no longer looks at it."""
        self._tracked.pop((namespace, name), None)

    async def reconcile(self, namespace: str, name: str, *, when_due: bool = False) -> timedelta | None:
        """Reconcile one object; returns when it wants to be looked at again (None: at the next resync).

        With `when_due`, only if no pass since the last one made it not due yet (see :meth:`when_due`).
        Nothing unless this operator leads; a pass that stops leading half-way stops at its next
        write (the client's guard raises `kube_errors.FencedError`), and is not tried again here.
        """
        tracked = self._track(namespace, name)
        async with tracked.lock:
            if when_due and asyncio.get_running_loop().time() < tracked.due:
                return None  # another trigger looked while this one waited for the lock
            if not self.leadership.leading():
                return None  # a follower: the resync loop looks at everything once it leads
            tracked.poked = False  # read afresh from here on: a later child event needs a pass of its own
            await _wait_until(tracked.not_before)
            started = time.monotonic()
            try:
                body = await self.client.get(kube.QWENDEPLOYMENTS, namespace, name)
                if body is None:
                    self.forget(namespace, name)  # e.g. poked by an orphan's event: keep nothing
                    return None
                if body["metadata"].get("deletionTimestamp"):
                    return None
                requeue = await self.run_pass(self.client, body, self.config, self.reader, datetime.now(UTC))
            except kube_errors.FencedError as exc:
                log.warning("pass over %s/%s stopped before a write: %s", namespace, name, exc)
                return None
            except kube_errors.KubeError as exc:
                metrics.RECONCILE_ERRORS.labels("conflict" if exc.conflict else "api").inc()
                if exc.retry_after:  # throttled: whatever triggers the next pass, it waits as asked
                    tracked.not_before = asyncio.get_running_loop().time() + exc.retry_after
                raise
            except Exception:
                metrics.RECONCILE_ERRORS.labels("internal").inc()
                raise
            finally:
                metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
            seconds = self.config.resync_seconds if requeue is None else requeue.total_seconds()
            self._schedule(tracked, seconds)
            return requeue

    async def poke(self, namespace: str, name: str) -> None:
        """Reconcile soon, once for a burst of child events.

        The first event waits `config.coalesce_seconds`, then for the object's lock;
        events arriving meanwhile return at once, since that pass reads everything
        afresh once it holds the lock. An event after that point gets a pass of its own.
        """
        tracked = self._track(namespace, name)
        if tracked.poked:
            return
        tracked.poked = True
        try:
            await asyncio.sleep(self.config.coalesce_seconds)
            await self.reconcile(namespace, name)
        except BaseException:
            tracked.poked = False  # never leave later events riding on a pass that will not come
            raise

    def when_due(self, namespace: str, name: str) -> float:
        """Seconds until the object's next resync pass is due (<= 0: now; never looked at: now)."""
        tracked = self._tracked.get((namespace, name))
        return 0.0 if tracked is None else tracked.due - asyncio.get_running_loop().time()

    def defer_if_due(self, namespace: str, name: str) -> None:
        """After a resync pass that did not say when to look next (it failed, or the object is being
        deleted): in a resync interval, never in a tight loop. A forgotten object stays forgotten."""
        tracked = self._tracked.get((namespace, name))
        if tracked is not None and asyncio.get_running_loop().time() >= tracked.due:
            self._schedule(tracked, self.config.resync_seconds)

    def start_resync(self) -> None:
        """Run the resync loop in a task, unless it runs or was stopped; a loop that failed (a bug)
        is logged and started again. Its passes post events with `kopf.event`, which works in the
        context kopf handles an object in (a task runs in a copy of the context it was started
        from): start it from a handler."""
        if self._resync is not None and self._resync.done() and not self._resync.cancelled():
            log.error("the resync loop failed; starting it again", exc_info=self._resync.exception())
            self._resync = None
        if self._resync is None:
            self._resync = asyncio.create_task(self.resync(), name="resync")

    async def stop_resync(self) -> None:
        """Cancel the resync loop, if started, and its passes in flight."""
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync

    async def resync(self) -> None:
        """The resync loop: run each registered object's pass once due, each in a task of its own (a
        slow one holds back no other), only while this operator leads (every object due at once when
        it starts to lead), until cancelled, which cancels the passes in flight."""
        loop = asyncio.get_running_loop()
        running: dict[tuple[str, str], asyncio.Task[None]] = {}
        follower = asyncio.create_task(self._wake_when_not_leading(), name="resync-leadership")
        try:
            while True:
                if not self.leadership.leading():
                    await self.leadership.wait_leading()
                    for tracked in self._tracked.values():
                        tracked.due = 0.0  # a follower's triggers ran no pass: look at everything
                self._wake.clear()
                now = loop.time()
                self._next_wake = now + self.config.resync_seconds
                for key, tracked in list(self._tracked.items()):
                    if key in running:
                        continue  # looked at again once its pass ends (which wakes the loop)
                    if tracked.due <= now:
                        running[key] = task = asyncio.create_task(self._resync_pass(*key))
                        task.add_done_callback(functools.partial(self._pass_ended, running, key))
                    else:
                        self._next_wake = min(self._next_wake, tracked.due)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._next_wake - now)
        finally:
            self._next_wake = -math.inf
            for task in (*running.values(), follower):
                task.cancel()
            await asyncio.gather(*running.values(), follower, return_exceptions=True)

    async def _wake_when_not_leading(self) -> None:
        """Wake the resync loop whenever this operator stops leading: it then waits until it leads
        again, and looks at everything at once, for another leader may have acted meanwhile."""
        while True:
            await self.leadership.wait_not_leading()
            self._wake.set()
            await self.leadership.wait_leading()

    async def _resync_pass(self, namespace: str, name: str) -> None:
        try:
            await self.reconcile(namespace, name, when_due=True)
        except Exception:  # logged and counted; the next pass tries again
            log.exception("reconcile of %s/%s failed", namespace, name)
        self.defer_if_due(namespace, name)

    def _pass_ended(
        self, running: dict[tuple[str, str], asyncio.Task[None]], key: tuple[str, str], _: object
    ) -> None:
        running.pop(key, None)
        self._wake.set()

    def _schedule(self, tracked: _Tracked, seconds: float) -> None:
        seconds = min(self.config.resync_seconds, max(seconds, self.config.min_requeue_seconds))
        tracked.due = asyncio.get_running_loop().time() + seconds
        if tracked.due < self._next_wake:
            self._wake.set()


async def _wait_until(moment: float) -> None:
    """Sleep until event-loop time `moment` (at once when it is past)."""
    delay = moment - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
