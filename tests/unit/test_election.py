"""Leader election on a Lease, decided (qwenops.controller.election): acquire, renew, wait or take
over, as client-go's leaderelection does, with expiry measured on the candidate's monotonic clock
from when it observed the record, never by the Lease's own times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from qwenops.controller.election import (
    Lease,
    Memory,
    Record,
    Timing,
    decide,
    leading_until,
    manifest,
    micro_time,
    parse,
    released,
)

TIMING = Timing(lease_seconds=15, renew_deadline_seconds=10, retry_seconds=2)
ME, OTHER = "qwenops-7d9f_1a2b", "qwenops-5c4e_9f8e"
WALL = datetime(2026, 12, 2, 16, 0, 0, 123456, tzinfo=UTC)
STAMP = "2026-12-02T16:00:00.123456Z"
OLD = "2026-12-02T15:00:00.000000Z"  # an hour ago by our clock: says nothing about expiry

HELD = Record(OTHER, 15, OLD, OLD, 3)
MINE = Record(ME, 15, OLD, OLD, 3)
FREE = Record("", 1, OLD, OLD, 3)  # released by its last holder


@dataclass(frozen=True)
class Case:
    why: str
    observed: Record | None
    memory: Memory
    now: float
    action: str
    record: Record | None = None


CASES = [
    Case("no Lease: create it, holding it", None, Memory(), 100.0, "create", Record(ME, 15, STAMP, STAMP, 0)),
    Case("another's, first seen now: wait, however old its renewTime", HELD, Memory(), 100.0, "wait"),
    Case("another's, unchanged for less than its duration: wait", HELD, Memory(HELD, 90.0), 104.9, "wait"),
    Case(
        "another's, unchanged for its whole duration on our clock: take it over",
        HELD, Memory(HELD, 90.0), 105.0, "update", Record(ME, 15, STAMP, STAMP, 4),
    ),
    Case(
        "another's, renewed since we last looked: its duration runs again from now",
        HELD, Memory(Record(OTHER, 15, OLD, "2026-12-02T14:59:58.000000Z", 3), 0.0), 100.0, "wait",
    ),
    Case(
        "another's, with a longer duration of its own: that one counts",
        Record(OTHER, 60, OLD, OLD, 3), Memory(Record(OTHER, 60, OLD, OLD, 3), 50.0), 100.0, "wait",
    ),
    Case("ours: renew, keeping acquireTime and transitions", MINE, Memory(MINE, 99.0), 100.0, "update",
         Record(ME, 15, OLD, STAMP, 3)),
    Case("ours, though not seen before (a lost answer): renew", MINE, Memory(), 100.0, "update",
         Record(ME, 15, OLD, STAMP, 3)),
    Case("released (no holder): take it at once", FREE, Memory(), 100.0, "update",
         Record(ME, 15, STAMP, STAMP, 4)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_decide(case: Case) -> None:
    observed = None if case.observed is None else Lease(case.observed, "41")
    decision = decide(observed, case.memory, ME, TIMING, case.now, WALL)
    assert decision.action == case.action
    assert decision.record == case.record
    if case.action == "update":
        assert decision.resource_version == "41"  # conditional on the version read
    if case.action == "wait":
        assert decision.holder == OTHER


def test_the_memory_follows_the_observed_record() -> None:
    """Expiry counts from when the candidate first saw a record, whatever the Lease's clock says."""
    lease = Lease(HELD, "41")
    first = decide(lease, Memory(), ME, TIMING, 100.0, WALL)
    assert first.memory == Memory(HELD, 100.0)
    again = decide(lease, first.memory, ME, TIMING, 110.0, WALL)
    assert again.memory == Memory(HELD, 100.0) and again.action == "wait"
    renewed = Lease(Record(OTHER, 15, OLD, "2026-12-02T15:00:10.000000Z", 3), "42")
    later = decide(renewed, again.memory, ME, TIMING, 114.0, WALL)
    assert later.memory == Memory(renewed.record, 114.0) and later.action == "wait"
    assert decide(renewed, later.memory, ME, TIMING, 129.0, WALL).action == "update"


@pytest.mark.parametrize("skew", [timedelta(hours=-3), timedelta(0), timedelta(days=400)])
def test_the_wall_clock_never_decides(skew: timedelta) -> None:
    """However far the operator's clock is from the API server's, the same observations decide alike."""
    for case in CASES:
        observed = None if case.observed is None else Lease(case.observed, "41")
        assert decide(observed, case.memory, ME, TIMING, case.now, WALL + skew).action == case.action


def test_a_leader_acts_until_a_renew_deadline_after_its_last_renewal_started() -> None:
    assert leading_until(None, TIMING) is None
    assert leading_until(100.0, TIMING) == 110.0
    # it stops before any other candidate may take over: they wait a whole lease duration from
    # when they saw the renewal, which was after it started
    assert TIMING.renew_deadline_seconds < TIMING.lease_seconds


@pytest.mark.parametrize(("lease", "deadline", "retry"), [(15, 15, 2), (15, 10, 10), (15, 10, 0), (5, 10, 2)])
def test_timing_that_cannot_work_is_refused(lease: int, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        Timing(lease, deadline, retry)


def test_release_hands_back_only_our_own_lease() -> None:
    assert released(Lease(HELD, "41"), ME, WALL) is None
    assert released(Lease(MINE, "41"), ME, WALL) == Record("", 1, OLD, STAMP, 3)


def test_the_lease_object_round_trips() -> None:
    record = Record(ME, 15, STAMP, STAMP, 2)
    body = manifest("qwenops", "ops", record, "7")
    assert body["apiVersion"] == "coordination.k8s.io/v1" and body["kind"] == "Lease"
    assert body["metadata"] == {"name": "qwenops", "namespace": "ops", "resourceVersion": "7"}
    assert body["spec"] == {"holderIdentity": ME, "leaseDurationSeconds": 15, "leaseTransitions": 2,
                            "acquireTime": STAMP, "renewTime": STAMP}  # fmt: skip
    assert parse(body) == Lease(record, "7")
    assert "resourceVersion" not in manifest("qwenops", "ops", record)["metadata"]  # a create
    assert parse(None) is None
    bare = {"metadata": {"resourceVersion": "3"}, "spec": {}}  # as `kubectl create` could leave it
    assert parse(bare) == Lease(Record(), "3")
    assert micro_time(WALL) == STAMP
