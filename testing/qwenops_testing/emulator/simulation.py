"""Steering the simulated cluster behind the emulated API: who runs which pods, how long pods take,
nodes and evictions, and the change log's compaction and bookmarks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator.controllers import ControllerManager
from qwenops_testing.emulator.kubelet import PodTiming
from qwenops_testing.emulator.nodes import Nodes
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.store import Store


class SimulatedCluster:
    """The part of :class:`~qwenops_testing.emulator.KubeEmulator` that steers its cluster."""

    _store: Store
    _controller: ControllerManager
    _nodes: Nodes

    def start_controllers(self) -> None:
        """Run the simulated controllers in the running event loop (done by :func:`run_emulator`)."""
        self._controller.start()

    async def stop_controllers(self) -> None:
        await self._controller.stop()

    # -- the simulated controllers (controllers.py) -------------------------------------------------

    @property
    def deployments_become_available(self) -> bool:
        """When True, every Deployment's pods run and become ready, and its status says so.

        Setting it applies to the existing Deployments, and to each later write of one, a moment
        later (the controllers run in the background, as in a cluster). Turning it off leaves
        the Deployments and their pods as they are.
        """
        return self._controller.available_by_default

    @deployments_become_available.setter
    def deployments_become_available(self, value: bool) -> None:
        self._controller.available_by_default = value

    def set_deployment_ready(self, namespace: str, name: str, ready: bool | None) -> None:
        """Hold one Deployment's pods ready (True) or running unready (False) whatever the default says.

        The choice stays until changed, also for a Deployment created later; None
        hands it back to :attr:`deployments_become_available`.
        """
        self._controller.set_ready(namespace, name, ready)

    def set_pod_status(self, namespace: str, deployment: str, status: Body | None) -> None:
        """Give every pod of one Deployment this status, as its kubelet would write it.

        For a pod stuck in an init container, or one whose container failed. None
        hands the pods back to the Deployment's readiness; the Deployment's status
        follows its pods'.
        """
        self._controller.set_pod_status(namespace, deployment, status)

    @property
    def pod_timing(self) -> PodTiming:
        """How long pods take to start, load and stop (kubelet.py); change its fields at will."""
        return self._controller.timing

    # -- nodes, the scheduler and evictions (nodes.py, scheduler.py) -------------------------------

    def add_nodes(
        self,
        count: int,
        *,
        gpus: int,
        labels: Mapping[str, str] | None = None,
        taints: list[Mapping[str, Any]] | None = None,
        prefix: str = "gpu-node",
    ) -> list[str]:
        """Add `count` Ready nodes with `gpus` ``nvidia.com/gpu`` each: from the first node on, pods
        are scheduled onto nodes with room for them (the default, without nodes: unlimited)."""
        return self._nodes.add(count, gpus=gpus, labels=labels or {}, taints=taints or [], prefix=prefix)

    def evict_pod(self, namespace: str, name: str) -> Body:
        """Evict a pod as the Eviction subresource does: it terminates within its grace period."""
        return self._nodes.evict(namespace, name)

    def drain_node(self, name: str) -> list[str]:
        """``kubectl drain``: cordon the node, then evict every pod on it; the pods' names."""
        return self._nodes.drain(name)

    # -- the change log: compaction and bookmarks (watches.py) -------------------------------------

    def compact(self, *, expire_watches: bool = True) -> None:
        """Compact the whole change log now: a watch from an earlier resourceVersion answers 410
        Gone; with `expire_watches`, every open stream ends with one too."""
        self._store.log.compact(expire_watches=expire_watches)

    @property
    def compaction_window(self) -> float | None:
        """Seconds of changes kept for the watches (None, the default: all of them)."""
        return self._store.log.window

    @compaction_window.setter
    def compaction_window(self, seconds: float | None) -> None:
        self._store.log.window = seconds

    @property
    def bookmark_interval(self) -> float:
        """Seconds of silence after which a watch that allows bookmarks gets one (default 60)."""
        return self._store.log.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, seconds: float) -> None:
        self._store.log.bookmark_interval = seconds
