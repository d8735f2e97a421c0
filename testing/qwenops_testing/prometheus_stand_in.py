"""A Prometheus stand-in: ``/api/v1/query`` on loopback, answering the analysis' four default
queries from values set per revision, or as a broken Prometheus would.

:class:`PrometheusStandIn` answers slowly, with a raw body (garbage), or not at all (stopped:
connection refused). It can hold the queries it receives until released, so that a test acts
while a reading is in flight. For a real Prometheus scraping simulated pods, see prometheus.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from qwenops_testing.ports import free_port

QueryKind = Literal["requests", "errors", "p95_latency", "p95_time_to_first_token"]
_REVISION = re.compile(r'qwenops_io_revision="([^"]*)"')


def query_kind(promql: str) -> QueryKind:
    """Which of the analysis' four default queries this is."""
    if 'status="5xx"' in promql:
        return "errors"
    if "e2e_request_latency" in promql:
        return "p95_latency"
    if "time_to_first_token" in promql:
        return "p95_time_to_first_token"
    return "requests"


@dataclass(frozen=True)
class Series:
    """What a revision's queries answer over the window; errors 0 is an empty result, as vLLM gives."""

    requests: float = 400.0
    errors: float = 0.0
    p95_latency: float = 0.25
    p95_time_to_first_token: float = 0.05


@dataclass(frozen=True)
class Raw:
    """A raw answer to every query: an HTTP status, a body and its content type."""

    status: int
    body: str
    content_type: str = "application/json"


@dataclass(frozen=True)
class Received:
    at: float
    revision: str | None
    kind: QueryKind


class PrometheusStandIn:
    """`/api/v1/query` on 127.0.0.1; see the module's docstring.

    ``series`` maps a revision to its :class:`Series` (others get ``default``);
    ``raw`` overrides every answer with a :class:`Raw` one; ``slow`` answers
    after that many seconds; :meth:`hold` keeps queries waiting until
    :meth:`release`. :meth:`stop` closes the port (connection refused);
    :meth:`start` opens it again on the same port.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.default = Series()
        self.series: dict[str, Series] = {}
        self.raw: Raw | None = None
        self.slow = 0.0
        self.received: list[Received] = []
        self.arrived = asyncio.Event()
        self._held: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", self._query)
        runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def healthy(self) -> None:
        """Every revision answers good values at once again."""
        self.series.clear()
        self.raw, self.slow = None, 0.0
        self.release()

    def hold(self) -> None:
        """Keep every query waiting (a reading in flight) until :meth:`release`."""
        self._held = asyncio.Event()
        self.arrived.clear()

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.set()

    async def _query(self, request: web.Request) -> web.Response:
        promql = request.query.get("query", "")
        if not promql and request.can_read_body:
            promql = str((await request.post()).get("query", ""))
        revision = match.group(1) if (match := _REVISION.search(promql)) else None
        self.received.append(Received(time.monotonic(), revision, query_kind(promql)))
        self.arrived.set()
        if self._held is not None:
            await self._held.wait()
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.raw is not None:
            return web.Response(
                status=self.raw.status, text=self.raw.body, content_type=self.raw.content_type
            )
        values = self.series.get(revision or "", self.default)
        value = getattr(values, query_kind(promql))
        result = [] if query_kind(promql) == "errors" and value == 0 else [
            {"metric": {}, "value": [time.time(), _number(value)]}
        ]  # fmt: skip
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return web.json_response(body)


def _number(value: float) -> str:
    """A sample value as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, else the number)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@contextlib.asynccontextmanager
async def prometheus_stand_in() -> AsyncIterator[PrometheusStandIn]:
    """A started :class:`PrometheusStandIn`, stopped on exit."""
    stand_in = PrometheusStandIn()
    await stand_in.start()
    try:
        yield stand_in
    finally:
        stand_in.release()
        await stand_in.stop()
