"""Whole rollouts within `spec.rollout.budget` walked through `decide` itself, pass after pass, on a
simulated pool of exactly `replicas + surge` GPUs: the policy's steps, promotion and rollback, and
the two bounds checked at every instant (after each write, after each tick of the pool)."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import CanaryRevision, Phase, QwenDeploymentStatus, StableRevision
from qwenops.policy.budget import Bounds, PodCount
from qwenops.policy.rollout import DeploymentState, Observed, decide
from qwenops.routing.httproute import routed_weight, weighted_rules
from qwenops.routing.router import ObservedRoute
from tests.unit.pod_pool import Cluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD, NEW = "aaaaaaaaaa", "bbbbbbbbbb"


def spec_of(replicas: int, budget: dict[str, Any] | None, *, http: bool) -> QwenDeploymentSpec:
    rollout: dict[str, Any] = {"steps": [{"weight": 25, "pause": "5s"}, {"weight": 50, "pause": "5s"}]}
    if budget is not None:
        rollout["budget"] = budget
    if http:
        rollout["trafficRouting"] = {"httpRoute": {"name": "chat"}}
    return QwenDeploymentSpec.model_validate(
        {
            "model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"},
            "replicas": replicas,
            "rollout": rollout,
        }
    )


def route_carrying(weight: int) -> ObservedRoute:
    plain = {"spec": {"rules": [{"backendRefs": [{"name": "chat-stable", "port": 8000}]}]}}
    rules = weighted_rules(plain, "chat", weight)
    return ObservedRoute("chat", {"metadata": {"resourceVersion": "1"}, "spec": {"rules": rules}})


def observed(cluster: Cluster, annotations: dict[str, str], route: ObservedRoute | None) -> Observed:
    deployments = {}
    for revision, wanted in cluster.wanted.items():
        count = cluster.count(revision)
        available = count.ready >= wanted and count.live == wanted
        deployments[revision] = DeploymentState(revision, wanted, count.ready, available)
    return Observed(2, deployments, annotations, route=route, pods=cluster.counted())


def run(
    replicas: int, surge: int, unavailable: int, *, abort_at: int | None = None, http: bool = False
) -> tuple[list[str], Cluster]:
    spec = spec_of(replicas, {"maxSurge": surge, "maxUnavailable": unavailable}, http=http)
    bounds = Bounds(replicas, surge, unavailable)
    stable = StableRevision(revision=OLD, model=spec.model, engine=spec.engine, node_pool=spec.node_pool)
    status = QwenDeploymentStatus(stable=stable, phase=Phase.HEALTHY)
    cluster = Cluster(gpus=bounds.cap, load=random.Random(replicas * 7 + surge), grace=2)
    cluster.scale(OLD, replicas)
    for _ in range(10):
        cluster.tick()
    now, weight, annotations, said, serving_after_abort = T0, 0, {}, [], -1
    for _ in range(3000):
        canary = status.canary
        started = canary is not None and canary.step == abort_at and canary.step_started_at is not None
        if abort_at is not None and started and not annotations:  # the step's pods serve: a dip
            annotations = {"qwenops.io/abort": "now"}
        route = route_carrying(weight) if http else None
        plan = decide(spec, NEW, status, observed(cluster, annotations, route), now)
        for wanted in plan.deployments:
            cluster.scale(wanted.revision, wanted.replicas)
        for gone in plan.delete:
            cluster.scale(gone, 0)
            del cluster.wanted[gone]
        said += [e.reason for e in plan.events]
        status, weight = plan.status, plan.canary_weight
        rolled_back = status.phase == Phase.ROLLED_BACK
        assert cluster.requested <= bounds.cap, (now, cluster.pods)
        old, new = cluster.count(OLD), cluster.count(NEW)
        if http and plan.canary_revision is not None and old.ready + new.ready:
            # as written: never more than a revision's ready pods' share (to rounding)
            share = 100 * new.ready / (old.ready + new.ready)
            carried = routed_weight(route_carrying(weight).found or {}, "chat")
            assert carried is not None and abs(carried - share) <= 0.5, (carried, share)
        if rolled_back:
            assert weight == 0 and new.live == 0, "weight 0 and the canary's pods gone at once"
        promoted = (
            status.phase == Phase.HEALTHY and status.stable is not None and status.stable.revision == NEW
        )
        if promoted and old.live + old.terminating == 0:
            return said, cluster
        if rolled_back and old.ready == replicas and new.terminating == 0 and status.capacity is None:
            return said, cluster
        cluster.tick()
        now += timedelta(seconds=1)
        old, new = cluster.count(OLD), cluster.count(NEW)
        assert cluster.requested <= bounds.cap, (now, cluster.pods)
        if rolled_back:
            # The canary's pods stop serving at once; the stable's are never taken away.
            assert old.ready >= serving_after_abort, "a rollback takes nothing more away"
            serving_after_abort = max(serving_after_abort, old.ready)
        else:
            serving = old.ready + new.ready
            assert serving >= bounds.floor, (now, status.message, cluster.pods)
            serving_after_abort = old.ready
    raise AssertionError(f"did not finish: {status.message}")


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 1), (0, 2), (1, 0), (1, 1)])
@pytest.mark.parametrize("http", [False, True])
def test_a_rollout_within_its_budget_is_promoted_without_a_pod_waiting_for_a_gpu(
    surge: int, unavailable: int, http: bool
) -> None:
    said, cluster = run(8, surge, unavailable, http=http)
    assert said.count("StepStarted") == 2 and "Promoted" in said
    assert cluster.waited == 0


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 1), (0, 2), (1, 0)])
@pytest.mark.parametrize("abort_at", [0, 1])
def test_a_rollback_within_its_budget_gives_the_stable_back_its_replicas(
    surge: int, unavailable: int, abort_at: int
) -> None:
    said, cluster = run(8, surge, unavailable, abort_at=abort_at)
    assert "RolledBack" in said and said[-1] == "CapacityRestored"
    assert cluster.waited == 0


def test_without_a_budget_the_canary_needs_spare_gpus() -> None:
    """The contrast: today's behaviour asks for the canary's pods beside the whole stable."""
    spec = spec_of(8, None, http=False)
    stable = StableRevision(revision=OLD, model=spec.model, engine=spec.engine, node_pool=spec.node_pool)
    status = QwenDeploymentStatus(stable=stable, phase=Phase.HEALTHY)
    world = Observed(2, {OLD: DeploymentState(OLD, 8, 8, True)})
    plan = decide(spec, NEW, status, world, T0)
    assert [(d.revision, d.replicas) for d in plan.deployments] == [(OLD, 8), (NEW, 3)]
    assert plan.status.capacity is None


def test_the_progress_deadline_counts_from_the_last_canary_pods_asked_for() -> None:
    """Within a budget the canary's pods are asked for a few at a time: each time more are, the
    deadline starts again from then, as the pods just asked for get the whole of it."""
    spec = spec_of(8, {"maxSurge": 0, "maxUnavailable": 1}, http=False)
    stable = StableRevision(revision=OLD, model=spec.model, engine=spec.engine, node_pool=spec.node_pool)
    asked = T0 - timedelta(minutes=20)
    canary = CanaryRevision(
        revision=NEW, model=spec.model, engine=spec.engine, node_pool=spec.node_pool,
        started_at=asked, waiting_since=asked,
    )  # fmt: skip
    status = QwenDeploymentStatus(stable=stable, canary=canary, phase=Phase.PROGRESSING)

    def world(stable_pods: int, canary_ready: int) -> Observed:
        pods = {OLD: PodCount(stable_pods, stable_pods), NEW: PodCount(1, canary_ready)}
        deployments = {
            OLD: DeploymentState(OLD, stable_pods, stable_pods, True),
            NEW: DeploymentState(NEW, 1, canary_ready, canary_ready == 1),
        }
        return Observed(2, deployments, pods=pods)

    grows = decide(spec, NEW, status, world(6, 1), T0)  # a GPU free: one more canary pod
    assert [(d.revision, d.replicas) for d in grows.deployments] == [(OLD, 6), (NEW, 2)]
    assert grows.status.canary is not None and grows.status.canary.waiting_since == T0
    frees = decide(spec, NEW, status, world(7, 1), T0)  # the first pod ready: the stable gives one
    assert [(d.revision, d.replicas) for d in frees.deployments] == [(OLD, 6), (NEW, 1)]
    assert frees.status.canary is not None and frees.status.canary.waiting_since == asked
    waits = decide(spec, NEW, status, world(7, 0), T0)  # its first pod still loading: nothing more
    assert [(d.revision, d.replicas) for d in waits.deployments] == [(OLD, 7), (NEW, 1)]
    assert waits.status.canary is not None and waits.status.canary.waiting_since == asked
