"""The emulated Kubernetes API: kmock's emulator with the API conventions an operator relies on."""

from __future__ import annotations

import contextlib
import copy
import datetime
import re
from collections.abc import Mapping
from typing import Any

import attrs
import kmock

from qwenops_testing.emulator.admission import Admission
from qwenops_testing.emulator.clients import OPENAPI_PATHS, ClientViews, ServedToClients
from qwenops_testing.emulator.controllers import ControllerManager
from qwenops_testing.emulator.crds import CRDS, established
from qwenops_testing.emulator.dispatch import DispatchingEmulator
from qwenops_testing.emulator.errors import not_found
from qwenops_testing.emulator.events import EventHandlers
from qwenops_testing.emulator.nodes import Nodes
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.patches import merge_patch
from qwenops_testing.emulator.rbac import Authorizer
from qwenops_testing.emulator.request_log import RecordedRequest
from qwenops_testing.emulator.resources import Catalog, ResourceSpec
from qwenops_testing.emulator.scale import PATH as SCALE_PATH
from qwenops_testing.emulator.scale import Scales
from qwenops_testing.emulator.simulation import SimulatedCluster
from qwenops_testing.emulator.store import Store

_EVICTION = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/eviction")


@attrs.define(kw_only=True)
class KubeEmulator(ServedToClients, DispatchingEmulator, SimulatedCluster):  # type: ignore[misc]
    """kmock's Kubernetes emulator, following the API conventions an operator relies on, and
    answering reads as real clients ask for them (:class:`ServedToClients`).

    Use it like kmock (``emulator.objects[...]``, ``emulator['patch'] << 500``
    to inject a failure), but note that writes change the store in the fallback
    handlers: a write intercepted by a reaction of your own changes nothing. The
    cluster behind it is steered through :class:`SimulatedCluster`'s methods.
    """

    _store: Store = attrs.field(init=False)
    _admission: Admission = attrs.field(init=False)
    _handlers: EventHandlers = attrs.field(init=False)
    _controller: ControllerManager = attrs.field(init=False)
    _nodes: Nodes = attrs.field(init=False)
    _scales: Scales = attrs.field(init=False)
    _views: ClientViews = attrs.field(init=False)
    authorizer: Authorizer | None = attrs.field(default=None, init=False)
    """RBAC, when :meth:`enforce_rbac` turned it on (rbac.py)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock's _get_resources (private; no public equivalent): the resources its reactions name
        # and those of objects stored kmock-style, served as kmock would serve them.
        self._store = Store(self.objects, Catalog(self.resources, self._get_resources))
        self._admission = Admission(self._store, self._store.catalog)
        self._store.admission = self._admission
        self._handlers = EventHandlers(self._store)
        self._controller = ControllerManager(self._store)
        self._nodes = Nodes(self._store)
        self._views = ClientViews(self._store.catalog, self._get_resources)
        self.fallback["get", OPENAPI_PATHS] << self._serve_openapi
        # kmock routes no K8s action to PUT (it answers 404); serve it as a full replacement.
        self.fallback[kmock.method.PUT] << self._serve_replace
        # A POST to a named object is no verb kmock knows: the Eviction subresource is served here.
        self.fallback["post", _EVICTION] << self._serve_eviction
        # The scale subresource of the CRDs declaring one (scale.py): before the fallbacks of the
        # object itself, which answer 404 for any subresource but status.
        self._scales = Scales(self._store)
        (self.fallback ** 1)["get", SCALE_PATH] << self._scales.fetch
        (self.fallback ** 1)["put", SCALE_PATH] << self._scales.replace
        (self.fallback ** 1)["patch", SCALE_PATH] << self._scales.patch

    def enforce_rbac(self, users: Mapping[str, str]) -> Authorizer:
        """Refuse (403) what the stored RBAC does not allow the users of these bearer tokens
        (``{token: "system:serviceaccount:NS:NAME"}``); other requests stay unchecked."""
        self.authorizer = Authorizer(self.list_objects, dict(users))
        return self.authorizer

    def _authorize(self, request: kmock.Request) -> None:
        if self.authorizer is not None:
            self.authorizer.check(request)

    def declare(self, *specs: ResourceSpec) -> None:
        """Serve these resources (discovery, CRUD, watch)."""
        self._store.catalog.declare(*specs)

    def install_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve a CRD's resource, admitted by its schema as an API server would (admission.py);
        stored too, when CRDs are served (crds.py)."""
        if self._store.catalog.info(CRDS) is None:
            self._serve_crd(crd)
            return
        key = (CRDS, None, str(crd["metadata"]["name"]))
        old = self._store.current(key)
        self._crd_written(self._store.create(CRDS, None, dict(crd)) if old is None else
                          self._store.update(key, old, {**old, "spec": crd["spec"]}, None))  # fmt: skip

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
        spec = self._admission.install(crd)
        self._scales.install(spec.resource, crd)
        self.declare(spec)
        self._views.install(crd)

    def _crd_written(self, crd: Body) -> None:
        """A CRD was stored: serve its resource, and say so in its status."""
        self._serve_crd(crd)
        key = (CRDS, None, str(crd["metadata"]["name"]))
        now = datetime.datetime.now(tz=datetime.UTC)
        self._store.update(key, crd, {**crd, "status": established(crd, now)}, "status")

    def _installing(self, request: kmock.Request, response: kmock.Response) -> kmock.Response:
        if request.resource == CRDS and request.subresource is None and isinstance(response.payload, dict):
            self._crd_written(response.payload)
        return response

    def without_schema(self, resource: str | kmock.resource) -> contextlib.AbstractContextManager[None]:
        """While inside, store the resource's objects as written: no pruning, defaults, schema or CEL
        rules, as under an older CRD that admitted them (``with emulator.without_schema(...):``)."""
        return self._admission.without_schema(kmock.resource(resource))

    def close(self) -> None:
        """End every open watch stream (done by :func:`run_emulator` on exit)."""
        self._store.log.close()

    # -- the request log -------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """How many requests arrived so far: pass it as ``since=`` to see only later ones."""
        return len(self)

    def request_log(self, since: int = 0) -> list[RecordedRequest]:
        """Every request from index ``since`` on, in arrival order, with the warnings it was answered."""
        warned = self._handlers.warnings
        return [RecordedRequest.of(request, warned.get(request.id, ())) for request in list(self)[since:]]

    def writes(self, since: int = 0, *, include_events: bool = False) -> list[RecordedRequest]:
        """POST/PUT/PATCH/DELETE requests from ``since`` on; Event posts only if asked."""
        return [
            record
            for record in self.request_log(since)
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

    def versions(self, resource: str | kmock.resource, namespace: str | None, name: str) -> list[Body]:
        """Every version of the object the store kept (copies), oldest first: each write's result,
        its marking for deletion included (its removal is no version); empty when it never existed."""
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects:
            return []
        return [copy.deepcopy(dict(v)) for v in self.objects[key].history if v is not None]

    def changes(self, *resources: str) -> list[tuple[float, str, Body]]:
        """Every change to objects of `resources` still in the change log, in resourceVersion order:
        (when, on the monotonic clock; ADDED, MODIFIED or DELETED; the object after it, a copy). A
        timeline to replay instant by instant."""
        wanted = {kmock.resource(resource) for resource in resources}
        return [
            (event.at, event.type, copy.deepcopy(dict(event.new)))
            for event in self._store.log.events
            if event.resource in wanted
        ]

    def list_objects(self, resource: str | kmock.resource) -> list[Body]:
        """Every existing object of a resource (copies), sorted by namespace and name."""
        return [copy.deepcopy(obj) for _, obj in self._store.live_in(kmock.resource(resource))]

    def create_object(
        self, resource: str | kmock.resource, body: Mapping[str, Any], namespace: str | None = None
    ) -> Body:
        """Create an object as a POST would (admission, metadata, watch event, controllers)."""
        return copy.deepcopy(self._store.create(kmock.resource(resource), namespace, dict(body)))

    def patch_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Body:
        """Merge-patch an object as a PATCH would (admitted; not its status), without a request in the log."""
        key = (kmock.resource(resource), namespace, name)
        old = self._store.current(key)
        if old is None:
            raise not_found(key[0], name)
        return copy.deepcopy(self._store.update(key, old, merge_patch(old, patch), None))

    # -- kmock's fallbacks: what a request no reaction of a test answered gets (handlers.py) ----
    # kmock registers these methods as its fallback reactions: overriding them is how a subclass
    # changes what they serve (kmock's docstring invites it; the names are private all the same).

    async def _serve_create(self, request: kmock.Request) -> kmock.Response:
        return self._installing(request, await self._handlers.create(request))

    async def _serve_eviction(self, request: kmock.Request) -> kmock.Response:
        return kmock.Response(status=201, payload=self._nodes.evict_request(request))

    async def _serve_update(self, request: kmock.Request) -> kmock.Response:
        return self._installing(request, await self._handlers.patch(request))

    async def _serve_replace(self, request: kmock.Request) -> kmock.Response:
        return self._installing(request, await self._handlers.replace(request))

    async def _serve_delete(self, request: kmock.Request) -> Body:
        return await self._handlers.delete(request)
