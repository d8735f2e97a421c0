"""One check per declared SLO, judged as its declaration says (`api.slos`). Pure: no I/O, no clock.

First the requests gate: fewer than ``minRequests`` requests in the window (at least one)
and no SLO is judged at all. Then each SLO, by its ``judged_by``:

* ``errorRate`` and ``errorRateVsStable``: the exact binomial tests of `stats` (the error-rate
  guard is explained there), on the canary's errors among its requests in the window; and, on
  the counts since the step started (when read), the always-valid tests of `sequential`: a
  breach they find fails the check `conclusive` (a rollback at once);
* ``threshold``: the value as Prometheus computes it (a ``histogram_quantile`` over the window's
  buckets, across the revision's pods) against the threshold, directly, once ``minRequests`` is
  met: a histogram quantile is already an aggregate of every request in the window, its error
  is dominated by the bucket boundaries rather than by sampling once there are ``minRequests``
  requests, and the raw observations a confidence interval would need are not in Prometheus.

Counts come from ``increase()``, which Prometheus extrapolates to the window's edges, so they
are rounded to whole requests. An empty result for the errors query while requests were served
means no 5xx series exist yet: zero errors.

A check that failed says so in one line, `Check.describe`: the SLO, what was measured against
the threshold, and the query; `without_queries` takes the queries out of such lines again.
"""

import math
import re
from dataclasses import dataclass
from typing import Literal, assert_never

from qwenops.analysis.queries import Measurement, Reading
from qwenops.analysis.sequential import Sequential, error_rate_test, ratio_test
from qwenops.analysis.stats import error_rate_p_value, ratio_p_value
from qwenops.api.probes import CHECK_NAMES as PROBE_CHECK_NAMES
from qwenops.api.slos import REQUESTS, SLO, SLOS, Unit
from qwenops.api.spec import Analysis

CheckOutcome = Literal["Passed", "Failed", "Inconclusive", "Error", "Skipped"]
"""A check's outcome; `Skipped` (the check does not apply to this reading) never sets the verdict."""

GATE = "minRequests"
"""The name of the requests gate's check (the spec field it reads)."""

QUERY_MARK = "; query: "
BREACHES_SEPARATOR = " | "
"""Between the `describe()` lines of the breached SLOs in one message."""


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
    conclusive: bool = False
    """Failed by the always-valid test of everything since the step started (`sequential`): a
    rollback at once, with no run of `failureLimit` failed readings behind it."""

    def describe(self) -> str:
        """`slo: detail; query: ...`, the line a rollback event carries (a probe check has no query)."""
        return f"{self.slo}: {self.detail}" + (f"{QUERY_MARK}{self.query}" if self.query else "")


# A query runs to the next breach (the separator, then an SLO's key) or to the end of the text:
# PromQL holding ` | x: ` stays whole.
_CHECK_NAMES = (*(slo.key for slo in SLOS), *PROBE_CHECK_NAMES)
_NEXT_BREACH = re.escape(BREACHES_SEPARATOR) + "(?:" + "|".join(map(re.escape, _CHECK_NAMES)) + "): "
_QUERY = re.compile(f"{re.escape(QUERY_MARK)}.*?(?={_NEXT_BREACH}|$)")


def without_queries(text: str) -> str:
    """A message without the PromQL of each breached SLO in it (the `describe()` lines it holds)."""
    return _QUERY.sub("", text)


@dataclass(frozen=True)
class Evidence:
    """What the checks of one reading share: the settings, both revisions' readings, and the gate."""

    analysis: Analysis
    canary: Reading
    stable: Reading | None
    gate: Check
    canary_step: Reading | None = None
    """The canary's `queries.STEP_COUNTS` since its step started (None: not read)."""
    stable_step: Reading | None = None

    @property
    def requests(self) -> int:
        return 0 if self.gate.value is None else int(self.gate.value)

    @property
    def alpha(self) -> float:
        return 1.0 - self.analysis.confidence

    def step_counts(self, slo: SLO, step: Reading | None) -> tuple[int, int] | None:
        """(errors, requests) of `slo` in `step`, since the step started; None: no evidence yet."""
        if step is None or slo.query not in step.measurements or REQUESTS not in step.measurements:
            return None
        requests = step[REQUESTS]
        if requests.error is not None or requests.value is None or not math.isfinite(requests.value):
            return None
        n = max(0, round(requests.value))
        errors = _count(step[slo.query], n)
        return None if isinstance(errors, str) or n <= 0 else (errors, n)

    def errors(self, slo: SLO) -> int | str:
        """The canary's errors that `slo` counts, at most its requests; the error text if the query failed."""
        return _count(self.canary[slo.query], self.requests)

    @property
    def open(self) -> bool:
        """Whether the gate lets the SLOs be judged."""
        return self.gate.outcome == "Passed"

    def held(self, slo: SLO, threshold: float, error: str | None) -> Check:
        """`slo`'s check when it cannot be judged: its query failed (`error`), or the gate is shut."""
        query = self.canary[slo.query].query
        if error is not None:
            return Check(slo.key, "Error", None, threshold, query, f"query failed: {error}")
        if self.gate.outcome == "Error":
            return Check(
                slo.key, "Inconclusive", None, threshold, query, "not judged: the requests query failed"
            )
        return Check(slo.key, "Inconclusive", None, threshold, query, f"not judged: {self.gate.detail}")


