"""prom.py against a fake Prometheus HTTP API: every failure becomes a Reading, never an exception."""

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from qwenops.analysis.queries import STEP_COUNTS, Queries, build_queries
from qwenops.api import slos
from qwenops.api.slos import P95_LATENCY, P95_TIME_TO_FIRST_TOKEN, REQUESTS
from qwenops.api.spec import Analysis
from qwenops.io.prom import parse_answer, query, read_and_assess, read_revision
from qwenops_testing import prometheus
from qwenops_testing.prometheus_stand_in import Series, prometheus_stand_in

Answer = Callable[[str], Awaitable[tuple[int, str]] | tuple[int, str]]

QUERIES = build_queries(Analysis(), namespace="llm", deployment="chat", revision="c1")


def vector(*values: str, labels: dict[str, str] | None = None) -> str:
    result = [{"metric": labels or {}, "value": [1700000000.0, value]} for value in values]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


class FakePrometheus:
    """`/api/v1/query` (under an optional prefix) answering with `answer(query)`."""

    def __init__(self, answer: Answer, prefix: str = "") -> None:
        self.answer = answer
        self.prefix = prefix
        self.requests: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        answered = self.answer(request.query["query"])
        status, body = await answered if inspect.isawaitable(answered) else answered
        return web.Response(status=status, text=body, content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(self.prefix + "/api/v1/query", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.prefix}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[FakePrometheus]]]:
    started: list[FakePrometheus] = []

    async def start(answer: Answer, prefix: str = "") -> FakePrometheus:
        fake = FakePrometheus(answer, prefix)
        await fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def one(url: str, promql: str = "up", timeout: float = 2.0) -> Any:
    async with aiohttp.ClientSession() as session:
        return await query(session, url, promql, timeout=timeout)


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "value", "note", "error"),
    [
        (200, vector("812"), 812.0, "", None),
        (200, vector("812.4"), 812.4, "", None),
        (
            200,
            json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}),
            3.0,
            "",
            None,
        ),
        (200, vector(), None, "empty result", None),
        (200, vector("NaN"), None, "NaN: no samples in the window", None),
        (200, vector("+Inf"), float("inf"), "", None),
        (200, vector("1", "2", labels={"pod": "a"}), None, "", "2 series where one was expected"),
        (
            400,
            json.dumps(
                {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected }"}
            ),
            None,
            "",
            "Prometheus bad_data (HTTP 400): 1:5: parse error: unexpected }",
        ),
        (
            503,
            json.dumps(
                {
                    "status": "error",
                    "errorType": "timeout",
                    "error": "query timed out in expression evaluation",
                }
            ),
            None,
            "",
            "Prometheus timeout (HTTP 503): query timed out",
        ),
        (500, "<html>internal error</html>", None, "", "HTTP 500: <html>internal error</html>"),
        (502, json.dumps({"hello": "proxy"}), None, "", "HTTP 502:"),
        (200, "<html>login page</html>", None, "", "unparsable answer: <html>login page</html>"),
        (200, "[1, 2]", None, "", "unparsable answer"),
        (200, json.dumps({"status": "success"}), None, "", "unparsable answer"),
        (200, json.dumps({"status": "weird"}), None, "", "unparsable answer"),
        (200, vector("not-a-number"), None, "", "unparsable answer"),
        (
            200,
            json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}),
            None,
            "",
            "result type 'matrix'",
        ),
    ],
)
async def test_answers(serve: Any, status: int, body: str, value: Any, note: str, error: str | None) -> None:
    fake = await serve(lambda _query: (status, body))
    measurement = await one(fake.url, "sum(x)")
    assert measurement.query == "sum(x)"
    assert measurement.value == value
    assert measurement.note == note
    if error is None:
        assert measurement.error is None
    else:
        assert measurement.error is not None
        assert error in measurement.error
    # the pure parser agrees with what went over the wire
    assert parse_answer("sum(x)", status, body.encode()) == measurement


