"""Fault drills: the real operator through the faults a cluster throws at it.

1. the operator SIGKILLed at every state of a rollout, then started again;
2. the API server failing, conflicting, slow, or cutting watch streams;
3. Prometheus down, slow, or answering garbage;
4. two operators that both act (--standalone): what resourceVersions protect; leader election,
   which keeps a second operator from acting at all, is drilled in test_leader_election.py.

Each drill ends in the state the rollout should reach, and `violations` checks the whole
timeline of the QwenDeployment and its Deployments on the way: steps never go backwards, no
revision is promoted or rolled back twice, the stable revision keeps every replica until the
canary has all of its own. The stage is tests/integration/drills.py; the faults, injected
through the emulator's kmock reactions and a Prometheus stand-in, are qwenops_testing.faults and
qwenops_testing.prometheus_stand_in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import kmock
import pytest

from qwenops_testing.cluster import deployments_of
from qwenops_testing.faults import ApiFaults
from qwenops_testing.prometheus_stand_in import Raw, Series
from tests.integration.drills import (
    CANARY,
    CANARY_COMMIT,
    CANARY_WEIGHTS,
    NAME,
    NS,
    REPLICAS,
    STABLE,
    STABLE_COMMIT,
    STEPS,
    Change,
    Drill,
    drill_stage,
    identity_of,
    manifest,
    violations,
    writes_by,
)

pytestmark = pytest.mark.integration

CANARY_DEPLOYMENT = f"{NAME}-{CANARY}"
QWDS_RESOURCE = "qwenops.io/v1alpha1/qwendeployments"


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[Drill]:
    async with drill_stage(tmp_path) as stage:
        yield stage


def assert_promoted(drill: Drill, status: dict[str, Any], *, children: bool = True) -> None:
    """The canary is the stable revision, recorded once, on every replica; nothing else runs."""
    assert status["stable"]["revision"] == CANARY and "canary" not in status
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "Promoted")]
    (deployment,) = deployments_of(drill.emulator, NS, NAME).values()
    assert deployment["spec"]["replicas"] == REPLICAS
    assert deployment["metadata"]["labels"]["qwenops.io/track"] == "stable"
    assert drill.generation_observed()
    assert violations(drill.timeline, children=children) == [], drill.logs()


def assert_rolled_back(drill: Drill, status: dict[str, Any]) -> None:
    """The stable revision serves on every replica; the canary is recorded rejected, once, at 0 pods."""
    assert status["stable"]["revision"] == STABLE and status["rejectedRevision"] == CANARY
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(CANARY, "RolledBack")]
    deployments = deployments_of(drill.emulator, NS, NAME)
    assert deployments[STABLE]["spec"]["replicas"] == REPLICAS
    assert deployments[CANARY]["spec"]["replicas"] == 0
    assert drill.generation_observed()
    assert violations(drill.timeline) == [], drill.logs()


async def settle(drill: Drill, seconds: float = 1.0) -> None:
    """Give a second operator pass the chance to do something twice, should it want to."""
    await asyncio.sleep(seconds)


def weights_seen(drill: Drill) -> set[int]:
    """The canary's weights once its steps' pods were ready, over the whole timeline."""
    return {
        canary["weight"]
        for change in drill.timeline.ordered("QwenDeployment")
        if (canary := (change.obj.get("status") or {}).get("canary") or {}).get("stepStartedAt")
    }


# -- 1. the operator killed at every state of a rollout ---------------------------------------------


def _patches_of(name: str, replicas: int) -> Callable[[kmock.Request], bool]:
    def match(request: kmock.Request) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return request.name == name and (body.get("spec") or {}).get("replicas") == replicas

    return match


def _status_says(phase: str) -> Callable[[kmock.Request], bool]:
    def match(request: kmock.Request) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return (body.get("status") or {}).get("phase") == phase

    return match


@dataclass(frozen=True)
class KillPoint:
    """A state of the rollout, how to hold it there, and how to let it go on."""

    arrange: Callable[[Drill], None]
    """Before the canary starts: what holds it at the state (nothing for a state that passes)."""
    reached: Callable[[Drill], bool]
    """Polled: the operator is SIGKILLed as soon as it says True."""
    release: Callable[[Drill], None]
    """After the new operator started: let the rollout go on."""
    outcome: Literal["Promoted", "RolledBack"] = "Promoted"
    stored: Callable[[Drill], bool] = lambda _drill: True
    """Checked after the kill, once any request the operator had in flight is over: what it left."""


def _nothing(drill: Drill) -> None:
    return None


def _in_step(step: int) -> Callable[[Drill], bool]:
    return lambda drill: drill.canary().get("step") == step and "stepStartedAt" in drill.canary()


def _hold_canary_pods(drill: Drill) -> None:
    drill.emulator.set_deployment_ready(NS, CANARY_DEPLOYMENT, False)


def _release_canary_pods(drill: Drill) -> None:
    drill.emulator.set_deployment_ready(NS, CANARY_DEPLOYMENT, None)


def _hold_full_size(drill: Drill) -> None:
    # The canary's pods stay unready once it is asked for full size: promoting, waiting for them.
    drill.faults.delay(
        0, verbs={"patch"}, resource="apps/v1/deployments", match=_patches_of(CANARY_DEPLOYMENT, REPLICAS),
        times=1, effect=lambda _request: _hold_canary_pods(drill),
    )  # fmt: skip


def _hold_readings(drill: Drill) -> None:
    # Once the first step has started, the next reading's queries hang until released.
    drill.prometheus.hold()


def _reading_in_flight(drill: Drill) -> bool:
    return "stepStartedAt" in drill.canary() and drill.prometheus.arrived.is_set()


def _breach(drill: Drill) -> None:
    drill.prometheus.series[CANARY] = Series(errors=200)  # half the canary's requests fail


HOLD = 1.0


def _breach_and_hold(**rule: Any) -> Callable[[Drill], None]:
    """A canary that breaches its SLOs, and one of the rollback's requests held in the API server:
    the operator is killed while it waits, and the API server drops the request with it."""

    def arrange(drill: Drill) -> None:
        _breach(drill)
        drill.faults.delay(HOLD, times=1, **rule)

    return arrange


def _left(phase: str, canary_pods: int, *, event: bool = False) -> Callable[[Drill], bool]:
    def check(drill: Drill) -> bool:
        pods = deployments_of(drill.emulator, NS, NAME)[CANARY]["spec"]["replicas"]
        posted = "RolledBack" in drill.events()
        return (drill.status().get("phase"), pods, posted) == (phase, canary_pods, event)

    return check


def _held_request_in_flight(drill: Drill) -> bool:
    return any(rule.hits for rule in drill.faults.rules)


def _event_says(reason: str) -> Callable[[kmock.Request], bool]:
    return lambda request: isinstance(request.data, dict) and request.data.get("reason") == reason


KILL_POINTS = {
    "waiting-for-step-pods": KillPoint(
        _hold_canary_pods,
        lambda drill: bool(drill.canary()) and CANARY in deployments_of(drill.emulator, NS, NAME),
        _release_canary_pods,
    ),
    "step-1-pause": KillPoint(_nothing, _in_step(0), _nothing),
    "step-2-pause": KillPoint(_nothing, _in_step(1), _nothing),
    "analysis-in-flight": KillPoint(_hold_readings, _reading_in_flight, lambda drill: drill.prometheus.release()),
    "promoting": KillPoint(
        _hold_full_size, lambda drill: drill.canary().get("promoting") is True, _release_canary_pods
    ),
    # The canary's scale-down to 0 is in flight: nothing of the rollback is stored yet.
    "canary-being-scaled-down": KillPoint(
        _breach_and_hold(verbs={"patch"}, resource="apps/v1/deployments",
                         match=_patches_of(CANARY_DEPLOYMENT, 0)),
        _held_request_in_flight, _nothing, "RolledBack", _left("Progressing", 1),
    ),
    # The canary is at 0 pods; the status saying RolledBack (and the history entry) is in flight.
    "rollback-status-being-written": KillPoint(
        _breach_and_hold(verbs={"patch"}, resource=QWDS_RESOURCE, subresource="status",
                         match=_status_says("RolledBack")),
        _held_request_in_flight, _nothing, "RolledBack", _left("Progressing", 0),
    ),
    # Phase RolledBack is stored; the operator dies before its Warning event is posted.
    "rolled-back-event-unposted": KillPoint(
        _breach_and_hold(verbs={"create"}, resource="v1/events", match=_event_says("RolledBack")),
        _held_request_in_flight, _nothing, "RolledBack", _left("RolledBack", 0),
    ),
}  # fmt: skip


@pytest.mark.parametrize("point", list(KILL_POINTS.values()), ids=list(KILL_POINTS))
async def test_the_operator_killed_at_any_state_resumes_without_duplicates(
    drill: Drill, point: KillPoint
) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    point.arrange(drill)
    await drill.start_canary()
    await drill.until(lambda: point.reached(drill), "the state to kill the operator in")
    await drill.operator.stop(kill=True)
    if any(rule.delay for rule in drill.faults.rules):
        await asyncio.sleep(HOLD + 0.3)  # past the hold: a request dropped with its client stays dropped
    assert point.stored(drill), drill.logs()
    await drill.operator.start()
    point.release(drill)

    if point.outcome == "Promoted":
        await drill.promoted()
        await settle(drill)
        assert_promoted(drill, drill.status())
        assert drill.events().count("Promoted") == 1
        assert set(CANARY_WEIGHTS) <= weights_seen(drill)
    else:
        await drill.rolled_back()
        await settle(drill)
        assert_rolled_back(drill, drill.status())
        # status.history is the record; a Warning event its writer was killed before posting is lost.
        assert drill.events().count("RolledBack") <= 1


REJECTED = "qwenops.io/rejected"


def _canary_deployment_changes(drill: Drill) -> list[Change]:
    return [c for c in drill.timeline.ordered("Deployment") if c.name == CANARY_DEPLOYMENT]


def _undone_since(drill: Drill, rv: int, stale: dict[str, Any]) -> list[str]:
    """What, at any moment after `rv`, undid the rollback: the canary's Deployment above 0
    replicas (with the replica ratio, its share of traffic), or a status naming a canary again
    other than the stale one the lost write left behind."""
    problems = []
    for change in drill.timeline.ordered():
        if change.rv <= rv or change.type == "DELETED":
            continue
        if change.kind == "Deployment" and change.name == CANARY_DEPLOYMENT:
            if (replicas := change.obj["spec"].get("replicas")) != 0:
                problems.append(f"rv {change.rv}: canary Deployment at {replicas} replicas")
        elif change.kind == "QwenDeployment" and change.name == NAME:
            running = (change.obj.get("status") or {}).get("canary")
            if running is not None and running != stale:
                problems.append(f"rv {change.rv}: status names a canary again: {running}")
    return problems


async def test_a_rollback_whose_status_write_is_lost_is_not_undone_by_a_restart(drill: Drill) -> None:
    """The canary is scaled to 0, the RolledBack status write fails, the operator is killed; it
    comes back once the canary has had no traffic for a window (every reading Inconclusive) to a
    status still naming the canary's step. The canary stays at 0 pods throughout, the rollback
    is written down once, and a person's retry still starts it again."""
    await drill.start_operator()
    await drill.serve_stable()
    _breach(drill)
    lost = drill.faults.fail(
        500, verbs={"patch"}, resource=QWDS_RESOURCE, subresource="status", match=_status_says("RolledBack")
    )
    await drill.start_canary()
    await drill.until(lambda: lost.hits > 0, "the RolledBack status write failing")
    await drill.operator.stop(kill=True)
    drill.faults.clear()
    stale = drill.canary()
    assert _left("Progressing", 0)(drill) and "stepStartedAt" in stale, drill.logs()
    await drill.until(
        lambda: any(c.obj["spec"].get("replicas") == 0 for c in _canary_deployment_changes(drill)),
        "the timeline holding the scale-down",
    )
    scaled_down = next(c.rv for c in _canary_deployment_changes(drill) if c.obj["spec"].get("replicas") == 0)

    # No pods since: Prometheus has nothing of the canary in its window. The stand-in answers so.
    drill.prometheus.series[CANARY] = Series(requests=0)
    await drill.operator.start()
    await drill.until(
        lambda: drill.status().get("phase") == "RolledBack" or _undone_since(drill, scaled_down, stale),
        "the rollback written down (or undone)",
    )
    await settle(drill, 3)  # several passes and readings due: none of them undoes it
    assert _undone_since(drill, scaled_down, stale) == [], drill.logs()
    status = drill.status()
    assert_rolled_back(drill, status)
    assert status["history"][0]["reason"].startswith("SLOBreached: ")
    assert drill.events().count("RolledBack") == 1  # the killed operator never got to post it
    mark = json.loads(deployments_of(drill.emulator, NS, NAME)[CANARY]["metadata"]["annotations"][REJECTED])
    assert mark["reason"] == "SLOBreached" and mark["at"] == status["history"][0]["at"]

    # A person's retry starts it again, and the mark goes with the same write.
    await drill.client.patch_qwd(NS, NAME, {"metadata": {"annotations": {"qwenops.io/retry": "1"}}})

    def retried() -> bool:
        deployment = deployments_of(drill.emulator, NS, NAME)[CANARY]
        return deployment["spec"]["replicas"] == 1 and REJECTED not in deployment["metadata"]["annotations"]

    await drill.until(retried, "the canary started again, its mark removed")
    await drill.until(lambda: drill.status().get("phase") == "Progressing", "the status saying so")


