"""The API over HTTP: each request kmock parsed, served from the store with the Kubernetes API's
conventions (status codes, ``Status`` bodies, the status subresource, lists and watches)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import kmock

from qwenops_testing.emulator import apply, dry_run, objects, patches, watches
from qwenops_testing.emulator import workload_scale as scale
from qwenops_testing.emulator.admission import Options
from qwenops_testing.emulator.collector import delete_options
from qwenops_testing.emulator.errors import (
    ApiError,
    bad_request,
    not_found,
    not_found_resource,
    not_found_subresource,
)
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
        options = check_write(request)
        create = partial(dry_run.create, self.store) if dry_run.asked(request.params) else self.store.create
        obj = create(request.resource, request.namespace, request.data, options)
        return self._answer(request, obj, options, status=201)

    async def patch(self, request: kmock.Request) -> kmock.Response:
        """PATCH, by the patch type in the Content-Type header."""
        media_type = content_type(request.headers)
        if media_type == patches.APPLY_PATCH:  # before anything else: SSA may also create objects
            return self._apply(request)
        key = self._key(request)
        options = check_write(request, patch=True)
        old = self._existing(key, request.subresource)
        if request.subresource == "scale":  # the patch is of the Scale (workload_scale.py)
            patched = patches.patched(scale.view(old), request.data, media_type, scale.SCALE, key[2])
            new = scale.written(key[0], old, patched)
            return self._answer(request, scale.view(self.update(request, key, old, new, options)), options)
        new = patches.patched(old, request.data, media_type, key[0], key[2])
        return self._answer(request, self.update(request, key, old, new, options), options)

    async def replace(self, request: kmock.Request) -> kmock.Response:
        """PUT: replace the whole object (or its status)."""
        if request.resource is None or request.name is None:
            raise kmock.KubernetesEndpointNotFoundError()
        key = self._key(request)
        options = check_write(request)
        old = self._existing(key, request.subresource)
        if request.subresource == "scale":
            new = scale.written(key[0], old, request.data)
            return self._answer(request, scale.view(self.update(request, key, old, new, options)), options)
        return self._answer(request, self.update(request, key, old, request.data, options), options)

    def _apply(self, request: kmock.Request) -> kmock.Response:
        """Server-side apply (apply.py), of every kind (helm 4 installs with it)."""
        assert request.resource is not None
        resource = request.resource
        manager = request.params.get("fieldManager")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: '
                           "fieldManager: Required value: is required for apply patch")  # fmt: skip
        key = self._key(request)
        options = check_write(request, patch=True)
        old = self.store.current(key)
        config = apply.parse(request.text or "")
        config.setdefault("metadata", {})["name"] = key[2]
        new = apply.applied(old, config, manager, force=request.params.get("force") == "true",
                            api_version=api_version(resource), now=objects.now())  # fmt: skip
        if old is None:
            dry = dry_run.asked(request.params)
            create = partial(dry_run.create, self.store) if dry else self.store.create
            return self._answer(request, create(resource, key[1], new, options), options, status=201)
        if request.subresource is not None:
            raise not_found_subresource(resource, request.subresource)
        return self._answer(request, self._store_update(request, key, old, new, options), options)

    def update(self, request: kmock.Request, key: ObjectKey, old: Body, new: Any, options: Options) -> Body:
        """Store a write's result (``dryRun=All``: only say what would be stored), its changed fields
        recorded for its manager when the object has managed fields (apply.py)."""
        if request.subresource is None and isinstance(new, dict):
            manager = apply.manager_of(request.params, request.headers)
            apply.record_update(old, new, manager, api_version=api_version(key[0]), now=objects.now())
        return self._store_update(request, key, old, new, options)

    def _store_update(
        self, request: kmock.Request, key: ObjectKey, old: Body, new: Any, options: Options
    ) -> Body:
        if dry_run.asked(request.params):
            return dry_run.update(self.store, key, old, new, request.subresource, options)
        return self.store.update(key, old, new, request.subresource, options)

    def _answer(
        self, request: kmock.Request, obj: Body, options: Options, status: int = 200
    ) -> kmock.Response:
        """The stored object, with a ``Warning`` header per warning (RFC 7234's code 299)."""
        if not options.warnings:  # None: kmock's reaction would keep an earlier answer's header
            return kmock.Response(status=status, payload=obj, headers={"Warning": None})
        self.warnings[request.id] = tuple(options.warnings)
        header = ", ".join(f"299 - {json.dumps(warning)}" for warning in options.warnings)
        return kmock.Response(status=status, payload=obj, headers={"Warning": header})

    async def delete(self, request: kmock.Request) -> Body:
        key = self._key(request)
        check_write(request)
        self._existing(key, request.subresource)
        options = delete_options(request.data, request.params)
        if dry_run.asked(request.params) or dry_run.asked_in(options):
            return dry_run.delete(self.store, key, options)
        return self.store.delete(key, options)

    # -- reads -----------------------------------------------------------------------------------

    async def fetch(self, request: kmock.Request) -> Body:
        obj = self._existing(self._key(request), request.subresource)
        return scale.view(obj) if request.subresource == "scale" else obj

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
        if subresource not in (None, "status", "scale") or (
            subresource == "status" and not self.catalog.has_status(key[0])
        ) or (subresource == "scale" and key[0] not in scale.SCALABLE):
            raise not_found_subresource(key[0], subresource)
        return obj

    def _scope(self, request: kmock.Request) -> Scope:
        assert request.resource is not None
        if not self.catalog.known(request.resource):
            raise not_found_resource(request.resource)
        try:
            params = request.params
            selector = parse_selector(
                params.get("labelSelector", ""), params.get("fieldSelector", ""), request.resource
            )
        except ValueError as e:
            raise bad_request(str(e)) from e
        return Scope(request.resource, request.namespace, request.name, selector)

    def _bookmark(self, resource: kmock.resource, *, initial: bool) -> Body:
        meta: Body = {"resourceVersion": str(self.store.log.rv)}
        if initial:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"apiVersion": api_version(resource), "kind": self.catalog.kind(resource), "metadata": meta}


def check_write(request: kmock.Request, *, patch: bool = False) -> Options:
    """The write's options from its query (a dryRun other than All is a 400)."""
    dry_run.asked(request.params)
    return Options.of(request.params, patch=patch)
