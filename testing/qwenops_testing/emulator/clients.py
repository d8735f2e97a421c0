"""What real clients read of the emulated API, served as a 1.35 API server serves it: discovery
(discovery.py), OpenAPI v3 (openapi.py), Tables (tables.py) and watch streams typed as such.

:class:`ServedToClients` is the part of :class:`~qwenops_testing.emulator.KubeEmulator` that
overrides kmock's discovery and read fallbacks; :class:`ClientViews` holds what they answer from.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.discovery import SERVER_VERSION, Discovery
from qwenops_testing.emulator.handlers import ApiHandlers
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.openapi import OpenApi, custom_schema
from qwenops_testing.emulator.resources import Catalog
from qwenops_testing.emulator.tables import TABLE_CONTENT_TYPE, Printer, printed_stream, wants_table

WATCH_CONTENT_TYPE = "application/json;stream=watch"
OPENAPI_PATHS = re.compile(r"/openapi/v3(/.*)?")


class ClientViews:
    """The discovery, OpenAPI and printing of the resources the catalog declares (and of those
    `discovered` lists, as kmock serves them)."""

    def __init__(self, catalog: Catalog, discovered: Callable[[], Iterable[kmock.resource]]) -> None:
        self.catalog = catalog
        self.discovery = Discovery(discovered, catalog.info)
        self.printer = Printer()
        self._schemas: dict[kmock.resource, Body] = {}
        self.openapi = OpenApi(self._served_kinds, self._schemas.get)

    def install(self, crd: Mapping[str, Any]) -> None:
        """Print and describe a CRD's resource as its definition says."""
        self.printer.install(crd)
        spec = crd["spec"]
        for version in spec["versions"]:
            resource = kmock.resource(spec["group"], version["name"], spec["names"]["plural"])
            self._schemas[resource] = custom_schema(crd, version)

    def _served_kinds(self) -> list[tuple[kmock.resource, str, bool]]:
        infos = [(res, self.catalog.info(res)) for res in self.discovery.served()]
        return [(res, info.kind or str(res.plural), info.namespaced is not False)
                for res, info in infos if info is not None]  # fmt: skip


class ServedToClients:
    """kmock's read and discovery fallbacks, answered as the client asked (Accept) and typed so."""

    _views: ClientViews
    _handlers: ApiHandlers

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Response:
        obj = await self._handlers.fetch(request)
        return self._printed(request, [obj], obj)

    async def _serve_list(self, request: kmock.Request) -> kmock.Response:
        listing = await self._handlers.listing(request)
        return self._printed(request, listing["items"], listing)

    def _serve_watch(self, request: kmock.Request) -> kmock.Response:
        # client-go picks the stream's decoder by this Content-Type (kmock's default: octet-stream).
        stream = self._handlers.watch(request)
        if wants_table(request.headers):
            assert request.resource is not None
            stream = printed_stream(stream, self._views.printer, request.resource, request.params, _now)
        return kmock.Response(payload=stream, headers={"Content-Type": WATCH_CONTENT_TYPE})

    async def _serve_openapi(self, request: kmock.Request) -> kmock.Response:
        path = request.url.path.removeprefix("/openapi/v3").strip("/")
        return _json(self._views.openapi.document(path) if path else self._views.openapi.index())

    def _printed(self, request: kmock.Request, objects: list[Body], plain: Body) -> kmock.Response:
        """The answer as asked for: a Table (tables.py) or the object or list itself."""
        if not wants_table(request.headers):
            return _json(plain)
        assert request.resource is not None
        rv = str(plain["metadata"].get("resourceVersion", ""))
        printer = self._views.printer
        table = printer.table(request.resource, objects, request.params, _now(), resource_version=rv)
        return _json(table, TABLE_CONTENT_TYPE)

    # kmock's discovery, answered as a 1.35 API server answers it (discovery.py).

    async def _serve_server_version(self, request: kmock.Request) -> kmock.Response:
        return _json(dict(SERVER_VERSION))

    async def _serve_api(self, request: kmock.Request) -> kmock.Response:
        return _json(self._views.discovery.api())

    async def _serve_apis(self, request: kmock.Request) -> kmock.Response:
        return _json(self._views.discovery.apis())

    async def _serve_group(self, request: kmock.Request) -> kmock.Response:
        return _json(self._views.discovery.group(request.url.path.strip("/").split("/")[1]))

    async def _serve_version(self, request: kmock.Request) -> kmock.Response:
        parts = request.url.path.strip("/").split("/")  # api/v1 or apis/GROUP/VERSION
        return _json(self._views.discovery.resource_list("", parts[1]) if parts[0] == "api" else
                     self._views.discovery.resource_list(parts[1], parts[2]))  # fmt: skip


def _json(payload: Body, media_type: str = "application/json") -> kmock.Response:
    """A JSON answer saying so: kmock's fallback reactions keep the last answer's headers."""
    return kmock.Response(payload=payload, headers={"Content-Type": media_type})


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
