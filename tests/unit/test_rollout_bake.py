"""The bake walked through `resolve_target` and `decide`, pass after pass, on a simulated pool: a
promotion that keeps pods of the previous revision warm, then a breach, an abort, an undo, the spec
reverted, a newer revision, or the bake's end; the budget's bounds checked at every instant."""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from qwenops.api.errors import InvalidSpecError
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import AnalysisReading, Phase, QwenDeploymentStatus, Rejection, StableRevision
from qwenops.policy.budget import Bounds
from qwenops.policy.rollout import DeploymentState, Observed, decide, reading_due, resolve_target
from qwenops.render.defaults import revision_of
from tests.unit.pod_pool import Cluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD_COMMIT, NEW_COMMIT, NEWER_COMMIT = "a" * 40, "b" * 40, "c" * 40


def spec_of(
    commit: str, *, warm: int = 1, budget: dict[str, Any] | None = None, bake: bool = True
) -> QwenDeploymentSpec:
    rollout: dict[str, Any] = {
        "steps": [{"weight": 25, "pause": "5s"}, {"weight": 50, "pause": "5s"}],
        "analysis": {"prometheus": {"url": "http://prometheus:9090"}, "interval": "5s"},
    }
    if budget is not None:
        rollout["budget"] = budget
    if bake:
        rollout["bake"] = {"duration": "60s", "warmReplicas": warm}
    return parse_spec(
        "chat",
        {"model": {"name": "Qwen/Qwen3-8B", "revision": commit, "servedModelName": "qwen"}, "replicas": 8,
         "rollout": rollout},
    )  # fmt: skip


@dataclass
class Walk:
    """One QwenDeployment's passes against a simulated pool, as the controller makes them."""

    spec: QwenDeploymentSpec
    cluster: Cluster
    bounds: Bounds | None
    status: QwenDeploymentStatus
    now: datetime = T0
    annotations: dict[str, str] = field(default_factory=dict)
    marks: dict[str, Rejection] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    verdict: Literal["Passed", "Failed"] = "Passed"
    lose_next_status: bool = False
    stale: bool = False
    """The last status write was lost: the stored status is older than the children."""

    @classmethod
    def promoted_from(cls, old: QwenDeploymentSpec, spec: QwenDeploymentSpec, gpus: int) -> "Walk":
        stable = StableRevision(
            revision=revision_of(old), model=old.model, engine=old.engine, node_pool=old.node_pool
        )
        cluster = Cluster(gpus=gpus, load=random.Random(7), grace=2)
        cluster.scale(stable.revision, spec.replicas)
        for _ in range(10):
            cluster.tick()
        budget = spec.rollout.budget
        bounds = None if budget is None else Bounds.of(budget, spec.replicas)
        walk = cls(spec, cluster, bounds, QwenDeploymentStatus(stable=stable, phase=Phase.HEALTHY))
        walk.until(lambda: walk.status.phase == Phase.BAKING)
        return walk

    def observed(self) -> Observed:
        deployments = {}
        for revision, wanted in self.cluster.wanted.items():
            count = self.cluster.count(revision)
            available = count.ready >= wanted and count.live == wanted
            deployments[revision] = DeploymentState(
                revision, wanted, count.ready, available, self.marks.get(revision)
            )
        return Observed(2, deployments, dict(self.annotations), pods=self.cluster.counted())

    def step(self) -> None:
        resolved = resolve_target(
            self.spec, revision_of(self.spec), self.status, self.annotations, self.now, 2
        )
        reading = None
        if (due := reading_due(resolved.spec, resolved.revision, resolved.status, self.now)) is not None:
            failed = self.verdict == "Failed"
            reading = AnalysisReading(
                at=self.now, verdict=self.verdict, conclusive=failed, message=due.canary
            )
        plan = decide(resolved.spec, resolved.revision, resolved.status, self.observed(), self.now, reading)
        for wanted in plan.deployments:
            self.cluster.scale(wanted.revision, wanted.replicas)
            if wanted.rejection is not None:
                self.marks[wanted.revision] = wanted.rejection
            else:
                self.marks.pop(wanted.revision, None)
        for gone in plan.delete:
            self.cluster.scale(gone, 0)
            del self.cluster.wanted[gone]
        self.check_cap()
        self.stale = self.lose_next_status
        if self.lose_next_status:  # the children were written, the status write was lost
            self.lose_next_status = False
        else:
            self.status = plan.status
            self.events += [e.reason for e in (*resolved.events, *plan.events)]
        self.cluster.tick()
        self.now += timedelta(seconds=1)
        self.check_cap()
        self.check_floor()

    def check_cap(self) -> None:
        if self.bounds is not None:
            assert self.cluster.requested <= self.bounds.cap, (self.now, self.cluster.pods)

    def check_floor(self) -> None:
        """While a canary runs or a bake lasts, the serving pods (never the warm ones) hold the floor."""
        if self.stale or self.bounds is None:
            return
        if self.status.canary is None and self.status.phase != Phase.BAKING:
            return
        serving = {r.revision for r in (self.status.stable, self.status.canary) if r is not None}
        ready = sum(self.cluster.count(revision).ready for revision in serving)
        assert ready >= self.bounds.floor, (self.now, self.status.message, self.cluster.pods)

    def until(self, done: Any, limit: int = 500) -> None:
        for _ in range(limit):
            if done():
                return
            self.step()
        raise AssertionError(f"not reached: {self.status.phase} {self.status.message}")

    def ready(self, spec: QwenDeploymentSpec) -> int:
        return self.cluster.count(revision_of(spec)).ready

    def live(self, spec: QwenDeploymentSpec) -> int:
        return self.cluster.count(revision_of(spec)).live


