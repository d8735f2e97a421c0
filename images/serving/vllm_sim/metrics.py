"""vLLM's Prometheus metrics, with the names, types, labels and buckets of the real server.

Where these come from (read in vllm-project/vllm):

- `vllm/v1/metrics/loggers.py`, `PrometheusStatLogger.__init__`: every `vllm:*` family below, its HELP
  text, its label names (`model_name`, `engine`, plus `finished_reason` on `vllm:request_success`) and its
  buckets. Read at two versions: the V1 engine of the vLLM 0.10 series (commit 005a810, no
  `inter_token_latency_seconds` yet) and a later one (0.11 series: `engine_sleep_state`,
  `kv_connector`, `per_engine_labelvalues`). Every family used here has the same name, type, labels and
  buckets in both; `inter_token_latency_seconds` needs 0.10.2 or later.
- `vllm/v1/metrics/buckets.py` (current main): `REQUEST_LATENCY_BUCKETS`,
  `TIME_TO_FIRST_TOKEN_BUCKETS` and `INTER_TOKEN_LATENCY_BUCKETS` are still these values.
- `vllm/entrypoints/serve/instrumentator/metrics.py` (`api_server.py`'s `mount_metrics` in older
  releases): `Instrumentator(excluded_handlers=[...]).add().instrument(app).expose(app)`, i.e.
  prometheus-fastapi-instrumentator's default metrics (`http_requests_total{method,status,handler}`
  with status grouped as `2xx`/`4xx`/`5xx`, request/response size summaries, two latency histograms)
  in the same registry, and /metrics, /health, /load, /ping, /version, /server_info not counted.

vLLM creates each `vllm:*` child (one `engine="0"` per model) when it starts, so those series exist, at
zero, before the first request; the HTTP children appear with the first request of each label set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

Kind = Literal["counter", "gauge", "histogram", "summary"]

# vllm/v1/metrics/loggers.py (`request_latency_buckets`; buckets.py REQUEST_LATENCY_BUCKETS on main).
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
    40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
TIME_TO_FIRST_TOKEN_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
INTER_TOKEN_LATENCY_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
REQUEST_PARAMS_N_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20)
# prometheus-fastapi-instrumentator `metrics.default()`.
HTTP_LATENCY_HIGHR_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5,
    3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60,
)  # fmt: skip
HTTP_LATENCY_LOWR_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1)

# `vllm:request_success{finished_reason}` children vLLM creates at start (FinishReason: the three every
# V1 release has; later releases add "error" and "repetition").
FINISHED_REASONS: tuple[str, ...] = ("stop", "length", "abort")
# Paths vLLM's Instrumentator does not count.
EXCLUDED_HANDLERS: tuple[str, ...] = (
    "/metrics", "/health", "/health/decode", "/load", "/ping", "/version", "/server_info",
)  # fmt: skip

VLLM_LABELS: tuple[str, ...] = ("model_name", "engine")


def build_1_2_5_buckets(max_value: int) -> tuple[float, ...]:
    """vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to `max_value` (the model's max length)."""
    buckets: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(buckets)
            buckets.append(value)
        exponent += 1


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as the exporter declares it.

    `name` is the name given to prometheus-client, which is also the family name that
    `prometheus_client.parser.text_string_to_metric_families` reports for the text format (a counter's
    `_total` is a sample suffix). `buckets` is None for a histogram whose buckets follow max_model_len.
    """

    name: str
    kind: Kind
    documentation: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None

    @property
    def series(self) -> tuple[str, ...]:
        """The sample names a scrape yields (without the `_created` series prometheus-client adds)."""
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        if self.kind == "summary":
            return (f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)


def escaped(name: str) -> str:
    """A name as prometheus-client 0.26 writes it on OpenMetrics sample lines (`escaping=underscores`).

    Its HELP/TYPE lines keep the colon (prometheus/client_python#1177), so a scraper that negotiates
    OpenMetrics (Prometheus 2.x does) stores `vllm_e2e_request_latency_seconds_bucket` with no metadata.
    """
    return name.replace(":", "_")


def _vllm(name: str, kind: Kind, doc: str, buckets: tuple[float, ...] | None = None) -> MetricSpec:
    return MetricSpec(name, kind, doc, VLLM_LABELS, buckets)


NUM_REQUESTS_RUNNING = "vllm:num_requests_running"
NUM_REQUESTS_WAITING = "vllm:num_requests_waiting"
KV_CACHE_USAGE_PERC = "vllm:kv_cache_usage_perc"
PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits"
NUM_PREEMPTIONS = "vllm:num_preemptions"
PROMPT_TOKENS = "vllm:prompt_tokens"
GENERATION_TOKENS = "vllm:generation_tokens"
REQUEST_SUCCESS = "vllm:request_success"
REQUEST_PROMPT_TOKENS = "vllm:request_prompt_tokens"
REQUEST_GENERATION_TOKENS = "vllm:request_generation_tokens"
REQUEST_PARAMS_N = "vllm:request_params_n"
REQUEST_PARAMS_MAX_TOKENS = "vllm:request_params_max_tokens"
TIME_TO_FIRST_TOKEN = "vllm:time_to_first_token_seconds"
INTER_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
E2E_REQUEST_LATENCY = "vllm:e2e_request_latency_seconds"
REQUEST_QUEUE_TIME = "vllm:request_queue_time_seconds"
REQUEST_INFERENCE_TIME = "vllm:request_inference_time_seconds"
REQUEST_PREFILL_TIME = "vllm:request_prefill_time_seconds"
REQUEST_DECODE_TIME = "vllm:request_decode_time_seconds"

HTTP_REQUESTS = "http_requests"
HTTP_REQUEST_SIZE = "http_request_size_bytes"
HTTP_RESPONSE_SIZE = "http_response_size_bytes"
HTTP_DURATION_HIGHR = "http_request_duration_highr_seconds"
HTTP_DURATION = "http_request_duration_seconds"

_LATENCY_DOC = "Histogram of time spent in {} phase for request."
_SIZE_DOC = (
    "Content length of {} by handler. Only value of header is respected. Otherwise ignored. "
    "No percentile calculated. "
)

VLLM_METRICS: tuple[MetricSpec, ...] = (
    _vllm(NUM_REQUESTS_RUNNING, "gauge", "Number of requests in model execution batches."),
    _vllm(NUM_REQUESTS_WAITING, "gauge", "Number of requests waiting to be processed."),
    _vllm(KV_CACHE_USAGE_PERC, "gauge", "KV-cache usage. 1 means 100 percent usage."),
    _vllm(PREFIX_CACHE_QUERIES, "counter", "Prefix cache queries, in terms of number of queried tokens."),
    _vllm(PREFIX_CACHE_HITS, "counter", "Prefix cache hits, in terms of number of cached tokens."),
    _vllm(NUM_PREEMPTIONS, "counter", "Cumulative number of preemption from the engine."),
    _vllm(PROMPT_TOKENS, "counter", "Number of prefill tokens processed."),
    _vllm(GENERATION_TOKENS, "counter", "Number of generation tokens processed."),
    MetricSpec(
        REQUEST_SUCCESS,
        "counter",
        "Count of successfully processed requests.",
        (*VLLM_LABELS, "finished_reason"),
    ),
    _vllm(REQUEST_PROMPT_TOKENS, "histogram", "Number of prefill tokens processed."),
    _vllm(REQUEST_GENERATION_TOKENS, "histogram", "Number of generation tokens processed."),
    _vllm(REQUEST_PARAMS_N, "histogram", "Histogram of the n request parameter.", REQUEST_PARAMS_N_BUCKETS),
    _vllm(REQUEST_PARAMS_MAX_TOKENS, "histogram", "Histogram of the max_tokens request parameter."),
    _vllm(
        TIME_TO_FIRST_TOKEN,
        "histogram",
        "Histogram of time to first token in seconds.",
        TIME_TO_FIRST_TOKEN_BUCKETS,
    ),
    _vllm(
        INTER_TOKEN_LATENCY,
        "histogram",
        "Histogram of inter-token latency in seconds.",
        INTER_TOKEN_LATENCY_BUCKETS,
    ),
    _vllm(
        E2E_REQUEST_LATENCY,
        "histogram",
        "Histogram of e2e request latency in seconds.",
        REQUEST_LATENCY_BUCKETS,
    ),
    _vllm(REQUEST_QUEUE_TIME, "histogram", _LATENCY_DOC.format("WAITING"), REQUEST_LATENCY_BUCKETS),
    _vllm(REQUEST_INFERENCE_TIME, "histogram", _LATENCY_DOC.format("RUNNING"), REQUEST_LATENCY_BUCKETS),
    _vllm(REQUEST_PREFILL_TIME, "histogram", _LATENCY_DOC.format("PREFILL"), REQUEST_LATENCY_BUCKETS),
    _vllm(REQUEST_DECODE_TIME, "histogram", _LATENCY_DOC.format("DECODE"), REQUEST_LATENCY_BUCKETS),
)

HTTP_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        HTTP_REQUESTS,
        "counter",
        "Total number of requests by method, status and handler.",
        ("method", "status", "handler"),
    ),
    MetricSpec(HTTP_REQUEST_SIZE, "summary", _SIZE_DOC.format("incoming requests"), ("handler",)),
    MetricSpec(HTTP_RESPONSE_SIZE, "summary", _SIZE_DOC.format("outgoing responses"), ("handler",)),
    MetricSpec(
        HTTP_DURATION_HIGHR,
        "histogram",
        "Latency with many buckets but no API specific labels. "
        "Made for more accurate percentile calculations. ",
        (),
        HTTP_LATENCY_HIGHR_BUCKETS,
    ),
    MetricSpec(
        HTTP_DURATION,
        "histogram",
        "Latency with only few buckets by handler. "
        "Made to be only used if aggregation by handler is important. ",
        ("method", "handler"),
        HTTP_LATENCY_LOWR_BUCKETS,
    ),
)

METRICS: tuple[MetricSpec, ...] = VLLM_METRICS + HTTP_METRICS
METRICS_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}
# Family names, as the text-format parser reports them; the contract a real vLLM must meet.
METRIC_NAMES: frozenset[str] = frozenset(METRICS_BY_NAME)
# Sample names (e.g. `vllm:e2e_request_latency_seconds_bucket`, `http_requests_total`), `_created` left out.
SERIES_NAMES: frozenset[str] = frozenset(name for spec in METRICS for name in spec.series)
# Families prometheus-client's default collectors add (vLLM serves the default registry, so it has them).
RUNTIME_METRIC_NAMES: frozenset[str] = frozenset({
    "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
    "process_cpu_seconds", "process_open_fds", "process_max_fds", "python_info",
    "python_gc_objects_collected", "python_gc_objects_uncollectable", "python_gc_collections",
})  # fmt: skip

AnyMetric = Counter | Gauge | Histogram | Summary


def _make(spec: MetricSpec, registry: CollectorRegistry, max_model_len: int) -> AnyMetric:
    if spec.kind == "counter":
        return Counter(spec.name, spec.documentation, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.documentation, spec.labels, registry=registry)
    if spec.kind == "summary":
        return Summary(spec.name, spec.documentation, spec.labels, registry=registry)
    buckets = spec.buckets if spec.buckets is not None else build_1_2_5_buckets(max_model_len)
    return Histogram(spec.name, spec.documentation, spec.labels, registry=registry, buckets=buckets)


@dataclass(frozen=True)
class Finished:
    """One request the engine finished, with the numbers vLLM records for it."""

    e2e: float
    ttft: float
    prompt_tokens: int
    generation_tokens: int
    finished_reason: str = "stop"
    max_tokens: int | None = None
    n: int = 1
    queued: float = 0.0


class VllmMetrics:
    """The metrics of one simulated vLLM server, in `registry` (one registry per simulator)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        model_name: str,
        engine: str = "0",
        max_model_len: int = 32768,
        runtime_collectors: bool = True,
    ) -> None:
        self.registry = registry
        self._families = {spec.name: _make(spec, registry, max_model_len) for spec in METRICS}
        if runtime_collectors:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        values = (model_name, engine)
        self._running = self._gauge(NUM_REQUESTS_RUNNING).labels(*values)
        self._waiting = self._gauge(NUM_REQUESTS_WAITING).labels(*values)
        self._kv_cache = self._gauge(KV_CACHE_USAGE_PERC).labels(*values)
        self._waiting.set(0)
        counters = [
            PREFIX_CACHE_QUERIES,
            PREFIX_CACHE_HITS,
            NUM_PREEMPTIONS,
            PROMPT_TOKENS,
            GENERATION_TOKENS,
        ]
        self._counters = {name: self._counter(name).labels(*values) for name in counters}
        success = self._counter(REQUEST_SUCCESS)
        self._success = {reason: success.labels(*values, reason) for reason in FINISHED_REASONS}
        self._success_family = success
        self._values = values
        self._histograms = {
            spec.name: self._histogram(spec.name).labels(*values)
            for spec in VLLM_METRICS
            if spec.kind == "histogram"
        }

    def _gauge(self, name: str) -> Gauge:
        metric = self._families[name]
        assert isinstance(metric, Gauge)
        return metric

    def _counter(self, name: str) -> Counter:
        metric = self._families[name]
        assert isinstance(metric, Counter)
        return metric

    def _histogram(self, name: str) -> Histogram:
        metric = self._families[name]
        assert isinstance(metric, Histogram)
        return metric

    def _summary(self, name: str) -> Summary:
        metric = self._families[name]
        assert isinstance(metric, Summary)
        return metric

    def track_running(self, running: Callable[[], float], kv_cache_usage: Callable[[], float]) -> None:
        """Read the scheduler gauges at each scrape, as vLLM sets them at each engine step."""
        self._running.set_function(running)
        self._kv_cache.set_function(kv_cache_usage)

    def finished(self, request: Finished) -> None:
        """Record one finished request as vLLM's PrometheusStatLogger.record does."""
        self._counters[PROMPT_TOKENS].inc(request.prompt_tokens)
        self._counters[GENERATION_TOKENS].inc(request.generation_tokens)
        self._counters[PREFIX_CACHE_QUERIES].inc(request.prompt_tokens)
        reason = request.finished_reason
        child = self._success.get(reason) or self._success_family.labels(*self._values, reason)
        child.inc()
        h = self._histograms
        h[TIME_TO_FIRST_TOKEN].observe(request.ttft)
        decode = max(0.0, request.e2e - request.ttft - request.queued)
        if request.generation_tokens > 1:
            itl = decode / (request.generation_tokens - 1)
            for _ in range(request.generation_tokens - 1):
                h[INTER_TOKEN_LATENCY].observe(itl)
        h[E2E_REQUEST_LATENCY].observe(request.e2e)
        h[REQUEST_QUEUE_TIME].observe(request.queued)
        h[REQUEST_PREFILL_TIME].observe(max(0.0, request.ttft - request.queued))
        h[REQUEST_INFERENCE_TIME].observe(max(0.0, request.e2e - request.queued))
        h[REQUEST_DECODE_TIME].observe(decode)
        h[REQUEST_PROMPT_TOKENS].observe(request.prompt_tokens)
        h[REQUEST_GENERATION_TOKENS].observe(request.generation_tokens)
        h[REQUEST_PARAMS_N].observe(request.n)
        if request.max_tokens:
            h[REQUEST_PARAMS_MAX_TOKENS].observe(request.max_tokens)

    def http(
        self,
        *,
        handler: str,
        method: str,
        status: int,
        duration: float,
        request_size: int = 0,
        response_size: int = 0,
    ) -> None:
        """Record one HTTP request as prometheus-fastapi-instrumentator's default metrics do."""
        grouped = f"{str(status)[0]}xx"
        self._counter(HTTP_REQUESTS).labels(method, grouped, handler).inc()
        self._summary(HTTP_REQUEST_SIZE).labels(handler).observe(request_size)
        self._summary(HTTP_RESPONSE_SIZE).labels(handler).observe(response_size)
        self._histogram(HTTP_DURATION_HIGHR).observe(duration)
        self._histogram(HTTP_DURATION).labels(method, handler).observe(duration)
