"""The pure canary analysis: queries, the statistical guard, and every outcome of `assess`."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from math import comb
from typing import Any

import pytest

from qwenops.analysis.checks import Check
from qwenops.analysis.queries import (
    Measurement,
    Queries,
    Reading,
    build_queries,
    render_query,
    selector,
    window_text,
)
from qwenops.analysis.stats import binomial_sf, error_rate_p_value, ratio_p_value
from qwenops.analysis.verdict import Verdict, assess
from qwenops.api.slos import (
    ERRORS,
    MAX_ERROR_RATE,
    P95_LATENCY,
    P95_LATENCY_SECONDS,
    P95_TIME_TO_FIRST_TOKEN,
    REQUESTS,
)
from qwenops.api.spec import Analysis, SeriesLabels

QUERIES = build_queries(Analysis(), namespace="llm", deployment="chat", revision="canary1")
STABLE_QUERIES = build_queries(Analysis(), namespace="llm", deployment="chat", revision="stable1")


def analysis(**overrides: Any) -> Analysis:
    settings: dict[str, Any] = {
        "window": "2m",
        "minRequests": 100,
        "slos": {"maxErrorRate": 0.01, "p95LatencySeconds": 10, "p95TimeToFirstTokenSeconds": 1},
    }
    settings.update(overrides)
    return Analysis.model_validate(settings)


def reading(
    requests: float | None = 1000,
    errors: float | None = 0,
    p95: float | None = 3.0,
    ttft: float | None = 0.4,
    *,
    failed: dict[str, str] | None = None,
    queries: Queries = QUERIES,
) -> Reading:
    failed = failed or {}

    def m(name: str, query: str, value: float | None) -> Measurement:
        if name in failed:
            return Measurement(query, error=failed[name])
        return Measurement(query, value, note="" if value is not None else "empty result")

    values = {REQUESTS: requests, ERRORS: errors, P95_LATENCY: p95, P95_TIME_TO_FIRST_TOKEN: ttft}
    return Reading({query: m(query.key, queries[query], value) for query, value in values.items()})


def outcomes(verdict: Verdict) -> dict[str, str]:
    return {check.slo: check.outcome for check in verdict.checks}


# --- queries ------------------------------------------------------------------------------------


def test_default_queries_select_one_revision_over_the_window() -> None:
    matchers = 'namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="canary1"'
    assert QUERIES[REQUESTS] == (
        'sum(increase(http_requests_total{handler=~"/v1/completions|/v1/chat/completions",'
        + matchers
        + "}[120s]))"
    )
    assert QUERIES[ERRORS] == (
        'sum(increase(http_requests_total{handler=~"/v1/completions|/v1/chat/completions",status="5xx",'
        + matchers
        + "}[120s]))"
    )
    assert QUERIES[P95_LATENCY] == (
        'histogram_quantile(0.95, sum by (le) (rate({__name__=~"vllm[:_]e2e_request_latency_seconds_bucket",'
        + matchers
        + "}[120s])))"
    )
    assert 'vllm[:_]time_to_first_token_seconds_bucket"' in QUERIES[P95_TIME_TO_FIRST_TOKEN]
    assert "{selector}" not in "".join(query for _, query in QUERIES.items())
    assert "{window}" not in "".join(query for _, query in QUERIES.items())


def test_overrides_and_label_names_come_from_the_spec() -> None:
    spec = Analysis.model_validate(
        {
            "window": "1m30s",
            "labels": {"namespace": "kubernetes_namespace", "deployment": "app", "revision": "rev"},
            "queries": {"errors": 'sum(increase(my_errors_total{{selector},code=~"5.."}[{window}]))'},
        }
    )
    queries = build_queries(spec, namespace="llm", deployment="chat", revision="r2")
    assert queries[ERRORS] == (
        'sum(increase(my_errors_total{kubernetes_namespace="llm",app="chat",rev="r2",code=~"5.."}[90s]))'
    )
    assert 'kubernetes_namespace="llm",app="chat",rev="r2"' in queries[REQUESTS]  # default, new labels


def test_selector_escapes_label_values() -> None:
    assert selector(SeriesLabels(), namespace='a"b', deployment="c\\d", revision="e") == (
        'namespace="a\\"b",qwenops_io_deployment="c\\\\d",qwenops_io_revision="e"'
    )


def test_render_touches_only_the_two_placeholders() -> None:
    template = 'x{{selector},a="{b}"}[{window}] {window} {selectors}'
    assert render_query(template, selector='k="v"', window="60s") == 'x{k="v",a="{b}"}[60s] 60s {selectors}'
    assert "{selector}" in P95_LATENCY.template


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("2m", "120s"),
        ("1m30s", "90s"),
        ("30s2m", "150s"),
        ("500ms", "500ms"),
        ("1h", "3600s"),
        ("1s500ms", "1500ms"),
    ],
)
def test_window_is_a_range_prometheus_accepts(window: str, expected: str) -> None:
    assert window_text(window) == expected


# --- the binomial test --------------------------------------------------------------------------


def exact_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) in exact rational arithmetic, summing the shorter side."""
    q = Fraction(p)

    def pmf(i: int) -> Fraction:
        return comb(n, i) * q**i * (1 - q) ** (n - i)

    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if k <= n // 2:
        return float(1 - sum(pmf(i) for i in range(k)))
    return float(sum(pmf(i) for i in range(k, n + 1)))


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (0, 10, 0.1),
        (1, 1, 0.5),
        (3, 20, 0.01),
        (5, 100, 0.01),
        (2, 100, 0.01),
        (19, 1000, 0.01),
        (1, 1000, 0.01),
        (60, 300, 0.3),
        (90, 100, 0.9),
        (101, 100, 0.5),
        (7, 50, 0.999),
        (250, 500, 0.0001),
    ],
)
def test_binomial_tail_is_exact(k: int, n: int, p: float) -> None:
    assert binomial_sf(k, n, p) == pytest.approx(exact_sf(k, n, p), rel=1e-9, abs=1e-300)


