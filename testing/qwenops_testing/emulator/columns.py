"""The columns a 1.35 API server prints for the built-in kinds the operator uses (its
``pkg/printers/internalversion``): Deployments, ReplicaSets, Pods, Services, Events, Namespaces,
Nodes.

Each printer is a list of column definitions and a function from an object (and the time) to its
cells; the name comes first but for Events (last, shown with ``-o wide``). Kinds without one get the
server's default: Name and Created At.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from qwenops_testing.emulator.timing import parse

Body = dict[str, Any]
Cells = Callable[[Mapping[str, Any], datetime.datetime], list[Any]]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def column(name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> Body:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


def name_column() -> Body:
    return column("Name", fmt="name", description=NAME_DESCRIPTION)


def human_duration(elapsed: datetime.timedelta) -> str:
    """apimachinery's ``duration.HumanDuration``: ``45s``, ``5m3s``, ``3h12m``, ``4d``..."""
    seconds = int(elapsed.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m" if seconds % 60 == 0 else f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def since(stamp: Any, now: datetime.datetime) -> str:
    """The age of a timestamp, as the printers show it (``<unknown>`` without one)."""
    moment = parse(stamp) if isinstance(stamp, str) else None
    return "<unknown>" if moment is None else human_duration(now - moment)


def _age(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    return since(obj.get("metadata", {}).get("creationTimestamp"), now)


def _containers(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])


def _selector(obj: Mapping[str, Any]) -> str:
    labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _deployment(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    containers = _containers(obj)
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(obj, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
        _selector(obj),
    ]  # fmt: skip


def _replicaset(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    containers = _containers(obj)
    return [
        spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0), _age(obj, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
        _selector(obj),
    ]  # fmt: skip


def _pod(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Pending"
    for state in statuses:
        waiting = (state.get("state") or {}).get("waiting") or {}
        terminated = (state.get("state") or {}).get("terminated") or {}
        reason = waiting.get("reason") or terminated.get("reason") or reason
    if obj.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    return [
        f"{ready}/{len(spec.get('containers') or [])}", reason, str(restarts), _age(obj, now),
        status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>", "<none>",
    ]  # fmt: skip


def _ports(spec: Mapping[str, Any]) -> str:
    parts = []
    for port in spec.get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        parts.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    spec = obj.get("spec", {})
    ingress = (obj.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    external = [*(i.get("ip") or i.get("hostname", "") for i in ingress), *(spec.get("externalIPs") or [])]
    kind = spec.get("type", "ClusterIP")
    shown = ",".join(external) or ("<pending>" if kind == "LoadBalancer" else "<none>")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [kind, spec.get("clusterIP") or "<none>", shown, _ports(spec), _age(obj, now), selector]


def _event(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    about = obj.get("involvedObject", {})
    created = obj.get("metadata", {}).get("creationTimestamp")
    last = obj.get("lastTimestamp") or obj.get("eventTime") or created
    first = obj.get("firstTimestamp") or obj.get("eventTime") or last
    source = obj.get("source", {}).get("component") or obj.get("reportingComponent") or ""
    return [
        since(last, now), obj.get("type", ""), obj.get("reason", ""),
        f"{str(about.get('kind', '')).lower()}/{about.get('name', '')}", about.get("fieldPath", ""),
        source, str(obj.get("message", "")).strip(), since(first, now), str(obj.get("count", 1)),
        obj.get("metadata", {}).get("name", ""),
    ]  # fmt: skip


def _namespace(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    return [obj.get("status", {}).get("phase", "Active"), _age(obj, now)]


def _node(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
    status = obj.get("status", {})
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    shown = "Ready" if ready else "NotReady"
    if obj.get("spec", {}).get("unschedulable"):
        shown += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    labels = obj.get("metadata", {}).get("labels") or {}
    roles = sorted(k.removeprefix(prefix) for k in labels if k.startswith(prefix))
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        shown, ",".join(roles) or "<none>", _age(obj, now), info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "<unknown>"),
    ]  # fmt: skip


def _named(definitions: list[Body], cells: Cells) -> tuple[list[Body], Cells]:
    """A printer whose first column is the name, as most kinds' are."""
    def row(obj: Mapping[str, Any], now: datetime.datetime) -> list[Any]:
        return [obj.get("metadata", {}).get("name", ""), *cells(obj, now)]

    return [name_column(), *definitions], row


_WORKLOAD = [column("Containers", priority=1), column("Images", priority=1), column("Selector", priority=1)]
PRINTERS: dict[tuple[str, str], tuple[list[Body], Cells]] = {
    ("apps", "deployments"): _named([
        column("Ready"), column("Up-to-date", "integer"), column("Available", "integer"), column("Age"),
        *_WORKLOAD], _deployment),
    ("apps", "replicasets"): _named([
        column("Desired", "integer"), column("Current", "integer"), column("Ready", "integer"),
        column("Age"), *_WORKLOAD], _replicaset),
    ("", "pods"): _named([
        column("Ready"), column("Status"), column("Restarts"), column("Age"), column("IP", priority=1),
        column("Node", priority=1), column("Nominated Node", priority=1),
        column("Readiness Gates", priority=1)], _pod),
    ("", "services"): _named([
        column("Type"), column("Cluster-IP"), column("External-IP"), column("Port(s)"), column("Age"),
        column("Selector", priority=1)], _service),
    ("", "events"): ([  # the name last, and only with -o wide
        column("Last Seen"), column("Type"), column("Reason"), column("Object"),
        column("Subobject", priority=1), column("Source", priority=1), column("Message"),
        column("First Seen", priority=1), column("Count", priority=1),
        column("Name", priority=1, fmt="name", description=NAME_DESCRIPTION)], _event),
    ("", "namespaces"): _named([column("Status"), column("Age")], _namespace),
    ("", "nodes"): _named([
        column("Status"), column("Roles"), column("Age"), column("Version"),
        *(column(name, priority=1) for name in (
            "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"))], _node),
}  # fmt: skip
"""By (group, plural): the columns, and each object's cells."""

DEFAULT_PRINTER: tuple[list[Body], Cells] = _named(
    [column("Created At", "date", AGE_DESCRIPTION)],
    lambda obj, now: [obj.get("metadata", {}).get("creationTimestamp")],
)
"""The server's default for a kind without a printer: its name and creation time, as it is."""
