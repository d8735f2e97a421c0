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
from qwenops_testing.emulator.controllers import ControllerManager
from qwenops_testing.emulator.discovery import SERVER_VERSION, Discovery
from qwenops_testing.emulator.dispatch import DispatchingEmulator
from qwenops_testing.emulator.errors import not_found
from qwenops_testing.emulator.handlers import ApiHandlers
from qwenops_testing.emulator.nodes import Nodes
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.patches import merge_patch
from qwenops_testing.emulator.request_log import RecordedRequest
from qwenops_testing.emulator.resources import Catalog, ResourceSpec
from qwenops_testing.emulator.simulation import SimulatedCluster
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.tables import TABLE_CONTENT_TYPE, Printer, printed_stream, wants_table

WATCH_CONTENT_TYPE = "application/json;stream=watch"
_EVICTION = re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/eviction")


@attrs.define(kw_only=True)
class KubeEmulator(DispatchingEmulator, SimulatedCluster):
    """kmock's Kubernetes emulator, following the API conventions an operator relies on.

    Use it like kmock (``emulator.objects[...]``, ``emulator['patch'] << 500``
    to inject a failure), but note that writes change the store in the fallback
    handlers: a write intercepted by a reaction of your own changes nothing. The
    cluster behind it is steered through :class:`SimulatedCluster`'s methods.
    """

    _store: Store = attrs.field(init=False)
    _admission: Admission = attrs.field(init=False)
    _handlers: ApiHandlers = attrs.field(init=False)
    _controller: ControllerManager = attrs.field(init=False)
    _nodes: Nodes = attrs.field(init=False)
    _discovery: Discovery = attrs.field(init=False)
    _printer: Printer = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock's _get_resources (private; no public equivalent): the resources its reactions name
        # and those of objects stored kmock-style, served as kmock would serve them.
        self._store = Store(self.objects, Catalog(self.resources, self._get_resources))
        self._admission = Admission(self._store, self._store.catalog)
        self._store.admission = self._admission
        self._handlers = ApiHandlers(self._store)
        self._controller = ControllerManager(self._store)
        self._nodes = Nodes(self._store)
        self._discovery = Discovery(self._get_resources, self._store.catalog.info)
        self._printer = Printer()
        # kmock routes no K8s action to PUT (it answers 404); serve it as a full replacement.
        self.fallback[kmock.method.PUT] << self._serve_replace
        # A POST to a named object is no verb kmock knows: the Eviction subresource is served here.
        self.fallback["post", _EVICTION] << self._serve_eviction

    def declare(self, *specs: ResourceSpec) -> None:
        """Serve these resources (discovery, CRUD, watch)."""
        self._store.catalog.declare(*specs)

    def install_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve a CRD's resource, admitted by its schema as an API server would (admission.py)."""
        self.declare(self._admission.install(crd))
        self._printer.install(crd)

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

    def versions(self, resource: str | kmock.resource, namespace: str | None, name: str) -> list[Body]:
        """Every version of the object the store kept (copies), oldest first: each write's result,
        its marking for deletion included (its removal is no version); empty when it never existed."""
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects:
            return []
        return [copy.deepcopy(dict(v)) for v in self.objects[key].history if v is not None]

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
        return await self._handlers.create(request)

    async def _serve_eviction(self, request: kmock.Request) -> kmock.Response:
        return kmock.Response(status=201, payload=self._nodes.evict_request(request))

    async def _serve_update(self, request: kmock.Request) -> kmock.Response:
        return await self._handlers.patch(request)

    async def _serve_replace(self, request: kmock.Request) -> kmock.Response:
        return await self._handlers.replace(request)

    async def _serve_delete(self, request: kmock.Request) -> Body:
        return await self._handlers.delete(request)

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Response:
        obj = await self._handlers.fetch(request)
        return self._printed(request, [obj], obj)

    async def _serve_list(self, request: kmock.Request) -> kmock.Response:
        listing = await self._handlers.listing(request)
        return self._printed(request, listing["items"], listing)

    def _serve_watch(self, request: kmock.Request) -> kmock.Response:  # type: ignore[override]
        # client-go picks the stream's decoder by this Content-Type (kmock's default: octet-stream).
        stream = self._handlers.watch(request)
        if wants_table(request.headers):
            assert request.resource is not None
            stream = printed_stream(stream, self._printer, request.resource, request.params, _now)
        return kmock.Response(payload=stream, headers={"Content-Type": WATCH_CONTENT_TYPE})

    def _printed(self, request: kmock.Request, objects: list[Body], plain: Body) -> kmock.Response:
        """The answer as asked for: a Table (tables.py) or the object or list itself."""
        if not wants_table(request.headers):
            return _json(plain)
        assert request.resource is not None
        rv = str(plain["metadata"].get("resourceVersion", ""))
        table = self._printer.table(request.resource, objects, request.params, _now(), resource_version=rv)
        return _json(table, TABLE_CONTENT_TYPE)

    # kmock's discovery, answered as a 1.35 API server answers it (discovery.py).

    async def _serve_server_version(self, request: kmock.Request) -> kmock.Response:
        return _json(dict(SERVER_VERSION))

    async def _serve_api(self, request: kmock.Request) -> kmock.Response:
        return _json(self._discovery.api())

    async def _serve_apis(self, request: kmock.Request) -> kmock.Response:
        return _json(self._discovery.apis())

    async def _serve_group(self, request: kmock.Request) -> kmock.Response:
        return _json(self._discovery.group(request.url.path.strip("/").split("/")[1]))

    async def _serve_version(self, request: kmock.Request) -> kmock.Response:
        parts = request.url.path.strip("/").split("/")  # api/v1 or apis/GROUP/VERSION
        return _json(self._discovery.resource_list("", parts[1]) if parts[0] == "api" else
                     self._discovery.resource_list(parts[1], parts[2]))  # fmt: skip


def _json(payload: Body, media_type: str = "application/json") -> kmock.Response:
    """A JSON answer saying so: kmock's fallback reactions keep the last answer's headers."""
    return kmock.Response(payload=payload, headers={"Content-Type": media_type})


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