OLD, NEW = spec_of(OLD_COMMIT), spec_of(NEW_COMMIT)
FULL_POOL = {"maxSurge": 0, "maxUnavailable": 1}


@pytest.mark.parametrize(
    ("budget", "warm", "serving"),
    [
        (None, 1, 8),  # beside the new stable: one spare GPU
        (None, 3, 8),
        (FULL_POOL, 1, 7),  # a full pool: the warm pod is taken from the new stable's
        ({"maxSurge": 1, "maxUnavailable": 1}, 1, 8),  # the surge holds it
        ({"maxSurge": 1, "maxUnavailable": 1}, 2, 7),
    ],
)
def test_a_promotion_with_a_bake_keeps_warm_pods_of_the_previous_revision_within_the_budget(
    budget: dict[str, Any] | None, warm: int, serving: int
) -> None:
    spec = spec_of(NEW_COMMIT, warm=warm, budget=budget)
    gpus = 100 if budget is None else 8 + int(budget["maxSurge"])
    walk = Walk.promoted_from(OLD, spec, gpus=gpus)
    walk.until(lambda: walk.ready(spec) == serving and walk.ready(OLD) == warm and walk.live(OLD) == warm)
    assert walk.status.bake is not None and walk.status.bake.revision == revision_of(OLD)
    assert walk.status.stable is not None and walk.status.stable.revision == revision_of(spec)
    assert walk.status.phase == Phase.BAKING and "kept warm" in walk.status.message
    assert walk.cluster.waited == 0


def test_a_breach_during_the_bake_rolls_back_to_the_warm_pods_and_restores_the_previous_revision() -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    walk = Walk.promoted_from(OLD, spec, gpus=8)
    walk.until(lambda: walk.ready(OLD) == 1 and walk.ready(spec) == 7)
    walk.verdict = "Failed"
    walk.until(lambda: walk.status.phase == Phase.ROLLED_BACK)
    # At once: the new revision's pods are gone from service, the warm pod serves.
    assert walk.live(spec) == 0 and walk.ready(OLD) >= 1
    assert walk.status.stable is not None and walk.status.stable.revision == revision_of(OLD)
    assert walk.status.rejected_revision == revision_of(spec) and walk.status.bake is None
    last = walk.status.history[-1]
    assert (last.outcome, last.after_promotion, last.revision) == ("RolledBack", True, revision_of(spec))
    assert "after promotion" in walk.status.message
    assert walk.status.capacity is not None and walk.status.capacity.serving >= 1
    walk.until(lambda: walk.ready(OLD) == 8 and walk.status.capacity is None)
    assert "CapacityRestored" in walk.events
    for _ in range(20):  # held: the rejected revision is not tried again
        walk.step()
        assert walk.live(spec) == 0 and walk.status.phase == Phase.ROLLED_BACK


def test_a_rollback_whose_status_write_was_lost_is_found_on_the_deployment_and_kept() -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    walk = Walk.promoted_from(OLD, spec, gpus=8)
    walk.until(lambda: walk.ready(OLD) == 1 and walk.ready(spec) == 7)
    walk.verdict, walk.lose_next_status = "Failed", True
    walk.until(lambda: revision_of(spec) in walk.marks)
    assert walk.stale and walk.status.bake is not None, "the status still says Baking: its write was lost"
    walk.verdict = "Passed"  # and Prometheus no longer shows the breach: the mark decides
    walk.step()
    assert walk.status.phase == Phase.ROLLED_BACK and walk.live(spec) == 0
    assert walk.status.history[-1].after_promotion and walk.status.history[-1].reason.startswith(
        "SLOBreached"
    )
    walk.until(lambda: walk.ready(OLD) == 8)
    assert walk.live(spec) == 0


