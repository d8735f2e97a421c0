"""Two operators at once, elected on a Lease as the chart runs them (`qwenops run -A`, no
--standalone): one acts, the other does nothing to the children or the status, and an operator that
lost the Lease (paused mid-pass, or frozen and thawed beside its replacement) writes nothing more.

Who acted is read from the emulator's request log: each operator's kubeconfig carries its identity
as its bearer token (tests/integration/drills.py). The drills tell the leader by what it does, not by
the Lease alone, so that they hold against any way of keeping a second operator from acting.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest

from qwenops_testing.faults import Rule
from qwenops_testing.prometheus_stand_in import Series
from tests.integration.drills import (
    CANARY,
    NAME,
    Drill,
    drill_stage,
    identity_of,
    violations,
    writes_by,
)

pytestmark = pytest.mark.integration

EVERY_VERB = ("get", "list", "watch", "create", "patch", "update", "delete")
CANARY_DEPLOYMENT = f"{NAME}-{CANARY}"


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[Drill]:
    async with drill_stage(tmp_path) as stage:
        yield stage


def _acting(drill: Drill, since: int = 0) -> dict[str, int]:
    """Writes to the children (Deployments, Services) or to the QwenDeployment's status since request
    `since`, by operator. kopf's own bookkeeping (annotations on the QwenDeployment), Events and the
    Lease are left out: every replica's kopf keeps its own."""
    counts: dict[str, int] = {}
    for write in writes_by(drill.emulator, since):
        child = "/deployments" in write.path or "/services" in write.path
        status = "/qwendeployments/" in write.path and write.path.endswith("/status")
        if write.identity and (child or status):
            counts[write.identity] = counts.get(write.identity, 0) + 1
    return counts


def _sent_by(identity: str) -> Callable[[kmock.Request], bool]:
    return lambda request: identity_of(request.headers) == identity


async def _canary_held_in_its_first_step(drill: Drill) -> None:
    """A canary whose readings stay Inconclusive (too few requests): its first step holds, and every
    reading changes the status, so that an operator that acts writes."""
    drill.prometheus.series[CANARY] = Series(requests=5)
    await drill.start_canary()
    await drill.until(lambda: "stepStartedAt" in drill.canary(), "the first step started")


def _requests_of(drill: Drill, identity: str, since: int) -> int:
    """How many requests `identity` sent from request `since` on: it is alive, and looking."""
    return sum(1 for request in list(drill.emulator)[since:] if identity_of(request.headers) == identity)


def _status_writes(drill: Drill, identity: str, since: int) -> int:
    return sum(
        1 for w in writes_by(drill.emulator, since) if w.identity == identity and w.path.endswith("/status")
    )


async def _assert_promoted_once(drill: Drill, status: dict[str, Any]) -> None:
    assert status["stable"]["revision"] == CANARY and "canary" not in status
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "Promoted")]
    await drill.until(lambda: "Promoted" in drill.events(), "the Promoted event posted")  # by kopf, after
    assert drill.events().count("Promoted") == 1
    assert violations(drill.timeline) == [], drill.logs()


async def test_two_operators_at_once_exactly_one_acts(drill: Drill) -> None:
    one = await drill.start_operator("one", elected=True)
    two = await drill.start_operator("two", elected=True)
    await drill.serve_stable()
    await _canary_held_in_its_first_step(drill)
    (leader,) = _acting(drill)  # exactly one wrote a child or the status, from the start
    follower = two if leader == one.identity else one
    reading = drill.emulator.request_count
    await drill.until(lambda: _status_writes(drill, leader, reading) >= 3, "three readings written")
    assert set(_acting(drill)) == {leader}, drill.logs()
    assert drill.lease_holder().startswith(f"{leader}_"), drill.lease_holder()
    assert follower.logged("candidate") and not follower.logged("leading:")
    drill.prometheus.healthy()
    await _assert_promoted_once(drill, await drill.promoted())
    assert set(_acting(drill)) == {leader}, drill.logs()


async def test_a_pass_paused_after_its_first_child_write_stops_once_another_took_over(drill: Drill) -> None:
    """The leader creates the canary's Deployment, and its next request hangs (every request of its
    own, the Lease's renewals too) past the Lease's duration: the other operator takes over. Released,
    the old leader sends no further write; the rollout completes once."""
    one = await drill.start_operator("one", elected=True)
    two = await drill.start_operator("two", elected=True)
    await drill.serve_stable()
    paused: dict[str, Any] = {}

    def pause_its_sender(request: kmock.Request) -> None:
        paused["who"] = who = identity_of(request.headers)
        paused["rule"] = drill.faults.hold(verbs=EVERY_VERB, match=_sent_by(str(who)))

    drill.faults.delay(0, verbs={"create"}, resource="apps/v1/deployments", times=1, effect=pause_its_sender)
    await drill.start_canary()
    await drill.until(lambda: "rule" in paused and paused["rule"].hits > 0, "the leader's next request held")
    held: Rule = paused["rule"]
    created = next(w.index for w in writes_by(drill.emulator) if w.path.endswith("/deployments"))
    old = paused["who"]
    new = two.identity if old == one.identity else one.identity
    await drill.until(
        lambda: _acting(drill, created).get(new, 0) > 0, "the other operator acting", timeout=20
    )
    released = drill.emulator.request_count
    held.release()
    await drill.until(lambda: _requests_of(drill, old, released) >= 10, "the old leader running again")
    await _assert_promoted_once(drill, await drill.promoted())
    assert old not in _acting(drill, released), drill.logs()
    assert drill.lease_holder().startswith(f"{new}_")
    assert (one if old == one.identity else two).logged("no longer leading")
    assert drill.emulator.get_object("apps/v1/deployments", "llm", CANARY_DEPLOYMENT) is not None


async def test_an_evicted_operator_thawed_beside_its_replacement_does_nothing(drill: Drill) -> None:
    """SIGSTOP the acting operator (its node partitioned), start a replacement, SIGCONT the old one."""
    old = await drill.start_operator("old", elected=True)
    await drill.serve_stable()
    await _canary_held_in_its_first_step(drill)
    old.signal(signal.SIGSTOP)
    frozen = drill.emulator.request_count
    new = await drill.start_operator("new", elected=True)
    await drill.until(
        lambda: _status_writes(drill, new.identity, frozen) > 0, "the replacement acting", timeout=20
    )
    thawed = drill.emulator.request_count
    old.signal(signal.SIGCONT)
    await drill.until(lambda: _requests_of(drill, "old", thawed) >= 10, "the old operator running again")
    await drill.until(lambda: _status_writes(drill, new.identity, thawed) >= 3, "three more readings written")
    drill.prometheus.healthy()
    await _assert_promoted_once(drill, await drill.promoted())
    assert set(_acting(drill, thawed)) == {new.identity}, drill.logs()
    assert drill.lease_holder().startswith("new_")
    assert old.logged("no longer leading")
