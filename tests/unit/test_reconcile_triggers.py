"""When passes run: a burst of child events shares one, the resync loop looks at each object it was
told of once a resync interval passed since the last pass, sooner when a pass asked.

The pass itself (a `Triggers`' `run_pass`) is replaced by a fake that counts, and the API by an
in-memory one (tests/unit/fake_kube.py); the scheduling around them is the operator's own.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from qwenops.controller.config import OperatorConfig
from qwenops.controller.triggers import Triggers
from qwenops.io import kube_errors
from tests.unit.fake_kube import FakeKube

CONFIG = OperatorConfig(
    resync_seconds=30, first_look_seconds=0.05, min_requeue_seconds=0.05, coalesce_seconds=0.05, metrics_port=0
)
NS, NAME = "llm", "chat"


class FakePasses:
    """Stands in for one pass; `gate` (when set) holds each pass until it is opened, `gates` the
    passes of one object; `fail` makes each pass raise."""

    def __init__(self) -> None:
        self.count = 0
        self.of: Counter[str] = Counter()
        self.ended = 0
        self.requeue: timedelta | None = None
        self.gate: asyncio.Event | None = None
        self.gates: dict[str, asyncio.Event] = {}
        self.fail = False

    async def run(self, client: Any, body: Any, config: Any, reader: Any, now: Any) -> timedelta | None:
        name = body["metadata"]["name"]
        self.count += 1
        self.of[name] += 1
        try:
            for gate in (self.gate, self.gates.get(name)):
                if gate is not None:
                    await gate.wait()
            if self.fail:
                raise RuntimeError("the pass failed")
            return self.requeue
        finally:
            self.ended += 1


async def never_read(*_: Any) -> Any:
    raise AssertionError("no analysis in these tests")


def qwd(name: str = NAME) -> dict[str, Any]:
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"namespace": NS, "name": name},
    }


async def until(check: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Await a condition (the loop runs in the background), failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)
    assert check(), what


def resync_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "resync" and not task.done()]


@asynccontextmanager
async def resync_loop(triggers: Triggers) -> AsyncIterator[None]:
    """The operator-wide resync loop, running for the test's block, then stopped as at exit."""
    triggers.start_resync()
    try:
        yield
    finally:
        await triggers.stop_resync()
        assert resync_tasks() == []


@pytest.fixture
def passes() -> FakePasses:
    return FakePasses()


@pytest.fixture
def triggers(passes: FakePasses) -> Triggers:
    return Triggers(FakeKube(qwd()), CONFIG, never_read, run_pass=passes.run)


async def poke(triggers: Triggers) -> None:
    await triggers.poke(NS, NAME)


async def test_a_burst_of_child_events_shares_one_pass(triggers: Triggers, passes: FakePasses) -> None:
    await asyncio.gather(*(poke(triggers) for _ in range(10)))
    assert passes.count == 1


async def test_an_event_during_a_pass_gets_a_pass_of_its_own(triggers: Triggers, passes: FakePasses) -> None:
    passes.gate = asyncio.Event()
    first = asyncio.create_task(poke(triggers))
    while passes.count == 0:  # the first pass has read the object: what changes now, it did not see
        await asyncio.sleep(0.01)
    second = asyncio.create_task(poke(triggers))
    third = asyncio.create_task(poke(triggers))  # rides along with the second
    await asyncio.sleep(0.1)
    passes.gate.set()
    await asyncio.gather(first, second, third)
    assert passes.count == 2


async def test_a_cancelled_poke_does_not_swallow_later_events(triggers: Triggers, passes: FakePasses) -> None:
    waiting = asyncio.create_task(poke(triggers))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await poke(triggers)
    assert passes.count == 1


async def test_the_resync_counts_from_the_last_pass_whatever_started_it(
    triggers: Triggers, passes: FakePasses
) -> None:
    assert triggers.when_due(NS, NAME) <= 0  # never looked at: due now
    await poke(triggers)
    assert 29 < triggers.when_due(NS, NAME) <= 30
    assert await triggers.reconcile(NS, NAME, when_due=True) is None
    assert passes.count == 1  # the resync loop's pass found it not due: nothing read


async def test_the_loop_looks_at_an_object_it_was_told_of_then_a_resync_interval_later(
    triggers: Triggers, passes: FakePasses
) -> None:
    triggers.register(NS, NAME)
    assert 0 < triggers.when_due(NS, NAME) <= CONFIG.first_look_seconds  # the handlers' pass comes first
    async with resync_loop(triggers):
        await until(lambda: passes.count == 1, "the first resync pass")
        await until(lambda: triggers.when_due(NS, NAME) > 29, "the next one a resync interval later")


async def test_a_sooner_look_wakes_the_resync_loop(triggers: Triggers, passes: FakePasses) -> None:
    triggers.register(NS, NAME)
    async with resync_loop(triggers):
        await until(lambda: triggers.when_due(NS, NAME) > 29, "looked at: the loop sleeps 30 s")
        passes.requeue = timedelta(seconds=0.1)  # e.g. a step's pause ends in 0.1 s
        await poke(triggers)
        await until(lambda: passes.count >= 3, "a pass 0.1 s later, not 30 s")