# -- 2. the API server failing, conflicting, slow, cutting watches ------------------------------------

SECOND = "chat-2"


def _conflicts(faults: ApiFaults) -> None:
    faults.fail(409, verbs={"patch"}, resource=QWDS_RESOURCE, subresource="status", every=2, times=6)


def _reads_fail(faults: ApiFaults) -> None:
    faults.fail(500, verbs={"get"}, times=6)
    faults.fail(503, verbs={"list"}, times=6)


def _patches_fail(faults: ApiFaults) -> None:
    faults.fail(500, verbs={"patch"}, seconds=3)


def _creates_fail(faults: ApiFaults) -> None:
    """(Apart from 500s on PATCH: while those last, a pass stops at its first write, a status one.)"""
    faults.fail(503, verbs={"create"}, seconds=3)


def _slow(faults: ApiFaults) -> None:
    faults.delay(2.0, verbs={"get", "list", "patch", "create", "delete"}, every=3, seconds=4)


def _watches_cut(faults: ApiFaults) -> None:
    faults.keep_dropping_watches(every=0.5, seconds=3)
    faults.fail(503, verbs={"watch"}, every=2, times=6)


API_FAULTS: dict[str, Callable[[ApiFaults], None]] = {
    "409-on-every-other-status-write": _conflicts,
    "500-on-get-and-503-on-list-6-times-each": _reads_fail,
    "500-on-patch-for-3s": _patches_fail,
    "503-on-post-for-3s": _creates_fail,
    "2s-delay-on-every-3rd-call-for-4s": _slow,
    "watch-streams-cut-every-500ms-and-refused": _watches_cut,
}


