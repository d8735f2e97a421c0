"""Fault drills of the API server, the operator's clock and Prometheus' series, beside test_drills.py:

1. sustained 429 Too Many Requests with `Retry-After`: the operator waits as long as it is told
   before it asks again, and the rollout goes on once the API server takes requests;
2. writes the API server committed whose answers were lost with their connections: the next
   pass reads what was stored and goes on, no duplicate, no conflict;
3. the operator's clock 30 s ahead of the API server's: pauses still last as declared;
4. the canary's series missing for longer than a whole pause: every reading is Inconclusive and
   the canary holds its step; it never advances on no data.

The stage and the timeline's invariants are tests/integration/drills.py; the faults are
qwenops_testing.faults and qwenops_testing.prometheus_stand_in.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import pytest

from qwenops_testing.faults import verb_of
from tests.integration.drills import (
    CANARY,
    NAME,
    NS,
    REPLICAS,
    STABLE_COMMIT,
    Drill,
    DrillOperator,
    drill_stage,
    manifest,
    violations,
    writes_by,
)

pytestmark = pytest.mark.integration

CANARY_DEPLOYMENT = f"{NAME}-{CANARY}"
QWD_PATH = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments/{NAME}"


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[Drill]:
    async with drill_stage(tmp_path) as stage:
        yield stage


async def promoted_once(drill: Drill) -> dict[str, Any]:
    status = await drill.promoted(timeout=60)
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "Promoted")]
    await drill.until(lambda: "Promoted" in drill.events(), "the Promoted event")
    await asyncio.sleep(1)  # a pass or two after: none does anything twice
    assert drill.events().count("Promoted") == 1 and "RolledBack" not in drill.events()
    assert violations(drill.timeline) == [], drill.logs()
    return status


# -- 1. sustained 429 with Retry-After ------------------------------------------------------------

RETRY_AFTER = 2
THROTTLED = 7.0


async def test_sustained_429_with_retry_after_is_waited_out_then_the_rollout_goes_on(drill: Drill) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    await drill.start_canary()
    await drill.until(lambda: "stepStartedAt" in drill.canary(), "the first step started")
    asked: list[tuple[float, str, str]] = []

    def record(request: kmock.Request) -> bool:
        asked.append((time.monotonic(), verb_of(request), request.url.path))
        return True

    verbs = {"get", "list", "create", "patch", "update", "delete"}
    rule = drill.faults.fail(429, verbs=verbs, retry_after=RETRY_AFTER, seconds=THROTTLED, match=record)
    await asyncio.sleep(THROTTLED)
    assert rule.hits, "the throttling never answered a request"

    # The operator's passes start with a read of the QwenDeployment: after a 429 saying "retry
    # after 2s", the next one comes no sooner. (Without it, one a second: the resync interval.)
    reads = [at for at, verb, path in asked if verb == "get" and path == QWD_PATH]
    assert len(reads) >= 2, asked
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    assert min(gaps) >= RETRY_AFTER - 0.2, f"asked again {min(gaps):.2f}s after a 429 saying {RETRY_AFTER}s"
    # Nothing hammers: every request the operator sent over the whole spell, kopf's own included
    # (its events and patches, each waiting as told too), at most one per Retry-After per stream.
    streams = 3
    assert len(asked) <= streams * (THROTTLED / RETRY_AFTER + 1), f"{len(asked)} requests: {asked}"
    await promoted_once(drill)


# -- 2. a committed write whose answer was lost --------------------------------------------------


def _creates(name: str) -> Callable[[kmock.Request], bool]:
    return lambda request: isinstance(request.data, dict) and request.data["metadata"].get("name") == name


def _starts_a_step(request: kmock.Request) -> bool:
    body = request.data if isinstance(request.data, dict) else {}
    return "stepStartedAt" in ((body.get("status") or {}).get("canary") or {})


def _scales(name: str, replicas: int) -> Callable[[kmock.Request], bool]:
    def match(request: kmock.Request) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return request.name == name and (body.get("spec") or {}).get("replicas") == replicas

    return match


async def test_writes_committed_whose_answers_were_lost_converge_once(drill: Drill) -> None:
    """The canary Deployment's create, the status write that starts the first step, and the
    promotion's scale-up each commit and lose their answer: the operator's client sees a broken
    connection, the store holds the write. The next pass finds it there: no second create, no
    409 it cannot get out of, no step started twice, the promotion recorded once."""
    await drill.start_operator()
    await drill.serve_stable()
    lost = [
        drill.faults.lose_answers(verbs={"create"}, resource="apps/v1/deployments",
                                  match=_creates(CANARY_DEPLOYMENT), times=1),
        drill.faults.lose_answers(verbs={"patch"}, resource="qwenops.io/v1alpha1/qwendeployments",
                                  subresource="status", match=_starts_a_step, times=1),
        drill.faults.lose_answers(verbs={"patch"}, resource="apps/v1/deployments",
                                  match=_scales(CANARY_DEPLOYMENT, REPLICAS), times=1),
    ]  # fmt: skip
    since = drill.emulator.request_count
    await drill.start_canary()
    await promoted_once(drill)
    assert all(rule.hits == 1 for rule in lost), [rule.hits for rule in lost]

    creates = [
        w for w in writes_by(drill.emulator, since)
        if w.method == "POST" and isinstance(w.body, dict) and w.body["metadata"].get("name") == CANARY_DEPLOYMENT
    ]  # fmt: skip
    assert len(creates) == 1, f"the canary's Deployment created {len(creates)} times"
    conflicts = [
        change.rv for change in drill.timeline.ordered("QwenDeployment")
        if any(c["type"] == "ChildConflict" and c["status"] == "True"
               for c in (change.obj.get("status") or {}).get("conditions") or [])
    ]  # fmt: skip
    assert conflicts == [], "its own Deployment, created by the lost write, taken for another owner's"
    starts = {
        (canary["step"], canary["stepStartedAt"])
        for change in drill.timeline.ordered("QwenDeployment")
        if "stepStartedAt" in (canary := (change.obj.get("status") or {}).get("canary") or {})
    }
    assert len(starts) == len({step for step, _ in starts}), f"a step started twice: {sorted(starts)}"


# -- 3. the operator's clock ahead of the API server's --------------------------------------------

SKEW = 30.0
PAUSE = 4.0


class SkewedOperator(DrillOperator):
    """The operator with its passes' clock SKEW seconds ahead (qwenops_testing.skewed_clock)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "qwenops_testing.skewed_clock", str(SKEW), "run", "-A", "--standalone"]


