"""The Prometheus HTTP API: the only module that talks to Prometheus.

`read_revision` runs one revision's queries (built by `analysis.queries.build_queries`,
one per query of the SLO registry) as instant queries against `/api/v1/query`,
concurrently, and returns an `analysis.queries.Reading`. It never raises for anything
Prometheus or the network does: connection refused, a timeout, an HTTP error, `status:
error`, an unparsable body or an answer of several series all become a `Measurement` with
an `error` string, which `analysis.verdict.assess` turns into an `Error` verdict (never a
failure). An empty result or NaN (a quantile of a window
without observations) is no data: `value` None, `note` saying which.

`read_and_assess` does the whole reading of a canary step: the canary's and
the stable's queries at once (with their counts since the step started, for the
always-valid tests), then `analysis.verdict.assess`.
"""

import asyncio
import json
import math
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from yarl import URL

from qwenops.analysis.queries import Measurement, Queries, Reading, build_queries, build_step_queries
from qwenops.analysis.verdict import Verdict, assess
from qwenops.api.spec import Analysis

QUERY_PATH = "api/v1/query"
_SNIPPET = 200


async def read_revision(
    url: str,
    queries: Queries,
    *,
    timeout: float,
    at: datetime | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Reading:
    """Run the queries of one revision concurrently; every failure is inside the Reading.

    `url` is Prometheus' base URL (a path prefix is kept: `http://host/prometheus`);
    `timeout` bounds each query (it is also passed to Prometheus as its evaluation
    timeout); `at` is the evaluation time (default: Prometheus' now); `session` lets a
    caller share one connection pool, otherwise one is opened for this reading.
    """
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await read_revision(url, queries, timeout=timeout, at=at, session=own)
    measurements = await asyncio.gather(
        *(query(session, url, promql, timeout=timeout, at=at) for promql in queries.promql.values())
    )
    return Reading(dict(zip(queries.promql, measurements, strict=True)))


async def read_and_assess(
    url: str,
    analysis: Analysis,
    *,
    namespace: str,
    deployment: str,
    canary: str,
    stable: str | None,
    timeout: float,
    at: datetime | None = None,
    step_age: timedelta | None = None,
) -> Verdict:
    """Read the canary and (if any) the stable revision at once, and judge the canary's SLOs.

    With `step_age` (how long the step has run), each revision's counts since the step started
    are read as well, for the always-valid tests (`analysis.sequential`).
    """
    where = {"namespace": namespace, "deployment": deployment}
    revisions = [canary] if stable is None else [canary, stable]
    batches = [build_queries(analysis, **where, revision=revision) for revision in revisions]
    if step_age is not None and step_age > timedelta(0):
        batches += [build_step_queries(analysis, **where, revision=r, age=step_age) for r in revisions]
    async with aiohttp.ClientSession() as session:
        readings = await asyncio.gather(
            *(read_revision(url, queries, timeout=timeout, at=at, session=session) for queries in batches)
        )
    windows, steps = readings[: len(revisions)], readings[len(revisions) :]
    return assess(
        analysis,
        windows[0],
        windows[1] if stable is not None else None,
        canary_step=steps[0] if steps else None,
        stable_step=steps[1] if len(steps) > 1 else None,
    )


async def query(
    session: aiohttp.ClientSession, url: str, promql: str, *, timeout: float, at: datetime | None = None
) -> Measurement:
    """One instant query; never raises for what the server or the network does."""
    base = URL(url)
    endpoint = base.with_path(base.path.rstrip("/") + "/" + QUERY_PATH)
    params = {"query": promql, "timeout": f"{timeout:g}s"}
    if at is not None:
        params["time"] = f"{at.timestamp():.3f}"
    where = str(base.with_user(None).with_password(None).with_query(None))
    try:
        async with session.get(
            endpoint, params=params, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as answer:
            body = await answer.read()
            status = answer.status
    except TimeoutError:
        return Measurement(promql, error=f"no answer from Prometheus at {where} within {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:
        return Measurement(
            promql, error=f"cannot connect to Prometheus at {where}: {exc.os_error.strerror or exc}"
        )
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Measurement(promql, error=f"Prometheus at {where}: {type(exc).__name__}: {_snippet(str(exc))}")
    return parse_answer(promql, status, body)


def parse_answer(promql: str, status: int, body: bytes) -> Measurement:
    """Turn an HTTP status and body from `/api/v1/query` into a Measurement (pure)."""
    text = body.decode("utf-8", errors="replace")
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        data = None
    if not isinstance(data, dict):
        if status != 200:
            return Measurement(promql, error=f"HTTP {status}: {_snippet(text)}")
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")
    if data.get("status") == "error":
        kind = _snippet(str(data.get("errorType", "error")))
        return Measurement(
            promql, error=f"Prometheus {kind} (HTTP {status}): {_snippet(str(data.get('error', '')))}"
        )
    if status != 200:
        return Measurement(promql, error=f"HTTP {status}: {_snippet(text)}")
    if data.get("status") != "success":
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")
    try:
        return _value(promql, data["data"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError):
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")


def _value(promql: str, data: Any) -> Measurement:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        sample = result
    elif kind == "vector":
        if not result:
            return Measurement(promql, None, note="empty result")
        if len(result) > 1:
            labels = ", ".join(json.dumps(series.get("metric", {}), sort_keys=True) for series in result[:3])
            return Measurement(
                promql,
                error=f"{len(result)} series where one was expected (aggregate the query, e.g. with sum): "
                f"{_snippet(labels)}",
            )
        sample = result[0]["value"]
    else:
        return Measurement(
            promql, error=f"result type {_snippet(repr(kind))}; an instant query of one value was expected"
        )
    if isinstance(sample[1], bool):  # Prometheus writes sample values as strings; true is no number
        raise TypeError(f"sample value {sample[1]!r}")
    value = float(sample[1])
    if math.isnan(value):
        return Measurement(promql, None, note="NaN: no samples in the window")
    return Measurement(promql, value)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[:_SNIPPET] + "..."
