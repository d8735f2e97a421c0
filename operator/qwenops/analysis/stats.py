"""The exact binomial tests behind the error-rate SLOs. Pure Python, no approximation.

The error-rate guard (README-ready)
-----------------------------------

A canary's errors over the window are treated as a binomial sample: ``n``
requests, each failing independently with the canary's true error ratio
``p``. ``maxErrorRate`` is a statement about ``p``, not about the ``k/n`` seen
in one window: a healthy canary with ``p`` exactly at a 1 % SLO shows more than
1 % errors in 26 % of its 100-request windows and 42 % of its 1000-request
ones, so comparing ``k/n`` with the SLO would fail healthy canaries all the
time, and most often at low traffic for small ``p`` below the SLO. ``assess``
therefore runs the exact one-sided binomial test of H0: ``p <= maxErrorRate``
and fails the check only when ``P(X >= k | n, maxErrorRate) <= 1 - confidence``
(``analysis.confidence``, default 0.99). This is the same decision as "the
one-sided Clopper-Pearson lower confidence bound of ``p`` is above
``maxErrorRate``", computed exactly with no normal approximation (which is
poor for the small ``k`` of low traffic), in pure Python. By construction a
canary whose true error ratio is at or below the SLO fails a single reading
with probability at most ``1 - confidence`` (less, since the test is
discrete), whatever the traffic; ``failureLimit`` consecutive failed readings
are needed for a rollback. A real regression still fails: at 5 % errors
against a 1 % SLO, a reading of 100 requests fails about half the time, of
200 requests about 85 % of the time, of 500 or more almost always
(``bench/false_alarms.py`` measures both sides).

``maxErrorRateVsStable`` (canary ratio at most ``r`` times the stable's) uses
the conditional test for two Poisson rates: given ``K`` errors in both
revisions together, the canary's share is Binomial(``K``,
``r·n_c / (r·n_c + n_s)``) when the canary is exactly ``r`` times worse, and
the check fails when ``P(X >= k_c)`` under that binomial is at most ``1 -
confidence``. It applies only when the stable revision served at least
``minRequests`` in the window; otherwise the check is ``Skipped``.
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
