"""Leader election: the loop that takes and renews the Lease, and says whether this operator acts.

Only the leader runs reconcile passes (:mod:`qwenops.controller.triggers` asks :meth:`Elector.leading`
before each) and its Kubernetes client sends a write only while :meth:`Elector.check` passes, so a
pass that loses the Lease half-way writes nothing more. What to do with the Lease as read is
decided in :mod:`qwenops.controller.election` (pure); this module reads and writes it
(:mod:`qwenops.io.lease`) every retry period, and keeps the deadline on the monotonic clock.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from qwenops.controller import election
from qwenops.io import kube_errors
from qwenops.io.lease import LeaseConflictError, LeaseStore

log = logging.getLogger(__name__)


class Leadership(Protocol):
    """Whether this operator may act now, and a wait until it may."""

    def leading(self) -> bool: ...

    async def wait_leading(self) -> None: ...

    async def wait_not_leading(self) -> None: ...


class Alone:
    """No election (`qwenops run --standalone`): always acting, the only operator by assumption."""

    def leading(self) -> bool:
        return True

    async def wait_leading(self) -> None:
        return None

    async def wait_not_leading(self) -> None:
        await asyncio.Event().wait()  # never


class Elector:
    """One candidate for the Lease `namespace`/`name`, as `identity`.

    It leads from a successful write of the Lease until a renew deadline after that write's try
    started, unless a later try renews it; the check is made against the monotonic clock whenever
    asked, so a leader that cannot renew (the API server unreachable, the process stopped) stops
    acting at the deadline even before its loop runs again.
    """

    def __init__(
        self,
        leases: LeaseStore,
        namespace: str,
        name: str,
        identity: str,
        timing: election.Timing,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.leases = leases
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timing = timing
        self.clock, self.wall = clock, wall
        self.memory = election.Memory()
        self.until: float | None = None
        """Monotonic time until which this candidate leads (None: it does not)."""
        self._led = False  # as last logged
        self._elected = asyncio.Event()
        self._deposed = asyncio.Event()

    def leading(self) -> bool:
        return self.until is not None and self.clock() < self.until

    def check(self) -> None:
        """The write guard of the operator's client: raises unless this operator leads now."""
        if not self.leading():
            raise kube_errors.FencedError(f"{self.identity} does not hold Lease {self.namespace}/{self.name}")

    async def wait_leading(self) -> None:
        while not self.leading():
            self._elected.clear()
            await self._elected.wait()

    async def wait_not_leading(self) -> None:
        """Returns at the deadline of the last renewal, or when a try found another holder."""
        while self.leading():
            self._deposed.clear()
            until = self.until if self.until is not None else self.clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deposed.wait(), max(until - self.clock(), 0.0))

    async def run(self) -> None:
        """Try for the Lease every retry period, until cancelled."""
        log.info("candidate %s for Lease %s/%s", self.identity, self.namespace, self.name)
        while True:
            try:
                await self.try_once()
            except Exception:  # a bug: logged, and the next try goes on (leading lapses meanwhile)
                log.exception("leader election try failed")
            await asyncio.sleep(self.timing.retry_seconds)

    async def try_once(self) -> None:
        """Read the Lease, then take it, renew it, or wait, as :func:`election.decide` says."""
        started = self.clock()
        try:
            found = await self.leases.read(self.namespace, self.name)
        except kube_errors.KubeError as exc:
            log.warning("cannot read Lease %s/%s: %s", self.namespace, self.name, exc)
            self._note()
            return
        decision = election.decide(
            election.parse(found), self.memory, self.identity, self.timing, started, self.wall()
        )
        self.memory = decision.memory
        if decision.action == "wait" or decision.record is None:
            self.until = None  # another holds it: stop acting at once, whatever the deadline said
            self._deposed.set()
            self._note(decision.holder)
            return
        lease = election.manifest(self.name, self.namespace, decision.record, decision.resource_version)
        try:
            if decision.action == "create":
                await self.leases.create(lease)
            else:
                await self.leases.update(lease)
        except (LeaseConflictError, kube_errors.KubeError) as exc:
            log.info("Lease %s/%s not written: %s", self.namespace, self.name, exc)
            self._note()
            return
        self.memory = election.written(decision, self.clock())
        self.until = election.leading_until(started, self.timing)
        self._elected.set()
        self._note()

    async def release(self) -> None:
        """Stop acting, then hand the Lease back (no holder, one second) so that another candidate
        takes it at its next try instead of after a lease duration."""
        self.until = None
        self._deposed.set()
        self._note()
        try:
            found = election.parse(await self.leases.read(self.namespace, self.name))
            record = None if found is None else election.released(found, self.identity, self.wall())
            if found is not None and record is not None:
                await self.leases.update(
                    election.manifest(self.name, self.namespace, record, found.resource_version)
                )
                log.info("released Lease %s/%s", self.namespace, self.name)
        except (LeaseConflictError, kube_errors.KubeError) as exc:
            log.warning("Lease %s/%s not released (it expires by itself): %s", self.namespace, self.name, exc)

    def _note(self, holder: str = "") -> None:
        """Log a change of leadership once."""
        leading = self.leading()
        if leading and not self._led:
            log.info("leading: %s holds Lease %s/%s", self.identity, self.namespace, self.name)
        elif self._led and not leading:
            held = f" ({holder} holds the Lease)" if holder else ""
            log.warning("no longer leading%s: stopped acting", held)
        self._led = leading