def requests_gate(analysis: Analysis, reading: Reading) -> Check:
    """Whether the canary served enough requests in the window for any SLO to be judged."""
    measurement, needed = reading[REQUESTS], analysis.min_requests
    window = analysis.window
    if measurement.error is not None:
        return Check(GATE, "Error", None, needed, measurement.query, f"query failed: {measurement.error}")
    value = measurement.value
    if value is None or not math.isfinite(value):
        # No series: no pod of the revision has answered an inference request yet.
        value = 0.0
    n = max(0, round(value))
    if n <= 0:
        detail = f"no requests in {window}: nothing to judge"
        return Check(GATE, "Inconclusive", 0.0, needed, measurement.query, detail)
    if n < needed:
        detail = f"{n} requests in {window} < {needed}: too few to judge"
        return Check(GATE, "Inconclusive", float(n), needed, measurement.query, detail)
    detail = f"{n} requests in {window} >= {needed}"
    return Check(GATE, "Passed", float(n), needed, measurement.query, detail)


def judge(slo: SLO, threshold: float, evidence: Evidence) -> Check:
    """`slo`'s check against `threshold`, as its declaration's `judged_by` says."""
    match slo.judged_by:
        case "errorRate":
            return _error_rate(slo, threshold, evidence)
        case "errorRateVsStable":
            return _error_rate_vs_stable(slo, threshold, evidence)
        case "threshold":
            return _threshold(slo, threshold, evidence)
        case unknown:
            assert_never(unknown)


def measured(slo: SLO, evidence: Evidence) -> float | None:
    """What `status.analysis` keeps of the canary for `slo` (whether or not the spec declares it)."""
    match slo.judged_by:
        case "errorRate":
            errors, n = evidence.errors(slo), evidence.requests
            return errors / n if isinstance(errors, int) and n > 0 else None
        case "errorRateVsStable":
            return None  # a comparison, not a measurement of the canary
        case "threshold":
            return evidence.canary[slo.query].value
        case unknown:
            assert_never(unknown)


def _count(measurement: Measurement, limit: int) -> int | str:
    """A whole count from an errors measurement, at most `limit`; the error text if it failed."""
    if measurement.error is not None:
        return measurement.error
    value = measurement.value
    if value is None or not math.isfinite(value):
        return 0  # no 5xx series yet: no errors
    return max(0, min(limit, round(value)))


def _error_rate(slo: SLO, threshold: float, evidence: Evidence) -> Check:
    errors, n, alpha = evidence.errors(slo), evidence.requests, evidence.alpha
    if isinstance(errors, str) or not evidence.open:
        return evidence.held(slo, threshold, errors if isinstance(errors, str) else None)
    query = evidence.canary[slo.query].query
    ratio = errors / n
    p_value = error_rate_p_value(errors, n, threshold)
    seen = f"error ratio {_pct(ratio)} ({errors} of {n} requests)"
    confidence = _pct(1 - alpha, digits=3)
    step = evidence.step_counts(slo, evidence.canary_step)
    if step is not None:
        test = error_rate_test(*step, threshold, alpha)
        since = f"since the step started {_pct(test.errors / test.trials)} ({test.errors} of {test.trials})"
        if test.rejects:
            detail = f"{since} > {_pct(threshold)}, conclusive at {confidence} confidence {_evidence(test)}"
            return Check(slo.key, "Failed", ratio, threshold, query, f"{detail}; in the window {seen}", True)
    if p_value <= alpha:
        detail = f"{seen} > {_pct(threshold)} at {confidence} confidence (p={p_value:.2g})"
        return Check(slo.key, "Failed", ratio, threshold, query, detail)
    if ratio > threshold:
        detail = (
            f"{seen} above {_pct(threshold)} but within chance at {confidence} confidence (p={p_value:.2g})"
        )
    else:
        detail = f"{seen} <= {_pct(threshold)}"
    return Check(slo.key, "Passed", ratio, threshold, query, detail)


