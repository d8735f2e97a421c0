"""The GPU budget row: GPUs the QwenDeployment's pods ask for, by track, and the capacity dip
(serving replicas missing within `spec.rollout.budget`), from the operator's metrics."""

from dashboards.panels import Json, target, timeseries
from dashboards.queries import CAPACITY_MISSING, GPUS_REQUESTED, OBJECT


def budget_row() -> list[Json]:
    gpus = timeseries(
        "GPUs requested by track",
        "GPUs the pods ask for (Pending and terminating pods too): the stable's, the canary's, "
        "the previous revision's kept warm during a bake, and those of a removed revision still "
        "leaving. Stacked: the total is what the pool must hold; "
        "within a budget it stays at or under replicas + maxSurge (times gpusPerReplica).",
        [target(f"sum by (track) ({GPUS_REQUESTED}{{{OBJECT}}})", "{{track}}")],
        "none",
    )
    gpus["fieldConfig"]["defaults"]["custom"]["stacking"] = {"mode": "normal", "group": "A"}
    gpus["fieldConfig"]["defaults"]["custom"]["fillOpacity"] = 40
    dip = timeseries(
        "Capacity dip: serving replicas missing",
        "Replicas short of spec.replicas while a rollout runs within its budget (at most "
        "maxUnavailable during steps and promotion), and after a rollback while the stable's pods "
        "reload (status.capacity).",
        [target(f"max({CAPACITY_MISSING}{{{OBJECT}}})", "missing replicas")],
        "none",
        draw="line",
    )
    return [gpus, dip]
