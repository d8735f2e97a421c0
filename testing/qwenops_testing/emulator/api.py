"""The emulated Kubernetes API: kmock's emulator with the API conventions an operator relies on."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import kmock

from qwenops_testing.emulator.controllers import ControllerManager
from qwenops_testing.emulator.dispatch import DispatchingEmulator
from qwenops_testing.emulator.errors import not_found
from qwenops_testing.emulator.handlers import ApiHandlers
from qwenops_testing.emulator.kubelet import PodTiming
from qwenops_testing.emulator.nodes import Nodes
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.patches import merge_patch
from qwenops_testing.emulator.request_log import RecordedRequest
from qwenops_testing.emulator.resources import Catalog, ResourceSpec
from qwenops_testing.emulator.store import Store

_EVICTION = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/eviction")


@attrs.define(kw_only=True)
class KubeEmulator(DispatchingEmulator):
    """kmock's Kubernetes emulator, following the API conventions an operator relies on.

    Use it like kmock (``emulator.objects[...]``, ``emulator['patch'] << 500``
    to inject a failure), but note that writes change the store in the fallback
    handlers: a write intercepted by a reaction of your own changes nothing.
    """

    _store: Store = attrs.field(init=False)
    _handlers: ApiHandlers = attrs.field(init=False)
    _controller: ControllerManager = attrs.field(init=False)
    _nodes: Nodes = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock's _get_resources (private; no public equivalent): the resources its reactions name
        # and those of objects stored kmock-style, served as kmock would serve them.
        self._store = Store(self.objects, Catalog(self.resources, self._get_resources))
        self._handlers = ApiHandlers(self._store)
        self._controller = ControllerManager(self._store)
        self._nodes = Nodes(self._store)
        # kmock routes no K8s action to PUT (it answers 404); serve it as a full replacement.
        self.fallback[kmock.method.PUT] << self._serve_replace
        # A POST to a named object is no verb kmock knows: the Eviction subresource is served here.
        self.fallback["post", _EVICTION] << self._serve_eviction

    def declare(self, *specs: ResourceSpec) -> None:
        """Serve these resources (discovery, CRUD, watch)."""
        self._store.catalog.declare(*specs)

    def close(self) -> None:
        """End every open watch stream (done by :func:`run_emulator` on exit)."""
        self._store.log.close()

    def start_controllers(self) -> None:
        """Run the simulated controllers in the running event loop (done by :func:`run_emulator`)."""
        self._controller.start()

    async def stop_controllers(self) -> None:
        await self._controller.stop()

    # -- the request log -------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """How many requests arrived so far: pass it as ``since=`` to see only later ones."""
        return len(self)

    def request_log(self, since: int = 0) -> list[RecordedRequest]:
        """Every request from index ``since`` on, in arrival order."""
        return [RecordedRequest.of(request) for request in list(self)[since:]]

    def writes(self, since: int = 0, *, include_events: bool = False) -> list[RecordedRequest]:
        """POST/PUT/PATCH/DELETE requests from ``since`` on; Event posts only if asked."""
        return [
            record for record in self.request_log(since)
            if record.is_write and (include_events or not record.is_event)
        ]

    # -- direct access for tests (same semantics and watch events as over HTTP) ------------------

    def get_object(self, resource: str | kmock.resource, namespace: str | None, name: str) -> Body | None:
        """The stored object (a copy), or None when absent."""
        return copy.deepcopy(self._store.current((kmock.resource(resource), namespace, name)))

    def peek_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str
    ) -> Mapping[str, Any] | None:
        """The stored object itself, not a copy: cheap for polling many objects; never change it."""
        res = resource if isinstance(resource, kmock.resource) else kmock.resource(resource)
        return self._store.current((res, namespace, name))

    def list_objects(self, resource: str | kmock.resource) -> list[Body]:
        """Every existing object of a resource (copies), sorted by namespace and name."""
        return [copy.deepcopy(obj) for _, obj in self._store.live_in(kmock.resource(resource))]

    def create_object(
        self, resource: str | kmock.resource, body: Mapping[str, Any], namespace: str | None = None
    ) -> Body:
        """Create an object as a POST would (metadata, watch event, controllers)."""
        return copy.deepcopy(self._store.create(kmock.resource(resource), namespace, dict(body)))

    def patch_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Body:
        """Merge-patch an object as a PATCH would (not its status), without a request in the log."""
        key = (kmock.resource(resource), namespace, name)
        old = self._store.current(key)
        if old is None:
            raise not_found(key[0], name)
        return copy.deepcopy(self._store.update(key, old, merge_patch(old, patch), None))

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
        self, count: int, *, gpus: int, labels: Mapping[str, str] | None = None,
        taints: list[Mapping[str, Any]] | None = None, prefix: str = "gpu-node",
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

    # -- kmock's fallbacks: what a request no reaction of a test answered gets (handlers.py) ----
    # kmock registers these methods as its fallback reactions: overriding them is how a subclass
    # changes what they serve (kmock's docstring invites it; the names are private all the same).

    async def _serve_create(self, request: kmock.Request) -> kmock.Response:
        return await self._handlers.create(request)

    async def _serve_eviction(self, request: kmock.Request) -> kmock.Response:
        return kmock.Response(status=201, payload=self._nodes.evict_request(request))

    async def _serve_update(self, request: kmock.Request) -> Body:
        return await self._handlers.patch(request)

    async def _serve_replace(self, request: kmock.Request) -> Body:
        return await self._handlers.replace(request)

    async def _serve_delete(self, request: kmock.Request) -> Body:
        return await self._handlers.delete(request)

    async def _serve_fetch(self, request: kmock.Request) -> Body:
        return await self._handlers.fetch(request)

    async def _serve_list(self, request: kmock.Request) -> Body:
        return await self._handlers.listing(request)

    def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        return self._handlers.watch(request)
