"""Canary analysis: does one reading of the canary meet its SLOs? Pure: no I/O, no clock.

`queries.build_queries` turns the spec's analysis settings into the PromQL of one revision;
`io.prom.read_revision` runs it and returns a `queries.Reading`; `assess` judges the canary's
reading, and the stable's for relative limits, into a :class:`Verdict` with one
`checks.Check` per declared SLO (`api.slos`), each naming the SLO, the measured value, the
threshold and the query, so that a rollback can say exactly why.

Outcomes, strongest first (the verdict is the strongest outcome among its checks):

* ``Failed``: a check breached its SLO on sound data. Only ``Failed`` counts
  towards ``failureLimit``, and a breach conclusive on everything since the step
  started (`Verdict.conclusive`) needs no run of them; a breach is not hidden by
  an unrelated query failing.
* ``Error``: a query the verdict needs failed (Prometheus unreachable, timeout,
  HTTP or PromQL error, unparsable answer). An error is never a failure: it
  holds the step, like ``Inconclusive``, and says which query broke.
* ``Inconclusive``: the data is sound but too thin: fewer than ``minRequests``
  requests in the window (then no SLO is judged at all), or no latency samples.
* ``Passed``: every configured check passed.

The statistics behind each check (the exact binomial test of ``maxErrorRate``
at ``analysis.confidence``, the two-rate test of ``maxErrorRateVsStable``, why
the p95s are compared directly, and how counts are rounded) and what they cost
in false rollbacks and missed regressions are in docs/rollouts.md, "The
error-rate guard".
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from qwenops.analysis.checks import (
    BREACHES_SEPARATOR,
    GATE,
    Check,
    CheckOutcome,
    Evidence,
    judge,
    measured,
    requests_gate,
)
from qwenops.analysis.probe_checks import ProbeRun, probe_checks
from qwenops.analysis.queries import Reading
from qwenops.api.slos import SLO, SLOS
from qwenops.api.spec import Analysis
from qwenops.api.status import AnalysisReading, SLOReading

Outcome = Literal["Passed", "Failed", "Inconclusive", "Error"]
"""A verdict's outcome (the same words as `status.analysis.verdict`)."""

_STRENGTH: dict[CheckOutcome, int] = {"Skipped": 0, "Passed": 1, "Inconclusive": 2, "Error": 3, "Failed": 4}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    checks: tuple[Check, ...]
    requests: float | None = None
    readings: Mapping[SLO, float | None] = field(default_factory=dict)
    """The canary's measurement for each SLO that names a `reading` (declared or not)."""

    def with_outcome(self, outcome: CheckOutcome) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.outcome == outcome)

    @property
    def failed(self) -> tuple[Check, ...]:
        """The breached SLOs, each with its value, threshold and query."""
        return self.with_outcome("Failed")

    @property
    def conclusive(self) -> bool:
        """Whether a breach is conclusive on everything since the step started: a rollback at once."""
        return any(check.conclusive for check in self.failed)

    def as_status(self, at: datetime) -> AnalysisReading:
        """The reading as `status.analysis` records it (consecutive failures are the caller's)."""
        readings = {slo.reading: _finite(value) for slo, value in self.readings.items() if slo.reading}
        checks = [
            SLOReading(slo=c.slo, outcome=c.outcome, value=_finite(c.value), threshold=c.threshold)
            for c in self.checks
            if c.slo != GATE
        ]
        return AnalysisReading.model_validate(
            {
                "at": at,
                "requests": _finite(self.requests),
                "verdict": self.outcome,
                "conclusive": self.conclusive,
                "checks": checks,
                "message": self.message,
                **readings,
            }
        )


def assess(
    analysis: Analysis,
    canary: Reading,
    stable: Reading | None = None,
    probes: ProbeRun | None = None,
    *,
    canary_step: Reading | None = None,
    stable_step: Reading | None = None,
) -> Verdict:
    """Judge the canary's reading (and the stable's, for `maxErrorRateVsStable`) against the SLOs,
    and its probes' answers (`probes`, when the spec declares probes) against the probe SLOs.

    `canary_step` and `stable_step` are the counts since the step started (`queries.STEP_COUNTS`),
    judged by the always-valid tests of `sequential` besides the window's. The probes are judged
    whatever the requests gate says: they are the operator's own requests, their count does not
    depend on the canary's traffic."""
    gate = requests_gate(analysis, canary)
    evidence = Evidence(analysis, canary, stable, gate, canary_step, stable_step)
    checks = [gate]
    for slo in SLOS:
        threshold = analysis.slos.threshold(slo)
        if threshold is not None:
            checks.append(judge(slo, threshold, evidence))
    if analysis.probes is not None and probes is not None:
        checks.extend(probe_checks(analysis.probes, probes, analysis.confidence))
    outcome = _verdict_outcome(checks)
    return Verdict(
        outcome=outcome,
        message=_message(outcome, checks, analysis, evidence.requests if gate.value is not None else None),
        checks=tuple(checks),
        requests=gate.value,
        readings={slo: measured(slo, evidence) for slo in SLOS if slo.reading},
    )


def _verdict_outcome(checks: list[Check]) -> Outcome:
    strongest = max((check.outcome for check in checks), key=_STRENGTH.__getitem__)
    return "Passed" if strongest == "Skipped" else strongest


def _message(outcome: Outcome, checks: list[Check], analysis: Analysis, n: int | None) -> str:
    def of(kind: CheckOutcome) -> list[Check]:
        return [check for check in checks if check.outcome == kind]

    if outcome == "Failed":
        breaches = BREACHES_SEPARATOR.join(c.describe() for c in of("Failed"))
        return f"SLO breached over {analysis.window}: {breaches}"
    if outcome == "Error":
        return "cannot judge: " + "; ".join(f"{c.slo}: {c.detail}" for c in of("Error"))
    if outcome == "Inconclusive":
        gate = checks[0]
        if gate.outcome == "Inconclusive":
            return f"inconclusive: {gate.detail}"
        return "inconclusive: " + "; ".join(f"{c.slo}: {c.detail}" for c in of("Inconclusive"))
    judged = [f"{c.slo}: {c.detail}" for c in checks[1:] if c.outcome == "Passed"]
    skipped = [f"{c.slo}: {c.detail}" for c in of("Skipped")]
    declared = len(checks) > 1
    head = (
        f"SLOs met over {analysis.window} ({n} requests)" if declared else f"no SLO declared ({n} requests)"
    )
    return "; ".join([head, *judged, *skipped])


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
