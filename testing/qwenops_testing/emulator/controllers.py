"""The controllers a cluster runs beside the API server, simulated, and the loop that runs them.

:class:`ControllerManager` follows the store's change log as an informer follows a watch, and
hands each changed object's key to the controllers that care, as their work queues do: the
Deployment controller (deployments.py), the ReplicaSet controller (replicasets.py), the scheduler
(scheduler.py) and the kubelets (kubelet.py). Each pass over a key may ask to run again after some
seconds (a pod loading, a pod terminating, a progress deadline). It all runs in the event loop,
after the request that caused it has been answered: a Deployment's ``observedGeneration`` lags
its generation until its controller has seen it, and its pods come and become ready over time.

Who runs a Deployment's pods: by default nobody (nothing happens to it, as before a cluster's
controllers start); :attr:`ControllerManager.available_by_default` runs every Deployment's, and
:meth:`ControllerManager.set_ready` one Deployment's, their pods becoming ready or held unready.
Pods of no Deployment (a bare pod, a bare ReplicaSet's) always run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from qwenops_testing.emulator import pods
from qwenops_testing.emulator.deployments import DeploymentController
from qwenops_testing.emulator.kubelet import Kubelet, PodTiming, grace_period
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.pods import NODES, PODS, REPLICASETS
from qwenops_testing.emulator.replicasets import ReplicaSetController
from qwenops_testing.emulator.resources import DEPLOYMENTS
from qwenops_testing.emulator.scheduler import Scheduler
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.timing import Instant
from qwenops_testing.emulator.watches import WatchEvent

Work = tuple[str, ObjectKey]  # (controller, key)
PASSES_PER_TURN = 200
"""Keys handled before the loop lets the API server answer requests again."""


class Runs:
    """Who runs which pods: the default, a Deployment held ready or unready, a status of a test's own."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_default = False
        self.readiness: dict[tuple[str | None, str], bool] = {}
        self.pod_statuses: dict[tuple[str | None, str], Body] = {}

    def decides(self, namespace: str | None, deployment: str) -> bool | None:
        """Whether a Deployment's pods become ready (False: they run unready); None: nobody runs them."""
        held = self.readiness.get((namespace, deployment))
        if held is not None:
            return held
        return True if self.by_default else None

    def deployment_of(self, obj: Mapping[str, Any]) -> str | None:
        """The name of the Deployment a ReplicaSet or a pod belongs to, if any."""
        ref = pods.controller_ref(obj)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            key = self.store.key_of(ref.get("uid"))
            owner = None if key is None else self.store.current(key)
            ref = None if owner is None else pods.controller_ref(owner)
        return str(ref["name"]) if ref is not None and ref.get("kind") == "Deployment" else None

    def pod_readiness(self, pod: Mapping[str, Any]) -> bool | None:
        deployment = self.deployment_of(pod)
        return True if deployment is None else self.decides(pod["metadata"].get("namespace"), deployment)

    def pod_override(self, pod: Mapping[str, Any]) -> Body | None:
        deployment = self.deployment_of(pod)
        if deployment is None:
            return None
        return self.pod_statuses.get((pod["metadata"].get("namespace"), deployment))


