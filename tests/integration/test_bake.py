"""The bake on a full GPU pool: the real operator, the emulated cluster's scheduler and kubelets.

The pool has exactly `replicas x gpusPerReplica` GPUs and the budget is surge 0 / unavailable 1, so
the previous revision's warm pod is one of the new stable's replicas. After a promotion:

1. the new revision breaches its SLOs during the bake: it is marked, the warm pod serves at once,
   it goes to 0 and the previous gets its replicas back; the operator is killed with that
   scale-down lost, or the rollback's status write lost, and the decision holds after a restart;
2. a person's undo during the bake, the operator killed with the undo's status write lost: the
   same way back, the new revision's Deployment gone, the spec untouched;
3. the bake ends by itself: the previous revision's Deployment goes after its duration, the new
   stable grows to its replicas.

Each drill replays the emulator's change log instant by instant: the pods never ask for more GPUs
than the budget, none waits for one, and (1, 2) from the moment the Services go back to the
previous revision a pod of it serves and none of the new revision's does. "Serves" is what an
endpoints controller would publish: a ready pod, not terminating, that a Service's selector matches.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import pytest

from qwenops_testing.cluster import QWDS, deployments_of
from qwenops_testing.gpu_timeline import replay
from qwenops_testing.manifests import expected_revision
from qwenops_testing.prometheus_stand_in import Series
from qwenops_testing.service_timeline import selected_by, serving
from tests.integration.drills import NAME, NS, Drill, drill_stage
from tests.integration.drills import manifest as drill_manifest

pytestmark = pytest.mark.integration

R = 3
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
BUDGET = {"maxSurge": 0, "maxUnavailable": 1}
PODS, SERVICES, DEPLOYMENTS = "v1/pods", "v1/services", "apps/v1/deployments"
SERVICE_NAMES = (NAME, f"{NAME}-stable", f"{NAME}-canary")
REJECTED = "qwenops.io/rejected"
STATUS = "qwenops.io/v1alpha1/qwendeployments"
LONG_BAKE = "120s"
"""Longer than any drill that ends it otherwise: the bake is still on when its breach or undo comes."""


def manifest(commit: str, prometheus_url: str, bake: str = LONG_BAKE) -> dict[str, Any]:
    rollout = {"budget": BUDGET, "bake": {"duration": bake, "warmReplicas": 1}}
    return drill_manifest(
        commit, prometheus_url, replicas=R, steps=[{"weight": 33, "pause": "1s"}], rollout=rollout
    )


A = expected_revision(manifest(COMMIT_A, "http://unused"))
B = expected_revision(manifest(COMMIT_B, "http://unused"))


@pytest.fixture
async def drill(tmp_path: Path) -> AsyncIterator[Drill]:
    async with drill_stage(tmp_path) as stage:
        yield stage


# -- what serves ------------------------------------------------------------------------------------


def _revision(obj: dict[str, Any]) -> str:
    return str((obj["metadata"].get("labels") or {}).get("qwenops.io/revision", ""))


def _selects(service: dict[str, Any], pod: dict[str, Any]) -> bool:
    return selected_by((service.get("spec") or {}).get("selector") or {}, pod)


def served(services: list[dict[str, Any]], pods: list[dict[str, Any]]) -> dict[str, int]:
    """Pods in some of `services`' endpoints, by revision."""
    found: dict[str, int] = {}
    for pod in pods:
        if (
            pod["metadata"].get("namespace") == NS
            and serving(pod)
            and any(_selects(s, pod) for s in services)
        ):
            found[_revision(pod)] = found.get(_revision(pod), 0) + 1
    return found


def ours(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        s for s in services if s["metadata"].get("namespace") == NS and s["metadata"]["name"] in SERVICE_NAMES
    ]


def served_now(drill: Drill) -> dict[str, int]:
    return served(ours(drill.emulator.list_objects(SERVICES)), drill.emulator.list_objects(PODS))


def ready_pods(drill: Drill, revision: str) -> int:
    return sum(1 for p in drill.emulator.list_objects(PODS) if _revision(p) == revision and serving(p))


