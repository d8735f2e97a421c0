"""When passes run: a burst of child events shares one, the resync timer counts from the last one.

The pass itself (`reconcile._reconcile`) and the API read are replaced by fakes
that count; the scheduling around them is the operator's own.
"""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from qwenops.controller import reconcile
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube

CONFIG = OperatorConfig(resync_seconds=30, coalesce_seconds=0.05, metrics_port=0)
NS, NAME = "llm", "chat"


class FakePasses:
    """Stands in for one pass; `gate` (when set) holds each pass until it is opened."""

    def __init__(self) -> None:
        self.count = 0
        self.requeue: timedelta | None = None
        self.gate: asyncio.Event | None = None
        self.exists = True

    async def get(self, resource: kube.Resource, namespace: str, name: str) -> dict[str, Any] | None:
        return {"metadata": {"namespace": namespace, "name": name}} if self.exists else None

    async def run(self, body: Any, config: Any, reader: Any, now: Any) -> timedelta | None:
        self.count += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.requeue


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePasses]:
    fake = FakePasses()
    monkeypatch.setattr(kube, "get", fake.get)
    monkeypatch.setattr(reconcile, "_reconcile", fake.run)
    yield fake
    reconcile.forget(NS, NAME)


async def never_read(*_: Any) -> Any:
    raise AssertionError("no analysis in these tests")


async def poke() -> None:
    await reconcile.poke(NS, NAME, CONFIG, never_read)


async def test_a_burst_of_child_events_shares_one_pass(passes: FakePasses) -> None:
    await asyncio.gather(*(poke() for _ in range(10)))
    assert passes.count == 1


async def test_an_event_during_a_pass_gets_a_pass_of_its_own(passes: FakePasses) -> None:
    passes.gate = asyncio.Event()
    first = asyncio.create_task(poke())
    while passes.count == 0:  # the first pass has read the object: what changes now, it did not see
        await asyncio.sleep(0.01)
    second = asyncio.create_task(poke())
    third = asyncio.create_task(poke())  # rides along with the second
    await asyncio.sleep(0.1)
    passes.gate.set()
    await asyncio.gather(first, second, third)
    assert passes.count == 2


async def test_a_cancelled_poke_does_not_swallow_later_events(passes: FakePasses) -> None:
    waiting = asyncio.create_task(poke())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await poke()
    assert passes.count == 1


async def test_the_resync_counts_from_the_last_pass_whatever_started_it(passes: FakePasses) -> None:
    wait, _ = reconcile.when_due(NS, NAME)
    assert wait <= 0  # never looked at: due now
    await poke()
    wait, _ = reconcile.when_due(NS, NAME)
    assert 29 < wait <= 30
    assert await reconcile.reconcile(NS, NAME, CONFIG, never_read, when_due=True) is None
    assert passes.count == 1  # the resync timer's pass found it not due: nothing read


async def test_a_sooner_look_wakes_the_resync_timer(passes: FakePasses) -> None:
    await poke()
    wait, sooner = reconcile.when_due(NS, NAME)
    assert wait > 29 and not sooner.is_set()
    passes.requeue = timedelta(seconds=2)  # e.g. a step's pause ends in 2 s
    await poke()
    assert sooner.is_set()
    wait, _ = reconcile.when_due(NS, NAME)
    assert 1 < wait <= 2


async def test_a_failed_or_skipped_resync_pass_waits_a_resync_interval(passes: FakePasses) -> None:
    reconcile.defer_if_due(NS, NAME, CONFIG)  # e.g. the pass raised before it could say
    wait, _ = reconcile.when_due(NS, NAME)
    assert 29 < wait <= 30


async def test_an_event_of_an_orphan_leaves_nothing_behind(passes: FakePasses) -> None:
    passes.exists = False
    await poke()
    assert (NS, NAME) not in reconcile._tracked
