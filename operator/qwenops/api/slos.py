"""The SLOs a canary is judged by, and the PromQL each reads: one declaration each.

Everything about an SLO reads its declaration here, and nothing repeats it:

* the spec: `spec.rollout.analysis.slos` has a field per `SLO` (its bounds and description),
  `spec.rollout.analysis.queries` a field per `Query` (`spec.py` builds both models);
* the queries: `analysis.queries` renders each `Query`'s template (or the spec's override), and
  `io.prom` runs every one of them;
* the verdict: `analysis.checks` judges each declared SLO as its `judged_by` says;
* the status: `status.analysis.checks` holds one entry per declared SLO, and `status.analysis`
  the canary's measurement under the SLO's `reading`, if it names one (`status.py`);
* `kubectl qwen status` prints a row per declared SLO, with its `label` and `unit`;
* the Grafana dashboard (`dashboards/slo_panels.py`) draws each SLO's measurement per revision with a
  dashed line at the SLO, `example` until someone sets it.

A new SLO is one `SLO` here (and its `Query`, if it reads a series no query reads yet), added to
`SLOS` (and `QUERIES`), plus its tests.
"""

from dataclasses import dataclass
from typing import Literal

from pydantic.alias_generators import to_camel

Unit = Literal["ratio", "multiple", "seconds"]
"""What an SLO's threshold and measured value are: a ratio (0.01 is 1 %), a multiple of the
stable's error ratio, or seconds."""

Judgement = Literal["errorRate", "errorRateVsStable", "threshold"]
"""How an SLO is judged (`analysis.checks`, where each is explained):

* `errorRate`: the one-sided exact binomial test of the canary's errors among its requests;
* `errorRateVsStable`: the conditional test of two Poisson rates, the canary's errors against
  the stable's; skipped when the stable served fewer than `minRequests`;
* `threshold`: the measured value (a quantile Prometheus computes over the window) against
  the threshold, directly.
"""

INFERENCE_HANDLERS = ("/v1/completions", "/v1/chat/completions")
"""The vLLM handlers whose HTTP requests count towards the error ratio."""


def name_matcher(metric: str) -> str:
    """A `__name__` matcher of a vLLM series stored with its colon or escaped to `_`.

    vLLM 0.32 serves `/metrics` as plain text whatever the Accept header, so Prometheus stores
    `vllm:` names as they are (tests/contract checks it against real vLLM); an exporter that
    negotiates OpenMetrics (vLLM's `/metrics/`, a proxy) gets them escaped to `vllm_`.
    """
    assert metric.replace(":", "").replace("_", "").isalnum(), metric
    return f'__name__=~"{metric.replace(":", "[:_]")}"'


@dataclass(frozen=True)
class Count:
    """How many times a counter grew over the window, summed across the revision's pods."""

    field: str
    """The field of `spec.rollout.analysis.queries` (camelCased: `key`) that overrides `template`."""
    counter: str
    matchers: str
    """Label matchers besides the revision's."""

    @property
    def key(self) -> str:
        return to_camel(self.field)

    def series(self, revision: str) -> str:
        """The counter's series, `revision` being the label matchers of the revisions to select."""
        return f"{self.counter}{{{self.matchers},{revision}}}"

    @property
    def template(self) -> str:
        """The default PromQL, with the `{selector}` and `{window}` placeholders."""
        return f"sum(increase({self.series('{selector}')}[{{window}}]))"

    @property
    def since_template(self) -> str:
        """The default PromQL of the count since `{window}` ago (a step's start), counting a series
        born since then from zero.

        `increase()` needs two samples of a series, so a series the first error creates (vLLM makes
        the `status="5xx"` one only then) stays invisible for a scrape; the second operand of `or`
        takes such a series' value as it is, since it counted from 0 (`+ 0` drops the name, so that
        `or` keeps `increase()`'s value of a series that has both).
        """
        series = self.series("{selector}")
        born = f"(({series} unless {series} offset {{window}}) + 0)"
        return f"sum(increase({series}[{{window}}]) or {born})"


@dataclass(frozen=True)
class Quantile:
    """A quantile of a histogram over the window, across the revision's pods."""

    field: str
    """The field of `spec.rollout.analysis.queries` (camelCased: `key`) that overrides `template`."""
    histogram: str
    quantile: float = 0.95

    @property
    def key(self) -> str:
        return to_camel(self.field)

    def buckets(self, revision: str) -> str:
        """The histogram's bucket series, `revision` being the label matchers of the revisions to select."""
        return f"{{{name_matcher(self.histogram + '_bucket')},{revision}}}"

    @property
    def template(self) -> str:
        """The default PromQL, with the `{selector}` and `{window}` placeholders."""
        buckets = self.buckets("{selector}")
        return f"histogram_quantile({self.quantile:g}, sum by (le) (rate({buckets}[{{window}}])))"


Query = Count | Quantile

_INFERENCE = 'handler=~"' + "|".join(INFERENCE_HANDLERS) + '"'

