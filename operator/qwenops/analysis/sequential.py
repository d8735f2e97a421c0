"""Always-valid tests of the canary's errors since its step started. Pure Python, no clock.

The window's binomial tests (`stats`) are valid for one look; a canary is looked at every
`interval`, so the rollout asks `failureLimit` of them in a row before it rolls back. The tests
here may be looked at as often as one likes: each is a *mixture sequential probability ratio
test* (mSPRT; H. Robbins, "Statistical methods related to the law of the iterated logarithm",
Ann. Math. Statist. 41(5), 1970; as used for continuously monitored A/B tests by R. Johari,
P. Koomen, L. Pekelis and D. Walsh, "Always valid inference: continuous monitoring of A/B
tests", Operations Research 70(3), 2022).

For Bernoulli outcomes (an error or not) and H0 "error ratio <= p0", the likelihood ratio
``L(p) / L(p0)`` of an alternative ``p > p0`` is a nonnegative supermartingale under every
``p' <= p0``, and so is any average of them over a mixing distribution of alternatives. By
Ville's inequality (J. Ville, "Étude critique de la notion de collectif", 1939) the chance that
the mixture ever reaches ``1 / alpha`` under H0 is at most ``alpha``, however often it is read:
rejecting when it does is a test whose type-I error holds at every look, and needs no run of
failed readings behind it. The mixture depends on the data only through the counts (k errors
of n), so the cumulative counts Prometheus gives at each reading are all it needs.

The mixing distribution is discrete (`MULTIPLES` of the null ratio, weighted towards small
regressions, whose evidence is thinnest): a mixture over any prior keeps the guarantee.

Against the stable revision, each error is the canary's or the stable's; given the requests
each served, under H0 "canary's ratio <= f x stable's" an error is the canary's with chance at
most ``f·n_c / (f·n_c + n_s)`` (the conditional test of two Poisson rates that `stats` uses for
one window), so the same mixture applies to the sequence of errors. That bound assumes the
canary's share of the traffic stays put during the step, as it does while a step's weight holds.
"""

import math
from dataclasses import dataclass

MULTIPLES: tuple[tuple[float, float], ...] = ((1.5, 0.25), (2.0, 0.35), (3.0, 0.2), (6.0, 0.1), (20.0, 0.1))
"""(alternative as a multiple of the null's odds-capped ratio, its weight): the mixing distribution."""


def alternative(p0: float, multiple: float) -> float:
    """The alternative `multiple` times `p0`, kept below 1: never above ``1 - (1 - p0) / multiple``."""
    return min(multiple * p0, 1.0 - (1.0 - p0) / multiple)


def log_mixture(errors: int, requests: int, p0: float) -> float:
    """The log of the mixture likelihood ratio of `errors` in `requests` against H0 "ratio <= p0"."""
    if requests <= 0 or p0 >= 1.0:
        return 0.0
    if p0 <= 0.0:
        return math.inf if errors > 0 else 0.0
    errors = max(0, min(errors, requests))
    terms = []
    for multiple, weight in MULTIPLES:
        p = alternative(p0, multiple)
        log_ratio = errors * math.log(p / p0) + (requests - errors) * (math.log1p(-p) - math.log1p(-p0))
        terms.append(math.log(weight) + log_ratio)
    peak = max(terms)
    return peak + math.log(sum(math.exp(term - peak) for term in terms))


@dataclass(frozen=True)
class Sequential:
    """One always-valid test at one look: its evidence, and whether it rejects H0 at `alpha`."""

    errors: int
    trials: int
    p0: float
    """The null's bound on the chance that one trial is an error (the SLO, or the canary's share)."""
    log_evidence: float
    alpha: float

    @property
    def rejects(self) -> bool:
        return self.log_evidence >= math.log(1.0 / self.alpha)

    @property
    def evidence(self) -> float:
        """The mixture likelihood ratio (1/alpha rejects), capped so that it prints."""
        return math.exp(min(self.log_evidence, 700.0))


def error_rate_test(errors: int, requests: int, max_error_rate: float, alpha: float) -> Sequential:
    """H0 "the canary's error ratio <= max_error_rate", on its errors and requests since the step began."""
    return Sequential(errors, requests, max_error_rate, log_mixture(errors, requests, max_error_rate), alpha)


def ratio_test(
    canary_errors: int,
    canary_requests: int,
    stable_errors: int,
    stable_requests: int,
    factor: float,
    alpha: float,
) -> Sequential:
    """H0 "the canary's error ratio <= factor x the stable's", on both revisions' counts in the step."""
    total = canary_errors + stable_errors
    if canary_requests <= 0 or stable_requests <= 0:
        return Sequential(canary_errors, total, 1.0, 0.0, alpha)
    share = factor * canary_requests / (factor * canary_requests + stable_requests)
    return Sequential(canary_errors, total, share, log_mixture(canary_errors, total, share), alpha)
