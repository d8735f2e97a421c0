"""The scheduler, simulated: pods bound to Nodes with room for them, or Pending saying why not.

Without Node objects the cluster is unlimited: every pod is bound at once to :data:`UNLIMITED_NODE`
(a name, no object). With Nodes, each node is filtered as kube-scheduler's default plugins filter
it, stopping at the first that refuses: ``spec.unschedulable`` (NodeUnschedulable), an untolerated
``NoSchedule``/``NoExecute`` taint (TaintToleration), ``nodeSelector`` and required node affinity
(NodeAffinity), then the requests against ``status.allocatable`` less what the pods bound there
(terminating ones too) request (NodeResourcesFit, one reason per short resource). A pod that fits
nowhere stays Pending with ``PodScheduled=False``, reason ``Unschedulable``, and the message
kube-scheduler writes: the reasons counted over the nodes, sorted, then what preemption found
(nodes that refused for resources have no lower-priority pods to evict here; the others are not
helped by preemption). Such pods are tried again when a node or a pod goes.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator import pods
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.pods import NODES, PODS
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.timing import Instant

UNLIMITED_NODE = "emulated-node"
"""Where pods run while the cluster has no Node objects (no object of that name exists)."""
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
_SUFFIXES = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}  # fmt: skip
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)")


def quantity(text: Any) -> float:
    """A resource.Quantity (``500m``, ``16Gi``, ``2``) as a number."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None or match[2] not in {"", *_SUFFIXES}:
        raise ValueError(f"not a quantity: {text!r}")
    return float(match[1]) * _SUFFIXES.get(match[2], 1)


def requests_of(pod: Mapping[str, Any]) -> dict[str, float]:
    """What a pod asks of a node: its containers' requests (limits where no request is set), or
    more if one init container asks more."""

    def of(container: Mapping[str, Any]) -> dict[str, float]:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return {name: quantity(value) for name, value in asked.items()}

    spec = pod.get("spec") or {}
    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for name, value in of(container).items():
            total[name] = total.get(name, 0) + value
    for container in spec.get("initContainers") or []:
        for name, value in of(container).items():
            total[name] = max(total.get(name, 0), value)
    return {name: value for name, value in total.items() if value}


def tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        operator = toleration.get("operator", "Equal")
        if not toleration.get("key") and operator == "Exists":
            return True
        if toleration.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = (
        expression.get("key", ""),
        expression.get("operator"),
        expression.get("values") or [],
    )
    value = labels.get(key)
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and value is not None and value.lstrip("-").isdigit() and values:
        return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
    return False


def fits_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``nodeSelector`` and the required node affinity (its terms ORed, each one's parts ANDed)."""
    spec, meta = pod.get("spec") or {}, node.get("metadata") or {}
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})  # fmt: skip
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": meta.get("name", "")}
    return any(
        (term.get("matchExpressions") or term.get("matchFields"))
        and all(_matches(e, labels) for e in term.get("matchExpressions") or [])
        and all(_matches(e, fields) for e in term.get("matchFields") or [])
        for term in terms
    )


def refusals(
    pod: Mapping[str, Any], node: Mapping[str, Any], used: Mapping[str, float]
) -> tuple[list[str], bool]:
    """Why a node cannot take a pod (empty: it can), and whether preemption could ever help."""
    spec, node_spec = pod.get("spec") or {}, node.get("spec") or {}
    tolerations = list(spec.get("tolerations") or [])
    unschedulable = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    if node_spec.get("unschedulable") and not tolerates(tolerations, unschedulable):
        return ["node(s) were unschedulable"], False
    for taint in node_spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"], False
    if not fits_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"], False
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    short = [
        f"Insufficient {name}"
        for name, asked in requests_of(pod).items()
        if quantity(allocatable.get(name, 0)) - used.get(name, 0) < asked
    ]
    if "pods" in allocatable and used.get("pods", 0) + 1 > quantity(allocatable["pods"]):
        short.append("Too many pods")
    return short, True


def unschedulable_message(nodes: int, reasons: Counter[str], victims: Counter[str]) -> str:
    """kube-scheduler's FitError, with the preemption plugin's own after it."""
    if nodes == 0:
        return "no nodes available to schedule pods"

    def histogram(counts: Counter[str]) -> str:
        return ", ".join(sorted(f"{count} {reason}" for reason, count in counts.items()))

    return (f"0/{nodes} nodes are available: {histogram(reasons)}. "
            f"preemption: 0/{nodes} nodes are available: {histogram(victims)}.")  # fmt: skip


