"""The ReplicaSet controller, simulated: each ReplicaSet keeps ``spec.replicas`` pods of its template.

A pass creates at most one missing pod (``<replicaset>-<suffix>``, owned by the ReplicaSet with
``blockOwnerDeletion``) and asks to run again at once, so that pods appear one after another
between other work, as the real controller's burst of creations does; a surplus is deleted
(gracefully, as any pod: collector.py) the least valuable first: unscheduled, then pending, then
not ready, then the youngest. The status counts the active pods, the ready ones, and those ready
for ``minReadySeconds`` (available), and says which generation it has seen. Its pods are
created through admission, as a client's are (defaulted; refused outside an existing namespace).
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator import pods
from qwenops_testing.emulator.errors import ApiError
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.pods import PODS
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.timing import Instant

BURST = 1
"""Pods one pass creates before it runs again."""
REFUSED_RETRY_SECONDS = 1.0
"""When to try again after the API server refused a pod (admission.py), as the real controller
retries with a backoff."""


def owned_pods(store: Store, replicaset: Mapping[str, Any]) -> list[tuple[ObjectKey, Body]]:
    uid = replicaset["metadata"]["uid"]
    return [(key, pod) for key, pod in store.dependents(uid) if key[0] == PODS and pods.owned_by(pod, uid)]


def _deletion_rank(pod: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """Smaller is deleted first (the ReplicaSet controller's ranking, in short)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (
        1 if spec.get("nodeName") else 0,
        1 if status.get("phase") == "Running" else 0,
        1 if pods.is_ready(pod) else 0,
        # the youngest first: invert the timestamp's characters' order
        "".join(chr(0x10FFFF - ord(c)) for c in pod["metadata"].get("creationTimestamp", "")),
    )


def replicaset_status(
    replicaset: Mapping[str, Any], active: list[Body], now: datetime.datetime
) -> tuple[Body, float | None]:
    """The status, and in how many seconds a ready pod becomes available (None: none waits)."""
    spec = replicaset.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    ready = [pod for pod in active if pods.is_ready(pod)]
    available = [pod for pod in ready if pods.is_available(pod, min_ready, now)]
    waits = [
        (since + datetime.timedelta(seconds=min_ready) - now).total_seconds()
        for pod in ready
        if pod not in available and (since := pods.ready_since(pod)) is not None
    ]
    status: Body = {"replicas": len(active)}  # never omitted, unlike the other counts
    counts = {
        "fullyLabeledReplicas": len(active),
        "readyReplicas": len(ready),
        "availableReplicas": len(available),
    }
    status.update({k: v for k, v in counts.items() if v})
    status["observedGeneration"] = replicaset["metadata"].get("generation", 1)
    return status, (max(min(waits), 0.05) if waits else None)


class ReplicaSetController:
    """See the module's docstring; :meth:`sync` is one pass over one ReplicaSet."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sync(self, key: ObjectKey, now: Instant) -> float | None:
        """One pass; the seconds after which to run again, or None."""
        replicaset = self.store.current(key)
        if replicaset is None or replicaset["metadata"].get("deletionTimestamp"):
            return None
        wanted = int((replicaset.get("spec") or {}).get("replicas", 1))
        owned = owned_pods(self.store, replicaset)
        active = [(k, pod) for k, pod in owned if pods.is_active(pod)]
        again: float | None = None
        if len(active) < wanted:
            try:
                for _ in range(min(BURST, wanted - len(active))):
                    self.store.create(PODS, key[1], pods.new_pod(replicaset))
                again = 0.0 if len(active) + BURST < wanted else None
            except ApiError:  # refused by admission (its namespace gone, say): try again later
                again = REFUSED_RETRY_SECONDS
        elif len(active) > wanted:
            surplus = sorted(active, key=lambda item: _deletion_rank(item[1]))[: len(active) - wanted]
            for pod_key, _ in surplus:
                self.store.delete(pod_key)
        current = [pod for _, pod in owned_pods(self.store, replicaset) if pods.is_active(pod)]
        status, wait = replicaset_status(replicaset, current, now.wall)
        self._write_status(key, status)
        return again if wait is None else min(wait, again if again is not None else wait)

    def _write_status(self, key: ObjectKey, status: Body) -> None:
        replicaset = self.store.current(key)
        if replicaset is None or (replicaset.get("status") or {}) == status:
            return
        new = copy.deepcopy(replicaset)
        new["status"] = status
        self.store.commit(key, replicaset, new, controllers=False)
