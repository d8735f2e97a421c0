"""The always-valid tests of everything since a step started (`analysis.sequential`), and the checks
that use them: a conclusive breach fails a reading at once, low traffic never does."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from qwenops.analysis.queries import (
    STEP_COUNTS,
    Reading,
    build_queries,
    build_step_queries,
    render_query,
    selector,
)
from qwenops.analysis.sequential import MULTIPLES, alternative, error_rate_test, log_mixture, ratio_test
from qwenops.analysis.stats import error_rate_p_value
from qwenops.analysis.verdict import assess
from qwenops.api.slos import ERRORS, REQUESTS
from qwenops.api.spec import Analysis

ALPHA = 0.01


@pytest.mark.parametrize(
    ("errors", "requests", "p0", "rejects"),
    [
        (0, 0, 0.01, False),  # nothing seen: no evidence
        (0, 10_000, 0.01, False),  # no error at all
        (10, 1000, 0.01, False),  # right at the SLO
        (20, 1000, 0.01, False),  # 2x, but 1000 requests are not enough to be sure at every look
        (40, 1000, 0.01, True),  # 4x over 1000
        (60, 3000, 0.01, True),  # 2x over 3000
        (25, 350, 0.01, True),  # half the requests of a few seconds fail
        (1, 5, 0.01, False),  # one error of five
        (5, 5, 0.01, True),  # every one of five: odds of 1e-10 under the SLO
        (3, 3, 0.5, False),  # three errors in three at a 50 % SLO are a coin's luck
        (30, 30, 0.5, True),
        (1, 10, 0.0, True),  # an SLO of no error at all: any error refutes it
        (10, 10, 1.0, False),  # an SLO of 100 % cannot be breached
    ],
)
def test_error_rate_test_rejects_only_on_strong_evidence(
    errors: int, requests: int, p0: float, rejects: bool
) -> None:
    test = error_rate_test(errors, requests, p0, ALPHA)
    assert test.rejects is rejects, (test.log_evidence, math.log(1 / ALPHA))


@pytest.mark.parametrize("p0", [1e-6, 0.01, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("multiple", [multiple for multiple, _ in MULTIPLES])
def test_every_alternative_lies_between_the_null_and_one(p0: float, multiple: float) -> None:
    assert p0 < alternative(p0, multiple) < 1


def test_the_mixture_is_a_probability_weighting() -> None:
    assert math.isclose(sum(weight for _, weight in MULTIPLES), 1.0)
    assert all(multiple > 1 and weight > 0 for multiple, weight in MULTIPLES)


def test_more_errors_are_more_evidence() -> None:
    evidence = [log_mixture(k, 1000, 0.01) for k in range(0, 60)]
    assert evidence == sorted(evidence) and evidence[0] < 0 < evidence[-1]


@pytest.mark.parametrize(
    ("canary", "stable", "factor", "rejects"),
    [
        ((5, 1000), (45, 9000), 2, False),  # the same ratio as the stable
        ((10, 1000), (45, 9000), 2, False),  # at the limit: 2x the stable
        ((50, 1000), (45, 9000), 2, True),  # 10x the stable
        ((0, 1000), (45, 9000), 2, False),
        ((30, 1000), (0, 0), 2, False),  # the stable served nothing: nothing to compare with
        ((3, 100), (0, 9000), 2, True),  # the stable has no errors at all, the canary a few
    ],
)
def test_ratio_test(canary: tuple[int, int], stable: tuple[int, int], factor: float, rejects: bool) -> None:
    assert ratio_test(*canary, *stable, factor, ALPHA).rejects is rejects


def _ever_rejects(rng: random.Random, p: float, looks: int, per_look: int, fixed: bool) -> bool:
    errors = requests = 0
    for _ in range(looks):
        errors += sum(rng.random() < p for _ in range(per_look))
        requests += per_look
        if fixed:
            if error_rate_p_value(errors, requests, 0.01) <= 0.05:
                return True
        elif error_rate_test(errors, requests, 0.01, 0.05).rejects:
            return True
    return False


def test_type_i_error_stays_bounded_however_often_it_looks() -> None:
    """At the SLO itself (the worst case of H0), 100 looks at a growing sample: the mixture test
    rejects in at most alpha of the runs; the fixed-sample test, looked at as often, far more."""
    rng = random.Random(13)
    runs, looks, per_look, alpha = 400, 100, 40, 0.05
    sequential = sum(_ever_rejects(rng, 0.01, looks, per_look, fixed=False) for _ in range(runs)) / runs
    fixed = sum(_ever_rejects(rng, 0.01, looks, per_look, fixed=True) for _ in range(runs)) / runs
    assert sequential <= alpha, sequential
    assert fixed > 2 * alpha, fixed  # what the bound is for: peeking breaks a one-look test


def test_it_finds_a_regression_it_is_looking_for() -> None:
    rng = random.Random(14)
    runs = 100
    found = sum(_ever_rejects(rng, 0.03, 100, 40, fixed=False) for _ in range(runs)) / runs
    assert found > 0.95, found


# --- the checks -----------------------------------------------------------------------------------------

SPEC = Analysis.model_validate(
    {"window": "30s", "minRequests": 100, "confidence": 0.99, "slos": {"maxErrorRate": 0.01}}
)
CANARY = build_queries(SPEC, namespace="llm", deployment="chat", revision="c1")
STABLE = build_queries(SPEC, namespace="llm", deployment="chat", revision="s1")


def since(age_seconds: int = 300, revision: str = "c1", **values: float | None) -> Reading:
    queries = build_step_queries(
        SPEC, namespace="llm", deployment="chat", revision=revision, age=timedelta(seconds=age_seconds)
    )
    return Reading.of(queries, **values)


def test_the_step_queries_are_the_count_templates_over_the_steps_age() -> None:
    step = build_step_queries(
        SPEC, namespace="llm", deployment="chat", revision="c1", age=timedelta(seconds=95)
    )
    assert set(step.promql) == set(STEP_COUNTS) == {REQUESTS, ERRORS}
    matchers = selector(SPEC.labels, namespace="llm", deployment="chat", revision="c1")
    assert step[ERRORS] == render_query(ERRORS.since_template, selector=matchers, window="95s")
    assert "[95s]" in step[ERRORS] and "offset 95s" in step[ERRORS]  # a series born in the step counts
    mine = Analysis.model_validate({"queries": {"errors": "sum(increase(my_errors{{selector}}[{window}]))"}})
    overridden = build_step_queries(
        mine, namespace="llm", deployment="chat", revision="c1", age=timedelta(seconds=95)
    )
    assert (
        overridden[ERRORS] == f"sum(increase(my_errors{{{matchers}}}[95s]))"
    )  # the spec's own, over the age
    short = build_step_queries(
        SPEC, namespace="llm", deployment="chat", revision="c1", age=timedelta(seconds=0)
    )
    assert "[1s]" in short[REQUESTS]  # Prometheus refuses a range of 0


@pytest.mark.parametrize(
    ("window", "step", "outcome", "conclusive"),
    [
        # The window alone fails (p <= alpha), the step's evidence is not yet conclusive: counts.
        ((400, 12), (400, 12), "Failed", False),
        # A breach a few seconds old: the window fails and everything since the step began is conclusive.
        ((400, 40), (2000, 40), "Failed", True),
        # The window is within chance, but the step's 6000 requests are conclusive of 2x.
        ((500, 9), (6000, 120), "Failed", True),
        # Healthy in both.
        ((500, 5), (6000, 60), "Passed", False),
        # No step evidence yet (a range shorter than two scrapes): the window decides alone.
        ((400, 12), (None, None), "Failed", False),
        ((500, 5), (None, None), "Passed", False),
    ],
)
def test_a_breach_conclusive_since_the_step_started_fails_at_once(
    window: tuple[int, int], step: tuple[int | None, int | None], outcome: str, conclusive: bool
) -> None:
    n, k = window
    verdict = assess(
        SPEC,
        Reading.of(CANARY, requests=n, errors=k),
        canary_step=since(requests=step[0], errors=step[1]),
    )
    assert verdict.outcome == outcome, verdict.message
    assert verdict.conclusive is conclusive, verdict.message
    assert verdict.as_status(datetime(2026, 1, 1, tzinfo=UTC)).conclusive is conclusive
    if conclusive:
        assert "since the step started" in verdict.failed[0].detail and "conclusive" in verdict.message


@pytest.mark.parametrize("window_requests", [0, 20, 99])
def test_low_traffic_in_the_window_is_never_judged_whatever_the_step_saw(window_requests: int) -> None:
    verdict = assess(
        SPEC,
        Reading.of(CANARY, requests=window_requests, errors=window_requests),
        canary_step=since(requests=5000, errors=2500),
    )
    assert verdict.outcome == "Inconclusive" and not verdict.conclusive


def test_a_failed_step_query_is_no_evidence_and_no_error() -> None:
    step = build_step_queries(
        SPEC, namespace="llm", deployment="chat", revision="c1", age=timedelta(seconds=60)
    )
    verdict = assess(
        SPEC, Reading.of(CANARY, requests=500, errors=5), canary_step=Reading.failed(step, "timeout")
    )
    assert verdict.outcome == "Passed" and not verdict.conclusive


def test_against_the_stable_a_conclusive_breach_fails_at_once() -> None:
    spec = Analysis.model_validate({"window": "30s", "minRequests": 100, "slos": {"maxErrorRateVsStable": 2}})
    canary_window, stable_window = (
        Reading.of(CANARY, requests=500, errors=9),
        Reading.of(STABLE, requests=4500, errors=20),
    )
    calm = assess(spec, canary_window, stable_window)
    assert calm.outcome == "Passed", calm.message
    verdict = assess(
        spec,
        canary_window,
        stable_window,
        canary_step=since(requests=6000, errors=120),
        stable_step=since(revision="s1", requests=54000, errors=270),
    )
    assert verdict.outcome == "Failed" and verdict.conclusive, verdict.message
    same = assess(
        spec,
        canary_window,
        stable_window,
        canary_step=since(requests=6000, errors=30),
        stable_step=since(revision="s1", requests=54000, errors=270),
    )
    assert same.outcome == "Passed" and not same.conclusive, same.message