class ControllerManager:
    """See the module's docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.timing = PodTiming()
        self.runs = Runs(store)
        self.deployments = DeploymentController(store)
        self.replicasets = ReplicaSetController(store)
        self.scheduler = Scheduler(store)
        self.kubelet = Kubelet(store, self.timing)
        self.kubelet.readiness = self.runs.pod_readiness
        self.kubelet.override = self.runs.pod_override
        store.collector.grace_period = grace_period
        self._queue: dict[Work, None] = {}
        self._timers: list[tuple[float, int, Work]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._syncs: dict[str, Callable[[ObjectKey, Instant], float | None]] = {
            "scheduler": self._sync_pod_scheduling,
            "kubelet": self.kubelet.sync,
            "replicaset": self._sync_replicaset,
            "deployment": self._sync_deployment,
        }

    # -- who runs which pods -----------------------------------------------------------------------

    @property
    def available_by_default(self) -> bool:
        return self.runs.by_default

    @available_by_default.setter
    def available_by_default(self, value: bool) -> None:
        self.runs.by_default = value
        self.resync()

    def set_ready(self, namespace: str | None, name: str, ready: bool | None) -> None:
        if ready is None:
            self.runs.readiness.pop((namespace, name), None)
        else:
            self.runs.readiness[namespace, name] = ready
        self._resync_deployment(namespace, name)

    def set_pod_status(self, namespace: str | None, deployment: str, status: Body | None) -> None:
        if status is None:
            self.runs.pod_statuses.pop((namespace, deployment), None)
        else:
            self.runs.pod_statuses[namespace, deployment] = copy.deepcopy(status)
        self._resync_deployment(namespace, deployment)

    def _sync_deployment(self, key: ObjectKey, now: Instant) -> float | None:
        if self.runs.decides(key[1], key[2]) is None:
            return None
        return self.deployments.sync(key, now)

    def _sync_replicaset(self, key: ObjectKey, now: Instant) -> float | None:
        replicaset = self.store.current(key)
        deployment = None if replicaset is None else self.runs.deployment_of(replicaset)
        if deployment is not None and self.runs.decides(key[1], deployment) is None:
            return None
        return self.replicasets.sync(key, now)

    def _sync_pod_scheduling(self, key: ObjectKey, now: Instant) -> float | None:
        pod = self.store.current(key)
        if pod is None or self.runs.pod_readiness(pod) is None:
            return None
        return self.scheduler.sync(key, now)

    # -- work queues -------------------------------------------------------------------------------

    def resync(self) -> None:
        """Look at everything again (after a change of who runs what)."""
        for resource, names in ((DEPLOYMENTS, ("deployment",)), (REPLICASETS, ("replicaset",)),
                                (PODS, ("scheduler", "kubelet"))):  # fmt: skip
            for key, _ in self.store.live_in(resource):
                for name in names:
                    self._queue[name, key] = None
        self._poke()

    def _resync_deployment(self, namespace: str | None, name: str) -> None:
        """Look again at one Deployment, its ReplicaSets and their pods."""
        key: ObjectKey = (DEPLOYMENTS, namespace, name)
        self._queue["deployment", key] = None
        deployment = self.store.current(key)
        for rs_key, _ in self.store.dependents(deployment["metadata"]["uid"]) if deployment else []:
            self._queue["replicaset", rs_key] = None
            replicaset = self.store.current(rs_key)
            for pod_key, _ in self.store.dependents(replicaset["metadata"]["uid"]) if replicaset else []:
                self._queue["scheduler", pod_key] = None
                self._queue["kubelet", pod_key] = None
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _route(self, event: WatchEvent) -> None:
        """The work one logged change makes, as the controllers' event handlers enqueue it."""
        obj = event.new
        meta = obj.get("metadata") or {}
        key: ObjectKey = (event.resource, meta.get("namespace"), meta.get("name", ""))
        if event.resource == DEPLOYMENTS:
            self._queue["deployment", key] = None
        elif event.resource == REPLICASETS:
            self._queue["replicaset", key] = None
            self._enqueue_owner(obj, "deployment", DEPLOYMENTS)
        elif event.resource == PODS:
            self._queue["scheduler", key] = None
            self._queue["kubelet", key] = None
            self._enqueue_owner(obj, "replicaset", REPLICASETS)
            if event.type == "DELETED":
                self.kubelet.forget(meta.get("uid", ""))
                self._retry_pending()  # its resources are free
        elif event.resource == NODES:
            for pending in self.scheduler.pending():
                self._queue["scheduler", pending] = None

    def _enqueue_owner(self, obj: Mapping[str, Any], name: str, resource: Any) -> None:
        ref = pods.controller_ref(obj)
        if ref is not None and ref.get("name"):
            self._queue[name, (resource, obj["metadata"].get("namespace"), ref["name"])] = None

    def _retry_pending(self) -> None:
        if not self.store.live_in(NODES):
            return  # unlimited: nothing waits for room
        for key in self.scheduler.pending():
            self._queue["scheduler", key] = None

    def _after(self, seconds: float, work: Work, now: float) -> None:
        heapq.heappush(self._timers, (now + max(seconds, 0.0), next(self._order), work))

    def run_once(self, now: Instant, limit: int = PASSES_PER_TURN) -> bool:
        """Handle what is due (at most `limit` keys); whether work is left."""
        while self._timers and self._timers[0][0] <= now.mono:
            _, _, work = heapq.heappop(self._timers)
            self._queue[work] = None
        for _ in range(limit):
            if not self._queue:
                return False
            work = next(iter(self._queue))
            del self._queue[work]
            name, key = work
            again = self._syncs[name](key, now)
            if again is not None:
                self._after(again, work, now.mono)
        return bool(self._queue)

    # -- the loop (the edge: the clock and the event loop) -----------------------------------------

    def start(self) -> None:
        """Run in the background of the running event loop until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="emulated controllers")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = wake = asyncio.Event()
        log = self.store.log
        log.listen(wake)
        position = log.position
        self.resync()
        try:
            while True:
                wake.clear()
                events, position = log.since(position)
                if events is None:  # compacted past what was read: look at everything again
                    self.resync()
                    events = []
                for event in events:
                    self._route(event)
                now = Instant(loop.time(), datetime.datetime.now(tz=datetime.UTC))
                if self.run_once(now) or log.position != position:
                    await asyncio.sleep(0)  # let the requests in, then go on
                    continue
                timeout = None if not self._timers else max(self._timers[0][0] - loop.time(), 0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await wake.wait()
        finally:
            log.unlisten(wake)
            self._wake = None
