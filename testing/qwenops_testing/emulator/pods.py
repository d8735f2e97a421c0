"""What the simulated controllers read off pods and write into them: pure functions."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator import timing
from qwenops_testing.emulator.objects import Body

PODS = kmock.resource("", "v1", "pods")
NODES = kmock.resource("", "v1", "nodes")
REPLICASETS = kmock.resource("apps", "v1", "replicasets")


def controller_ref(obj: Mapping[str, Any]) -> Body | None:
    """The ownerReference with ``controller: true``, if any."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((dict(ref) for ref in refs if ref.get("controller")), None)


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid


def condition(obj: Mapping[str, Any], type_: str) -> Body | None:
    found = ((obj.get("status") or {}).get("conditions")) or []
    return next((dict(c) for c in found if c.get("type") == type_), None)


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counted by its ReplicaSet: neither terminating nor finished."""
    phase = (pod.get("status") or {}).get("phase")
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def is_ready(pod: Mapping[str, Any]) -> bool:
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> datetime.datetime | None:
    ready = condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return timing.parse(ready.get("lastTransitionTime")) or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least `min_ready_seconds`, as the ReplicaSet controller counts it."""
    since = ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


def has_containers(pod: Mapping[str, Any]) -> bool:
    return bool(((pod.get("spec") or {}).get("containers")) or [])


def with_conditions(old: list[Body], new: list[Body], at: str) -> list[Body]:
    """`new` conditions keeping each one's lastTransitionTime while its status holds."""
    before = {c.get("type"): c for c in old}
    result = []
    for cond in new:
        previous = before.get(cond["type"]) or {}
        kept = previous.get("status") == cond["status"] and previous.get("lastTransitionTime")
        result.append({**cond, "lastTransitionTime": kept or at})
    return result


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal but for the conditions' timestamps."""

    def essence(status: Mapping[str, Any]) -> Body:
        conditions = [
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
            for c in status.get("conditions") or []
        ]
        return {**{k: v for k, v in status.items() if k != "conditions"}, "conditions": conditions}

    return essence(old) == essence(new)


def new_pod(replicaset: Mapping[str, Any]) -> Body:
    """A pod of a ReplicaSet's template, owned by it, named ``<replicaset>-<suffix>``."""
    meta = replicaset["metadata"]
    template = (replicaset.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    return {
        "metadata": {
            "generateName": f"{meta['name']}-",
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": meta["name"], "uid": meta["uid"],
                "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }  # fmt: skip


def running_status(pod: Mapping[str, Any], *, ready: bool, started: str, at: str) -> Body:
    """A scheduled pod whose init containers completed and whose containers run (ready or not)."""
    spec = pod.get("spec") or {}
    flag = "True" if ready else "False"
    old = list((pod.get("status") or {}).get("conditions") or [])
    conditions = [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "ContainersReady", "status": flag},
        {"type": "Ready", "status": flag},
    ]
    return {
        "phase": "Running",
        "conditions": with_conditions(old, conditions, at),
        "startTime": (pod.get("status") or {}).get("startTime") or started,
        "initContainerStatuses": [
            {"name": c["name"], "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            for c in spec.get("initContainers") or []
        ],
        "containerStatuses": [
            {"name": c["name"], "ready": ready, "started": True, "restartCount": 0,
             "state": {"running": {"startedAt": started}}}
            for c in spec.get("containers") or []
        ],
    }  # fmt: skip


def starting_status(pod: Mapping[str, Any], *, started: str, at: str) -> Body:
    """A scheduled pod whose first init container runs (or, without any, whose containers start)."""
    spec = pod.get("spec") or {}
    inits = spec.get("initContainers") or []
    old = list((pod.get("status") or {}).get("conditions") or [])
    conditions = [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Initialized", "status": "False" if inits else "True"},
        {"type": "ContainersReady", "status": "False"},
        {"type": "Ready", "status": "False"},
    ]
    waiting = {"waiting": {"reason": "PodInitializing" if inits else "ContainerCreating"}}
    return {
        "phase": "Pending",
        "conditions": with_conditions(old, conditions, at),
        "startTime": (pod.get("status") or {}).get("startTime") or started,
        "initContainerStatuses": [
            {"name": c["name"], "ready": False, "restartCount": 0,
             "state": {"running": {"startedAt": started}} if index == 0 else waiting}
            for index, c in enumerate(inits)
        ],
        "containerStatuses": [
            {"name": c["name"], "ready": False, "started": False, "restartCount": 0, "state": waiting}
            for c in spec.get("containers") or []
        ],
    }  # fmt: skip
