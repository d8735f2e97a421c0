"""Rollouts within a declared GPU budget (`spec.rollout.budget`): pure arithmetic on pod counts.

Two bounds hold at every instant of a rollout with a budget:

- **the cap**: pods that hold or ask for a GPU (pending, loading, ready, terminating: every pod
  not finished) never exceed `replicas + surge`;
- **the floor**: ready serving pods never drop below `replicas - unavailable`, except when pods
  fail by themselves, and after a rollback (the canary's pods stop serving at once; the stable
  is given its replicas back as their GPUs come free, see `capacity`).

Each pass asks :func:`next_replicas` for the two Deployments' replica counts on the way to a
target (a step's split, the canary at full size, the stable at full size): scale-downs first, as
far as the floor allows (a Deployment removes its not-ready pods first), then scale-ups, as far as
the cap allows, counting the pods of the last pass's scale-downs until they are gone. With surge 0
the stable therefore goes down first, then the canary up. Traffic follows the pods: the canary's
weight is the share of the ready serving pods it has (:func:`serving_weight`), so an exact router
(an HTTPRoute) never sends a revision more than its ready pods' share.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from qwenops.api.budget import RolloutBudget
from qwenops.api.status import Capacity


@dataclass(frozen=True)
class Bounds:
    """A budget in pods, for one `replicas`."""

    replicas: int
    surge: int
    unavailable: int

    @classmethod
    def of(cls, budget: RolloutBudget, replicas: int) -> "Bounds":
        surge, unavailable = budget.resolved(replicas)
        return cls(replicas, surge, unavailable)

    @property
    def cap(self) -> int:
        """Pods (so GPUs) that may exist at once."""
        return self.replicas + self.surge

    @property
    def floor(self) -> int:
        """Ready serving pods that must remain."""
        return max(0, self.replicas - self.unavailable)


@dataclass(frozen=True)
class PodCount:
    """One revision's pods as the API shows them."""

    live: int = 0
    """Pods not finished and not on their way out: pending, starting or ready."""
    ready: int = 0
    """Live pods that are ready."""
    terminating: int = 0
    """Pods on their way out: their GPUs are not free until they are gone."""


@dataclass(frozen=True)
class Pods:
    """One revision: its Deployment's replicas now, and its pods."""

    wanted: int = 0
    live: int = 0
    ready: int = 0
    terminating: int = 0

    @classmethod
    def of(cls, wanted: int, count: PodCount) -> "Pods":
        return cls(wanted, count.live, count.ready, count.terminating)

    @property
    def holding(self) -> int:
        """GPUs this revision holds or has asked for: its pods, and those its Deployment will make."""
        return self.terminating + max(self.live, self.wanted)


@dataclass(frozen=True)
class Replicas:
    stable: int
    canary: int


def step_pods(replicas: int, weight: int) -> int:
    """Canary pods for a step of `weight` percent within `replicas` pods: its share, rounded up
    (never less than declared), at least one."""
    return min(replicas, max(1, math.ceil(replicas * weight / 100)))


def step_target(replicas: int, weight: int) -> Replicas:
    """A step's split: the canary's pods replace as many of the stable's."""
    canary = step_pods(replicas, weight)
    return Replicas(replicas - canary, canary)


def promotion_target(replicas: int) -> Replicas:
    """The canary takes over replica by replica."""
    return Replicas(0, replicas)


def rollback_target(replicas: int) -> Replicas:
    """The stable is given back its replicas; the canary has none."""
    return Replicas(replicas, 0)


def next_replicas(
    bounds: Bounds,
    target: Replicas,
    stable: Pods,
    canary: Pods,
    *,
    canary_serves: bool = True,
    others: int = 0,
) -> Replicas:
    """The Deployments' replicas for this pass on the way to `target`.

    `canary_serves`: the canary's ready pods carry traffic (False once it is rolled back: its
    pods go at once, and the stable grows first). `others`: GPUs held by pods of other revisions
    (a removed Deployment's pods still terminating).
    """
    canary_ready = canary.ready if canary_serves else 0
    new_stable = _down(stable.wanted, target.stable, stable.ready, bounds.floor - canary_ready)
    if canary_serves:
        kept = bounds.floor - min(stable.ready, new_stable)
        new_canary = _down(canary.wanted, target.canary, canary.ready, kept)
    else:
        new_canary = min(canary.wanted, target.canary)
    headroom = bounds.cap - stable.holding - canary.holding - others
    if canary_serves:
        new_canary, headroom = _up(new_canary, target.canary, headroom)
        new_stable, headroom = _up(new_stable, target.stable, headroom)
    else:
        new_stable, headroom = _up(new_stable, target.stable, headroom)
        new_canary, headroom = _up(new_canary, target.canary, headroom)
    return Replicas(new_stable, new_canary)


def _down(wanted: int, target: int, ready: int, keep_ready: int) -> int:
    """Down towards `target`, keeping `keep_ready` of its ready pods (those it has, if fewer:
    its not-ready pods may go, a Deployment removes them first)."""
    if target >= wanted:
        return wanted
    return min(wanted, max(target, min(ready, keep_ready)))


def _up(replicas: int, target: int, headroom: int) -> tuple[int, int]:
    grow = max(0, min(target - replicas, headroom))
    return replicas + grow, headroom - grow


def serving_weight(stable_ready: int, canary_ready: int) -> int:
    """The canary's share of the ready serving pods, in percent: what the pods really carry."""
    total = stable_ready + canary_ready
    return 0 if canary_ready <= 0 or total <= 0 else round(100 * canary_ready / total)


def gpus_by_track(
    counts: Mapping[str, PodCount],
    gpus: Mapping[str, int],
    stable: str,
    canary: str | None,
    warm: str | None = None,
) -> dict[str, int]:
    """GPUs each track's pods ask for (`gpus`: per pod, by revision; 1 where not said): the stable's,
    the canary's, the warm ones of a bake, and those leaving (a removed revision's pods still
    terminating)."""
    tracks = {"stable": 0, "canary": 0, "warm": 0, "leaving": 0}
    named = {stable: "stable", **({canary: "canary"} if canary else {}), **({warm: "warm"} if warm else {})}
    for revision, count in counts.items():
        track = named.get(revision, "leaving")
        tracks[track] += (count.live + count.terminating) * gpus.get(revision, 1)
    return tracks


def capacity(
    before: Capacity | None, replicas: int, serving: int, now: datetime
) -> tuple[Capacity | None, str | None]:
    """How much serving capacity is missing (None: none) and since when; and, when it is whole
    again, what to say so."""
    missing = max(0, replicas - serving)
    if missing == 0:
        if before is None:
            return None, None
        return None, f"full capacity again: {replicas}/{replicas} replicas ready, {_since(before, now)}"
    since = before.since if before is not None else now
    message = f"{missing} of {replicas} serving replicas missing ({serving} ready)"
    return Capacity(missing=missing, serving=serving, since=since, message=message), None


def _since(before: Capacity, now: datetime) -> str:
    seconds = int((now - before.since).total_seconds())
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s after it dropped" if minutes else f"{rest}s after it dropped"
