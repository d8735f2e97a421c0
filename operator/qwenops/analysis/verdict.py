"""Canary analysis: does one reading of the canary meet its SLOs? Pure: no I/O, no clock.

`build_queries` turns the spec's analysis settings into the PromQL of one
revision; `prom.read_revision` runs them and returns a :class:`Reading` (it
never raises: a failed query is a :class:`Measurement` with an ``error``);
`assess` judges the canary's reading, and the stable's for relative limits,
into a :class:`Verdict` with one :class:`Check` per SLO, each naming the SLO,
the measured value, the threshold and the query, so that a rollback can say
exactly why.

Outcomes, strongest first (the verdict is the strongest outcome among its checks):

* ``Failed``: a check breached its SLO on sound data. Only ``Failed`` counts
  towards ``failureLimit``; a breach is not hidden by an unrelated query failing.
* ``Error``: a query the verdict needs failed (Prometheus unreachable, timeout,
  HTTP or PromQL error, unparsable answer). An error is never a failure: it
  holds the step, like ``Inconclusive``, and says which query broke.
* ``Inconclusive``: the data is sound but too thin: fewer than ``minRequests``
  requests in the window (then no SLO is judged at all), or no latency samples.
* ``Passed``: every configured check passed.

The statistics behind each check (the exact binomial test of ``maxErrorRate``
at ``analysis.confidence``, the two-rate test of ``maxErrorRateVsStable``, why
the p95s are compared directly, and how counts are rounded) and what they cost
in false rollbacks and missed regressions are in docs/rollouts.md, "The
error-rate guard".
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from qwenops.api.durations import parse_duration
from qwenops.api.spec import Analysis, SeriesLabels
from qwenops.api.status import AnalysisReading, SLOReading

Outcome = Literal["Passed", "Failed", "Inconclusive", "Error"]
"""A verdict's outcome (the same words as `status.analysis.verdict`)."""

CheckOutcome = Literal["Passed", "Failed", "Inconclusive", "Error", "Skipped"]
"""A check's outcome; `Skipped` (the check does not apply to this reading) never sets the verdict."""

_STRENGTH: dict[CheckOutcome, int] = {"Skipped": 0, "Passed": 1, "Inconclusive": 2, "Error": 3, "Failed": 4}

INFERENCE_HANDLERS = ("/v1/completions", "/v1/chat/completions")
"""The vLLM handlers whose HTTP requests count towards the error ratio."""

_HANDLERS = 'handler=~"' + "|".join(INFERENCE_HANDLERS) + '"'

DEFAULT_REQUESTS = "sum(increase(http_requests_total{" + _HANDLERS + ",{selector}}[{window}]))"
DEFAULT_ERRORS = "sum(increase(http_requests_total{" + _HANDLERS + ',status="5xx",{selector}}[{window}]))'
# `vllm[:_]`: vLLM 0.32 serves `/metrics` as plain text whatever the Accept header, so
# Prometheus stores `vllm:` names as they are (tests/contract checks it against real vLLM); an
# exporter that negotiates OpenMetrics (vLLM's `/metrics/`, a proxy) gets them escaped to
# `vllm_`. The regex finds either form.
DEFAULT_P95_LATENCY = (
    "histogram_quantile(0.95, sum by (le) (rate("
    '{__name__=~"vllm[:_]e2e_request_latency_seconds_bucket",{selector}}[{window}])))'
)
DEFAULT_P95_TIME_TO_FIRST_TOKEN = (
    "histogram_quantile(0.95, sum by (le) (rate("
    '{__name__=~"vllm[:_]time_to_first_token_seconds_bucket",{selector}}[{window}])))'
)

_PLACEHOLDER = re.compile(r"\{(selector|window)\}")


# --- what Prometheus answered -------------------------------------------------------------------


@dataclass(frozen=True)
class Queries:
    """The PromQL of one revision, ready to run."""

    requests: str
    errors: str
    p95_latency: str
    p95_time_to_first_token: str

    def items(self) -> tuple[tuple[str, str], ...]:
        return (
            ("requests", self.requests),
            ("errors", self.errors),
            ("p95Latency", self.p95_latency),
            ("p95TimeToFirstToken", self.p95_time_to_first_token),
        )


