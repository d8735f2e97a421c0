"""Rollouts within a GPU budget: the pure arithmetic of policy/budget.py, table by table, then whole
rollouts walked through it on a simulated cluster (pods scheduled on a finite pool, loading for a
while, terminating for a while), checking both bounds at every instant."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from qwenops.api.budget import RolloutBudget
from qwenops.api.status import Capacity
from qwenops.policy.budget import (
    Bounds,
    PodCount,
    Pods,
    Replicas,
    capacity,
    gpus_by_track,
    next_replicas,
    promotion_target,
    rollback_target,
    serving_weight,
    step_pods,
    step_target,
)
from tests.unit.pod_pool import Cluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "resolved"),
    [
        (0, 1, 8, (0, 1)),
        ("25%", "25%", 8, (2, 2)),
        ("10%", "10%", 8, (1, 0)),  # a surge rounds up, an unavailability down
        (0, "10%", 8, (0, 1)),  # both 0 once rounded: one unavailable, as a Deployment does
        ("0%", 3, 8, (0, 3)),
        (2, 0, 4, (2, 0)),
    ],
)
def test_a_budget_resolves_to_pods(
    surge: int | str, unavailable: int | str, replicas: int, resolved: tuple[int, int]
) -> None:
    budget = RolloutBudget(max_surge=surge, max_unavailable=unavailable)
    assert budget.resolved(replicas) == resolved


@pytest.mark.parametrize(
    ("replicas", "weight", "canary"),
    [(8, 25, 2), (8, 50, 4), (8, 10, 1), (8, 1, 1), (8, 99, 8), (3, 50, 2), (10, 33, 4)],
)
def test_a_steps_canary_pods_are_its_share_of_replicas_rounded_up(
    replicas: int, weight: int, canary: int
) -> None:
    assert step_pods(replicas, weight) == canary
    assert step_target(replicas, weight) == Replicas(replicas - canary, canary)


def p(wanted: int, live: int | None = None, ready: int | None = None, terminating: int = 0) -> Pods:
    live = wanted if live is None else live
    return Pods(wanted, live, live if ready is None else ready, terminating)


# (surge, unavailable), target, stable, canary, canary_serves -> next (stable, canary)
CASES = [
    # surge 0: the stable goes down first (to the floor), nothing more until its pod is gone
    ((0, 1), step_target(8, 25), p(8), p(0), True, Replicas(7, 0)),
    ((0, 1), step_target(8, 25), p(7, 8, 7, 0), p(0), True, Replicas(7, 0)),
    ((0, 1), step_target(8, 25), p(7, 7, 7, 1), p(0), True, Replicas(7, 0)),  # terminating holds
    # ... then the canary up into the GPU it freed
    ((0, 1), step_target(8, 25), p(7), p(0), True, Replicas(7, 1)),
    # the canary's pod is not ready: the stable waits for it
    ((0, 1), step_target(8, 25), p(7), p(1, 1, 0), True, Replicas(7, 1)),
    # it is ready: the stable may give one more
    ((0, 1), step_target(8, 25), p(7), p(1), True, Replicas(6, 1)),
    ((0, 1), step_target(8, 25), p(6), p(1), True, Replicas(6, 2)),
    # unavailable 2: two at a time
    ((0, 2), step_target(8, 50), p(8), p(0), True, Replicas(6, 0)),
    ((0, 2), step_target(8, 50), p(6), p(0), True, Replicas(6, 2)),
    # surge 1, unavailable 0: the canary goes up first, the stable follows its ready pods
    ((1, 0), step_target(8, 25), p(8), p(0), True, Replicas(8, 1)),
    ((1, 0), step_target(8, 25), p(8), p(1, 1, 0), True, Replicas(8, 1)),
    ((1, 0), step_target(8, 25), p(8), p(1), True, Replicas(7, 1)),
    ((1, 0), step_target(8, 25), p(7, 7, 7, 1), p(1), True, Replicas(7, 1)),
    ((1, 0), step_target(8, 25), p(7), p(1), True, Replicas(7, 2)),
    # a stable pod failing by itself: it may go, the ready ones stay
    ((0, 1), step_target(8, 25), p(8, 8, 6), p(0), True, Replicas(6, 0)),
    # promotion: the canary takes over replica by replica
    ((0, 1), promotion_target(8), p(4), p(4), True, Replicas(3, 4)),
    ((0, 1), promotion_target(8), p(3), p(4), True, Replicas(3, 5)),
    ((0, 1), promotion_target(8), p(0), p(7), True, Replicas(0, 8)),
    # rollback: the canary has no pods at once, the stable grows as their GPUs come free
    ((0, 1), rollback_target(8), p(4), p(4), False, Replicas(4, 0)),
    ((0, 1), rollback_target(8), p(4), p(0, 0, 0, 3), False, Replicas(5, 0)),
    ((0, 1), rollback_target(8), p(5), p(0), False, Replicas(8, 0)),
    # over budget when declared (a canary started without one): only scale-downs
    ((0, 1), step_target(8, 25), p(8), p(2, 2, 0), True, Replicas(7, 2)),
]


@pytest.mark.parametrize(("budget", "target", "stable", "canary", "serves", "expected"), CASES)
def test_next_replicas(
    budget: tuple[int, int],
    target: Replicas,
    stable: Pods,
    canary: Pods,
    serves: bool,
    expected: Replicas,
) -> None:
    bounds = Bounds(8, *budget)
    assert next_replicas(bounds, target, stable, canary, canary_serves=serves) == expected


def test_pods_of_other_revisions_hold_their_gpus() -> None:
    assert next_replicas(Bounds(8, 0, 1), rollback_target(8), p(6), p(0), others=1) == Replicas(7, 0)


@pytest.mark.parametrize(("stable", "canary", "weight"), [(8, 0, 0), (6, 2, 25), (4, 2, 33), (0, 8, 100)])
def test_the_weight_is_the_share_of_ready_serving_pods(stable: int, canary: int, weight: int) -> None:
    assert serving_weight(stable, canary) == weight


def test_capacity_missing_since_and_restored() -> None:
    missing, said = capacity(None, 8, 5, T0)
    assert said is None and missing == Capacity(
        missing=3, serving=5, since=T0, message="3 of 8 serving replicas missing (5 ready)"
    )
    later, said = capacity(missing, 8, 7, T0 + timedelta(seconds=30))
    assert later is not None and later.since == T0 and later.missing == 1 and said is None
    restored, said = capacity(later, 8, 8, T0 + timedelta(seconds=90))
    assert restored is None and said == "full capacity again: 8/8 replicas ready, 1m30s after it dropped"
    assert capacity(None, 8, 8, T0) == (None, None)


# --- whole rollouts on a simulated cluster ------------------------------------------------------


def walk(
    replicas: int, surge: int, unavailable: int, *, breach_at: int | None, seed: int
) -> tuple[list[str], Cluster]:
    """A rollout of steps 25/50 then promotion (or a rollback at step `breach_at`, or while
    promoting: len(steps)), one pass a tick, checking both bounds at every tick."""
    bounds = Bounds(replicas, surge, unavailable)
    cluster = Cluster(gpus=replicas + surge, load=random.Random(seed), grace=1 + seed % 2)
    cluster.scale("stable", replicas)
    for _ in range(10):
        cluster.tick()
    assert cluster.count("stable").ready == replicas
    phases = [step_target(replicas, 25), step_target(replicas, 50), promotion_target(replicas)]
    phase, held, rolled_back_at, seen = 0, 0, None, []
    for _ in range(2000):
        stable, canary = cluster.count("stable"), cluster.count("canary")
        serves = rolled_back_at is None
        if serves and breach_at is not None and phase == breach_at and held >= 2:
            rolled_back_at, serves = stable.ready, False
            seen.append(f"rollback at {stable.ready}/{replicas}")
        target = phases[phase] if serves else rollback_target(replicas)
        if serves and phase < 2 and canary.ready >= target.canary:
            held += 1
            if held > 3:  # the step's pause is over
                phase, held = phase + 1, 0
                seen.append(f"step {phase} done")
                continue
        elif serves and phase < 2:
            held = 0
        if serves and phase == 2:
            held += 1
            if canary.ready == replicas:
                seen.append("promoted")
                cluster.scale("stable", 0)
                return seen, cluster
        if not serves and stable.ready == replicas and canary.live + canary.terminating == 0:
            seen.append("stable whole again")
            return seen, cluster
        new = next_replicas(bounds, target, stable, canary, canary_serves=serves)
        cluster.scale("stable", new.stable)
        cluster.scale("canary", new.canary)
        assert cluster.requested <= bounds.cap, (cluster.now, cluster.pods)  # as written
        cluster.tick()
        # the bounds, at every instant
        assert cluster.requested <= bounds.cap, (cluster.now, cluster.pods)
        stable, canary = cluster.count("stable"), cluster.count("canary")
        serving = stable.ready + (canary.ready if serves else 0)
        if serves:
            assert serving >= bounds.floor, (cluster.now, cluster.pods)
            weight = serving_weight(stable.ready, canary.ready)
            assert abs(weight - 100 * canary.ready / serving) <= 0.5  # never more than its share
        else:
            assert rolled_back_at is not None
            assert serving >= min(bounds.floor, rolled_back_at), "a rollback never takes more away"
            assert canary.live == 0, "the canary's pods go at once"
            rolled_back_at = max(rolled_back_at, serving)
    raise AssertionError(f"did not finish: {seen}")


BUDGETS = [(0, 1), (0, 2), (1, 0), (1, 1), (2, 2)]


@pytest.mark.parametrize("replicas", [2, 5, 8])
@pytest.mark.parametrize(("surge", "unavailable"), BUDGETS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rollout_within_its_budget_never_waits_for_a_gpu(
    replicas: int, surge: int, unavailable: int, seed: int
) -> None:
    seen, cluster = walk(replicas, surge, unavailable, breach_at=None, seed=seed)
    assert seen == ["step 1 done", "step 2 done", "promoted"]
    assert cluster.waited == 0, "no pod waited for a GPU on a pool of exactly replicas + surge"


@pytest.mark.parametrize("replicas", [2, 5, 8])
@pytest.mark.parametrize(("surge", "unavailable"), BUDGETS)
@pytest.mark.parametrize("breach_at", [0, 1, 2])
def test_a_rollback_within_its_budget_gives_the_stable_back_its_replicas(
    replicas: int, surge: int, unavailable: int, breach_at: int
) -> None:
    seen, cluster = walk(replicas, surge, unavailable, breach_at=breach_at, seed=breach_at)
    assert seen[-1] == "stable whole again" and seen[-2].startswith("rollback at")
    assert cluster.waited == 0


def test_gpus_by_track_counts_every_pod_that_asks_for_one() -> None:
    counts = {"s": PodCount(live=6, ready=6), "c": PodCount(live=2, ready=1), "x": PodCount(terminating=1)}
    assert gpus_by_track(counts, {"s": 2, "c": 2}, "s", "c") == {
        "stable": 12, "canary": 4, "warm": 0, "leaving": 1
    }  # fmt: skip
    assert gpus_by_track(counts, {}, "s", None) == {"stable": 6, "canary": 0, "warm": 0, "leaving": 3}
    # A bake: the previous revision's pods are warm, not leaving.
    assert gpus_by_track(counts, {}, "c", None, "s") == {"stable": 2, "canary": 0, "warm": 6, "leaving": 1}
