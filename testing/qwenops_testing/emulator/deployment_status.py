"""A Deployment's status as its controller writes it, from its ReplicaSets: pure functions.

The counts and the ``Available`` condition are ``calculateStatus`` of the real controller; the
``Progressing`` condition is its ``syncRolloutStatus``: the condition's lastUpdateTime moves with
each sign of progress, and ``ProgressDeadlineExceeded`` says that none came for
``progressDeadlineSeconds``. Conditions are set as ``SetDeploymentCondition`` sets them: a changed
one moves to the end, and its lastTransitionTime holds while its status does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator import timing
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.timing import Instant

COMPLETE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"


def _count(replicasets: list[Body], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in replicasets)


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def fenceposts(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against ``replicas``; (0, 0) for Recreate."""
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _max_unavailable(deployment: Mapping[str, Any]) -> int:
    return fenceposts(deployment)[1]


def _condition(status: Mapping[str, Any], type_: str) -> Body | None:
    return next((dict(c) for c in status.get("conditions") or [] if c.get("type") == type_), None)


def _set(
    status: Body, type_: str, value: str, reason: str, message: str, at: str, *, force: bool = False
) -> None:
    """``SetDeploymentCondition`` (``force``: also when only the message or time would change)."""
    conditions: list[Body] = list(status.get("conditions") or [])
    current = _condition(status, type_)
    if current is not None and current["status"] == value and current["reason"] == reason and not force:
        return
    since = current["lastTransitionTime"] if current is not None and current["status"] == value else at
    conditions = [c for c in conditions if c.get("type") != type_]
    conditions.append({"type": type_, "status": value, "lastUpdateTime": at, "lastTransitionTime": since,
                       "reason": reason, "message": message})  # fmt: skip
    status["conditions"] = conditions


def calculate_status(deployment: Mapping[str, Any], replicasets: list[Body], new: Body | None) -> Body:
    """The counts, over all the Deployment's ReplicaSets (``new`` among them), and the conditions
    as they were."""
    available = _count(replicasets, "availableReplicas")
    wanted = sum(int((rs.get("spec") or {}).get("replicas", 0)) for rs in replicasets)
    counts = {
        "replicas": _count(replicasets, "replicas"),
        "updatedReplicas": _count([new] if new is not None else [], "replicas"),
        "readyReplicas": _count(replicasets, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(wanted - available, 0),
    }
    old = deployment.get("status") or {}
    status: Body = {"observedGeneration": deployment["metadata"].get("generation", 1)}
    status.update({k: v for k, v in counts.items() if v})  # the API omits zero counts
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    return status


def rollout_status(
    deployment: Mapping[str, Any], status: Body, new: Body | None, *, created: bool, now: Instant
) -> tuple[Body, float | None]:
    """`status` with its conditions, and in how many seconds the deadline passes (None: no wait)."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    at = now.stamp
    if status.get("availableReplicas", 0) >= replicas - _max_unavailable(deployment):
        _set(
            status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            at,
        )
    else:
        _set(status, "Available", "False", "MinimumReplicasUnavailable",
             "Deployment does not have minimum availability.", at)  # fmt: skip
    name = new["metadata"]["name"] if new is not None else None
    about = f'ReplicaSet "{name}"' if name else f'Deployment "{deployment["metadata"]["name"]}"'
    deadline = spec.get("progressDeadlineSeconds", 600)
    if spec.get("paused") or deadline is None:
        return status, None
    current = _condition(status, "Progressing")
    if created and name:
        _set(status, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"', at)
    elif current is None and name:
        _set(status, "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{name}"', at)
    current = _condition(status, "Progressing")
    if status.get("replicas") == status.get("updatedReplicas") and current and current["reason"] == COMPLETE:
        return status, None
    old = deployment.get("status") or {}
    if _complete(deployment, status):
        _set(status, "Progressing", "True", COMPLETE, f"{about} has successfully progressed.", at)
        return status, None
    if _progressing(old, status):
        _set(status, "Progressing", "True", "ReplicaSetUpdated", f"{about} is progressing.", at, force=True)
        return status, float(deadline) + 1
    current = _condition(status, "Progressing")
    if current is None or current["reason"] == TIMED_OUT:
        return status, None
    since = timing.parse(current.get("lastUpdateTime"))
    if since is None:
        return status, None
    left = (since - now.wall).total_seconds() + float(deadline)
    if left < 0:
        _set(status, "Progressing", "False", TIMED_OUT, f"{about} has timed out progressing.", at)
        return status, None
    return status, left + 1  # the deadline is checked at a whole second past it, as it is written


def _complete(deployment: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    return bool(
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
    )


def _progressing(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def get(status: Mapping[str, Any], field: str) -> int:
        return int(status.get(field) or 0)

    old_olds = get(old, "replicas") - get(old, "updatedReplicas")
    new_olds = get(new, "replicas") - get(new, "updatedReplicas")
    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or new_olds < old_olds
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )
