"""The pure canary analysis: the error-rate guard, and every outcome of `assess`."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from qwenops.analysis.checks import Check
from qwenops.analysis.queries import Measurement, Queries, Reading, build_queries
from qwenops.analysis.verdict import Verdict, assess
from qwenops.api import slos
from qwenops.api.slos import (
    ERRORS,
    MAX_ERROR_RATE,
    P95_LATENCY,
    P95_LATENCY_SECONDS,
    P95_TIME_TO_FIRST_TOKEN,
    REQUESTS,
)
from qwenops.api.spec import Analysis

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
    # Every query the registry declares answers: those not named here, with an empty result.
    return Reading({query: m(query.key, queries[query], values.get(query)) for query in slos.QUERIES})


def outcomes(verdict: Verdict) -> dict[str, str]:
    return {check.slo: check.outcome for check in verdict.checks}


# --- the error-rate guard --------------------------------------------------------------------------


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
