"""The default queries against a REAL Prometheus (Debian's 2.42 here) scraping exporters on loopback.

Two stand-ins for vLLM pods export `vllm:e2e_request_latency_seconds`,
`vllm:time_to_first_token_seconds` (histograms with vLLM's buckets) and
`http_requests_total{handler,method,status}` (as vLLM's FastAPI instrumentator
does, status grouped as `2xx`/`4xx`/`5xx`). Prometheus attaches `namespace`,
`qwenops_io_deployment` and `qwenops_io_revision` as target labels, as a
PodMonitor's labelmap would:

* the canary is served by prometheus-client's own HTTP server, which negotiates
  the format with Prometheus' Accept header (and may escape `vllm:` to `vllm_`);
* the stable is served as the classic text format with the names as they are
  (`vllm:` kept), as other exporter versions do.

So one Prometheus stores whichever form its version gets from each, and the
default queries must read both revisions right.
"""

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIServer

import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server

from qwenops.analysis.queries import build_queries, build_step_queries
from qwenops.api.slos import ERRORS, MAX_ERROR_RATE, P95_LATENCY, P95_TIME_TO_FIRST_TOKEN, REQUESTS
from qwenops.api.spec import Analysis
from qwenops.io.prom import read_and_assess, read_revision
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import PrometheusServer, Target, prometheus_running, revision_labels

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# vLLM's buckets (vllm/engine/metrics.py)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
MODEL = "qwen3-8b"
INFERENCE = ("/v1/completions", "/v1/chat/completions")