@dataclass(frozen=True)
class Measurement:
    """The answer to one query: a value, no data (`value is None`, `note` says why), or an `error`."""

    query: str
    value: float | None = None
    error: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Reading:
    """One revision's measurements over the analysis window."""

    requests: Measurement
    errors: Measurement
    p95_latency: Measurement
    p95_time_to_first_token: Measurement

    @property
    def error(self) -> str | None:
        """Every failed query, `name: error` joined by `; `; None when every query answered."""
        failed = [f"{name}: {m.error}" for name, m in self._named() if m.error is not None]
        return "; ".join(failed) if failed else None

    def _named(self) -> tuple[tuple[str, Measurement], ...]:
        return (
            ("requests", self.requests),
            ("errors", self.errors),
            ("p95Latency", self.p95_latency),
            ("p95TimeToFirstToken", self.p95_time_to_first_token),
        )

    @classmethod
    def of(
        cls,
        queries: Queries,
        *,
        requests: float | None = None,
        errors: float | None = None,
        p95_latency: float | None = None,
        p95_time_to_first_token: float | None = None,
    ) -> "Reading":
        """A reading where every query answered these values (None: empty result)."""
        return cls(
            Measurement(queries.requests, requests),
            Measurement(queries.errors, errors),
            Measurement(queries.p95_latency, p95_latency),
            Measurement(queries.p95_time_to_first_token, p95_time_to_first_token),
        )

    @classmethod
    def failed(cls, queries: Queries, error: str) -> "Reading":
        """A reading where every query failed with `error`."""
        return cls(
            Measurement(queries.requests, error=error),
            Measurement(queries.errors, error=error),
            Measurement(queries.p95_latency, error=error),
            Measurement(queries.p95_time_to_first_token, error=error),
        )


# --- building the queries -----------------------------------------------------------------------


def promql_string(value: str) -> str:
    """`value` as a double-quoted PromQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(labels: SeriesLabels, *, namespace: str, deployment: str, revision: str) -> str:
    """The label matchers of one revision's series, without braces."""
    return ",".join(
        f"{name}={promql_string(value)}"
        for name, value in (
            (labels.namespace, namespace),
            (labels.deployment, deployment),
            (labels.revision, revision),
        )
    )