@pytest.mark.parametrize("inject", list(API_FAULTS.values()), ids=list(API_FAULTS))
async def test_api_faults_during_a_rollout_a_create_and_an_update_converge(
    drill: Drill, inject: Callable[[ApiFaults], None]
) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    inject(drill.faults)
    await drill.start_canary()
    await drill.client.apply_qwd(manifest(STABLE_COMMIT, drill.prometheus.url, name=SECOND))
    await drill.client.patch_qwd(NS, SECOND, {"spec": {"replicas": 1}})

    await drill.promoted(timeout=60)

    def second_converged() -> bool:
        status = drill.status(SECOND)
        ours = deployments_of(drill.emulator, NS, SECOND).get(STABLE, {})
        return (
            status.get("phase") == "Healthy"
            and drill.generation_observed(SECOND)
            and status.get("observedGeneration") == 2
            and ours.get("spec", {}).get("replicas") == 1
        )

    await drill.until(second_converged, f"{SECOND} created, updated and Healthy", timeout=60)
    assert drill.faults.fired, "the fault never fired"
    drill.faults.clear()
    await settle(drill)
    assert_promoted(drill, drill.status())
    assert drill.events().count("Promoted") == 1


# -- 3. Prometheus down, slow, or answering garbage -------------------------------------------------