class Scheduler:
    """See the module's docstring; :meth:`sync` is one attempt at one pod."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self) -> list[ObjectKey]:
        """The pods waiting for a node."""
        return [key for key, pod in self.store.live_in(PODS) if self._waits(pod)]

    def sync(self, key: ObjectKey, now: Instant) -> float | None:
        pod = self.store.current(key)
        if pod is None or not self._waits(pod):
            return None
        nodes = [node for _, node in self.store.live_in(NODES)]
        if not nodes:
            self._bind(key, pod, UNLIMITED_NODE, now)
            return None
        used = self._used()
        reasons: Counter[str] = Counter()
        victims: Counter[str] = Counter()
        fitting = []
        for node in nodes:
            name = node["metadata"]["name"]
            refused, resolvable = refusals(pod, node, used.get(name, {}))
            if not refused:
                fitting.append(node)
            reasons.update(refused)
            victims[NO_VICTIMS if resolvable else NOT_HELPFUL] += 1
        if fitting:
            self._bind(key, pod, self._best(pod, fitting, used), now)
        else:
            self._refuse(key, pod, unschedulable_message(len(nodes), reasons, victims), now)
        return None

    def _waits(self, pod: Mapping[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and pods.has_containers(pod)
            and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
            and not pod["metadata"].get("deletionTimestamp")
        )

    def _used(self) -> dict[str, dict[str, float]]:
        """What the pods bound to each node request (terminating ones too), and how many they are."""
        used: dict[str, dict[str, float]] = {}
        for _, pod in self.store.live_in(PODS):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                counter = used.setdefault(node, {})
                for name, value in {**requests_of(pod), "pods": 1}.items():
                    counter[name] = counter.get(name, 0) + value
        return used

    def _best(self, pod: Mapping[str, Any], nodes: list[Body], used: dict[str, dict[str, float]]) -> str:
        """The least allocated node for what the pod asks (then by name): pods spread."""

        def load(node: Body) -> tuple[float, str]:
            name = node["metadata"]["name"]
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            shares = [
                used.get(name, {}).get(resource, 0) / quantity(allocatable[resource])
                for resource in requests_of(pod)
                if quantity(allocatable.get(resource, 0)) > 0
            ]
            return (sum(shares), name)

        return str(min(nodes, key=load)["metadata"]["name"])

    def _bind(self, key: ObjectKey, pod: Body, node: str, now: Instant) -> None:
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = node
        status = new.setdefault("status", {})
        status.setdefault("phase", "Pending")
        scheduled = [{"type": "PodScheduled", "status": "True"}]
        kept = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"] = (
            pods.with_conditions(status.get("conditions") or [], scheduled, now.stamp) + kept
        )
        self.store.commit(key, pod, new, controllers=False)

    def _refuse(self, key: ObjectKey, pod: Body, message: str, now: Instant) -> None:
        current = pods.condition(pod, "PodScheduled") or {}
        if current.get("status") == "False" and current.get("message") == message:
            return
        new = copy.deepcopy(pod)
        status = new.setdefault("status", {})
        status["phase"] = "Pending"
        refused = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                   "reason": "Unschedulable", "message": message}  # fmt: skip
        others = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"] = (
            pods.with_conditions(status.get("conditions") or [], [refused], now.stamp) + others
        )
        self.store.commit(key, pod, new, controllers=False)


def cordoned(node: Body) -> Body:
    """The node as ``kubectl cordon`` leaves it."""
    new = copy.deepcopy(node)
    new.setdefault("spec", {})["unschedulable"] = True
    return new


def node_object(name: str, *, gpus: int, labels: Mapping[str, str], taints: list[Mapping[str, Any]],
                gpu_resource: str = "nvidia.com/gpu") -> Body:  # fmt: skip
    """A Ready node with `gpus` of `gpu_resource`, and room for any CPU and memory asked here."""
    resources = {"cpu": "64", "memory": "512Gi", "pods": "110", gpu_resource: str(gpus)}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {"taints": [dict(t) for t in taints]} if taints else {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
        },
    }  # fmt: skip