@dataclass(frozen=True)
class Moment:
    at: float
    selects: dict[str, str]
    """The revision each Service selects ("": every revision's pods)."""
    served: dict[str, dict[str, int]]
    """The pods in each Service's endpoints, by revision."""

    def everywhere(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for by_revision in self.served.values():
            for revision, n in by_revision.items():
                total[revision] = max(total.get(revision, 0), n)
        return total


def served_moments(drill: Drill) -> list[Moment]:
    """What each Service selects and serves at every instant of the log, oldest first."""
    pods: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    moments: list[Moment] = []
    for at, kind, obj in drill.emulator.changes(PODS, SERVICES):
        meta = obj["metadata"]
        if meta.get("namespace") != NS:
            continue
        table = services if obj.get("kind") == "Service" else pods
        if kind == "DELETED":
            table.pop(meta["name"], None)
        else:
            table[meta["name"]] = obj
        mine = ours(list(services.values()))
        selects = {s["metadata"]["name"]: s["spec"]["selector"].get("qwenops.io/revision", "") for s in mine}
        moments.append(
            Moment(at, selects, {s["metadata"]["name"]: served([s], list(pods.values())) for s in mine})
        )
    return moments


def assert_served_by_the_warm_way_back(drill: Drill) -> None:
    """At every instant since revision A served on all its replicas some pod serves. After B's
    promotion, from the instant `<name>` (what clients use) stops selecting B, it serves A's warm pod
    and none of B's; once the way back's Services are all written, no Service serves B's pods."""
    moments = served_moments(drill)
    start = next(i for i, m in enumerate(moments) if m.everywhere().get(A, 0) == R)
    for moment in moments[start:]:
        assert moment.everywhere(), moment
    promoted = next(i for i, m in enumerate(moments) if m.selects.get(f"{NAME}-stable") == B)
    back = next(i for i, m in enumerate(moments) if i > promoted and m.selects.get(NAME) != B)
    for moment in moments[back:]:
        assert moment.served[NAME].get(A, 0) >= 1 and moment.served[NAME].get(B, 0) == 0, moment
    written = next(i for i, m in enumerate(moments) if i > promoted and B not in m.selects.values())
    for moment in moments[written:]:
        assert moment.everywhere().get(B, 0) == 0, moment


def assert_within_the_budget(drill: Drill) -> None:
    """At every instant since revision A served on all its replicas: never a GPU beyond the pool,
    never a pod waiting for one."""
    moments = replay(drill.emulator, NS, NAME)
    start = next(i for i, m in enumerate(moments) if m.ready.get(A, 0) == R)
    for moment in moments[start:]:
        assert moment.requested <= R, moment  # maxSurge 0: the warm pod is one of the R
        assert moment.unschedulable == 0, moment


# -- the stage ------------------------------------------------------------------------------------


async def baking(drill: Drill, bake: str = LONG_BAKE) -> None:
    """Revision A served on the full pool, then revision B promoted and baking with A's pod warm."""
    drill.emulator.pod_timing.start_seconds = 0.2
    drill.emulator.pod_timing.load_seconds = 1.0
    drill.emulator.pod_timing.shutdown_seconds = 0.3
    drill.emulator.add_nodes(R, gpus=1)  # exactly replicas x gpusPerReplica
    await drill.start_operator()
    await drill.client.apply_qwd(manifest(COMMIT_A, drill.prometheus.url, bake))
    await drill.until(
        lambda: drill.status().get("phase") == "Healthy" and ready_pods(drill, A) == R, "revision A serving"
    )
    await drill.client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})

    def warm() -> bool:
        status = drill.status()
        scaled = {r: d["spec"]["replicas"] for r, d in deployments_of(drill.emulator, NS, NAME).items()}
        return (
            status.get("phase") == "Baking"
            and (status.get("stable") or {}).get("revision") == B
            and (status.get("bake") or {}).get("revision") == A
            and scaled == {A: 1, B: R - 1}
            and (ready_pods(drill, A), ready_pods(drill, B)) == (1, R - 1)
        )

    await drill.until(warm, "revision B baking on R-1 pods, one pod of A warm", timeout=60)
    # A's warm pod is in no Service's endpoints: `<name>` selects B's pods only while it is kept.
    assert served_now(drill) == {B: R - 1}, served_now(drill)
    main = drill.emulator.get_object(SERVICES, NS, NAME) or {}
    assert main["spec"]["selector"].get("qwenops.io/revision") == B, main["spec"]
    # A's pods carry no traffic: Prometheus has none of theirs in the window.
    drill.prometheus.series[A] = Series(requests=0)


