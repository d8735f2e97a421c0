"""When passes run: a burst of child events shares one, the resync timer counts from the last one.

The pass itself (a `Triggers`' `run_pass`) is replaced by a fake that counts, and the API by an
in-memory one (tests/unit/fake_kube.py); the scheduling around them is the operator's own.
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from qwenops.controller.config import OperatorConfig
from qwenops.controller.triggers import Triggers
from tests.unit.fake_kube import FakeKube

CONFIG = OperatorConfig(resync_seconds=30, coalesce_seconds=0.05, metrics_port=0)
NS, NAME = "llm", "chat"


class FakePasses:
    """Stands in for one pass; `gate` (when set) holds each pass until it is opened."""

    def __init__(self) -> None:
        self.count = 0
        self.requeue: timedelta | None = None
        self.gate: asyncio.Event | None = None

    async def run(self, client: Any, body: Any, config: Any, reader: Any, now: Any) -> timedelta | None:
        self.count += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.requeue


async def never_read(*_: Any) -> Any:
    raise AssertionError("no analysis in these tests")


def qwd() -> dict[str, Any]:
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"namespace": NS, "name": NAME},
    }


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
    wait, _ = triggers.when_due(NS, NAME)
    assert wait <= 0  # never looked at: due now
    await poke(triggers)
    wait, _ = triggers.when_due(NS, NAME)
    assert 29 < wait <= 30
    assert await triggers.reconcile(NS, NAME, when_due=True) is None
    assert passes.count == 1  # the resync timer's pass found it not due: nothing read


async def test_a_sooner_look_wakes_the_resync_timer(triggers: Triggers, passes: FakePasses) -> None:
    await poke(triggers)
    wait, sooner = triggers.when_due(NS, NAME)
    assert wait > 29 and not sooner.is_set()
    passes.requeue = timedelta(seconds=2)  # e.g. a step's pause ends in 2 s
    await poke(triggers)
    assert sooner.is_set()
    wait, _ = triggers.when_due(NS, NAME)
    assert 1 < wait <= 2


async def test_a_failed_or_skipped_resync_pass_waits_a_resync_interval(triggers: Triggers) -> None:
    triggers.defer_if_due(NS, NAME)  # e.g. the pass raised before it could say
    wait, _ = triggers.when_due(NS, NAME)
    assert 29 < wait <= 30


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
    wait, _ = other.when_due(NS, NAME)
    assert wait <= 0
