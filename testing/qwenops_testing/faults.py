"""Faults to inject into the emulated Kubernetes API (Prometheus' are prometheus_stand_in.py).

:class:`ApiFaults` wraps a :class:`qwenops_testing.emulator.KubeEmulator` with one kmock
reaction placed ahead of the emulator's own (fallback) handlers. Each request
is checked against the active rules; a rule can answer with an error status
(the store is not touched: the write never happened), hold the request for a
while, or until released, before the emulator serves it (a slow API server), or
both; an error can carry a ``Retry-After`` (a throttling API server's 429). A rule can also let
the emulator commit a write and then cut the connection before the answer leaves (the client
never learns that its write was made). A held request whose client goes away is dropped with
its connection, as the emulator's test server cancels its handler. Rules last for a number of
matching requests (``times``) or a span of time (``seconds``), whichever ends first; ``every``
hits only each n-th match. Watch streams the operator holds open can be cut mid-stream with
:meth:`ApiFaults.drop_watches`, as a load balancer or an API server restart would cut them.

    faults = ApiFaults.install(emulator)
    faults.fail(409, verbs={"patch"}, subresource="status", times=3)
    faults.fail(503, verbs={"list"}, seconds=2)
    faults.fail(429, verbs={"get"}, retry_after=2, seconds=6)
    faults.lose_answers(verbs={"create"}, resource="apps/v1/deployments", times=1)
    faults.delay(2.0, verbs={"get", "patch"}, every=3, seconds=6)
    faults.drop_watches()
    faults.keep_dropping_watches(every=0.5, seconds=4)
    held = faults.hold(verbs={"list"}, resource="apps/v1/deployments"); ...; held.release()

Requests that carry the :data:`EXEMPT_HEADER` (the tests' own client and
observers) are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal

import kmock

from qwenops_testing.emulator import ApiError, KubeEmulator
from qwenops_testing.emulator.resources import resource_id

EXEMPT_HEADER = "X-Qwenops-Test"
"""Requests with this header (any value) pass every fault untouched."""

Verb = Literal["get", "list", "watch", "create", "patch", "update", "delete"]

_VERBS: dict[kmock.action, Verb] = {
    kmock.action.FETCH: "get",
    kmock.action.LIST: "list",
    kmock.action.WATCH: "watch",
    kmock.action.CREATE: "create",
    kmock.action.UPDATE: "patch",
    kmock.action.DELETE: "delete",
}
_REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def verb_of(request: kmock.Request) -> str:
    """The Kubernetes verb of a request (`get`, `list`, `watch`, `create`, `patch`, `delete`, ...)."""
    if request.action in _VERBS:
        return _VERBS[request.action]
    return "update" if request.method == kmock.method.PUT else str(request.method.value).lower()


def resource_of(request: kmock.Request) -> str | None:
    """`apps/v1/deployments`, `v1/pods`: the emulator's spelling of a request's resource."""
    return None if request.resource is None else resource_id(request.resource)


def exempt(request: kmock.Request) -> bool:
    return any(key.lower() == EXEMPT_HEADER.lower() for key in request.headers)


@dataclass
class Rule:
    """One fault: which requests it matches, what it does to them, and for how long."""

    verbs: frozenset[str]
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None
    match: Callable[[kmock.Request], bool] | None = None
    status: int | None = None
    """Answer with this status instead of serving the request (None: serve it, after `delay`)."""
    delay: float = 0.0
    times: int | None = None
    until: float | None = None
    every: int = 1
    effect: Callable[[kmock.Request], None] | None = None
    """Called on each hit, before the delay (e.g. to change the world as the request arrives)."""
    gate: asyncio.Event | None = None
    """Hold each hit until the gate opens (:meth:`release`)."""
    retry_after: int | None = None
    """With `status`: the answer's ``Retry-After`` header (and ``details.retryAfterSeconds``)."""
    lose_answer: bool = False
    """Serve the request (the emulator commits it), then cut the connection before the answer."""
    hit_at: list[float] = field(default_factory=list)
    """When each hit arrived (monotonic seconds)."""
    seen: int = 0
    hits: int = 0

    def release(self) -> None:
        """Open the gate: the held requests, and every later one, go on."""
        if self.gate is not None:
            self.gate.set()

    @property
    def active(self) -> bool:
        return (self.times is None or self.hits < self.times) and (
            self.until is None or time.monotonic() < self.until
        )

    def matches(self, request: kmock.Request) -> bool:
        return (
            verb_of(request) in self.verbs
            and (self.resource is None or resource_of(request) == self.resource)
            and (self.subresource is None or request.subresource == self.subresource)
            and (self.name is None or request.name == self.name)
            and (self.match is None or self.match(request))
        )