async def test_an_operator_clock_30s_ahead_still_keeps_each_pause(drill: Drill, tmp_path: Path) -> None:
    operator = SkewedOperator(drill.emulator.url, tmp_path, "skewed")
    await operator.start()
    drill.operators.append(operator)
    paused = manifest(STABLE_COMMIT, drill.prometheus.url)
    paused["spec"]["rollout"]["steps"] = [{"weight": 25, "pause": f"{PAUSE:.0f}s"},
                                          {"weight": 40, "pause": f"{PAUSE:.0f}s"}]  # fmt: skip
    await drill.client.apply_qwd(paused)
    await drill.until(lambda: drill.status().get("phase") == "Healthy", "the stable revision Healthy")
    await drill.start_canary()

    seen: dict[str, float] = {}

    def at(what: str, check: Callable[[], bool]) -> Callable[[], bool]:
        def poll() -> bool:
            if check():
                seen.setdefault(what, time.monotonic())
            return what in seen

        return poll

    await drill.until(at("step 1", lambda: "stepStartedAt" in drill.canary()), "the first step started")
    started = datetime.fromisoformat(drill.canary()["stepStartedAt"])
    ahead = (started - datetime.now(UTC)).total_seconds()
    assert SKEW - 5 < ahead <= SKEW + 1, f"the operator's clock is {ahead:.1f}s ahead, not {SKEW}s"
    await drill.until(at("step 2", lambda: drill.canary().get("step") == 1), "the second step")
    await drill.until(at("promoting", lambda: bool(drill.canary().get("promoting")) or not drill.canary()),
                      "the promotion")  # fmt: skip
    first, second = seen["step 2"] - seen["step 1"], seen["promoting"] - seen["step 2"]
    # Step 2 starts as step 1 ends: each pause is measured on the operator's clock against itself.
    assert first >= PAUSE - 0.3, f"the first {PAUSE}s pause ended after {first:.1f}s"
    assert second >= PAUSE - 0.3, f"the second {PAUSE}s pause ended after {second:.1f}s"
    await promoted_once(drill)


# -- 4. the canary's series missing for longer than a pause ---------------------------------------


async def test_series_missing_for_longer_than_a_pause_hold_the_step_inconclusive(drill: Drill) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    drill.prometheus.missing.add(CANARY)  # its pods' series are nowhere: scraped by no one
    await drill.start_canary()
    await drill.until(lambda: "stepStartedAt" in drill.canary(), "the first step started")
    first = drill.canary()
    readings: set[str] = set()

    def read() -> bool:
        analysis = drill.status().get("analysis") or {}
        if analysis.get("at", "") > first["stepStartedAt"]:
            readings.add(analysis["at"])
            assert analysis["verdict"] == "Inconclusive", analysis
        return len(readings) >= 3

    await drill.until(read, "three readings of the step")
    await asyncio.sleep(2)  # two pauses' worth more, and its readings
    status, canary = drill.status(), drill.canary()
    assert status["phase"] == "Progressing" and not status.get("history"), status
    assert (canary["step"], canary["weight"], canary["stepStartedAt"]) == (
        first["step"], first["weight"], first["stepStartedAt"]
    ), canary  # fmt: skip
    assert status["analysis"]["verdict"] == "Inconclusive", status["analysis"]
    held = drill.condition("AnalysisInconclusive")
    assert (held["status"], held["reason"]) == ("True", "ReadingInconclusive"), held

    drill.prometheus.missing.clear()
    await promoted_once(drill)
