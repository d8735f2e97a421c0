"""The cluster's nodes, and taking pods off them: the Eviction subresource and ``kubectl drain``.

Nodes are opt-in: without any, the scheduler takes the cluster as unlimited (scheduler.py).
An eviction deletes the pod as any DELETE does (collector.py: within its grace period, once it
runs on a node); no PodDisruptionBudget is modelled, so an eviction is never refused with 429.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.collector import delete_options
from qwenops_testing.emulator.errors import bad_request, not_found
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.pods import NODES, PODS
from qwenops_testing.emulator.scheduler import cordoned, node_object
from qwenops_testing.emulator.store import Store

SUCCESS: Body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}


class Nodes:
    """See the module's docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        count: int,
        *,
        gpus: int,
        labels: Mapping[str, str],
        taints: list[Mapping[str, Any]],
        prefix: str,
    ) -> list[str]:
        taken = {key[2] for key, _ in self.store.live_in(NODES)}
        names = [
            f"{prefix}-{index}" for index in range(len(taken) + count * 2) if f"{prefix}-{index}" not in taken
        ]
        for name in names[:count]:
            node = node_object(name, gpus=gpus, labels=labels, taints=taints)
            created = self.store.create(NODES, None, node)
            with_status = copy.deepcopy(created)
            with_status["status"] = node["status"]  # the kubelet reports it, through /status
            self.store.commit((NODES, None, name), created, with_status)
        return names[:count]

    def evict(self, namespace: str, name: str, options: Any = None) -> Body:
        key = (PODS, namespace, name)
        if self.store.current(key) is None:
            raise not_found(PODS, name)
        self.store.delete(key, options)
        return dict(SUCCESS)

    def evict_request(self, request: kmock.Request) -> Body:
        """``POST .../pods/NAME/eviction`` with a policy/v1 Eviction."""
        if request.resource != PODS or request.name is None or request.namespace is None:
            raise bad_request("eviction is a subresource of pods")
        body = request.data if isinstance(request.data, dict) else {}
        if (body.get("metadata") or {}).get("name", request.name) != request.name:
            raise bad_request("name in URL does not match name in Eviction object")
        return self.evict(request.namespace, request.name, delete_options(body.get("deleteOptions")))

    def drain(self, name: str) -> list[str]:
        key = (NODES, None, name)
        node = self.store.current(key)
        if node is None:
            raise not_found(NODES, name)
        self.store.commit(key, node, cordoned(node))
        evicted = []
        for pod_key, pod in self.store.live_in(PODS):
            if (pod.get("spec") or {}).get("nodeName") == name and not pod["metadata"].get(
                "deletionTimestamp"
            ):
                self.evict(pod_key[1] or "", pod_key[2])
                evicted.append(pod_key[2])
        return evicted