def _status_with(check: Callable[[dict[str, Any]], bool]) -> Callable[[kmock.Request], bool]:
    def match(request: kmock.Request) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return check(body.get("status") or {})

    return match


def history_of(status: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(h["revision"], h["outcome"], bool(h.get("afterPromotion"))) for h in status.get("history") or []]


async def kill_on_a_lost_write(drill: Drill, **rule: Any) -> None:
    """Every write the `rule` matches (one of the way back's) fails; once one has, the operator is
    killed: what the pass wrote before it stays, nothing after it is written."""
    lost = drill.faults.fail(500, **rule)
    await drill.until(lambda: lost.hits > 0, "the way back's write failing")
    await drill.operator.stop(kill=True)
    drill.faults.clear()
    status = drill.status()
    assert status.get("phase") == "Baking" and status["stable"]["revision"] == B, drill.logs()
    # The operator is dead; the Services it wrote first already send everything to A's warm pod
    # (B's pods, running or terminating, are in none of them).
    await drill.until(lambda: served_now(drill).get(B, 0) == 0, "no pod of B served")
    assert served_now(drill).get(A, 0) >= 1, served_now(drill)


def _scales_b_to_zero(request: kmock.Request) -> bool:
    body = request.data if isinstance(request.data, dict) else {}
    return request.name == f"{NAME}-{B}" and (body.get("spec") or {}).get("replicas") == 0


ROLLBACK_KILL_POINTS: dict[str, tuple[dict[str, Any], int]] = {
    # B is marked and the Services are switched; B's scale-down to 0 is lost.
    "scale-down-lost": ({"verbs": {"patch"}, "resource": DEPLOYMENTS, "match": _scales_b_to_zero}, R - 1),
    # B is at 0 and marked; the status saying RolledBack (and the history entry) is lost.
    "status-write-lost": (
        {
            "verbs": {"patch"},
            "resource": STATUS,
            "subresource": "status",
            "match": _status_with(lambda status: status.get("phase") == "RolledBack"),
        },
        0,
    ),
}


# -- the drills -----------------------------------------------------------------------------------


@pytest.mark.parametrize("point", list(ROLLBACK_KILL_POINTS))
async def test_a_breach_during_the_bake_goes_back_to_the_warm_pod_and_a_restart_keeps_it(
    drill: Drill, point: str
) -> None:
    rule, left = ROLLBACK_KILL_POINTS[point]
    await baking(drill)
    drill.prometheus.series[B] = Series(errors=200)  # half of the new stable's requests fail
    await kill_on_a_lost_write(drill, **rule)
    rejected = deployments_of(drill.emulator, NS, NAME)[B]
    assert rejected["spec"]["replicas"] == left, rejected["spec"]
    assert REJECTED in rejected["metadata"]["annotations"], "the decision is written before anything moves"

    await drill.operator.start()

    def back() -> bool:
        scaled = deployments_of(drill.emulator, NS, NAME)
        return (
            drill.status().get("phase") == "RolledBack"
            and scaled[A]["spec"]["replicas"] == R
            and ready_pods(drill, A) == R
            and "CapacityRestored" in drill.events()
        )

    await drill.until(back, "revision A back on all its replicas", timeout=60)
    status = drill.status()
    assert status["stable"]["revision"] == A and status["rejectedRevision"] == B and "bake" not in status
    assert history_of(status) == [(B, "Promoted", False), (B, "RolledBack", True)], status["history"]
    assert status["history"][-1]["reason"].startswith("SLOBreached: "), status["history"][-1]
    mark = json.loads(deployments_of(drill.emulator, NS, NAME)[B]["metadata"]["annotations"][REJECTED])
    assert mark["reason"] == "SLOBreached" and mark["at"] == status["history"][-1]["at"]
    # The decision held through the restart: B's Deployment never grew after it was marked, and
    # never above 0 once scaled down; no pod of B made.
    marked = [
        c
        for c in drill.timeline.ordered("Deployment")
        if c.name == f"{NAME}-{B}" and REJECTED in (c.obj["metadata"].get("annotations") or {})
    ]
    assert all(c.obj["spec"]["replicas"] <= R - 1 for c in marked), [
        c.obj["spec"]["replicas"] for c in marked
    ]
    scaled_down = min(c.rv for c in marked if c.obj["spec"]["replicas"] == 0)
    for change in drill.timeline.ordered("Deployment"):
        if change.name == f"{NAME}-{B}" and change.rv > scaled_down and change.type != "DELETED":
            assert change.obj["spec"]["replicas"] == 0, (change.rv, change.obj["spec"])
    assert ready_pods(drill, B) == 0
    assert_served_by_the_warm_way_back(drill)
    assert_within_the_budget(drill)