GARBAGE: dict[str, bytes] = {
    "series that are not objects": json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": ["a", "b"]}}
    ).encode(),
    "a result that is a string": json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": "abc"}}
    ).encode(),
    "arrays nested deeper than the parser goes": b"[" * 100_000,
    "objects nested deeper than the parser goes": b'{"a":' * 100_000,
    "a boolean sample": json.dumps(
        {"status": "success", "data": {"resultType": "scalar", "result": [1, True]}}
    ).encode(),
    "a null sample": json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": None}]}}
    ).encode(),
    "data that is null": json.dumps({"status": "success", "data": None}).encode(),
    "an integer too long to parse": b'{"status": "success", "data": {"resultType": "scalar", "result": [1, '
    + b"9" * 5000
    + b"]}}",
}


@pytest.mark.parametrize("body", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_is_an_unparsable_answer_never_an_exception(body: bytes) -> None:
    measurement = parse_answer("q", 200, body)
    assert measurement.value is None
    assert measurement.error is not None and measurement.error.startswith("unparsable answer: ")
    assert len(measurement.error) < 250


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"status": "error", "errorType": "x" * 5000, "error": "y" * 100_000}),
        json.dumps({"status": "success", "data": {"resultType": "z" * 5000, "result": []}}),
        vector("1", "2", labels={"pod": "p" * 100_000}),
    ],
    ids=["error text", "result type", "series labels"],
)
def test_what_prometheus_says_is_cut_before_it_reaches_status(body: str) -> None:
    measurement = parse_answer("q", 200, body.encode())
    assert measurement.error is not None and len(measurement.error) < 700


def test_long_bodies_are_cut() -> None:
    measurement = parse_answer("q", 500, b"x" * 5000)
    assert measurement.error is not None
    assert len(measurement.error) < 250
    assert measurement.error.endswith("...")


# --- the network --------------------------------------------------------------------------------


async def test_connection_refused_is_a_reading() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    reading = await read_revision(url, QUERIES, timeout=2)
    assert reading.error is not None
    assert set(reading.measurements) == set(slos.QUERIES)
    for measurement in reading.measurements.values():
        assert measurement.value is None
        assert measurement.error is not None
        assert measurement.error.startswith(f"cannot connect to Prometheus at {url}")


async def test_unknown_host_is_a_reading() -> None:
    measurement = await one("http://prometheus.invalid:9090", timeout=5)
    assert measurement.error is not None
    assert "prometheus.invalid" in measurement.error


async def test_timeout_is_a_reading(serve: Any) -> None:
    async def slow(_query: str) -> tuple[int, str]:
        await asyncio.sleep(5)
        return 200, vector("1")

    fake = await serve(slow)
    started = asyncio.get_running_loop().time()
    reading = await read_revision(fake.url, QUERIES, timeout=0.3)
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < 2, "the queries run concurrently, each bounded by the timeout"
    assert reading[REQUESTS].error == f"no answer from Prometheus at {fake.url} within 0.3s"
    assert reading.error is not None
    assert reading.error.count("within 0.3s") == len(slos.QUERIES)


async def test_credentials_are_not_repeated_in_errors() -> None:
    url = f"http://admin:s3cret@127.0.0.1:{closed_port()}"
    measurement = await one(url)
    assert measurement.error is not None
    assert "s3cret" not in measurement.error
    assert "admin" not in measurement.error


async def test_queries_run_concurrently_with_parameters(serve: Any) -> None:
    arrived = 0
    all_of_them = asyncio.Event()

    async def barrier(_query: str) -> tuple[int, str]:
        nonlocal arrived
        arrived += 1
        if arrived == len(slos.QUERIES):
            all_of_them.set()
        await asyncio.wait_for(all_of_them.wait(), timeout=2)  # only if all are in flight at once
        return 200, vector("7")

    fake = await serve(barrier, prefix="/prometheus")
    at = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    reading = await read_revision(fake.url + "/", QUERIES, timeout=3, at=at)
    assert reading.error is None
    assert reading[REQUESTS].value == 7
    assert sorted(request["query"] for request in fake.requests) == sorted(q for _, q in QUERIES.items())
    assert {request["time"] for request in fake.requests} == {f"{at.timestamp():.3f}"}
    assert {request["timeout"] for request in fake.requests} == {"3s"}


