"""The exact binomial tests behind the error-rate SLOs (`analysis.stats`): exact, and the guard they make."""

from fractions import Fraction
from math import comb

import pytest

from qwenops.analysis.queries import Reading, build_queries
from qwenops.analysis.stats import binomial_sf, error_rate_p_value, ratio_p_value
from qwenops.analysis.verdict import assess
from qwenops.api.spec import Analysis

QUERIES = build_queries(Analysis(), namespace="llm", deployment="chat", revision="canary1")


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


def test_ratio_test_is_symmetric_sanity() -> None:
    assert ratio_p_value(0, 100, 5, 100, 2) == 1.0
    assert ratio_p_value(10, 1000, 0, 0, 2) == binomial_sf(10, 10, 1.0)
    # canary exactly 2x the stable: at the boundary, not evidence
    assert ratio_p_value(20, 1000, 100, 10000, 2) > 0.3


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
    spec = Analysis.model_validate(
        {"minRequests": 10, "confidence": confidence, "slos": {"maxErrorRate": 0.01}}
    )
    passed = assess(spec, Reading.of(QUERIES, requests=n, errors=first_failing - 1))
    failed = assess(spec, Reading.of(QUERIES, requests=n, errors=first_failing))
    assert passed.outcome == "Passed", passed.message
    assert failed.outcome == "Failed", failed.message
    assert (
        error_rate_p_value(first_failing, n, 0.01)
        <= 1 - confidence
        < error_rate_p_value(first_failing - 1, n, 0.01)
    )
