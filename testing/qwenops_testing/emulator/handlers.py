"""The API over HTTP: each request kmock parsed, served from the store with the Kubernetes API's
conventions (status codes, ``Status`` bodies, the status subresource, lists and watches)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import kmock

from qwenops_testing.emulator import patches, watches
from qwenops_testing.emulator.admission import Options
from qwenops_testing.emulator.collector import delete_options
from qwenops_testing.emulator.errors import bad_request, not_found, not_found_resource, not_found_subresource
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.request_log import content_type
from qwenops_testing.emulator.resources import api_version
from qwenops_testing.emulator.selectors import Scope, parse_selector
from qwenops_testing.emulator.store import Store


class ApiHandlers:
    """One method per Kubernetes verb; expected failures raise an ApiError (a Status answer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.catalog = store.catalog
        self.warnings: dict[int, tuple[str, ...]] = {}  # by request id: what the answer warned of

    # -- writes ----------------------------------------------------------------------------------

    async def create(self, request: kmock.Request) -> kmock.Response:
        assert request.resource is not None
        options = _check_write(request)
        obj = self.store.create(request.resource, request.namespace, request.data, options)
        return self._answer(request, obj, options, status=201)

    async def patch(self, request: kmock.Request) -> kmock.Response:
        """PATCH, by the patch type in the Content-Type header."""
        media_type = content_type(request.headers)
        if media_type == patches.APPLY_PATCH:  # before anything else: SSA may also create objects
            raise patches.server_side_apply_refused()
        key = self._key(request)
        options = _check_write(request, patch=True)
        old = self._existing(key, request.subresource)
        new = patches.patched(old, request.data, media_type, key[0], key[2])
        return self._answer(request, self.store.update(key, old, new, request.subresource, options), options)

    async def replace(self, request: kmock.Request) -> kmock.Response:
        """PUT: replace the whole object (or its status)."""
        if request.resource is None or request.name is None:
            raise kmock.KubernetesEndpointNotFoundError()
        key = self._key(request)
        options = _check_write(request)
        old = self._existing(key, request.subresource)
        stored = self.store.update(key, old, request.data, request.subresource, options)
        return self._answer(request, stored, options)

    def _answer(
        self, request: kmock.Request, obj: Body, options: Options, status: int = 200
    ) -> kmock.Response:
        """The stored object, with a ``Warning`` header per warning (RFC 7234's code 299)."""
        if not options.warnings:
            return kmock.Response(status=status, payload=obj)
        self.warnings[request.id] = tuple(options.warnings)
        header = ", ".join(f"299 - {json.dumps(warning)}" for warning in options.warnings)
        return kmock.Response(status=status, payload=obj, headers={"Warning": header})

    async def delete(self, request: kmock.Request) -> Body:
        key = self._key(request)
        _check_write(request)
        self._existing(key, request.subresource)
        return self.store.delete(key, delete_options(request.data, request.params))

    # -- reads -----------------------------------------------------------------------------------

    async def fetch(self, request: kmock.Request) -> Body:
        return self._existing(self._key(request), request.subresource)

    async def listing(self, request: kmock.Request) -> Body:
        scope = self._scope(request)
        items = [
            obj
            for key, obj in self.store.live_in(scope.resource, scope.namespace, scope.selector)
            if scope.sees(key[0], obj)
        ]
        return {
            "apiVersion": api_version(scope.resource),
            "kind": f"{self.catalog.kind(scope.resource)}List",
            "metadata": {"resourceVersion": str(self.store.log.rv)},
            "items": items,
        }

    def watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        # Validate before the stream starts (a plain function, not a generator), so that
        # errors are plain Status answers.
        scope = self._scope(request)
        timeout = request.params.get("timeoutSeconds")
        return watches.watch(
            self.store.log,
            scope,
            since=request.params.get("resourceVersion", ""),
            initial=request.params.get("sendInitialEvents") == "true",
            timeout=float(timeout) if timeout else None,
            current=lambda: [
                obj
                for key, obj in self.store.live_in(scope.resource, scope.namespace)
                if scope.sees(key[0], obj)
            ],
            bookmark=lambda initial: self._bookmark(scope.resource, initial=initial),
            bookmarks=request.params.get("allowWatchBookmarks") == "true",
        )

    # -- parts -----------------------------------------------------------------------------------

    def _key(self, request: kmock.Request) -> ObjectKey:
        assert request.resource is not None
        assert request.name is not None
        if not self.catalog.known(request.resource):
            raise not_found_resource(request.resource)
        namespace = request.namespace if self.catalog.namespaced(request.resource) else None
        return (request.resource, namespace, request.name)

    def _existing(self, key: ObjectKey, subresource: str | None) -> Body:
        obj = self.store.current(key)
        if obj is None:
            raise not_found(key[0], key[2])
        if subresource not in (None, "status") or (
            subresource == "status" and not self.catalog.has_status(key[0])
        ):
            raise not_found_subresource(key[0], subresource)
        return obj

    def _scope(self, request: kmock.Request) -> Scope:
        assert request.resource is not None
        if not self.catalog.known(request.resource):
            raise not_found_resource(request.resource)
        try:
            selector = parse_selector(
                request.params.get("labelSelector", ""), request.params.get("fieldSelector", "")
            )
        except ValueError as e:
            raise bad_request(str(e)) from e
        return Scope(request.resource, request.namespace, request.name, selector)

    def _bookmark(self, resource: kmock.resource, *, initial: bool) -> Body:
        meta: Body = {"resourceVersion": str(self.store.log.rv)}
        if initial:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"apiVersion": api_version(resource), "kind": self.catalog.kind(resource), "metadata": meta}


def _check_write(request: kmock.Request, *, patch: bool = False) -> Options:
    if request.params.get("dryRun"):
        raise bad_request("the emulator does not implement dryRun")
    return Options.of(request.params, patch=patch)