def test_binomial_tail_edges() -> None:
    assert binomial_sf(0, 0, 0.5) == 1.0
    assert binomial_sf(1, 10, 0.0) == 0.0
    assert binomial_sf(10, 10, 1.0) == 1.0
    # a million requests: fast and sane
    assert 0.0 < binomial_sf(10_300, 1_000_000, 0.01) < 0.2


def smallest_failing(n: int, max_error_rate: float, confidence: float) -> int:
    """The fewest errors that fail, found by brute force with exact arithmetic."""
    alpha = 1 - confidence
    return next(k for k in range(n + 1) if exact_sf(k, n, max_error_rate) <= alpha)


@pytest.mark.parametrize(
    ("n", "confidence", "first_failing"),
    [
        # a 1 % SLO at 99 % confidence: how many errors it takes to fail
        (20, 0.99, 3),  # 15 % observed; 2 errors (10 %) pass
        (100, 0.99, 5),  # 4 errors (4 %) still pass
        (1000, 0.99, 19),  # 1.9 %; 18 errors (1.8 %) pass
        (100, 0.95, 4),  # a lower confidence fails sooner
        (1000, 0.95, 16),
    ],
)
def test_guard_threshold_by_traffic(n: int, confidence: float, first_failing: int) -> None:
    assert smallest_failing(n, 0.01, confidence) == first_failing
    spec = analysis(minRequests=10, confidence=confidence, slos={"maxErrorRate": 0.01})
    passed = assess(spec, reading(n, first_failing - 1))
    failed = assess(spec, reading(n, first_failing))
    assert passed.outcome == "Passed", passed.message
    assert failed.outcome == "Failed", failed.message
    assert (
        error_rate_p_value(first_failing, n, 0.01)
        <= 1 - confidence
        < error_rate_p_value(first_failing - 1, n, 0.01)
    )


