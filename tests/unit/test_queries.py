"""The PromQL of one revision (`analysis.queries`): the registry's templates or the spec's, rendered."""

from datetime import UTC, datetime

import pytest

from qwenops.analysis.queries import Measurement, Reading, build_queries, render_query, selector, window_text
from qwenops.analysis.verdict import assess
from qwenops.api.slos import (
    ERRORS,
    P95_INTER_TOKEN_LATENCY,
    P95_INTER_TOKEN_LATENCY_SECONDS,
    P95_LATENCY,
    P95_QUEUE_TIME,
    P95_QUEUE_TIME_SECONDS,
    P95_TIME_TO_FIRST_TOKEN,
    REQUESTS,
    SLO,
    Quantile,
)
from qwenops.api.spec import Analysis, SeriesLabels

QUERIES = build_queries(Analysis(), namespace="llm", deployment="chat", revision="canary1")


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


def test_reading_constructors() -> None:
    assert Reading.of(QUERIES, requests=5)[REQUESTS] == Measurement(QUERIES[REQUESTS], 5)
    failed = Reading.failed(QUERIES, "boom")
    assert failed.error is not None
    assert failed.error.count("boom") == len(QUERIES.promql)


@pytest.mark.parametrize(
    ("query", "bucket"),
    [
        (P95_INTER_TOKEN_LATENCY, "vllm[:_]inter_token_latency_seconds_bucket"),
        (P95_QUEUE_TIME, "vllm[:_]request_queue_time_seconds_bucket"),
    ],
)
def test_the_token_and_queue_time_slos_read_vllms_histograms(query: Quantile, bucket: str) -> None:
    matchers = 'namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="canary1"'
    assert QUERIES[query] == (
        f'histogram_quantile(0.95, sum by (le) (rate({{__name__=~"{bucket}",{matchers}}}[120s])))'
    )


@pytest.mark.parametrize(
    ("slo", "value", "outcome"),
    [
        (P95_INTER_TOKEN_LATENCY_SECONDS, 0.05, "Passed"),
        (P95_INTER_TOKEN_LATENCY_SECONDS, 0.25, "Failed"),
        (P95_QUEUE_TIME_SECONDS, 0.4, "Passed"),
        (P95_QUEUE_TIME_SECONDS, 3.0, "Failed"),
    ],
)
def test_the_token_and_queue_time_slos_fail_above_their_threshold(
    slo: SLO, value: float, outcome: str
) -> None:
    spec = Analysis.model_validate({"minRequests": 10, "slos": {slo.key: slo.example}})
    queries = build_queries(spec, namespace="llm", deployment="chat", revision="canary1")
    verdict = assess(spec, Reading.of(queries, requests=500, errors=0, **{slo.query.key: value}))
    (check,) = [check for check in verdict.checks if check.slo == slo.key]
    assert (check.outcome, check.value) == (outcome, value), check.detail
    assert verdict.outcome == outcome
    assert getattr(verdict.as_status(datetime(2026, 1, 1, tzinfo=UTC)), slo.reading or "") == value
