"""A Prometheus stand-in: ``/api/v1/query`` on loopback, answering the analysis' default queries
(every `Query` of `qwenops.api.slos.QUERIES`) from values set per revision, or as a broken
Prometheus would.

It recognises a query by the PromQL the operator renders from its declaration: the template,
with a revision's label matchers (the default `SeriesLabels`) and a window in place of the
placeholders. A revision answers its :class:`Series`, the value of each query by field;
:data:`DEFAULTS` is a healthy revision, derived from the registry (see there).

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
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import assert_never

from aiohttp import web

from qwenops.analysis.queries import STEP_COUNTS, render_query, selector
from qwenops.api.slos import QUERIES, SLOS, Count, Quantile, Query
from qwenops.api.spec import SeriesLabels
from qwenops_testing.ports import free_port

# -- what a healthy revision answers --------------------------------------------------------------

UNJUDGED_COUNT = 400.0
"""A count no SLO judges (the requests every error ratio is out of): well above the `minRequests`
tests set."""
QUANTILE_SHARE = 0.1
"""A quantile answers this share of the smallest `example` of the SLOs judging it: well within
the thresholds tests declare."""


def _judging(query: Query) -> tuple[float, ...]:
    """The `example` thresholds of the SLOs that judge `query`."""
    return tuple(slo.example for slo in SLOS if slo.query == query)


def healthy_value(query: Query) -> float:
    """What `query` answers for a healthy revision: a count an SLO judges (the errors) 0, another
    count :data:`UNJUDGED_COUNT`, a quantile :data:`QUANTILE_SHARE` of its SLOs' smallest example."""
    examples = _judging(query)
    match query:
        case Count():
            return 0.0 if examples else UNJUDGED_COUNT
        case Quantile():
            if not examples:
                raise ValueError(f"{query.field}: no SLO judges this quantile, so no example to start from")
            return QUANTILE_SHARE * min(examples)
        case _:
            assert_never(query)


DEFAULTS: Mapping[str, float] = MappingProxyType({query.field: healthy_value(query) for query in QUERIES})
"""A healthy revision: every declared query's value, by field."""

EMPTY_WHEN_ZERO = frozenset(query for query in QUERIES if isinstance(query, Count) and _judging(query))
"""The counts an SLO judges (the errors) answer 0 as an empty result, as vLLM gives: the
instrumentator creates a status' series at its first answer."""


class Series:
    """What a revision's queries answer over the window: a value per declared query, by field.

    ``Series(errors=200)`` is a healthy revision (:data:`DEFAULTS`) but for its errors;
    ``Series.every(math.nan)`` answers NaN to every query.
    """

    def __init__(self, **values: float) -> None:
        unknown = values.keys() - DEFAULTS.keys()
        if unknown:
            raise TypeError(f"no such queries: {sorted(unknown)} (declared: {sorted(DEFAULTS)})")
        self.values: Mapping[str, float] = MappingProxyType({**DEFAULTS, **values})

    @classmethod
    def every(cls, value: float, **values: float) -> Series:
        """Every query answers `value`, but those given in `values`."""
        return cls(**{**dict.fromkeys(DEFAULTS, value), **values})

    def __getitem__(self, query: Query) -> float:
        return self.values[query.field]

    def __repr__(self) -> str:
        return f"Series({', '.join(f'{field}={value!r}' for field, value in self.values.items())})"


# -- which query the operator asks ----------------------------------------------------------------

_WILDCARDS = {"namespace": '[^"]*', "deployment": '[^"]*', "revision": '[^"]*', "window": r"\d+m?s"}


def _pattern(query: Query, labels: SeriesLabels, template: str | None = None) -> re.Pattern[str]:
    """The PromQL the operator renders from `query`'s template (or `template`) for any revision and
    window, the revision's matchers being those of `labels`; each placeholder's value is a named group."""
    marks = {name: f"\0{name}\0" for name in _WILDCARDS}
    matchers = selector(
        labels, namespace=marks["namespace"], deployment=marks["deployment"], revision=marks["revision"]
    )
    text = re.escape(render_query(template or query.template, selector=matchers, window=marks["window"]))
    for name, wildcard in _WILDCARDS.items():
        mark = re.escape(marks[name])
        text = text.replace(mark, f"(?P<{name}>{wildcard})", 1).replace(mark, f"(?P={name})")
    return re.compile(text)


_PATTERNS = [(query, _pattern(query, SeriesLabels())) for query in QUERIES] + [
    (query, _pattern(query, SeriesLabels(), query.since_template)) for query in STEP_COUNTS
]  # a count since the step started answers what the count over the window does


@dataclass(frozen=True)
class Asked:
    """A declared query, of one revision."""

    query: Query
    revision: str


def recognise(promql: str) -> Asked | None:
    """The declared query (with the default series labels) `promql` is; None if it is none of them."""
    asked = [
        Asked(query, match["revision"])
        for query, pattern in _PATTERNS
        if (match := pattern.fullmatch(promql))
    ]
    assert len(asked) <= 1, f"{promql!r} is {len(asked)} declared queries"
    return asked[0] if asked else None


# -- the stand-in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A raw answer to every query: an HTTP status, a body and its content type."""

    status: int
    body: str
    content_type: str = "application/json"


@dataclass(frozen=True)
class Received:
    """A query received: when, of which revision, which declared query (None: neither is known)."""

    at: float
    revision: str | None
    query: Query | None


class PrometheusStandIn:
    """`/api/v1/query` on 127.0.0.1; see the module's docstring.

    ``series`` maps a revision to its :class:`Series` (others get ``default``); a revision in
    ``missing`` has no series at all (every query an empty result, as after its pods' series
    went stale);
    ``raw`` overrides every answer with a :class:`Raw` one; ``slow`` answers
    after that many seconds; :meth:`hold` keeps queries waiting until
    :meth:`release`. :meth:`stop` closes the port (connection refused);
    :meth:`start` opens it again on the same port. A query that is none of the
    declared ones gets Prometheus' `bad_data` error.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.default = Series()
        self.series: dict[str, Series] = {}
        self.missing: set[str] = set()
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
        self.missing.clear()
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
        asked = recognise(promql)
        revision, query = (asked.revision, asked.query) if asked is not None else (None, None)
        self.received.append(Received(time.monotonic(), revision, query))
        self.arrived.set()
        if self._held is not None:
            await self._held.wait()
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.raw is not None:
            return web.Response(
                status=self.raw.status, text=self.raw.body, content_type=self.raw.content_type
            )
        if asked is None:
            error = f"the stand-in knows no such query: {promql[:200]}"
            return web.json_response({"status": "error", "errorType": "bad_data", "error": error}, status=400)
        value = self.series.get(asked.revision, self.default)[asked.query]
        empty = asked.revision in self.missing or (asked.query in EMPTY_WHEN_ZERO and value == 0)
        result = [] if empty else [
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