@pytest.mark.parametrize(
    ("n", "errors", "outcome"),
    [
        (20, 1, "Passed"),  # one unlucky error on 20 requests is 5 % but not evidence
        (20, 2, "Passed"),
        (20, 20, "Failed"),  # a broken canary fails even at low traffic
        (100, 2, "Passed"),  # observed 2 % > 1 %: within chance
        (100, 10, "Failed"),  # a 10 % regression
        (1000, 12, "Passed"),  # 1.2 %: within chance
        (1000, 50, "Failed"),  # a 5 % regression
        (1000, 25, "Failed"),  # 2.5 % is already clear at this traffic
    ],
)
def test_guard_at_low_and_high_traffic(n: int, errors: int, outcome: str) -> None:
    spec = analysis(minRequests=20, slos={"maxErrorRate": 0.01})
    verdict = assess(spec, reading(n, errors))
    assert verdict.outcome == outcome, verdict.message
    assert verdict.readings[MAX_ERROR_RATE] == pytest.approx(errors / n)


# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    canary: Reading
    outcome: str
    checks: dict[str, str]
    stable: Reading | None = None
    spec: Analysis | None = None


ALL_SLOS = {"maxErrorRate", "p95LatencySeconds", "p95TimeToFirstTokenSeconds"}
PASSED = dict.fromkeys(["minRequests", *ALL_SLOS], "Passed")

