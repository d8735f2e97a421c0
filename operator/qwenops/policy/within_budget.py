"""What a plan runs when `spec.rollout.budget` is declared: the Deployments' replicas of this pass,
the weight the canary's pods carry, and the serving capacity missing (see `budget`).

A step's split, the promotion and the rollback each name a target; the replicas of the pass are
the budget's next move towards it, from the pods the API shows.
"""

from dataclasses import dataclass

from qwenops.api.status import CanaryRevision, Capacity
from qwenops.policy import budget, warm
from qwenops.policy.observed import Situation
from qwenops.policy.plan import Event


@dataclass(frozen=True)
class Split:
    """One pass of a canary within the budget."""

    stable: int
    canary: int
    canary_revision: CanaryRevision
    """The canary with the weight its ready pods carry (and, when it grows, the time its new pods
    were asked for: the progress deadline counts from the last pods asked for)."""
    capacity: Capacity | None


def canary_split(sit: Situation, canary: CanaryRevision, canary_pods: int) -> Split:
    """The canary's step (`canary_pods` of `replicas`) or its promotion, one move at a time."""
    bounds = sit.bounds
    assert bounds is not None
    replicas = sit.spec.replicas
    if canary.promoting:
        serving, kept = warm.promotion_pods(sit.spec)  # a bake keeps pods of the stable warm
        target = budget.Replicas(kept, serving)
    else:
        target = budget.Replicas(max(0, replicas - canary_pods), canary_pods)
    stable, pods = sit.observed.pods_of(sit.stable.revision), sit.observed.pods_of(sit.target)
    new = budget.next_replicas(bounds, target, stable, pods, others=_others(sit))
    # The weight as the pods will carry it once this pass's scale-downs are done.
    weight = budget.serving_weight(min(stable.ready, new.stable), min(pods.ready, new.canary))
    update: dict[str, object] = {"weight": weight}
    if new.canary > pods.wanted:
        update["waiting_since"] = sit.now
    capacity, _ = _capacity(sit, stable.ready + pods.ready)  # a step's dip comes and goes: no event
    return Split(new.stable, new.canary, canary.model_copy(update=update), capacity)


def stable_back(sit: Situation) -> tuple[int, Capacity | None, tuple[Event, ...]]:
    """No canary serves (rolled back, or none): the stable's replicas for this pass, given back as
    the GPUs of the other revisions' pods come free; and the capacity still missing."""
    bounds = sit.bounds
    assert bounds is not None
    stable = sit.observed.pods_of(sit.stable.revision)
    pods = sit.observed.pods_of(sit.target) if sit.target != sit.stable.revision else budget.Pods()
    target = budget.rollback_target(sit.spec.replicas)
    new = budget.next_replicas(bounds, target, stable, pods, canary_serves=False, others=_others(sit))
    if sit.status.capacity is None and sit.status.canary is None and sit.target == sit.stable.revision:
        return new.stable, None, ()  # a revision starting, or scaled: no rollout's dip to report
    capacity, events = _capacity(sit, stable.ready)
    return new.stable, capacity, events


def promoted(sit: Situation) -> Capacity | None:
    """The canary takes over, available at full size: the capacity it serves with (no event: a
    step's dip comes and goes)."""
    return _capacity(sit, sit.target_ready)[0]


def _others(sit: Situation) -> int:
    """GPUs held by pods of revisions other than the stable and the target (being removed)."""
    counted = sit.observed.pods or {}
    mine = {sit.stable.revision, sit.target}
    return sum(c.live + c.terminating for revision, c in counted.items() if revision not in mine)


def _capacity(sit: Situation, serving: int) -> tuple[Capacity | None, tuple[Event, ...]]:
    """The capacity missing, and the event that marks it whole again."""
    capacity, restored = budget.capacity(sit.status.capacity, sit.spec.replicas, serving, sit.now)
    if restored is not None:
        return None, (Event("Normal", "CapacityRestored", restored),)
    return capacity, ()