@dataclass
class ApiFaults:
    """Faults injected into one emulator; see the module's docstring."""

    emulator: KubeEmulator
    rules: list[Rule] = field(default_factory=list)
    watches: list[kmock.Request] = field(default_factory=list)
    dropped: int = 0
    cutting: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def install(cls, emulator: KubeEmulator) -> ApiFaults:
        faults = cls(emulator)
        emulator << faults._react  # ahead of the emulator's fallbacks: every request comes here first
        return faults

    def fail(
        self,
        status: int,
        *,
        verbs: Collection[str],
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        match: Callable[[kmock.Request], bool] | None = None,
        times: int | None = None,
        seconds: float | None = None,
        every: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
    ) -> Rule:
        """Answer matching requests with `status` (a Kubernetes Status body, with a ``Retry-After``
        header when `retry_after` is given); nothing is stored."""
        return self._add(Rule(frozenset(verbs), resource, subresource, name, match, status, delay,
                              times, _deadline(seconds), every, retry_after=retry_after))  # fmt: skip

    def lose_answers(
        self,
        *,
        verbs: Collection[str],
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        match: Callable[[kmock.Request], bool] | None = None,
        times: int | None = None,
    ) -> Rule:
        """Commit matching writes, then cut their connections before the answers leave: the
        client sees its connection drop, the store holds what it wrote."""
        return self._add(Rule(frozenset(verbs), resource, subresource, name, match,
                              times=times, lose_answer=True))  # fmt: skip

    def delay(
        self,
        seconds_each: float,
        *,
        verbs: Collection[str],
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        match: Callable[[kmock.Request], bool] | None = None,
        times: int | None = None,
        seconds: float | None = None,
        every: int = 1,
        effect: Callable[[kmock.Request], None] | None = None,
    ) -> Rule:
        """Hold matching requests `seconds_each` (and call `effect`) before the emulator serves them."""
        return self._add(Rule(frozenset(verbs), resource, subresource, name, match, None, seconds_each,
                              times, _deadline(seconds), every, effect))  # fmt: skip

    def hold(
        self,
        *,
        verbs: Collection[str],
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        match: Callable[[kmock.Request], bool] | None = None,
    ) -> Rule:
        """Hold matching requests until `rule.release()` (a client stuck on a slow answer)."""
        return self._add(Rule(frozenset(verbs), resource, subresource, name, match, gate=asyncio.Event()))

    def clear(self) -> None:
        """End every fault (rules, held requests and watch cutting)."""
        for rule in self.rules:
            rule.release()
        self.rules.clear()
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()

    @property
    def fired(self) -> bool:
        """Every rule hit at least once, and watch streams were cut if that was asked for."""
        return all(rule.hits for rule in self.rules) and (self.dropped > 0 or not self.cutting)

    def drop_watches(self) -> int:
        """Cut every watch stream the operator has open, mid-stream (a TCP abort); how many were."""
        cut = 0
        for request in self.watches:
            transport = _transport(request)
            if transport is not None and not transport.is_closing():
                transport.abort()
                cut += 1
        self.watches = [request for request in self.watches if _open(request)]
        self.dropped += cut
        return cut

    def keep_dropping_watches(self, *, every: float, seconds: float) -> None:
        """Cut the operator's watch streams every `every` seconds for `seconds` (in the background)."""

        async def cut() -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(every)
                self.drop_watches()

        self.cutting = True
        self.tasks.append(asyncio.create_task(cut()))

    def _add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    async def _serve_then_cut(self, request: kmock.Request) -> kmock.Payload:
        # The emulator's own fallbacks, called here so that the connection is cut after the commit.
        verb = verb_of(request)
        answer: kmock.Payload
        if verb == "create":
            answer = await self.emulator._serve_create(request)
        elif verb == "patch":
            answer = await self.emulator._serve_update(request)
        elif verb == "update":
            answer = await self.emulator._serve_replace(request)
        else:
            answer = await self.emulator._serve_delete(request)
        transport = _transport(request)
        if transport is not None:
            transport.abort()
        return answer

    async def _react(self, request: kmock.Request) -> kmock.Payload:
        if exempt(request):
            raise NotImplementedError  # kmock: not ours, on to the next reaction (the emulator)
        if verb_of(request) == "watch":
            self.watches.append(request)
        for rule in self.rules:
            if not rule.active or not rule.matches(request):
                continue
            rule.seen += 1
            if rule.seen % rule.every:
                continue
            rule.hits += 1
            rule.hit_at.append(time.monotonic())
            if rule.effect is not None:
                rule.effect(request)
            if rule.gate is not None:
                await rule.gate.wait()
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.lose_answer:
                return await self._serve_then_cut(request)
            if rule.status is not None:
                reason = _REASONS.get(rule.status, "InternalError")
                message = f"injected fault: {rule.status} for {verb_of(request)} {request.url.path}"
                error = ApiError(rule.status, reason, message)
                if rule.retry_after is None:
                    raise error
                body = {**error.status_body(), "details": {"retryAfterSeconds": rule.retry_after}}
                headers = {"Retry-After": str(rule.retry_after)}
                return kmock.Response(status=rule.status, payload=body, headers=headers)
            break
        raise NotImplementedError


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def _transport(request: kmock.Request) -> asyncio.Transport | None:
    # kmock keeps the aiohttp request it parsed in a private field ("use at your own risk"); nothing
    # public reaches the connection.
    raw = getattr(request, "_raw_request", None)
    transport = None if raw is None else raw.transport
    return transport if isinstance(transport, asyncio.Transport) else None


def _open(request: kmock.Request) -> bool:
    transport = _transport(request)
    return transport is not None and not transport.is_closing()
