"""One store for Events, seen through ``v1`` and ``events.k8s.io/v1`` as the API server shows them.

A 1.35 API server keeps one kind of Event and converts it for each API (``pkg/apis/events/v1``):
``involvedObject`` is ``regarding``, ``message`` is ``note``, ``source`` is ``deprecatedSource``,
``reportingComponent`` is ``reportingController``, the core ``firstTimestamp``/``lastTimestamp``/
``count`` are ``deprecatedFirstTimestamp``/``deprecatedLastTimestamp``/``deprecatedCount``; the
field selectors of ``events.k8s.io/v1`` are named after its fields (``regarding.name``...). Here the
objects are stored as ``v1`` Events: a request to ``events.k8s.io/v1`` is served from them, its body
converted on the way in and every object on the way out, so the same event is seen through both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import kmock

from qwenops_testing.emulator import patches
from qwenops_testing.emulator.handlers import ApiHandlers, check_write
from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.request_log import content_type

CORE_EVENTS = kmock.resource("", "v1", "events")
NEW_EVENTS = kmock.resource("events.k8s.io", "v1", "events")

# events.k8s.io/v1 field -> v1 field; metadata and the shared fields (reason, type, action...) as they are.
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "reportingController": "reportingComponent",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_FIELD_LABELS = {f"regarding.{field}": f"involvedObject.{field}" for field in (
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}  # fmt: skip
_FIELD_LABELS |= {"reportingController": "reportingComponent", "deprecatedSource": "source"}


def to_core(event: Mapping[str, Any]) -> Body:
    """An events.k8s.io/v1 Event as the v1 Event it is stored as."""
    core = {_RENAMED.get(key, key): value for key, value in event.items()}
    core["apiVersion"], core["kind"] = "v1", "Event"
    return core


def from_core(event: Mapping[str, Any]) -> Body:
    """A stored v1 Event as events.k8s.io/v1 shows it."""
    back = {core: new for new, core in _RENAMED.items()}
    new = {back.get(key, key): value for key, value in event.items()}
    new["apiVersion"], new["kind"] = "events.k8s.io/v1", "Event"
    return new


def core_field_selector(selector: str) -> str:
    """An events.k8s.io/v1 field selector in the v1 field labels (unknown ones left to be refused)."""
    terms = []
    for term in selector.split(","):
        for op in ("!=", "==", "="):
            label, found, value = term.partition(op)
            if found:
                terms.append(f"{_FIELD_LABELS.get(label.strip(), label.strip())}{op}{value}")
                break
        else:
            terms.append(term)
    return ",".join(terms)


class EventHandlers(ApiHandlers):
    """:class:`ApiHandlers`, serving ``events.k8s.io/v1`` Events from the stored ``v1`` ones."""

    async def create(self, request: kmock.Request) -> kmock.Response:
        if request.resource != NEW_EVENTS:
            return await super().create(request)
        return _converted(await super().create(_as_core(request)))

    async def replace(self, request: kmock.Request) -> kmock.Response:
        if request.resource != NEW_EVENTS:
            return await super().replace(request)
        return _converted(await super().replace(_as_core(request)))

    async def patch(self, request: kmock.Request) -> kmock.Response:
        """A patch is applied to the event as events.k8s.io/v1 shows it, then stored converted."""
        if request.resource != NEW_EVENTS or content_type(request.headers) == patches.APPLY_PATCH:
            return await super().patch(request)
        key = self._key(_as_core(request, body=False))
        options = check_write(request, patch=True)
        old = self._existing(key, request.subresource)
        new = patches.patched(from_core(old), request.data, content_type(request.headers), NEW_EVENTS, key[2])
        stored = self.update(request, key, old, to_core(new), options)
        return _converted(self._answer(request, stored, options))

    async def delete(self, request: kmock.Request) -> Body:
        if request.resource != NEW_EVENTS:
            return await super().delete(request)
        return _converted_body(await super().delete(_as_core(request, body=False)))

    async def fetch(self, request: kmock.Request) -> Body:
        if request.resource != NEW_EVENTS:
            return await super().fetch(request)
        return from_core(await super().fetch(_as_core(request)))

    async def listing(self, request: kmock.Request) -> Body:
        if request.resource != NEW_EVENTS:
            return await super().listing(request)
        listing = await super().listing(_as_core(request))
        items = [from_core(event) for event in listing["items"]]
        return {**listing, "apiVersion": "events.k8s.io/v1", "items": items}

    def watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        if request.resource != NEW_EVENTS:
            return super().watch(request)
        return _converted_stream(super().watch(_as_core(request)))


def _as_core(request: kmock.Request, *, body: bool = True) -> kmock.Request:
    """The request as one to v1 Events: its field selector, and its body unless a patch."""
    params = dict(request.params)
    if params.get("fieldSelector"):
        params["fieldSelector"] = core_field_selector(params["fieldSelector"])
    data = to_core(request.data) if body and isinstance(request.data, Mapping) else request.data
    return attrs.evolve(request, resource=CORE_EVENTS, params=params, data=data)


def _converted_body(body: Body) -> Body:
    return from_core(body) if body.get("kind") == "Event" else body


def _converted(response: kmock.Response) -> kmock.Response:
    payload = response.payload
    if isinstance(payload, dict):
        return attrs.evolve(response, payload=_converted_body(payload))
    return response


async def _converted_stream(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in stream:
        if isinstance(item, dict) and isinstance(item.get("object"), dict):
            yield {**item, "object": _converted_body(item["object"])}
        else:
            yield item