def window_text(window: str) -> str:
    """The spec's window as a PromQL range (`2m` -> `120s`; Prometheus refuses `30s2m`)."""
    milliseconds = round(parse_duration(window).total_seconds() * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def render_query(template: str, *, selector: str, window: str) -> str:
    """Replace `{selector}` and `{window}`; every other brace of the template stays as written."""
    values = {"selector": selector, "window": window}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def build_queries(analysis: Analysis, *, namespace: str, deployment: str, revision: str) -> Queries:
    """The PromQL of one revision: the spec's overrides where given, the defaults elsewhere.

    `deployment` is the QwenDeployment's name and `revision` the revision hash,
    as the pods' `qwenops.io/deployment` and `qwenops.io/revision` labels carry them.
    """
    matchers = selector(analysis.labels, namespace=namespace, deployment=deployment, revision=revision)
    window = window_text(analysis.window)
    overrides = analysis.queries

    def render(override: str | None, default: str) -> str:
        return render_query(override or default, selector=matchers, window=window)

    return Queries(
        requests=render(overrides.requests, DEFAULT_REQUESTS),
        errors=render(overrides.errors, DEFAULT_ERRORS),
        p95_latency=render(overrides.p95_latency, DEFAULT_P95_LATENCY),
        p95_time_to_first_token=render(overrides.p95_time_to_first_token, DEFAULT_P95_TIME_TO_FIRST_TOKEN),
    )


# --- statistics ---------------------------------------------------------------------------------


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exactly (log-space terms, summed from the tail's peak)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(i: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q

    if k > n * p:
        # Terms fall from i = k upwards (k is above the mean): sum until they no longer count.
        term = math.exp(log_pmf(k))
        total, i = term, k
        while i < n and term > total * 1e-17:
            term *= (n - i) / (i + 1) * p / (1 - p)
            i += 1
            total += term
        return min(1.0, total)
    # k at or below the mean: 1 - P(X <= k - 1), summing downwards from k - 1.
    term = math.exp(log_pmf(k - 1))
    total, i = term, k - 1
    while i > 0 and term > total * 1e-17:
        term *= i / (n - i + 1) * (1 - p) / p
        i -= 1
        total += term
    return max(0.0, 1.0 - total)


def error_rate_p_value(errors: int, requests: int, max_error_rate: float) -> float:
    """The one-sided exact binomial test of H0 "true error ratio <= max_error_rate": P(X >= errors)."""
    return binomial_sf(errors, requests, max_error_rate)


def ratio_p_value(
    canary_errors: int, canary_requests: int, stable_errors: int, stable_requests: int, factor: float
) -> float:
    """H0 "canary's error ratio <= factor x stable's": the conditional test of two Poisson rates.

    Given K errors in both, the canary's share is Binomial(K, f·n_c / (f·n_c + n_s))
    at the boundary of H0; the p-value is P(X >= canary_errors) under it.
    """
    total = canary_errors + stable_errors
    if canary_errors <= 0 or total <= 0:
        return 1.0
    share = factor * canary_requests / (factor * canary_requests + stable_requests)
    return binomial_sf(canary_errors, total, share)


# --- the verdict --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One SLO judged on one reading."""

    slo: str
    """The spec field: `minRequests`, `maxErrorRate`, `maxErrorRateVsStable`, `p95LatencySeconds`, ..."""
    outcome: CheckOutcome
    value: float | None
    """What was measured, in the SLO's unit (a ratio, a multiple of the stable's ratio, seconds)."""
    threshold: float
    query: str
    detail: str
    """One line for people: the measurement against the threshold, and why it passed or not."""

    def describe(self) -> str:
        """`slo: detail; query: ...`, the line a rollback event carries."""
        return f"{self.slo}: {self.detail}; query: {self.query}"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    checks: tuple[Check, ...]
    requests: float | None = None
    error_rate: float | None = None
    p95_latency_seconds: float | None = None
    p95_time_to_first_token_seconds: float | None = None

    def with_outcome(self, outcome: CheckOutcome) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome == outcome)

    @property
    def failed(self) -> tuple[Check, ...]:
        """The breached SLOs, each with its value, threshold and query."""
        return self.with_outcome("Failed")

    def as_status(self, at: datetime) -> AnalysisReading:
        """The reading as `status.analysis` records it (consecutive failures are the caller's)."""
        return AnalysisReading(
            at=at,
            requests=_finite(self.requests),
            error_rate=_finite(self.error_rate),
            p95_latency_seconds=_finite(self.p95_latency_seconds),
            p95_time_to_first_token_seconds=_finite(self.p95_time_to_first_token_seconds),
            verdict=self.outcome,
            checks=[
                SLOReading(slo=c.slo, outcome=c.outcome, value=_finite(c.value), threshold=c.threshold)
                for c in self.checks
                if c.slo != "minRequests"
            ],
            message=self.message,
        )


def assess(analysis: Analysis, canary: Reading, stable: Reading | None = None) -> Verdict:
    """Judge the canary's reading (and the stable's, for `maxErrorRateVsStable`) against the SLOs."""
    slos = analysis.slos
    alpha = 1.0 - analysis.confidence
    gate = _requests_check(analysis, canary)
    checks = [gate]
    n = 0 if gate.value is None else int(gate.value)
    errors = _count(canary.errors, n)
    open_ = gate.outcome == "Passed"

    if slos.max_error_rate is not None:
        checks.append(_error_rate_check(slos.max_error_rate, canary.errors, errors, n, alpha, open_, gate))
    if slos.max_error_rate_vs_stable is not None:
        checks.append(
            _vs_stable_check(analysis, slos.max_error_rate_vs_stable, canary, errors, n, stable, open_, gate)
        )
    for slo, measurement, threshold, what in (
        ("p95LatencySeconds", canary.p95_latency, slos.p95_latency_seconds, "p95 latency"),
        (
            "p95TimeToFirstTokenSeconds",
            canary.p95_time_to_first_token,
            slos.p95_time_to_first_token_seconds,
            "p95 time to first token",
        ),
    ):
        if threshold is not None:
            checks.append(_latency_check(slo, what, measurement, threshold, open_, gate))

    outcome = _verdict_outcome(checks)
    error_rate = errors / n if isinstance(errors, int) and n > 0 else None
    return Verdict(
        outcome=outcome,
        message=_message(outcome, checks, analysis, n if gate.value is not None else None),
        checks=tuple(checks),
        requests=gate.value,
        error_rate=error_rate,
        p95_latency_seconds=canary.p95_latency.value,
        p95_time_to_first_token_seconds=canary.p95_time_to_first_token.value,
    )


def _requests_check(analysis: Analysis, reading: Reading) -> Check:
    measurement, needed = reading.requests, analysis.min_requests
    window = analysis.window
    if measurement.error is not None:
        return Check(
            "minRequests", "Error", None, needed, measurement.query, f"query failed: {measurement.error}"
        )
    value = measurement.value
    if value is None or not math.isfinite(value):
        # No series: no pod of the revision has answered an inference request yet.
        value = 0.0
    n = max(0, round(value))
    if n <= 0:
        detail = f"no requests in {window}: nothing to judge"
        return Check("minRequests", "Inconclusive", 0.0, needed, measurement.query, detail)
    if n < needed:
        detail = f"{n} requests in {window} < {needed}: too few to judge"
        return Check("minRequests", "Inconclusive", float(n), needed, measurement.query, detail)
    detail = f"{n} requests in {window} >= {needed}"
    return Check("minRequests", "Passed", float(n), needed, measurement.query, detail)


def _count(measurement: Measurement, limit: int) -> int | str:
    """A whole count from an errors measurement, at most `limit`; the error text if it failed."""
    if measurement.error is not None:
        return measurement.error
    value = measurement.value
    if value is None or not math.isfinite(value):
        return 0  # no 5xx series yet: no errors
    return max(0, min(limit, round(value)))


def _held(slo: str, threshold: float, query: str, gate: Check, error: str | None) -> Check:
    """A check that cannot be judged: its own query failed, or the requests gate is not open."""
    if error is not None:
        return Check(slo, "Error", None, threshold, query, f"query failed: {error}")
    if gate.outcome == "Error":
        return Check(slo, "Inconclusive", None, threshold, query, "not judged: the requests query failed")
    return Check(slo, "Inconclusive", None, threshold, query, f"not judged: {gate.detail}")


def _error_rate_check(
    threshold: float,
    measurement: Measurement,
    errors: int | str,
    n: int,
    alpha: float,
    open_: bool,
    gate: Check,
) -> Check:
    slo, query = "maxErrorRate", measurement.query
    if isinstance(errors, str) or not open_:
        return _held(slo, threshold, query, gate, errors if isinstance(errors, str) else None)
    ratio = errors / n
    p_value = error_rate_p_value(errors, n, threshold)
    seen = f"error ratio {_pct(ratio)} ({errors} of {n} requests)"
    confidence = _pct(1 - alpha, digits=3)
    if p_value <= alpha:
        detail = f"{seen} > {_pct(threshold)} at {confidence} confidence (p={p_value:.2g})"
        return Check(slo, "Failed", ratio, threshold, query, detail)
    if ratio > threshold:
        detail = (
            f"{seen} above {_pct(threshold)} but within chance at {confidence} confidence (p={p_value:.2g})"
        )
    else:
        detail = f"{seen} <= {_pct(threshold)}"
    return Check(slo, "Passed", ratio, threshold, query, detail)


def _vs_stable_check(
    analysis: Analysis,
    factor: float,
    canary: Reading,
    canary_errors: int | str,
    n: int,
    stable: Reading | None,
    open_: bool,
    gate: Check,
) -> Check:
    slo, query = "maxErrorRateVsStable", canary.errors.query
    if isinstance(canary_errors, str) or not open_:
        return _held(slo, factor, query, gate, canary_errors if isinstance(canary_errors, str) else None)
    if stable is None:
        return Check(slo, "Skipped", None, factor, query, "no stable revision to compare with")
    if stable.requests.error is not None:
        return Check(
            slo, "Error", None, factor, query, f"stable's requests query failed: {stable.requests.error}"
        )
    stable_n = round(_finite(stable.requests.value) or 0.0)
    if stable_n < max(analysis.min_requests, 1):
        detail = (
            f"not applied: stable served {stable_n} requests in {analysis.window} < {analysis.min_requests}"
        )
        return Check(slo, "Skipped", None, factor, query, detail)
    stable_errors = _count(stable.errors, stable_n)
    if isinstance(stable_errors, str):
        return Check(slo, "Error", None, factor, query, f"stable's errors query failed: {stable_errors}")

    canary_ratio, stable_ratio = canary_errors / n, stable_errors / stable_n
    multiple = canary_ratio / stable_ratio if stable_ratio > 0 else None
    seen = (
        f"canary {_pct(canary_ratio)} ({canary_errors}/{n}) vs stable {_pct(stable_ratio)} "
        f"({stable_errors}/{stable_n})" + (f" = {multiple:.2f}x" if multiple is not None else "")
    )
    alpha = 1.0 - analysis.confidence
    p_value = ratio_p_value(canary_errors, n, stable_errors, stable_n, factor)
    if p_value <= alpha:
        detail = f"{seen} > {factor:g}x at {_pct(analysis.confidence, digits=3)} confidence (p={p_value:.2g})"
        return Check(slo, "Failed", multiple, factor, query, detail)
    return Check(slo, "Passed", multiple, factor, query, f"{seen}: within {factor:g}x (p={p_value:.2g})")


def _latency_check(
    slo: str, what: str, measurement: Measurement, threshold: float, open_: bool, gate: Check
) -> Check:
    query = measurement.query
    if measurement.error is not None or not open_:
        return _held(slo, threshold, query, gate, measurement.error)
    value = measurement.value
    if value is None or math.isnan(value):
        note = measurement.note or "empty result"
        return Check(slo, "Inconclusive", None, threshold, query, f"no {what} samples in the window ({note})")
    if value > threshold:
        shown = "above the highest finite bucket" if math.isinf(value) else f"{value:.3g}s"
        return Check(slo, "Failed", value, threshold, query, f"{what} {shown} > {threshold:g}s")
    return Check(slo, "Passed", value, threshold, query, f"{what} {value:.3g}s <= {threshold:g}s")


def _verdict_outcome(checks: list[Check]) -> Outcome:
    strongest = max((check.outcome for check in checks), key=_STRENGTH.__getitem__)
    return "Passed" if strongest == "Skipped" else strongest


def _message(outcome: Outcome, checks: list[Check], analysis: Analysis, n: int | None) -> str:
    def of(kind: CheckOutcome) -> list[Check]:
        return [check for check in checks if check.outcome == kind]

    if outcome == "Failed":
        return "SLO breached over " + analysis.window + ": " + " | ".join(c.describe() for c in of("Failed"))
    if outcome == "Error":
        return "cannot judge: " + "; ".join(f"{c.slo}: {c.detail}" for c in of("Error"))
    if outcome == "Inconclusive":
        gate = checks[0]
        if gate.outcome == "Inconclusive":
            return f"inconclusive: {gate.detail}"
        return "inconclusive: " + "; ".join(f"{c.slo}: {c.detail}" for c in of("Inconclusive"))
    judged = [f"{c.slo}: {c.detail}" for c in checks[1:] if c.outcome == "Passed"]
    skipped = [f"{c.slo}: {c.detail}" for c in of("Skipped")]
    declared = len(checks) > 1
    head = (
        f"SLOs met over {analysis.window} ({n} requests)" if declared else f"no SLO declared ({n} requests)"
    )
    return "; ".join([head, *judged, *skipped])


def _pct(value: float, digits: int = 2) -> str:
    text = f"{value * 100:.{digits}f}".rstrip("0").rstrip(".")
    return text + "%"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