REQUESTS = Count("requests", "http_requests_total", _INFERENCE)
"""Inference requests: the `minRequests` gate, and the denominator of every error ratio."""
ERRORS = Count("errors", "http_requests_total", _INFERENCE + ',status="5xx"')
"""5xx answers to them (prometheus-fastapi-instrumentator groups status codes as 2xx/4xx/5xx)."""
P95_LATENCY = Quantile("p95_latency", "vllm:e2e_request_latency_seconds")
P95_TIME_TO_FIRST_TOKEN = Quantile("p95_time_to_first_token", "vllm:time_to_first_token_seconds")
P95_INTER_TOKEN_LATENCY = Quantile("p95_inter_token_latency", "vllm:inter_token_latency_seconds")
"""The time between two tokens of one answer (vLLM observes one per token after the first)."""
P95_QUEUE_TIME = Quantile("p95_queue_time", "vllm:request_queue_time_seconds")
"""The time a request waited in vLLM's queue (its WAITING phase) before it was scheduled."""

QUERIES: tuple[Query, ...] = (
    REQUESTS,
    ERRORS,
    P95_LATENCY,
    P95_TIME_TO_FIRST_TOKEN,
    P95_INTER_TOKEN_LATENCY,
    P95_QUEUE_TIME,
)
"""Every query of a reading, in the order of `spec.rollout.analysis.queries`."""


@dataclass(frozen=True)
class SLO:
    field: str
    """The field of `spec.rollout.analysis.slos` (camelCased: `key`) holding the threshold."""
    judged_by: Judgement
    query: Query
    """What it judges of the canary (the errors of an error-rate SLO, counted out of `REQUESTS`)."""
    unit: Unit
    label: str
    """What it measures, for people: a check's detail, `kubectl qwen`'s table, the dashboard."""
    maximum: float
    """The largest threshold a spec may declare (and the smallest is above 0)."""
    example: float
    """A typical threshold: the dashboard's line until set, and what tests declare."""
    reading: str | None = None
    """The field of `status.analysis` keeping the canary's measurement (None: only its check has it)."""
    description: str | None = None
    """The field's description in the CRD."""

    @property
    def key(self) -> str:
        return to_camel(self.field)


MAX_ERROR_RATE = SLO(
    "max_error_rate",
    "errorRate",
    ERRORS,
    "ratio",
    "error rate",
    maximum=1,
    example=0.01,
    reading="error_rate",
    description="The canary's 5xx answers may be at most this ratio of its inference requests "
    "(0.01 is 1 %); fails only when the binomial test is confident (see confidence).",
)
MAX_ERROR_RATE_VS_STABLE = SLO(
    "max_error_rate_vs_stable",
    "errorRateVsStable",
    ERRORS,
    "multiple",
    "error rate vs stable",
    maximum=1000,
    example=2,
    description="The canary's error ratio may be at most this many times the stable's (e.g. 2); "
    "checked only when the stable revision served at least minRequests in the window.",
)
P95_LATENCY_SECONDS = SLO(
    "p95_latency_seconds",
    "threshold",
    P95_LATENCY,
    "seconds",
    "p95 latency",
    maximum=3600,
    example=10,
    reading="p95_latency_seconds",
    description="The canary's 95th percentile end-to-end request latency, in seconds, may be at most this.",
)
P95_TIME_TO_FIRST_TOKEN_SECONDS = SLO(
    "p95_time_to_first_token_seconds",
    "threshold",
    P95_TIME_TO_FIRST_TOKEN,
    "seconds",
    "p95 time to first token",
    maximum=3600,
    example=1,
    reading="p95_time_to_first_token_seconds",
    description="The canary's 95th percentile time to first token, in seconds, may be at most this.",
)

P95_INTER_TOKEN_LATENCY_SECONDS = SLO(
    "p95_inter_token_latency_seconds",
    "threshold",
    P95_INTER_TOKEN_LATENCY,
    "seconds",
    "p95 inter-token latency",
    maximum=3600,
    example=0.1,
    reading="p95_inter_token_latency_seconds",
    description="The canary's p95 time between two tokens of an answer over the window "
    "(vLLM's vllm:inter_token_latency_seconds histogram) may be at most this many seconds.",
)
P95_QUEUE_TIME_SECONDS = SLO(
    "p95_queue_time_seconds",
    "threshold",
    P95_QUEUE_TIME,
    "seconds",
    "p95 queue time",
    maximum=3600,
    example=1,
    reading="p95_queue_time_seconds",
    description="The canary's p95 time a request waits in vLLM's queue before it is scheduled, over "
    "the window (vLLM's vllm:request_queue_time_seconds histogram), may be at most this many seconds.",
)

SLOS: tuple[SLO, ...] = (
    MAX_ERROR_RATE,
    MAX_ERROR_RATE_VS_STABLE,
    P95_LATENCY_SECONDS,
    P95_TIME_TO_FIRST_TOKEN_SECONDS,
    P95_INTER_TOKEN_LATENCY_SECONDS,
    P95_QUEUE_TIME_SECONDS,
)
"""Every SLO a spec may declare, in the order of `spec.rollout.analysis.slos` and of the checks."""