CASES = [
    Case("healthy", reading(1000, 3, 3.0, 0.4), "Passed", PASSED),
    Case("no 5xx series yet is zero errors", reading(1000, None), "Passed", PASSED),
    Case(
        "error-rate breach",
        reading(1000, 60),
        "Failed",
        {**PASSED, "maxErrorRate": "Failed"},
    ),
    Case("latency breach", reading(1000, 0, 12.5), "Failed", {**PASSED, "p95LatencySeconds": "Failed"}),
    Case(
        "latency beyond the last bucket",
        reading(1000, 0, math.inf),
        "Failed",
        {**PASSED, "p95LatencySeconds": "Failed"},
    ),
    Case(
        "first-token breach",
        reading(1000, 0, 3.0, 2.0),
        "Failed",
        {**PASSED, "p95TimeToFirstTokenSeconds": "Failed"},
    ),
    Case(
        "too few requests, even all failing",
        reading(50, 50, 30.0, 5.0),
        "Inconclusive",
        {"minRequests": "Inconclusive", **dict.fromkeys(ALL_SLOS, "Inconclusive")},
    ),
    Case(
        "no requests series at all",
        reading(None, None, None, None),
        "Inconclusive",
        {"minRequests": "Inconclusive", **dict.fromkeys(ALL_SLOS, "Inconclusive")},
    ),
    Case(
        "no latency samples",
        reading(1000, 0, None),
        "Inconclusive",
        {**PASSED, "p95LatencySeconds": "Inconclusive"},
    ),
    Case(
        "NaN latency",
        reading(1000, 0, math.nan),
        "Inconclusive",
        {**PASSED, "p95LatencySeconds": "Inconclusive"},
    ),
    Case(
        "Prometheus unreachable",
        reading(failed=dict.fromkeys(["requests", "errors", "p95Latency", "p95TimeToFirstToken"], "refused")),
        "Error",
        {"minRequests": "Error", **dict.fromkeys(ALL_SLOS, "Error")},
    ),
    Case(
        "requests query failed: nothing can be judged",
        reading(failed={"requests": "HTTP 503"}),
        "Error",
        {"minRequests": "Error", **dict.fromkeys(ALL_SLOS, "Inconclusive")},
    ),
    Case(
        "errors query failed, the rest passed",
        reading(failed={"errors": "bad_data"}),
        "Error",
        {**PASSED, "maxErrorRate": "Error"},
    ),
    Case(
        "Error wins over Inconclusive (a broken query must show even at low traffic)",
        reading(10, 0, failed={"p95Latency": "parse error"}),
        "Error",
        {
            "minRequests": "Inconclusive",
            "maxErrorRate": "Inconclusive",
            "p95LatencySeconds": "Error",
            "p95TimeToFirstTokenSeconds": "Inconclusive",
        },
    ),
    Case(
        "Failed wins over Error (a breach is not hidden by an unrelated failed query)",
        reading(1000, 0, 20.0, failed={"errors": "timeout"}),
        "Failed",
        {**PASSED, "maxErrorRate": "Error", "p95LatencySeconds": "Failed"},
    ),
    Case(
        "no SLO declared",
        reading(1000, 500, 99.0),
        "Passed",
        {"minRequests": "Passed"},
        spec=analysis(slos={}),
    ),
    Case(
        "minRequests 0 still needs one request",
        reading(0, 0),
        "Inconclusive",
        {"minRequests": "Inconclusive", **dict.fromkeys(ALL_SLOS, "Inconclusive")},
        spec=analysis(minRequests=0),
    ),
    # canary vs stable (2x), stable at 0.5 %
    Case(
        "vs stable: same error ratio",
        reading(2000, 10),
        "Passed",
        {"minRequests": "Passed", "maxErrorRateVsStable": "Passed"},
        stable=reading(20000, 100, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: 6x the stable's ratio, under the absolute SLO",
        reading(2000, 60),
        "Failed",
        {"minRequests": "Passed", "maxErrorRate": "Passed", "maxErrorRateVsStable": "Failed"},
        stable=reading(20000, 100, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRate": 0.05, "maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: 3 errors against 2x of 0.5 % is chance",
        reading(200, 3),
        "Passed",
        {"minRequests": "Passed", "maxErrorRateVsStable": "Passed"},
        stable=reading(20000, 100, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: stable too quiet, limit not applied",
        reading(2000, 60),
        "Passed",
        {"minRequests": "Passed", "maxErrorRateVsStable": "Skipped"},
        stable=reading(40, 0, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: no stable revision",
        reading(2000, 60),
        "Passed",
        {"minRequests": "Passed", "maxErrorRateVsStable": "Skipped"},
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: stable's query failed",
        reading(2000, 0),
        "Error",
        {"minRequests": "Passed", "maxErrorRateVsStable": "Error"},
        stable=reading(failed={"requests": "timeout"}, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
    Case(
        "vs stable: canary too quiet",
        reading(20, 20),
        "Inconclusive",
        {"minRequests": "Inconclusive", "maxErrorRateVsStable": "Inconclusive"},
        stable=reading(20000, 100, queries=STABLE_QUERIES),
        spec=analysis(slos={"maxErrorRateVsStable": 2}),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_outcomes(case: Case) -> None:
    verdict = assess(case.spec or analysis(), case.canary, case.stable)
    assert verdict.outcome == case.outcome, verdict.message
    assert outcomes(verdict) == case.checks
    assert verdict.message


def test_failed_message_names_slo_value_threshold_and_query() -> None:
    verdict = assess(analysis(), reading(1000, 60, 12.5))
    assert verdict.outcome == "Failed"
    assert [check.slo for check in verdict.failed] == ["maxErrorRate", "p95LatencySeconds"]
    error_check, latency_check = verdict.failed
    assert error_check.value == pytest.approx(0.06)
    assert error_check.threshold == 0.01
    assert error_check.query == QUERIES[ERRORS]
    assert latency_check.value == 12.5
    assert latency_check.query == QUERIES[P95_LATENCY]
    message = verdict.message
    assert message.startswith("SLO breached over 2m: ")
    for text in (
        "maxErrorRate: error ratio 6% (60 of 1000 requests) > 1% at 99% confidence",
        "query: " + QUERIES[ERRORS],
        "p95LatencySeconds: p95 latency 12.5s > 10s",
        "query: " + QUERIES[P95_LATENCY],
    ):
        assert text in message
    assert "p95TimeToFirstToken" not in message  # only the breached SLOs


def test_passed_message_shows_each_reading() -> None:
    verdict = assess(analysis(), reading(812, 2, 3.1, 0.25))
    assert verdict.message == (
        "SLOs met over 2m (812 requests); maxErrorRate: error ratio 0.25% (2 of 812 requests) <= 1%; "
        "p95LatencySeconds: p95 latency 3.1s <= 10s; "
        "p95TimeToFirstTokenSeconds: p95 time to first token 0.25s <= 1s"
    )


def test_within_chance_is_said() -> None:
    verdict = assess(analysis(), reading(100, 3))
    assert (
        "error ratio 3% (3 of 100 requests) above 1% but within chance at 99% confidence" in verdict.message
    )


def test_inconclusive_message_gives_the_count_and_the_minimum() -> None:
    verdict = assess(analysis(), reading(42, 1))
    assert verdict.message == "inconclusive: 42 requests in 2m < 100: too few to judge"


def test_error_message_names_the_query_and_its_error() -> None:
    verdict = assess(
        analysis(), reading(failed={"requests": "cannot connect to Prometheus at http://p:9090"})
    )
    assert verdict.message.startswith("cannot judge: minRequests: query failed: cannot connect to Prometheus")
    error = reading(failed={"requests": "x", "p95Latency": "y"}).error
    assert error == "requests: x; p95Latency: y"
    assert reading().error is None


def test_vs_stable_message_compares_both() -> None:
    verdict = assess(
        analysis(slos={"maxErrorRateVsStable": 2}),
        reading(2000, 60),
        reading(20000, 100, queries=STABLE_QUERIES),
    )
    (check,) = verdict.failed
    assert check.value == pytest.approx(6.0)
    assert check.threshold == 2
    assert "canary 3% (60/2000) vs stable 0.5% (100/20000) = 6.00x > 2x at 99% confidence" in check.detail


def test_skipped_vs_stable_is_said_in_a_passing_message() -> None:
    verdict = assess(analysis(slos={"maxErrorRateVsStable": 2}), reading(2000, 1), reading(10, 0))
    assert "not applied: stable served 10 requests in 2m < 100" in verdict.message


def test_ratio_test_is_symmetric_sanity() -> None:
    assert ratio_p_value(0, 100, 5, 100, 2) == 1.0
    assert ratio_p_value(10, 1000, 0, 0, 2) == binomial_sf(10, 10, 1.0)
    # canary exactly 2x the stable: at the boundary, not evidence
    assert ratio_p_value(20, 1000, 100, 10000, 2) > 0.3


def test_counts_are_rounded_extrapolations() -> None:
    verdict = assess(analysis(), reading(999.6, 4.4))
    assert verdict.requests == 1000
    assert verdict.readings[MAX_ERROR_RATE] == pytest.approx(0.004)


def test_as_status() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    status = assess(analysis(), reading(1000, 60, math.inf)).as_status(at)
    assert status.verdict == "Failed"
    assert status.at == at
    assert status.requests == 1000
    assert status.error_rate == pytest.approx(0.06)
    assert status.p95_latency_seconds is None  # +Inf has no JSON form
    assert status.p95_time_to_first_token_seconds == 0.4
    assert status.message.startswith("SLO breached")


def test_check_describe() -> None:
    check = Check("p95LatencySeconds", "Failed", 12.0, 10.0, "q", "p95 latency 12s > 10s")
    assert check.describe() == "p95LatencySeconds: p95 latency 12s > 10s; query: q"


def test_reading_constructors() -> None:
    assert Reading.of(QUERIES, requests=5)[REQUESTS] == Measurement(QUERIES[REQUESTS], 5)
    failed = Reading.failed(QUERIES, "boom")
    assert failed.error is not None
    assert failed.error.count("boom") == 4


def test_no_requests_is_said_plainly() -> None:
    verdict = assess(analysis(), reading(None, None, None, None))
    assert verdict.message == "inconclusive: no requests in 2m: nothing to judge"
    assert verdict.requests == 0
    assert verdict.readings[MAX_ERROR_RATE] is None


def test_quiet_reading_still_reports_what_it_saw() -> None:
    verdict = assess(analysis(), reading(40, 2, 3.0, 0.2))
    assert verdict.outcome == "Inconclusive"
    assert verdict.requests == 40
    assert verdict.readings[MAX_ERROR_RATE] == pytest.approx(0.05)
    assert verdict.readings[P95_LATENCY_SECONDS] == 3.0


def test_non_finite_requests_do_not_raise() -> None:
    assert assess(analysis(), reading(math.nan, math.nan)).outcome == "Inconclusive"
    assert assess(analysis(), reading(math.inf, 3)).outcome == "Inconclusive"


def test_only_skipped_slos_still_say_what_was_declared() -> None:
    verdict = assess(analysis(slos={"maxErrorRateVsStable": 2}), reading(1000, 5))
    assert verdict.outcome == "Passed"
    assert verdict.message.startswith("SLOs met over 2m (1000 requests); maxErrorRateVsStable: no stable")