class VllmMetrics:
    """The three vLLM metric families the analysis reads, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.",
            ["model_name"],
            buckets=E2E_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            ["model_name"],
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.http = Counter(
            "http_requests",
            "Total number of requests by method, status and handler.",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        # Every child exists at 0 from the start, so that increase() sees the first request.
        self.e2e.labels(MODEL)
        self.ttft.labels(MODEL)
        for handler in (*INFERENCE, "/health"):
            for status in ("2xx", "4xx", "5xx"):
                self.http.labels(handler, "POST" if handler in INFERENCE else "GET", status)

    def serve(self, handler: str, status: str, count: int, *, latency: float, ttft: float) -> None:
        method = "POST" if handler in INFERENCE else "GET"
        self.http.labels(handler, method, status).inc(count)
        if handler in INFERENCE:
            for _ in range(count):
                self.e2e.labels(MODEL).observe(latency)
                self.ttft.labels(MODEL).observe(ttft)


class Pod:
    """One exporter on loopback: `address` for the scrape config, `close()` to stop it."""

    def __init__(self, metrics: VllmMetrics, address: str) -> None:
        self.metrics = metrics
        self.address = address

    async def close(self) -> None:
        raise NotImplementedError


class NegotiatingPod(Pod):
    """prometheus-client's own HTTP server (a thread): the format follows the scraper's Accept header."""

    def __init__(self, metrics: VllmMetrics) -> None:
        port = free_port()
        self.server: WSGIServer
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
        super().__init__(metrics, f"127.0.0.1:{port}")

    async def close(self) -> None:
        await asyncio.to_thread(self.server.shutdown)
        self.server.server_close()
        self.thread.join(timeout=5)


class ClassicTextPod(Pod):
    """The text format 0.0.4 with names as they are (`vllm:` kept), served by this event loop."""

    def __init__(self, metrics: VllmMetrics, runner: web.AppRunner, port: int) -> None:
        super().__init__(metrics, f"127.0.0.1:{port}")
        self.runner = runner

    @classmethod
    async def start(cls, metrics: VllmMetrics) -> "ClassicTextPod":
        async def scrape(_request: web.Request) -> web.Response:
            body = generate_latest(metrics.registry)  # the text format keeps `vllm:` names
            return web.Response(
                body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
            )

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return cls(metrics, runner, port)

    async def close(self) -> None:
        await self.runner.cleanup()


@dataclass
class Scene:
    """A canary pod and (maybe) a stable pod of one QwenDeployment, scraped by the shared Prometheus."""

    prometheus: PrometheusServer
    canary: Pod
    canary_revision: str
    stable: Pod | None = None
    stable_revision: str | None = None


@dataclass
class World:
    prometheus: PrometheusServer
    scenes: dict[str, Scene]
    pods: list[Pod]


# One Prometheus for the module: it picks up new targets only every 5 s, so each test gets
# pods of its own, registered up front, instead of a server of its own.
SCENES = {
    "read": ("a1b2c3", "7d9f4c"),
    "regressed": ("b2c3d4", "8e0a5d"),
    "quiet": ("c3d4e5", None),
    "born": ("d4e5f6", None),  # its 5xx series is created by the first error, as vLLM's is
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    pods: list[Pod] = []
    scenes: dict[str, tuple[Pod, str, Pod | None, str | None]] = {}
    targets: list[Target] = []
    try:
        for name, (canary_revision, stable_revision) in SCENES.items():
            canary = NegotiatingPod(VllmMetrics())
            if name == "born":
                for handler in INFERENCE:
                    canary.metrics.http.remove(handler, "POST", "5xx")
            pods.append(canary)
            targets.append(Target(canary.address, revision_labels("llm", "chat", canary_revision)))
            stable: Pod | None = None
            if stable_revision is not None:
                stable = await ClassicTextPod.start(VllmMetrics())
                pods.append(stable)
                targets.append(Target(stable.address, revision_labels("llm", "chat", stable_revision)))
            scenes[name] = (canary, canary_revision, stable, stable_revision)
        workdir = tmp_path_factory.mktemp("prometheus")
        async with prometheus_running(workdir, targets=targets, scrape_interval="1s") as prometheus:
            await prometheus.wait_for_targets(len(targets))
            await prometheus.wait_for_scrapes(2)  # the zero samples the traffic's increase() starts from
            yield World(
                prometheus,
                {name: Scene(prometheus, *parts) for name, parts in scenes.items()},
                pods,
            )
    finally:
        for pod in pods:
            await pod.close()


def histogram_p95(observations: dict[float, int], buckets: tuple[float, ...]) -> float:
    """What histogram_quantile(0.95, ...) answers for these observations (linear within a bucket)."""
    total = sum(observations.values())
    rank = 0.95 * total
    below, lower = 0, 0.0
    for upper in buckets:
        inside = sum(count for value, count in observations.items() if lower < value <= upper)
        if below + inside >= rank:
            return lower + (upper - lower) * (rank - below) / inside
        below, lower = below + inside, upper
    return math.inf


async def settle(prometheus: PrometheusServer, revision: str, total: int) -> datetime:
    """Wait until Prometheus has scraped the revision's last counter value; when that sample was taken.

    Querying at that instant keeps increase() from extrapolating past the last sample
    (it would add up to one scrape interval's worth, ~10 % of a 10 s history).
    """
    matchers = f'handler=~"/v1/completions|/v1/chat/completions",qwenops_io_revision="{revision}"'
    for _ in range(100):
        if await prometheus.value(f"sum(http_requests_total{{{matchers}}})") == total:
            stamp = await prometheus.value(f"max(timestamp(http_requests_total{{{matchers}}}))")
            assert stamp is not None
            return datetime.fromtimestamp(stamp, UTC)
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {total} requests of {revision}:\n{prometheus.tail()}")


WINDOW = "1m"  # covers the zero samples taken before the traffic


async def test_default_queries_read_each_revision(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    scene = world.scenes["read"]
    assert scene.stable is not None and scene.stable_revision is not None
    canary, stable = scene.canary.metrics, scene.stable.metrics
    canary_rev, stable_rev = scene.canary_revision, scene.stable_revision
    # canary: 400 inference requests, 20 of them 5xx (5 %) and 10 4xx (client errors, not counted)
    canary.serve("/v1/completions", "2xx", 230, latency=0.9, ttft=0.2)
    canary.serve("/v1/completions", "2xx", 70, latency=4.0, ttft=0.2)
    canary.serve("/v1/chat/completions", "2xx", 70, latency=0.9, ttft=0.2)
    canary.serve("/v1/completions", "4xx", 10, latency=4.0, ttft=0.2)
    canary.serve("/v1/chat/completions", "5xx", 20, latency=4.0, ttft=0.2)
    canary.serve("/health", "2xx", 50, latency=0.0, ttft=0.0)  # not an inference request
    # stable: 1000 requests, 5 of them 5xx (0.5 %)
    stable.serve("/v1/chat/completions", "2xx", 995, latency=1.2, ttft=0.05)
    stable.serve("/v1/chat/completions", "5xx", 5, latency=1.2, ttft=0.05)
    canary_at = await settle(scene.prometheus, canary_rev, 400)
    stable_at = await settle(scene.prometheus, stable_rev, 1000)

    spec = Analysis.model_validate({"window": WINDOW})
    url = scene.prometheus.url
    canary_reading = await read_revision(
        url,
        build_queries(spec, namespace="llm", deployment="chat", revision=canary_rev),
        timeout=5,
        at=canary_at,
    )
    stable_reading = await read_revision(
        url,
        build_queries(spec, namespace="llm", deployment="chat", revision=stable_rev),
        timeout=5,
        at=stable_at,
    )
    assert canary_reading.error is None, canary_reading
    assert stable_reading.error is None, stable_reading

    # at the last sample's instant, with the zero samples in the window, increase() is exact
    assert canary_reading[REQUESTS].value == pytest.approx(400, rel=1e-6)
    assert stable_reading[REQUESTS].value == pytest.approx(1000, rel=1e-6)
    assert canary_reading[ERRORS].value is not None and canary_reading[REQUESTS].value is not None
    assert stable_reading[ERRORS].value is not None and stable_reading[REQUESTS].value is not None
    # both counters of one target are scraped at the same instants: the ratio is exact
    assert canary_reading[ERRORS].value / canary_reading[REQUESTS].value == pytest.approx(0.05, rel=1e-6)
    assert stable_reading[ERRORS].value / stable_reading[REQUESTS].value == pytest.approx(0.005, rel=1e-6)

    canary_p95 = histogram_p95({0.9: 300, 4.0: 100}, E2E_BUCKETS)  # 2.5 + 2.5 * 80/100 = 4.5
    assert canary_p95 == pytest.approx(4.5)
    assert canary_reading[P95_LATENCY].value == pytest.approx(canary_p95, rel=1e-6)
    assert canary_reading[P95_TIME_TO_FIRST_TOKEN].value == pytest.approx(
        histogram_p95({0.2: 400}, TTFT_BUCKETS), rel=1e-6
    )
    assert stable_reading[P95_LATENCY].value == pytest.approx(
        histogram_p95({1.2: 1000}, E2E_BUCKETS), rel=1e-6
    )
    assert stable_reading[P95_TIME_TO_FIRST_TOKEN].value == pytest.approx(
        histogram_p95({0.05: 1000}, TTFT_BUCKETS), rel=1e-6
    )

    # Which name form did this Prometheus store from each exporter?
    forms = {}
    for revision in (canary_rev, stable_rev):
        names = {
            series["metric"]["__name__"]
            for series in await scene.prometheus.query(
                f'{{__name__=~"vllm[:_]e2e_request_latency_seconds_bucket",qwenops_io_revision="{revision}"}}'
            )
        }
        assert len(names) == 1, names
        forms[revision] = names.pop()
    version = (await scene.prometheus.api("status/buildinfo"))["version"]
    with capsys.disabled():
        print(
            f"\nPrometheus {version} stored: negotiating prometheus-client exporter -> {forms[canary_rev]}; "
            f"classic text exporter -> {forms[stable_rev]}"
        )
    assert forms[stable_rev] == "vllm:e2e_request_latency_seconds_bucket"
    assert forms[canary_rev] in (
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm_e2e_request_latency_seconds_bucket",
    )


async def test_read_and_assess_rolls_back_a_regressed_canary(world: World) -> None:
    scene = world.scenes["regressed"]
    assert scene.stable is not None and scene.stable_revision is not None
    canary_rev, stable_rev = scene.canary_revision, scene.stable_revision
    scene.canary.metrics.serve("/v1/chat/completions", "2xx", 380, latency=0.9, ttft=0.2)
    scene.canary.metrics.serve("/v1/chat/completions", "5xx", 20, latency=0.9, ttft=0.2)
    scene.stable.metrics.serve("/v1/chat/completions", "2xx", 1000, latency=0.9, ttft=0.2)
    stable_at = await settle(scene.prometheus, stable_rev, 1000)
    canary_at = await settle(scene.prometheus, canary_rev, 400)
    at = max(canary_at, stable_at)  # both revisions' traffic in their windows
    spec = Analysis.model_validate(
        {
            "window": WINDOW,
            "minRequests": 100,
            "slos": {"maxErrorRate": 0.01, "maxErrorRateVsStable": 2, "p95LatencySeconds": 10},
        }
    )
    verdict = await read_and_assess(
        scene.prometheus.url,
        spec,
        namespace="llm",
        deployment="chat",
        canary=canary_rev,
        stable=stable_rev,
        timeout=5,
        at=at,
    )
    assert verdict.outcome == "Failed", verdict.message
    assert [check.slo for check in verdict.failed] == ["maxErrorRate", "maxErrorRateVsStable"]
    # increase() extrapolates from the canary's last sample to `at` (under one scrape interval);
    # the ratio of two counters scraped together stays exact
    assert verdict.requests == pytest.approx(400, rel=0.25)
    assert verdict.readings[MAX_ERROR_RATE] == pytest.approx(0.05, abs=0.0026)
    assert verdict.message.startswith("SLO breached over 1m: maxErrorRate: error ratio ")
    assert f'qwenops_io_revision="{canary_rev}"' in verdict.failed[0].query


async def test_quiet_canary_is_inconclusive_and_stopped_prometheus_is_error(world: World) -> None:
    scene = world.scenes["quiet"]
    canary_rev = scene.canary_revision
    scene.canary.metrics.serve("/v1/completions", "2xx", 30, latency=0.9, ttft=0.2)
    await settle(scene.prometheus, canary_rev, 30)
    spec = Analysis.model_validate({"window": WINDOW, "minRequests": 100, "slos": {"maxErrorRate": 0.01}})
    url = scene.prometheus.url
    quiet = await read_and_assess(
        url, spec, namespace="llm", deployment="chat", canary=canary_rev, stable=None, timeout=5
    )
    assert quiet.outcome == "Inconclusive", quiet.message
    assert "< 100: too few to judge" in quiet.message

    # no series at all for a revision nobody has scraped yet: inconclusive, not an error
    unknown = await read_and_assess(
        url, spec, namespace="llm", deployment="chat", canary="ffffff", stable=None, timeout=5
    )
    assert unknown.outcome == "Inconclusive", unknown.message

    await scene.prometheus.stop()
    down = await read_and_assess(
        url, spec, namespace="llm", deployment="chat", canary=canary_rev, stable=None, timeout=2
    )
    assert down.outcome == "Error", down.message
    assert "cannot connect to Prometheus" in down.message

    await scene.prometheus.start()  # same port, same data: the reading comes back
    back = await read_and_assess(
        url, spec, namespace="llm", deployment="chat", canary=canary_rev, stable=None, timeout=5
    )
    assert back.outcome == "Inconclusive", back.message


async def test_targets_can_change_while_it_runs(world: World) -> None:
    extra = NegotiatingPod(VllmMetrics())
    try:
        world.prometheus.set_targets([Target(extra.address, revision_labels("llm", "chat", "0f0f0f"))])
        up = await world.prometheus.wait_for_targets(len(world.pods) + 1, timeout=20)
        assert "0f0f0f" in {target["labels"]["qwenops_io_revision"] for target in up}
    finally:
        world.prometheus.set_targets([])
        await extra.close()


async def test_the_counts_since_the_step_started_see_a_series_born_in_it_at_its_first_scrape(
    world: World,
) -> None:
    """vLLM creates the `status="5xx"` series with the first error: `increase()` needs two samples of
    it, the count since the step started takes its first sample as counted from zero."""
    scene = world.scenes["born"]
    revision, prometheus = scene.canary_revision, scene.prometheus
    scene.canary.metrics.serve("/v1/chat/completions", "2xx", 200, latency=0.9, ttft=0.2)
    await settle(prometheus, revision, 200)
    scene.canary.metrics.serve("/v1/chat/completions", "5xx", 7, latency=0.9, ttft=0.2)
    born = f'http_requests_total{{handler="/v1/chat/completions",status="5xx",qwenops_io_revision="{revision}"}}'
    first: float | None = None
    for _ in range(100):
        if (first := await prometheus.value(f"timestamp({born})")) is not None:
            break
        await asyncio.sleep(0.1)
    assert first is not None, prometheus.tail()
    at = datetime.fromtimestamp(first + 0.01, UTC)  # its first sample is its only one
    spec = Analysis.model_validate({"window": WINDOW})
    where = {"namespace": "llm", "deployment": "chat", "revision": revision}
    window = await read_revision(prometheus.url, build_queries(spec, **where), timeout=5, at=at)
    since = await read_revision(
        prometheus.url, build_step_queries(spec, **where, age=timedelta(minutes=5)), timeout=5, at=at
    )
    assert window[ERRORS].value is None  # increase() does not see it yet
    assert since[ERRORS].value == 7, since[ERRORS]
    assert since[REQUESTS].value == pytest.approx(207, abs=1), since[REQUESTS]
