"""What the `<name>` Service of a QwenDeployment sends traffic to, replayed change by change from the
emulator's log: at every recorded instant, the ready pods per revision, the ones the Service's
selector picks, the GPUs the pods ask for and whether the QwenDeployment is baking. The way back
during a bake is checked on this, and the benchmarks measure it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qwenops_testing.cluster import QWDS
from qwenops_testing.emulator import KubeEmulator

PODS, SERVICES = "v1/pods", "v1/services"
REVISION = "qwenops.io/revision"


@dataclass(frozen=True)
class Instant:
    at: float
    """When, on the monotonic clock."""
    requested: int
    """GPUs the pods ask for (one a pod): every pod not finished, Pending and terminating ones too."""
    ready: dict[str, int]
    """Ready pods not on their way out, by revision."""
    selected: dict[str, int]
    """Of those, the ones the `<name>` Service selects (its endpoints), by revision."""
    baking: bool
    """The QwenDeployment's phase is Baking."""


def serving(pod: dict[str, Any]) -> bool:
    """Ready and not terminating: what an endpoints controller publishes for a Service selecting it."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready and not pod["metadata"].get("deletionTimestamp")


def selected_by(selector: dict[str, str], pod: dict[str, Any]) -> bool:
    """Whether a Service's `selector` (equality only) picks `pod`; an empty one picks nothing."""
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def replay(emulator: KubeEmulator, namespace: str, name: str) -> list[Instant]:
    """Every instant of the log that concerns the QwenDeployment, its pods or its `<name>` Service,
    oldest first (the emulator's log must not have been compacted)."""
    pods: dict[str, dict[str, Any]] = {}
    selector: dict[str, str] | None = None
    baking = False
    instants: list[Instant] = []
    for at, kind, obj in emulator.changes(PODS, SERVICES, QWDS):
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        if meta.get("namespace") != namespace:
            continue
        if obj.get("kind") == "Service":
            if meta["name"] != name:
                continue
            selector = None if kind == "DELETED" else obj["spec"].get("selector") or {}
        elif obj.get("kind") == "QwenDeployment":
            if meta["name"] != name:
                continue
            baking = (obj.get("status") or {}).get("phase") == "Baking"
        elif labels.get("qwenops.io/deployment") != name:
            continue
        elif kind == "DELETED" or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            pods.pop(meta["name"], None)
        else:
            pods[meta["name"]] = obj
        ready: dict[str, int] = {}
        selected: dict[str, int] = {}
        for pod in pods.values():
            if not serving(pod):
                continue
            revision = (pod["metadata"].get("labels") or {}).get(REVISION, "")
            ready[revision] = ready.get(revision, 0) + 1
            if selector is not None and selected_by(selector, pod):
                selected[revision] = selected.get(revision, 0) + 1
        instants.append(Instant(at, len(pods), ready, selected, baking))
    return instants