def _error_rate_vs_stable(slo: SLO, factor: float, evidence: Evidence) -> Check:
    canary_errors, n, stable = evidence.errors(slo), evidence.requests, evidence.stable
    analysis, query = evidence.analysis, evidence.canary[slo.query].query
    if isinstance(canary_errors, str) or not evidence.open:
        return evidence.held(slo, factor, canary_errors if isinstance(canary_errors, str) else None)
    if stable is None:
        return Check(slo.key, "Skipped", None, factor, query, "no stable revision to compare with")
    if (failed := stable[REQUESTS].error) is not None:
        return Check(slo.key, "Error", None, factor, query, f"stable's {REQUESTS.key} query failed: {failed}")
    stable_requests = stable[REQUESTS].value
    stable_n = round(stable_requests) if stable_requests is not None and math.isfinite(stable_requests) else 0
    if stable_n < max(analysis.min_requests, 1):
        detail = (
            f"not applied: stable served {stable_n} requests in {analysis.window} < {analysis.min_requests}"
        )
        return Check(slo.key, "Skipped", None, factor, query, detail)
    stable_errors = _count(stable[slo.query], stable_n)
    if isinstance(stable_errors, str):
        detail = f"stable's {slo.query.key} query failed: {stable_errors}"
        return Check(slo.key, "Error", None, factor, query, detail)

    canary_ratio, stable_ratio = canary_errors / n, stable_errors / stable_n
    multiple = canary_ratio / stable_ratio if stable_ratio > 0 else None
    seen = (
        f"canary {_pct(canary_ratio)} ({canary_errors}/{n}) vs stable {_pct(stable_ratio)} "
        f"({stable_errors}/{stable_n})" + (f" = {multiple:.2f}x" if multiple is not None else "")
    )
    p_value = ratio_p_value(canary_errors, n, stable_errors, stable_n, factor)
    step = _step_ratio(slo, factor, evidence)
    if step is not None and step.rejects:
        detail = (
            f"since the step started canary {step.errors} of {step.trials} errors (share at most "
            f"{_pct(step.p0)} if within {factor:g}x), conclusive at {_pct(analysis.confidence, digits=3)} "
            f"confidence {_evidence(step)}; in the window {seen}"
        )
        return Check(slo.key, "Failed", multiple, factor, query, detail, True)
    if p_value <= evidence.alpha:
        detail = f"{seen} > {factor:g}x at {_pct(analysis.confidence, digits=3)} confidence (p={p_value:.2g})"
        return Check(slo.key, "Failed", multiple, factor, query, detail)
    return Check(slo.key, "Passed", multiple, factor, query, f"{seen}: within {factor:g}x (p={p_value:.2g})")


def _step_ratio(slo: SLO, factor: float, evidence: Evidence) -> Sequential | None:
    """The always-valid test of the canary's errors against the stable's since the step started."""
    canary = evidence.step_counts(slo, evidence.canary_step)
    stable = evidence.step_counts(slo, evidence.stable_step)
    if canary is None or stable is None:
        return None
    return ratio_test(*canary, *stable, factor, evidence.alpha)


def _evidence(test: Sequential) -> str:
    return f"(mixture likelihood ratio {test.evidence:.3g} >= {1 / test.alpha:g})"


def _threshold(slo: SLO, threshold: float, evidence: Evidence) -> Check:
    measurement = evidence.canary[slo.query]
    if measurement.error is not None or not evidence.open:
        return evidence.held(slo, threshold, measurement.error)
    value, query, limit = measurement.value, measurement.query, _amount(threshold, slo.unit, exact=True)
    if value is None or math.isnan(value):
        note = measurement.note or "empty result"
        detail = f"no {slo.label} samples in the window ({note})"
        return Check(slo.key, "Inconclusive", None, threshold, query, detail)
    if value > threshold:
        shown = "above the highest finite bucket" if math.isinf(value) else _amount(value, slo.unit)
        return Check(slo.key, "Failed", value, threshold, query, f"{slo.label} {shown} > {limit}")
    return Check(
        slo.key, "Passed", value, threshold, query, f"{slo.label} {_amount(value, slo.unit)} <= {limit}"
    )


def _amount(value: float, unit: Unit, *, exact: bool = False) -> str:
    """A measured value (three significant digits) or, `exact`, a threshold as the spec wrote it."""
    match unit:
        case "seconds":
            return f"{value:g}s" if exact else f"{value:.3g}s"
        case "multiple":
            return f"{value:g}x" if exact else f"{value:.2f}x"
        case "ratio":
            return _pct(value)
        case unknown:
            assert_never(unknown)


def _pct(value: float, digits: int = 2) -> str:
    text = f"{value * 100:.{digits}f}".rstrip("0").rstrip(".")
    return text + "%"