async def test_a_failed_resync_pass_waits_a_resync_interval(triggers: Triggers, passes: FakePasses) -> None:
    passes.fail = True
    triggers.register(NS, NAME)
    async with resync_loop(triggers):
        await until(lambda: passes.ended == 1, "the first resync pass")
        await until(lambda: triggers.when_due(NS, NAME) > 29, "the next one a resync interval later")
        assert passes.count == 1  # never in a tight loop


async def test_a_forgotten_object_is_not_looked_at_again(triggers: Triggers, passes: FakePasses) -> None:
    """Forgotten (its deletion seen) while its resync pass runs: nothing brings it back."""
    passes.gate = asyncio.Event()
    triggers.register(NS, NAME)
    async with resync_loop(triggers):
        await until(lambda: passes.count == 1, "the resync pass started")
        triggers.forget(NS, NAME)
        passes.gate.set()
        await until(lambda: passes.ended == 1, "the resync pass ended")
        await asyncio.sleep(0)
        assert not triggers.tracks(NS, NAME)


async def test_one_objects_pass_does_not_hold_back_anothers(passes: FakePasses) -> None:
    triggers = Triggers(FakeKube(qwd("chat"), qwd("code")), CONFIG, never_read, run_pass=passes.run)
    passes.gates["chat"] = asyncio.Event()  # chat's pass hangs (a slow API, a slow Prometheus)
    triggers.register(NS, "chat")
    triggers.register(NS, "code")
    async with resync_loop(triggers):
        await until(lambda: passes.of["code"] == 1, "code's pass while chat's waits")
        assert passes.ended == 1


async def test_the_loop_runs_once_and_not_again_once_stopped(triggers: Triggers) -> None:
    async with resync_loop(triggers):
        triggers.start_resync()  # every QwenDeployment event starts it: one loop
        assert len(resync_tasks()) == 1
    triggers.start_resync()  # an event handled while the operator exits
    assert resync_tasks() == []


class Switch:
    """Leadership as a test sets it: a follower until `lead()`."""

    def __init__(self) -> None:
        self.led = False
        self.elected = asyncio.Event()
        self.deposed = asyncio.Event()

    def leading(self) -> bool:
        return self.led

    async def wait_leading(self) -> None:
        while not self.led:
            self.elected.clear()
            await self.elected.wait()

    async def wait_not_leading(self) -> None:
        while self.led:
            self.deposed.clear()
            await self.deposed.wait()

    def lead(self, led: bool = True) -> None:
        self.led = led
        (self.elected if led else self.deposed).set()


async def test_a_follower_runs_no_pass_and_a_new_leader_looks_at_everything_at_once(
    passes: FakePasses,
) -> None:
    leadership = Switch()
    triggers = Triggers(FakeKube(qwd()), CONFIG, never_read, run_pass=passes.run, leadership=leadership)
    triggers.register(NS, NAME)
    async with resync_loop(triggers):
        await asyncio.sleep(5 * CONFIG.first_look_seconds)  # due long ago, and nothing may happen
        assert await triggers.reconcile(NS, NAME) is None  # kopf's handlers: nothing either
        await poke(triggers)
        assert passes.count == 0
        leadership.lead()
        await until(lambda: passes.count == 1, "the pass once leading")
        assert triggers.when_due(NS, NAME) > CONFIG.resync_seconds / 2  # not due for a resync
        leadership.lead(False)
        await poke(triggers)
        await asyncio.sleep(0.01)
        leadership.lead()  # led again (taken back after another held it): what it knew is stale
        await until(lambda: passes.count == 2, "a pass at once, though no resync was due")


async def test_a_pass_fenced_half_way_ends_quietly(passes: FakePasses) -> None:
    """The client's guard stopped a write: the pass ends, and no retry of kopf's is asked for."""

    async def fenced(*_: Any) -> timedelta | None:
        raise kube_errors.FencedError("not leading")

    triggers = Triggers(FakeKube(qwd()), CONFIG, never_read, run_pass=fenced)
    assert await triggers.reconcile(NS, NAME) is None


async def test_stopping_the_loop_stops_its_passes(triggers: Triggers, passes: FakePasses) -> None:
    passes.gate = asyncio.Event()  # never opened
    triggers.register(NS, NAME)
    async with resync_loop(triggers):
        await until(lambda: passes.count == 1, "the resync pass started")
    assert passes.ended == 1  # cancelled with the loop, not left running


async def test_an_event_of_an_orphan_leaves_nothing_behind(passes: FakePasses) -> None:
    triggers = Triggers(FakeKube(), CONFIG, never_read, run_pass=passes.run)  # the object is gone
    await poke(triggers)
    assert passes.count == 0
    assert not triggers.tracks(NS, NAME)


async def test_each_triggers_keeps_its_own_objects(passes: FakePasses) -> None:
    """What is kept per object belongs to one Triggers (one operator's wiring), not the module."""
    one = Triggers(FakeKube(qwd()), CONFIG, never_read, run_pass=passes.run)
    other = Triggers(FakeKube(qwd()), CONFIG, never_read, run_pass=passes.run)
    await poke(one)
    assert one.tracks(NS, NAME) and not other.tracks(NS, NAME)
    assert other.when_due(NS, NAME) <= 0
