"""A QwenDeployment's pods replayed change by change from the emulator's log: at every recorded
instant, the GPUs its pods ask for, its ready serving pods per revision, and any pod waiting for a
GPU. What a budget promises is checked on this, and the benchmarks measure it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.service_timeline import serving

PODS, DEPLOYMENTS = "v1/pods", "apps/v1/deployments"
REJECTED = "qwenops.io/rejected"


@dataclass(frozen=True)
class Moment:
    at: float
    """When, on the monotonic clock."""
    requested: int
    """GPUs the pods ask for: every pod not finished, Pending and terminating ones included."""
    ready: dict[str, int]
    """Ready pods not on their way out, by revision."""
    rejected: frozenset[str]
    """Revisions rolled back: their Deployment carries the rollback's mark."""
    unschedulable: int
    """Pods the scheduler could not place (PodScheduled=False)."""

    def serving(self) -> int:
        """Ready pods of the revisions that may serve."""
        return sum(n for revision, n in self.ready.items() if revision not in self.rejected)


def _ours(obj: dict[str, Any], name: str) -> bool:
    return (obj["metadata"].get("labels") or {}).get("qwenops.io/deployment") == name


def _unschedulable(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)


def replay(emulator: KubeEmulator, namespace: str, name: str, gpus_per_pod: int = 1) -> list[Moment]:
    """Every instant of the log, oldest first (the emulator's log must not have been compacted)."""
    pods: dict[str, dict[str, Any]] = {}
    rejected: set[str] = set()
    moments: list[Moment] = []
    for at, kind, obj in emulator.changes(PODS, DEPLOYMENTS):
        meta = obj["metadata"]
        if meta.get("namespace") != namespace or not _ours(obj, name):
            continue
        revision = meta["labels"].get("qwenops.io/revision", "")
        if obj.get("kind") == "Deployment" or "template" in (obj.get("spec") or {}):
            if REJECTED in (meta.get("annotations") or {}):
                rejected.add(revision)
            else:
                rejected.discard(revision)
        elif kind == "DELETED" or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            pods.pop(meta["name"], None)
        else:
            pods[meta["name"]] = obj
        ready: dict[str, int] = {}
        for pod in pods.values():
            if serving(pod):
                rev = pod["metadata"]["labels"].get("qwenops.io/revision", "")
                ready[rev] = ready.get(rev, 0) + 1
        moments.append(
            Moment(
                at=at,
                requested=len(pods) * gpus_per_pod,
                ready=ready,
                rejected=frozenset(rejected),
                unschedulable=sum(_unschedulable(p) for p in pods.values()),
            )
        )
    return moments
