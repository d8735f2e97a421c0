"""`spec.rollout.bake`: how long a new stable is judged after its promotion, with warm pods of the last.

Meanwhile pods of the revision it replaced stay warm, for a way back that loads no model.

During the bake the previous revision keeps `warmReplicas` ready pods that carry no traffic; a
breach of the SLOs (or a person's undo) sends all traffic to them at once and gives the previous
revision back its replicas. Within `spec.rollout.budget` the warm pods are counted: the new
revision then serves on `replicas - (warmReplicas - maxSurge)` pods while the bake lasts, which
the budget's `maxUnavailable` must allow.
"""

from pydantic import Field

from qwenops.api.base import Model
from qwenops.api.budget import MAX_PODS, RolloutBudget
from qwenops.api.rules import BOUNDED_DURATION_PATTERN


class Bake(Model):
    """How long the new stable is judged after its promotion, with the previous revision warm."""

    duration: str = Field(
        pattern=BOUNDED_DURATION_PATTERN,
        max_length=32,
        description="How long after the promotion the analysis goes on judging the new stable and "
        "the previous revision stays warm, e.g. 30m. After it the previous revision's Deployment goes.",
    )
    warm_replicas: int = Field(
        default=1,
        ge=0,
        le=MAX_PODS,
        description="Ready pods the previous revision keeps, out of traffic, during the bake (default 1). "
        "0: a rollback during the bake starts the previous revision's pods from nothing.",
    )


def bake_problem(bake: Bake | None, budget: RolloutBudget | None, replicas: int) -> str | None:
    """Why the bake cannot be kept within the budget (None: it can)."""
    if bake is None or budget is None:
        return None
    surge, unavailable = budget.resolved(replicas)
    warm = min(bake.warm_replicas, replicas)
    if warm <= surge + unavailable:
        return None
    return (
        f"rollout.bake.warmReplicas ({warm}) must be at most budget.maxSurge + budget.maxUnavailable "
        f"({surge} + {unavailable} pods for {replicas} replicas): warm pods beyond the surge are "
        "taken from the new revision's serving replicas, which the budget allows only down to "
        f"{replicas - unavailable}"
    )