@pytest.mark.parametrize("how", ["undo", "revert"])
def test_an_undo_or_a_reverted_spec_during_the_bake_serves_the_warm_pods_at_once(how: str) -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    walk = Walk.promoted_from(OLD, spec, gpus=8)
    walk.until(lambda: walk.ready(OLD) == 1 and walk.ready(spec) == 7)
    if how == "undo":
        walk.annotations["qwenops.io/undo"] = "1"
    else:
        walk.spec = spec_of(OLD_COMMIT, budget=FULL_POOL)  # a GitOps revert: the whole old spec
    walk.step()
    assert walk.live(spec) == 0 and walk.ready(OLD) == 1, "the new revision's pods went at once"
    assert walk.status.stable is not None and walk.status.stable.revision == revision_of(OLD)
    last = walk.status.history[-1]
    assert last.after_promotion and last.reason.startswith("Undo" if how == "undo" else "SpecReverted")
    assert walk.status.rejected_revision is None, "a person's choice rejects nothing"
    walk.until(lambda: walk.ready(OLD) == 8 and walk.status.phase == Phase.HEALTHY)
    assert "CapacityRestored" in walk.events and walk.cluster.waited == 0
    if how == "undo":  # until the spec changes; a second undo goes forth again, as a canary
        assert walk.status.override is not None and walk.status.previous is not None
        assert walk.status.previous.revision == revision_of(spec)


def test_an_abort_during_the_bake_rolls_back_and_a_promote_ends_it() -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    aborted = Walk.promoted_from(OLD, spec, gpus=8)
    aborted.annotations["qwenops.io/abort"] = "now"
    aborted.step()
    assert aborted.status.phase == Phase.ROLLED_BACK and aborted.status.history[-1].reason.startswith(
        "Aborted"
    )
    promoted = Walk.promoted_from(OLD, spec, gpus=8)
    promoted.annotations["qwenops.io/promote"] = "now"
    promoted.step()
    assert promoted.status.bake is None and "BakeCompleted" in promoted.events
    promoted.until(lambda: promoted.ready(spec) == 8 and promoted.status.phase == Phase.HEALTHY)
    assert revision_of(OLD) not in promoted.cluster.wanted


def test_the_bake_ends_after_its_duration_and_the_new_stable_grows_to_full_size() -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    walk = Walk.promoted_from(OLD, spec, gpus=8)
    bake = walk.status.bake
    assert bake is not None and bake.until - bake.started_at == timedelta(seconds=60)
    readings = []
    while walk.status.bake is not None:
        walk.step()
        if walk.status.analysis is not None and walk.status.analysis.at not in readings:
            readings.append(walk.status.analysis.at)
    assert walk.now - bake.started_at >= timedelta(seconds=60)
    assert len(readings) >= 60 // 5 - 1, "the new stable is read every interval during the bake"
    assert "BakeCompleted" in walk.events and revision_of(OLD) not in walk.cluster.wanted
    walk.until(lambda: walk.ready(spec) == 8 and walk.status.capacity is None)
    assert walk.status.phase == Phase.HEALTHY and "CapacityRestored" in walk.events


def test_a_newer_revision_during_the_bake_ends_it_and_starts_a_canary() -> None:
    spec = spec_of(NEW_COMMIT, budget=FULL_POOL)
    walk = Walk.promoted_from(OLD, spec, gpus=8)
    walk.spec = spec_of(NEWER_COMMIT, budget=FULL_POOL)
    walk.step()
    assert "BakeEnded" in walk.events and walk.status.bake is None
    assert walk.status.canary is not None and walk.status.canary.revision == revision_of(walk.spec)
    assert revision_of(OLD) not in walk.cluster.wanted


@pytest.mark.parametrize(
    ("budget", "warm", "problem"),
    [
        (FULL_POOL, 2, "warmReplicas (2) must be at most budget.maxSurge + budget.maxUnavailable (0 + 1"),
        ({"maxSurge": "10%", "maxUnavailable": "25%"}, 4, "(1 + 2 pods for 8 replicas)"),
        ({"maxSurge": 1, "maxUnavailable": 1}, 2, None),
        (None, 8, None),
    ],
)
def test_warm_pods_the_budget_cannot_hold_are_refused_saying_why(
    budget: dict[str, Any] | None, warm: int, problem: str | None
) -> None:
    if problem is None:
        spec_of(NEW_COMMIT, warm=warm, budget=budget)
        return
    with pytest.raises(InvalidSpecError) as refused:
        spec_of(NEW_COMMIT, warm=warm, budget=budget)
    assert problem in str(refused.value)
