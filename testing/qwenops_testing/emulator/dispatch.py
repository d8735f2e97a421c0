"""kmock's request handling, adapted where it falls short for an operator's tests.

kmock 0.8 has no public hook for any of these, so this module is where the emulator relies on
kmock's private internals (each use is marked):

* its request parser crashes on ``/api/v1/namespaces`` (and reads ``/api/v1/namespaces/NAME`` as
  a namespace), before any hook could intervene: :meth:`DispatchingEmulator.__call__` is a copy of
  kmock's ``RawHandler.__call__`` with its own parser for those URLs;
* kmock checks whether a reaction sees a request by filtering every request served so far again:
  each request costs as much as all earlier ones. :meth:`DispatchingEmulator._dispatch` asks
  each reaction about the one request instead;
* a protobuf body (protobuf.py) is read as the JSON it holds before kmock parses the request
  (aiohttp's private ``_read_bytes``, where kmock reads the body from);
* ``KubernetesEmulator._handle`` stores writes as plain JSON before any reaction runs: it is
  skipped, and the fallbacks (``_serve_*``, overridden by KubeEmulator) do the writes.
"""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # private: StreamingError, Request._parse

from qwenops_testing.emulator import protobuf
from qwenops_testing.emulator.errors import ApiError
from qwenops_testing.emulator.resources import NAMESPACES

# /api/v1/namespaces[/NAME[/status|/finalize]]
_NAMESPACES_PATH = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?/?")


@attrs.define(kw_only=True)
class DispatchingEmulator(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with the request handling of the module's docstring."""

    latency: float = attrs.field(default=0.0, init=False)
    """Seconds each request waits before it is served, as a round trip to a real API server would."""
    _ordered: tuple[tuple[int, ...], list[kmock.Reaction]] = attrs.field(default=((), []), init=False)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock's RawHandler.__call__ (its private _requests, _errors, _render_error, _stream_error
        # and StreamingError) with another parser, and _dispatch instead of _handle.
        body = await raw_request.read()
        if raw_request.content_type == protobuf.PROTOBUF and body:
            try:
                raw_request._read_bytes = json.dumps(protobuf.decode(body)).encode()  # private: the body
            except ApiError as e:
                return aiohttp.web.json_response(e.status_body(), status=e.status)
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            if self.limit is not None and len(self._requests) >= self.limit:
                raise kmock.KMockError("Too many requests have been served so far.")
            request = await _parse(raw_request, index=len(self._requests))
            self._requests.append(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            try:
                return await self._dispatch(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                if e.__cause__ is not None:
                    raise e.__cause__ from None
                raise
        except Exception as e:
            if not self._errors:
                raise
            self._errors[-1].append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _dispatch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """kmock's ``RawHandler._handle``, asking each reaction about this one request only.

        A view that is a chain of filters (and priorities) sees the request exactly when every
        filter's criteria accept it; other views (slices, groups, exclusions) still go through
        kmock's own check. Expected API failures become Status answers, not recorded errors.
        """
        try:
            self._authorize(request)
            for reaction in self._by_priority():
                if self._sees(reaction._source, request) and not reaction._disabled.is_set():  # private
                    try:
                        return await reaction(request)
                    except kmock.ReactionMismatchError:  # either mismatch or depletion
                        reaction._disabled.set()
                    except NotImplementedError:  # matched, but nothing to respond with
                        pass
        except ApiError as e:
            return aiohttp.web.json_response(e.status_body(), status=e.status)
        raise NotImplementedError("no reaction matches the request; the fallbacks should have")

    def _authorize(self, request: kmock.Request) -> None:
        """Raise an ApiError (a 403) for a request its user may not send; here, none."""

    def _by_priority(self) -> list[kmock.Reaction]:
        """The reactions, highest priority first (kmock's order: shorter priorities padded with 0)."""
        reactions = self._payloads  # private: kmock's reactions, in the order they were added
        identity = tuple(map(id, reactions))
        if self._ordered[0] != identity:
            priorities = [tuple(-p for p in reaction.priorities) for reaction in reactions]
            width = max((len(priority) for priority in priorities), default=0)
            padded = [priority + (0,) * (width - len(priority)) for priority in priorities]
            ordered = [reactions[index] for index in sorted(range(len(padded)), key=padded.__getitem__)]
            self._ordered = (identity, ordered)
        return self._ordered[1]

    def _sees(self, view: kmock.View, request: kmock.Request) -> bool:
        while view is not self:  # the root sees every request it received
            if type(view) is kmock.Filter:
                if not view.criteria(request):
                    return False
                view = view._source  # private: the view this one filters
            elif type(view) is kmock.Priority:
                view = view._source  # private, as above
            else:
                return request in view  # kmock's own (quadratic) check for anything else
        return True


async def _parse(raw_request: aiohttp.web.BaseRequest, *, index: int) -> kmock.Request:
    match = _NAMESPACES_PATH.fullmatch(raw_request.path)
    if match is None:
        return await rendering.Request._parse(raw_request, id=index)  # private: kmock's parser
    body = await raw_request.read()
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    method = kmock.method(raw_request.method)
    return kmock.Request(
        id=index,
        raw_request=raw_request,
        url=raw_request.url,
        method=method,
        params=dict(raw_request.query),
        headers=dict(raw_request.headers),
        cookies=dict(raw_request.cookies),
        body=body,
        text=text,
        data=data,
        action=_action(method, match["name"], raw_request.query.get("watch") == "true"),
        resource=NAMESPACES,
        namespace=None,
        name=match["name"],
        subresource=match["sub"],
    )


def _action(method: kmock.method, name: str | None, watch: bool) -> kmock.action | None:
    """The Kubernetes verb of a request, as kmock guesses it for the URLs it parses."""
    if method == kmock.method.GET and watch:
        return kmock.action.WATCH
    if name is None:
        return {kmock.method.GET: kmock.action.LIST, kmock.method.POST: kmock.action.CREATE}.get(method)
    return {
        kmock.method.GET: kmock.action.FETCH,
        kmock.method.PATCH: kmock.action.UPDATE,
        kmock.method.DELETE: kmock.action.DELETE,
    }.get(method)