async def test_an_undo_during_the_bake_goes_back_to_the_warm_pod_and_a_restart_keeps_it(drill: Drill) -> None:
    await baking(drill)
    spec_before = (drill.emulator.get_object(QWDS, NS, NAME) or {})["spec"]
    await drill.client.patch_qwd(NS, NAME, {"metadata": {"annotations": {"qwenops.io/undo": "t1"}}})
    overridden = _status_with(lambda status: bool(status.get("override")))
    await kill_on_a_lost_write(
        drill, verbs={"patch"}, resource=STATUS, subresource="status", match=overridden
    )
    await drill.until(lambda: B not in deployments_of(drill.emulator, NS, NAME), "B's Deployment gone")

    await drill.operator.start()

    def back() -> bool:
        status = drill.status()
        return (
            status.get("phase") == "Healthy"
            and (status.get("stable") or {}).get("revision") == A
            and set(deployments_of(drill.emulator, NS, NAME)) == {A}
            and deployments_of(drill.emulator, NS, NAME)[A]["spec"]["replicas"] == R
            and ready_pods(drill, A) == R
        )

    await drill.until(back, "revision A back on all its replicas", timeout=60)
    status = drill.status()
    assert (drill.emulator.get_object(QWDS, NS, NAME) or {})["spec"] == spec_before  # never written
    assert status["override"]["revision"] == A and status["override"]["specRevision"] == B
    assert status["handled"]["undo"] == "t1" and "bake" not in status
    assert history_of(status) == [(B, "Promoted", False), (B, "RolledBack", True)], status["history"]
    assert status["history"][-1]["reason"].startswith("Undo: "), status["history"][-1]
    made = [c for c in drill.timeline.ordered("Deployment") if c.name == f"{NAME}-{B}" and c.type == "ADDED"]
    assert len(made) == 1, made  # B's Deployment never made again after the undo deleted it
    assert_served_by_the_warm_way_back(drill)
    assert_within_the_budget(drill)


async def test_a_bake_that_ends_by_itself_removes_the_previous_revision(drill: Drill) -> None:
    await baking(drill, bake="3s")
    bake = drill.status()["bake"]
    started, until = (datetime.fromisoformat(bake[k]) for k in ("startedAt", "until"))

    def over() -> bool:
        status = drill.status()
        scaled = deployments_of(drill.emulator, NS, NAME)
        return (
            status.get("phase") == "Healthy"
            and set(scaled) == {B}
            and scaled[B]["spec"]["replicas"] == R
            and ready_pods(drill, B) == R
        )

    await drill.until(over, "the bake over, revision B on all its replicas", timeout=60)
    status = drill.status()
    assert status["stable"]["revision"] == B and "bake" not in status
    assert history_of(status) == [(B, "Promoted", False)]
    await drill.until(lambda: "BakeCompleted" in drill.events(), "the BakeCompleted event")
    assert "RolledBack" not in drill.events()
    # A's Deployment went once the bake's time was over, not before.
    wall = time.time() - time.monotonic()
    (deleted,) = [
        at
        for at, kind, obj in drill.emulator.changes(DEPLOYMENTS)
        if kind == "DELETED" and _revision(obj) == A
    ]
    assert datetime.fromtimestamp(deleted + wall, UTC) >= until, (deleted + wall, until)
    # The new stable was read during the bake.
    assert any(r.revision == B and r.at + wall >= started.timestamp() for r in drill.prometheus.received)
    assert_within_the_budget(drill)
    moments = served_moments(drill)
    start = next(i for i, m in enumerate(moments) if m.everywhere().get(A, 0) == R)
    for moment in moments[start:]:
        # maxUnavailable 1: the warm pod serves nothing, so B serves on R-1 during the bake
        assert sum(moment.served[NAME].values()) >= R - 1, moment
