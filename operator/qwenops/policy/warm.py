"""The pod counts of a bake (see `bake`): what a promotion with a bake starts, and what runs meanwhile."""

from datetime import datetime

from qwenops.api.bake import Bake
from qwenops.api.durations import parse_duration
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import BakeStatus


def declared(spec: QwenDeploymentSpec) -> Bake | None:
    """The spec's bake, if it lasts any time."""
    bake = spec.rollout.bake
    return None if bake is None or parse_duration(bake.duration).total_seconds() <= 0 else bake


def started(spec: QwenDeploymentSpec, previous: str, now: datetime) -> BakeStatus | None:
    """The bake a promotion from revision `previous` starts now (None: none is declared, or it
    lasts no time)."""
    if (bake := declared(spec)) is None:
        return None
    return BakeStatus(
        revision=previous,
        warm_replicas=min(bake.warm_replicas, spec.replicas),
        started_at=now,
        until=now + parse_duration(bake.duration),
    )


def split(spec: QwenDeploymentSpec, warm: int) -> tuple[int, int]:
    """(new stable, previous revision) pods while `warm` pods of the previous are kept: within a
    budget the warm pods beyond its surge are taken from the new stable's (`bake_problem` checks
    that its unavailability allows it)."""
    warm = min(warm, spec.replicas)
    if spec.rollout.budget is None:
        return spec.replicas, warm
    surge, _ = spec.rollout.budget.resolved(spec.replicas)
    return spec.replicas - max(0, warm - surge), warm


def promotion_pods(spec: QwenDeploymentSpec) -> tuple[int, int]:
    """(new revision, previous revision) pods at the end of a promotion."""
    bake = declared(spec)
    return split(spec, 0 if bake is None else bake.warm_replicas)