def _vector(*samples: str, result_type: str = "vector") -> str:
    result = [{"metric": {"pod": f"p{i}"}, "value": [1.7e9, v]} for i, v in enumerate(samples)]
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


@dataclass(frozen=True)
class Broken:
    """What Prometheus does, what the reading's verdict becomes, what the status says about it."""

    verdict: Literal["Error", "Inconclusive"]
    says: str
    raw: Raw | None = None
    series: Series | None = None


NAN, INF = float("nan"), float("inf")
GARBAGE = {
    "invalid-json": Broken("Error", 'unparsable answer: {"status": "success", "data": {',
                           Raw(200, '{"status": "success", "data": {')),
    "html-login-page": Broken("Error", "unparsable answer: <html><h1>Sign in",
                              Raw(200, "<html><h1>Sign in</h1></html>", "text/html")),
    "html-502": Broken("Error", "HTTP 502: <html><body>502 Bad Gateway",
                       Raw(502, "<html><body>502 Bad Gateway</body></html>", "text/html")),
    "promql-error": Broken("Error", "Prometheus execution (HTTP 422): many-to-many matching", Raw(
        422, json.dumps({"status": "error", "errorType": "execution", "error": "many-to-many matching"}))),
    "no-data-field": Broken("Error", 'unparsable answer: {"status": "success"}', Raw(200, '{"status": "success"}')),
    "series-that-are-strings": Broken("Error", 'unparsable answer: {"status": "success", "data": {"result', Raw(
        200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": ["a", "b"]}}))),
    "nested-100k-deep": Broken("Error", "unparsable answer: [[[[", Raw(200, "[" * 100_000)),
    "a-matrix": Broken("Error", "result type 'matrix'", Raw(200, _vector("1", result_type="matrix"))),
    "several-series": Broken("Error", "2 series where one was expected", Raw(200, _vector("1", "2"))),
    "nan-values": Broken("Inconclusive", "no requests in 10s", series=Series.every(NAN)),
    "inf-values": Broken("Inconclusive", "no requests in 10s", series=Series.every(INF)),
    "negative-values": Broken("Inconclusive", "no requests in 10s", series=Series.every(-1, requests=-400)),
}  # fmt: skip


def _break(drill: Drill, broken: Broken) -> None:
    drill.prometheus.raw = broken.raw
    drill.prometheus.series = {} if broken.series is None else {CANARY: broken.series, STABLE: broken.series}


async def _held_by(drill: Drill, what: str, broken: Broken, first: dict[str, Any]) -> None:
    """A reading taken from now on says what is broken; the canary holds its first step (its
    weight, its start), neither advancing nor rolling back, and the condition says why."""
    since = datetime.now(UTC)

    def read() -> bool:
        analysis = drill.status().get("analysis") or {}
        return (
            "at" in analysis
            and datetime.fromisoformat(analysis["at"]) > since
            and analysis.get("verdict") == broken.verdict
            and broken.says in analysis.get("message", "")
        )

    await drill.until(read, f"a reading {broken.verdict} saying {broken.says!r} ({what})", timeout=30)
    status, canary = drill.status(), drill.canary()
    assert status["phase"] == "Progressing" and "rejectedRevision" not in status, what
    assert (canary["step"], canary["weight"], canary["stepStartedAt"]) == (
        first["step"], first["weight"], first["stepStartedAt"]
    ), what  # fmt: skip
    assert not status.get("history") and "RolledBack" not in drill.events(), what
    held = drill.condition("AnalysisInconclusive")
    assert (held["status"], held["reason"]) == ("True", f"Reading{broken.verdict}"), (what, held)
    assert broken.says in held["message"], (what, held)


async def _first_step(drill: Drill) -> dict[str, Any]:
    await drill.start_canary()
    await drill.until(lambda: "stepStartedAt" in drill.canary(), "the first step's pods ready")
    return drill.canary()


async def _completes(drill: Drill) -> None:
    assert "RolledBack" not in drill.events()
    await drill.promoted()
    await settle(drill, 0.5)
    assert_promoted(drill, drill.status())


DOWN = Broken("Error", "cannot connect to Prometheus at http://127.0.0.1:")
SLOW = Broken("Error", "no answer from Prometheus at http://127.0.0.1:")  # ... within 1s


async def test_prometheus_down_holds_the_canary_until_it_is_back(drill: Drill) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    await drill.prometheus.stop()
    first = await _first_step(drill)
    await _held_by(drill, "down", DOWN, first)
    await _held_by(drill, "still down, the pause over", DOWN, first)
    await drill.prometheus.start()
    await _completes(drill)


async def test_prometheus_slower_than_the_timeout_holds_the_canary(drill: Drill) -> None:
    await drill.start_operator(env={"QWENOPS_PROMETHEUS_TIMEOUT_SECONDS": "1"})
    await drill.serve_stable()
    drill.prometheus.slow = 2.5
    first = await _first_step(drill)
    await _held_by(drill, "slow", SLOW, first)
    await _held_by(drill, "still slow, the pause over", SLOW, first)
    drill.prometheus.healthy()
    await _completes(drill)


async def test_prometheus_answering_garbage_holds_the_canary_whatever_the_garbage(drill: Drill) -> None:
    await drill.start_operator()
    await drill.serve_stable()
    kinds = iter(GARBAGE.items())
    what, broken = next(kinds)
    _break(drill, broken)
    first = await _first_step(drill)
    await _held_by(drill, what, broken, first)
    for what, broken in kinds:  # each kind of garbage in turn, on the same held step
        _break(drill, broken)
        await _held_by(drill, what, broken, first)
    drill.prometheus.healthy()
    await _completes(drill)


# -- 4. two operators at once ---------------------------------------------------------------------

def _sent_by(identity: str) -> Callable[[kmock.Request], bool]:
    return lambda request: identity_of(request.headers) == identity


def _acting(drill: Drill, since: int) -> set[str | None]:
    """Who wrote the QwenDeployment's status or its children since request `since`."""
    return {w.identity for w in writes_by(drill.emulator, since) if "/events" not in w.path and w.identity}


async def test_two_standalone_operators_racing_promote_once(drill: Drill) -> None:
    """What protects correctness when two act anyway: status writes carry the resourceVersion read,
    so a decision made on a stale status is refused (409) and never recorded, nor announced."""
    # Each status write takes 300 ms, so that both operators decide on the same version.
    drill.faults.delay(0.3, verbs={"patch"}, resource=QWDS_RESOURCE, subresource="status")
    one = await drill.start_operator("one")
    two = await drill.start_operator("two")
    await drill.serve_stable()
    since = drill.emulator.request_count
    await drill.start_canary()
    await drill.promoted()
    await settle(drill)
    # The status and the events hold; what a stale decision writes to the children is not checked
    # here (it can be undone for a moment: see the next test).
    assert_promoted(drill, drill.status(), children=False)
    assert _acting(drill, since) == {"one", "two"}
    conflicts = sum(op.log.read_text().count("changed meanwhile") for op in (one, two))
    assert conflicts > 0, "the operators never raced"
    reasons = drill.events()
    assert [reasons.count(reason) for reason in ("RolloutStarted", "StepStarted", "Promoted")] == [1, 2, 1]


async def test_a_stale_operator_does_not_undo_a_promotion_it_has_not_seen(drill: Drill) -> None:
    """Two operators at once; one is slow (its read of the Deployments hangs) while the other
    promotes the canary; the slow one then acts on the status it read before the promotion."""
    await drill.start_operator("one")
    two = await drill.start_operator("two")
    await drill.serve_stable()
    waiting = [{"weight": step["weight"]} for step in STEPS]  # steps that wait for a person
    await drill.client.patch_qwd(
        NS, NAME, {"spec": {"model": {"revision": CANARY_COMMIT}, "rollout": {"steps": waiting}}}
    )
    await _promote(drill, "1", step=1)
    slow = drill.faults.hold(verbs={"list"}, resource="apps/v1/deployments", match=_sent_by("two"))
    await drill.until(lambda: slow.hits > 0, "the slow operator's reading of the Deployments hanging")
    await drill.client.patch_qwd(NS, NAME, {"metadata": {"annotations": {PROMOTE: "2"}}})
    await drill.promoted()
    slow.release()
    await settle(drill, 2)
    await drill.promoted()  # whatever happened meanwhile, it converges
    assert violations(drill.timeline) == []
    assert two.logged("changed since it was read"), "the slow operator was never stopped: nothing raced"


PROMOTE = "qwenops.io/promote"


async def _promote(drill: Drill, value: str, *, step: int) -> None:
    await drill.until(lambda: drill.status().get("phase") == "Paused", "the canary paused")
    await drill.client.patch_qwd(NS, NAME, {"metadata": {"annotations": {PROMOTE: value}}})
    await drill.until(
        lambda: drill.status().get("phase") == "Paused" and drill.canary().get("step") == step,
        f"paused at step {step + 1}",
    )
