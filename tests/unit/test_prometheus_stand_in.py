"""The test kit's Prometheus stand-in answers every query the registry declares, as the operator asks it."""

import math

import pytest

from qwenops.analysis.queries import Queries, build_queries, render_query
from qwenops.api import slos
from qwenops.api.slos import ERRORS, REQUESTS, SLOS, Count, Quantile
from qwenops.api.spec import Analysis
from qwenops.io.prom import read_and_assess, read_revision
from qwenops_testing.prometheus_stand_in import (
    DEFAULTS,
    EMPTY_WHEN_ZERO,
    UNJUDGED_COUNT,
    Series,
    prometheus_stand_in,
    recognise,
)


@pytest.mark.parametrize(("window", "revision"), [("2m", "c1"), ("500ms", "7f9e2b1c0a"), ("1h30m", "")])
def test_each_declared_query_is_recognised_as_the_operator_renders_it(window: str, revision: str) -> None:
    queries = build_queries(Analysis(window=window), namespace="llm", deployment="chat", revision=revision)
    for query, promql in queries.promql.items():
        asked = recognise(promql)
        assert asked is not None, promql
        assert (asked.query, asked.revision) == (query, revision)


@pytest.mark.parametrize(
    "promql",
    [
        "up",
        render_query(REQUESTS.template, selector='namespace="llm"', window="2m"),  # not a revision's matchers
        'sum(increase(http_requests_total{namespace="llm",qwenops_io_deployment="chat",'
        'qwenops_io_revision="c1"}[120s]))',  # no handler matcher
        *(
            render_query(query.template.replace("0.95", "0.5"), selector="", window="120s")
            for query in slos.QUERIES
            if isinstance(query, Quantile)
        ),
    ],
)
def test_promql_of_no_declared_query_is_not_recognised(promql: str) -> None:
    assert recognise(promql) is None


def test_a_healthy_revision_has_a_value_for_each_query_from_the_registry() -> None:
    assert set(DEFAULTS) == {query.field for query in slos.QUERIES}
    judged = {slo.query for slo in SLOS}
    for query in slos.QUERIES:
        examples = [slo.example for slo in SLOS if slo.query == query]
        if isinstance(query, Count):
            assert DEFAULTS[query.field] == (0 if query in judged else UNJUDGED_COUNT), query
        else:
            assert 0 < DEFAULTS[query.field] < min(examples), query


async def test_a_healthy_revision_passes_every_slo_at_its_example() -> None:
    analysis = Analysis.model_validate({"slos": {slo.key: slo.example for slo in SLOS}})
    async with prometheus_stand_in() as stand_in:
        verdict = await read_and_assess(
            stand_in.url, analysis, namespace="llm", deployment="chat", canary="c1", stable="s1", timeout=2
        )
    assert verdict.outcome == "Passed", verdict.message
    assert {check.slo for check in verdict.checks if check.outcome == "Passed"} >= {slo.key for slo in SLOS}


async def test_a_revision_answers_its_series_and_zero_errors_are_an_empty_result() -> None:
    queries = build_queries(Analysis(), namespace="llm", deployment="chat", revision="c1")
    async with prometheus_stand_in() as stand_in:
        stand_in.series["c1"] = Series.every(7.5, errors=0)
        reading = await read_revision(stand_in.url, queries, timeout=2)
        assert reading[ERRORS].value is None and reading[ERRORS].note == "empty result"
        assert all(reading[query].value == 7.5 for query in slos.QUERIES if query != ERRORS)
        stand_in.series["c1"] = Series(requests=0, errors=math.inf)
        reading = await read_revision(stand_in.url, queries, timeout=2)
        assert (reading[REQUESTS].value, reading[ERRORS].value) == (0, math.inf)
        other = await read_revision(
            stand_in.url,
            build_queries(Analysis(), namespace="llm", deployment="chat", revision="s1"),
            timeout=2,
        )
    assert {query.field: other[query].value for query in slos.QUERIES} == {
        query.field: None if query in EMPTY_WHEN_ZERO else DEFAULTS[query.field] for query in slos.QUERIES
    }


async def test_a_query_it_does_not_know_is_bad_data() -> None:
    async with prometheus_stand_in() as stand_in:
        reading = await read_revision(
            stand_in.url,
            build_queries(Analysis(), namespace="llm", deployment="chat", revision="c1"),
            timeout=2,
        )
        assert reading.error is None
        unknown = await read_revision(stand_in.url, Queries({REQUESTS: "up"}), timeout=2)
    assert unknown[REQUESTS].error is not None
    assert unknown[REQUESTS].error.startswith(
        "Prometheus bad_data (HTTP 400): the stand-in knows no such query"
    )
    assert stand_in.received[-1].query is None


def test_a_series_names_only_declared_queries() -> None:
    with pytest.raises(TypeError, match=r"no such queries: \['p99_latency'\]"):
        Series(p99_latency=1)
    assert Series(errors=3)[ERRORS] == 3 and Series(errors=3)[REQUESTS] == DEFAULTS[REQUESTS.field]