async def test_one_failing_query_leaves_the_others(serve: Any) -> None:
    def answer(promql: str) -> tuple[int, str]:
        if "e2e_request_latency" in promql:
            return 422, json.dumps(
                {"status": "error", "errorType": "execution", "error": "many-to-many matching"}
            )
        return 200, vector("100")

    fake = await serve(answer)
    reading = await read_revision(fake.url, QUERIES, timeout=2)
    assert reading[REQUESTS].value == 100
    assert reading[P95_TIME_TO_FIRST_TOKEN].value == 100
    assert reading[P95_LATENCY].error == "Prometheus execution (HTTP 422): many-to-many matching"
    assert reading.error == "p95Latency: Prometheus execution (HTTP 422): many-to-many matching"


# --- read_and_assess ----------------------------------------------------------------------------


async def test_read_and_assess_fails_a_regressed_canary() -> None:
    async with prometheus_stand_in() as stand_in:
        stand_in.series = {
            "c1": Series(requests=1000, errors=60, p95_latency=2.5, p95_time_to_first_token=0.3),
            "s1": Series(requests=9000, errors=0, p95_latency=2.4, p95_time_to_first_token=0.3),
        }
        spec = Analysis.model_validate(
            {"prometheus": {"url": stand_in.url}, "slos": {"maxErrorRate": 0.01, "maxErrorRateVsStable": 2}}
        )
        verdict = await read_and_assess(
            stand_in.url, spec, namespace="llm", deployment="chat", canary="c1", stable="s1", timeout=2
        )
    assert verdict.outcome == "Failed", verdict.message
    assert [check.slo for check in verdict.failed] == ["maxErrorRate", "maxErrorRateVsStable"]
    assert 'qwenops_io_revision="c1"' in verdict.failed[0].query


async def test_read_and_assess_without_stable() -> None:
    async with prometheus_stand_in() as stand_in:
        stand_in.series = {"c1": Series(requests=1000, p95_latency=2.5, p95_time_to_first_token=0.3)}
        spec = Analysis.model_validate({"slos": {"maxErrorRate": 0.01, "p95LatencySeconds": 5}})
        verdict = await read_and_assess(
            stand_in.url, spec, namespace="llm", deployment="chat", canary="c1", stable=None, timeout=2
        )
    assert verdict.outcome == "Passed", verdict.message
    assert len(stand_in.received) == len(slos.QUERIES)  # the stable is not asked
    assert {(r.revision, r.query) for r in stand_in.received} == {("c1", query) for query in slos.QUERIES}


async def test_read_and_assess_reads_the_counts_since_the_step_started_too() -> None:
    """With the step's age, both revisions' counts over it are asked as well: a breach the stand-in
    answers for every range is conclusive since the step started, and fails the reading at once."""
    async with prometheus_stand_in() as stand_in:
        stand_in.series = {"c1": Series(requests=1000, errors=60), "s1": Series(requests=9000, errors=0)}
        spec = Analysis.model_validate({"slos": {"maxErrorRate": 0.01}})
        verdict = await read_and_assess(
            stand_in.url, spec, namespace="llm", deployment="chat", canary="c1", stable="s1", timeout=2,
            step_age=timedelta(minutes=5),
        )  # fmt: skip
        asked = [(r.revision, r.query) for r in stand_in.received]
    assert verdict.outcome == "Failed" and verdict.conclusive, verdict.message
    steps = [(revision, query) for revision in ("c1", "s1") for query in STEP_COUNTS]
    assert sorted(asked, key=str) == sorted(
        [(revision, query) for revision in ("c1", "s1") for query in slos.QUERIES] + steps, key=str
    )


async def test_read_and_assess_prometheus_down_is_error() -> None:
    spec = Analysis.model_validate({"slos": {"maxErrorRate": 0.01}})
    verdict = await read_and_assess(
        f"http://127.0.0.1:{closed_port()}",
        spec,
        namespace="llm",
        deployment="chat",
        canary="c1",
        stable="s1",
        timeout=1,
    )
    assert verdict.outcome == "Error"
    assert "cannot connect to Prometheus" in verdict.message


def test_queries_type() -> None:
    assert isinstance(QUERIES, Queries)


# --- the real-Prometheus fixture's own contract -------------------------------------------------


def test_missing_prometheus_skips_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(prometheus.BINARY_ENV, "/nonexistent/prometheus")
    monkeypatch.delenv(prometheus.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install prometheus"):
        prometheus.require_prometheus()
    monkeypatch.setenv(prometheus.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"install Debian's prometheus package"):
        prometheus.require_prometheus()
