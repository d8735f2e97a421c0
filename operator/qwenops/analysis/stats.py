"""The exact binomial tests behind the error-rate SLOs. Pure Python, no approximation.

Why these tests (and not ``k/n`` against the SLO), and what they cost in false rollbacks
and missed regressions: docs/rollouts.md, "The error-rate guard".
"""

import math


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
