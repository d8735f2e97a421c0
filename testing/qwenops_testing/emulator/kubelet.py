"""The kubelets, simulated: each pod bound to a node starts, loads and becomes ready on its own
clock, and a deleted one terminates within its grace period.

A pod is first seen bound at some instant; ``start_seconds`` later its init containers have
completed and its containers run (until then the first init container runs), and a pod meant to
become ready (:attr:`Kubelet.readiness`) is Ready ``load_seconds`` after that: each pod on its own,
one status write each. A pod given a status of its own (:attr:`Kubelet.override`) gets that one.

A pod marked for deletion keeps its deletionTimestamp while its containers stop: it is deleted
for good ``shutdown_seconds`` after the kubelet saw the mark, or when its grace period is over if
that comes first (``shutdown_seconds`` infinite: containers that ignore SIGTERM).
:func:`grace_period` is the API server's side of it: how long a DELETE lets a pod terminate.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from qwenops_testing.emulator import pods
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.pods import PODS
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.timing import Instant

DEFAULT_GRACE_SECONDS = 30


def grace_period(key: ObjectKey, obj: Body, asked: int | None) -> int:
    """A pod bound to a node and not finished terminates gracefully; anything else goes at once."""
    if key[0] != PODS:
        return 0
    spec, phase = obj.get("spec") or {}, (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if asked is not None:
        return asked
    return int(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))


@dataclasses.dataclass
class PodTiming:
    """How long a pod takes on its node; see the module's docstring."""

    start_seconds: float = 0.0
    load_seconds: float = 0.0
    shutdown_seconds: float = 0.0


class Kubelet:
    """See the module's docstring; :meth:`sync` is one look at one pod."""

    def __init__(self, store: Store, timing: PodTiming) -> None:
        self.store = store
        self.timing = timing
        self.readiness: Callable[[Mapping[str, Any]], bool | None] = lambda pod: True
        """Whether a pod is to become ready; None: nobody runs it (its status stays as it is)."""
        self.override: Callable[[Mapping[str, Any]], Body | None] = lambda pod: None
        """A status to give a pod instead of its own."""
        self._bound: dict[str, float] = {}
        self._stopping: dict[str, float] = {}

    def sync(self, key: ObjectKey, now: Instant) -> float | None:
        """One look; the seconds after which to look again, or None."""
        pod = self.store.current(key)
        if pod is None:
            return None
        uid = pod["metadata"]["uid"]
        if not (pod.get("spec") or {}).get("nodeName") or not pods.has_containers(pod):
            return None
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminate(key, pod, uid, now)
        ready = self.readiness(pod)
        if ready is None:
            return None
        override = self.override(pod)
        if override is not None:
            self._write(key, pod, copy.deepcopy(override))
            return None
        bound = self._bound.setdefault(uid, now.mono)
        elapsed = now.mono - bound
        stamp = now.stamp
        since = (pod.get("status") or {}).get(
            "startTime"
        ) or stamp  # kept: a status that holds is not rewritten
        if elapsed < self.timing.start_seconds:
            self._write(key, pod, pods.starting_status(pod, started=since, at=stamp))
            return self.timing.start_seconds - elapsed
        loaded = elapsed >= self.timing.start_seconds + self.timing.load_seconds
        self._write(key, pod, pods.running_status(pod, ready=ready and loaded, started=since, at=stamp))
        if ready and not loaded:
            return self.timing.start_seconds + self.timing.load_seconds - elapsed
        return None

    def _terminate(self, key: ObjectKey, pod: Body, uid: str, now: Instant) -> float | None:
        seen = self._stopping.setdefault(uid, now.mono)
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        left = min(grace, self.timing.shutdown_seconds) - (now.mono - seen)
        if left > 0:
            return left
        self._bound.pop(uid, None)
        self._stopping.pop(uid, None)
        self.store.delete(key, {"gracePeriodSeconds": 0})
        return None

    def forget(self, uid: str) -> None:
        self._bound.pop(uid, None)
        self._stopping.pop(uid, None)

    def _write(self, key: ObjectKey, pod: Body, status: Body) -> None:
        if pods.same_status(pod.get("status") or {}, status):
            return
        new = copy.deepcopy(pod)
        new["status"] = status
        self.store.commit(key, pod, new, controllers=False)
