"""The probe SLOs: the share of the canary's probe answers that passed, alone and against the stable's.

Both are judged with the error rate's statistical guard (`stats`), a failed answer counting as
an error: `probes.minPassRate` by the one-sided exact binomial test of H0 "the canary's failure
ratio <= 1 - minPassRate" at `analysis.confidence` (at the default 1, one failed answer is a
breach: at temperature 0 a sound revision answers its probes the same way every time), and
`probes.maxFailureRateVsStable` by the two-rate test of `maxErrorRateVsStable`. Probes that got
no answer (a timeout, a refused connection) count for neither: none answered is an `Error`,
which holds the step as a failed query does. Pure: no I/O, no clock.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from qwenops.analysis.answers import ProbeResult
from qwenops.analysis.checks import Check
from qwenops.analysis.stats import error_rate_p_value, ratio_p_value
from qwenops.api.probes import MAX_FAILURE_RATE_VS_STABLE, MIN_PASS_RATE, Probes

SHOWN_FAILURES = 3
"""How many failed probes a check's detail names (each with its answer's first characters)."""


@dataclass(frozen=True)
class ProbeRun:
    """The results of one reading's probes: the canary's, and the stable's (None: not sent)."""

    canary: tuple[ProbeResult, ...]
    stable: tuple[ProbeResult, ...] | None = None


@dataclass(frozen=True)
class _Tally:
    failed: int
    answered: int

    @classmethod
    def of(cls, results: Sequence[ProbeResult]) -> "_Tally":
        answered = [r for r in results if r.result != "Error"]
        return cls(sum(r.result == "Failed" for r in answered), len(answered))

    @property
    def pass_rate(self) -> float:
        return (self.answered - self.failed) / self.answered


def probe_checks(probes: Probes, run: ProbeRun, confidence: float) -> list[Check]:
    """The probe SLO's check, and the comparison's when the spec declares one."""
    checks = [_min_pass_rate(probes, run.canary, confidence)]
    if probes.max_failure_rate_vs_stable is not None:
        checks.append(_vs_stable(probes.max_failure_rate_vs_stable, run, confidence))
    return checks


def _failures(results: Sequence[ProbeResult]) -> str:
    failed = [r.describe() for r in results if r.result == "Failed"]
    more = f"; and {len(failed) - SHOWN_FAILURES} more" if len(failed) > SHOWN_FAILURES else ""
    return "; ".join(failed[:SHOWN_FAILURES]) + more


def _unanswered(results: Sequence[ProbeResult]) -> str:
    return "no probe answered: " + "; ".join(r.describe() for r in results[:SHOWN_FAILURES])


def _min_pass_rate(probes: Probes, results: Sequence[ProbeResult], confidence: float) -> Check:
    threshold = probes.min_pass_rate
    tally = _Tally.of(results)
    if tally.answered == 0:
        return Check(MIN_PASS_RATE, "Error", None, threshold, "", _unanswered(results))
    rate = tally.pass_rate
    seen = f"{tally.answered - tally.failed} of {tally.answered} probes passed"
    p_value = error_rate_p_value(tally.failed, tally.answered, 1 - threshold)
    if p_value <= 1 - confidence:
        detail = f"{seen}, < {threshold:g} at {confidence:g} confidence: {_failures(results)}"
        return Check(MIN_PASS_RATE, "Failed", rate, threshold, "", detail)
    if tally.failed:
        detail = f"{seen}: within chance of {threshold:g} (p={p_value:.2g}): {_failures(results)}"
        return Check(MIN_PASS_RATE, "Passed", rate, threshold, "", detail)
    return Check(MIN_PASS_RATE, "Passed", rate, threshold, "", seen)


def _vs_stable(factor: float, run: ProbeRun, confidence: float) -> Check:
    canary = _Tally.of(run.canary)
    if canary.answered == 0:
        return Check(MAX_FAILURE_RATE_VS_STABLE, "Error", None, factor, "", _unanswered(run.canary))
    stable = _Tally.of(run.stable) if run.stable is not None else _Tally(0, 0)
    if stable.answered == 0:
        detail = "no stable revision answered a probe to compare with"
        return Check(MAX_FAILURE_RATE_VS_STABLE, "Skipped", None, factor, "", detail)
    canary_ratio, stable_ratio = canary.failed / canary.answered, stable.failed / stable.answered
    multiple = canary_ratio / stable_ratio if stable_ratio > 0 else None
    seen = (
        f"canary failed {canary.failed}/{canary.answered} probes vs stable {stable.failed}/{stable.answered}"
        + (f" = {multiple:.2f}x" if multiple is not None else "")
    )
    p_value = ratio_p_value(canary.failed, canary.answered, stable.failed, stable.answered, factor)
    if p_value <= 1 - confidence:
        at = f"at {confidence:g} confidence (p={p_value:.2g})"
        detail = f"{seen} > {factor:g}x {at}: {_failures(run.canary)}"
        return Check(MAX_FAILURE_RATE_VS_STABLE, "Failed", multiple, factor, "", detail)
    detail = f"{seen}: within {factor:g}x (p={p_value:.2g})"
    return Check(MAX_FAILURE_RATE_VS_STABLE, "Passed", multiple, factor, "", detail)
