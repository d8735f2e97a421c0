"""The controllers a cluster runs beside the API server, simulated: the Deployment controller, the
ReplicaSet controller and the kubelet in one, off by default.

When a Deployment's pods are to run (:attr:`DeploymentController.available_by_default`, or one
Deployment held ready or unready), it gets ``replicas`` pods of its template, named
``<deployment>-<index>`` (not a ReplicaSet hash and a random suffix) and owned by the Deployment
directly, whose status is written at once: every init container completed and every container
running, ready when the Deployment is, unless :meth:`DeploymentController.set_pod_status` says
otherwise. The Deployment's status then says how many are ready and available.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator.objects import Body, ObjectKey, now
from qwenops_testing.emulator.resources import DEPLOYMENTS, PODS
from qwenops_testing.emulator.store import Store


class DeploymentController:
    """See the module's docstring; it acts on each change of a Deployment in `store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._available_by_default = False
        self._readiness: dict[tuple[str | None, str], bool] = {}
        self._pod_statuses: dict[tuple[str | None, str], Body] = {}
        store.controllers.append(self.reconcile)

    @property
    def available_by_default(self) -> bool:
        return self._available_by_default

    @available_by_default.setter
    def available_by_default(self, value: bool) -> None:
        self._available_by_default = value
        for key, _ in self.store.live_in(DEPLOYMENTS):
            self.reconcile(key)

    def set_ready(self, namespace: str, name: str, ready: bool | None) -> None:
        if ready is None:
            self._readiness.pop((namespace, name), None)
        else:
            self._readiness[namespace, name] = ready
        self.reconcile((DEPLOYMENTS, namespace, name))

    def set_pod_status(self, namespace: str, deployment: str, status: Body | None) -> None:
        if status is None:
            self._pod_statuses.pop((namespace, deployment), None)
        else:
            self._pod_statuses[namespace, deployment] = copy.deepcopy(status)
        self.reconcile((DEPLOYMENTS, namespace, deployment))

    def reconcile(self, key: ObjectKey) -> None:
        if key[0] != DEPLOYMENTS:
            return
        obj = self.store.current(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        ready = self._readiness.get((key[1], key[2]))
        if ready is None and self._available_by_default:
            ready = True
        if ready is None:
            return  # nobody runs the pods: the status stays as it is
        self._reconcile_pods(obj, ready=ready)
        status = deployment_status(obj, ready=ready)
        if _same_status(obj.get("status") or {}, status):
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        self.store.commit(key, obj, new, controllers=False)

    def _reconcile_pods(self, deployment: Body, *, ready: bool) -> None:
        meta = deployment["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        template = (deployment.get("spec") or {}).get("template") or {}
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        status = self._pod_statuses.get((namespace, name)) or pod_status(template, ready=ready)
        owned = {
            key: obj
            for key, obj in self.store.dependents(meta["uid"])
            if key[0] == PODS and key[1] == namespace
        }
        names = {f"{name}-{index}" for index in range(wanted)}
        for key in [k for k in owned if k[2] not in names]:
            self.store.delete(key)
        for pod_name in sorted(names):
            key = (PODS, namespace, pod_name)
            current = owned.get(key)
            if current is None:
                self.store.create(PODS, namespace, _pod(template, pod_name, owner=meta))
                current = self.store.current(key)
            if current is not None and current.get("status") != status:
                new = copy.deepcopy(current)
                new["status"] = copy.deepcopy(status)
                self.store.commit(key, current, new, controllers=False)


def _pod(template: Mapping[str, Any], name: str, *, owner: Mapping[str, Any]) -> Body:
    template_meta = template.get("metadata") or {}
    return {
        "metadata": {
            "name": name,
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner["name"],
                                 "uid": owner["uid"], "controller": True}],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }  # fmt: skip


def deployment_status(obj: Mapping[str, Any], *, ready: bool) -> Body:
    """The status the Deployment controller writes once the pods are (or are not yet) ready."""
    name = obj["metadata"]["name"]
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    old = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    at = now()

    def condition(type_: str, status: str, reason: str, message: str) -> Body:
        previous = old.get(type_) or {}
        unchanged = previous.get("status") == status
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastUpdateTime": previous.get("lastUpdateTime", at) if unchanged else at,
            "lastTransitionTime": previous.get("lastTransitionTime", at) if unchanged else at,
        }

    counts = {
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas if ready else 0,
        "availableReplicas": replicas if ready else 0,
        "unavailableReplicas": 0 if ready else replicas,
    }
    status: Body = {"observedGeneration": obj["metadata"].get("generation", 1)}
    status.update({k: v for k, v in counts.items() if v})  # the API omits zero counts
    if ready:
        status["conditions"] = [
            condition("Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability."),
            condition("Progressing", "True", "NewReplicaSetAvailable",
                      f'ReplicaSet "{name}" has successfully progressed.'),
        ]  # fmt: skip
    else:
        status["conditions"] = [
            condition("Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability."),
            condition("Progressing", "True", "ReplicaSetUpdated",
                      f'ReplicaSet "{name}" is progressing.'),
        ]  # fmt: skip
    return status


def pod_status(template: Mapping[str, Any], *, ready: bool) -> Body:
    """A scheduled pod whose init containers completed and whose containers run."""
    spec = template.get("spec") or {}
    flag = "True" if ready else "False"
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": flag},
            {"type": "Ready", "status": flag},
        ],
        "initContainerStatuses": [
            {"name": c["name"], "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            for c in spec.get("initContainers") or []
        ],
        "containerStatuses": [
            {"name": c["name"], "ready": ready, "started": True, "restartCount": 0,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
            for c in spec.get("containers") or []
        ],
    }  # fmt: skip


def _same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Equal but for the conditions' timestamps."""

    def essence(status: Mapping[str, Any]) -> Body:
        conditions = [
            (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
        ]
        return {**{k: v for k, v in status.items() if k != "conditions"}, "conditions": conditions}

    return essence(old) == essence(new)
