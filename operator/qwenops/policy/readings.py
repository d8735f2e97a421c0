"""The analysis gate: when the canary's SLOs are read, and what a reading does to its record.

A reading is due once per `analysis.interval` while a step's weight is in
effect, and never while the canary is promoting (every step passed) or before
its pods carry any weight; after a promotion, once per interval while its bake
lasts (the new stable read against the previous revision). Passed resets the run of failures, Failed extends
it, and Inconclusive and Error hold it: they neither count nor reset.
"""

from dataclasses import dataclass
from datetime import datetime

from qwenops.api.durations import parse_duration
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import AnalysisReading, Condition, ConditionType, QwenDeploymentStatus, with_condition


def analysis_due(spec: QwenDeploymentSpec, status: QwenDeploymentStatus, now: datetime) -> bool:
    """Whether the running canary's step wants a reading now."""
    canary = status.canary
    analysis = spec.rollout.analysis
    if analysis.prometheus is None or canary is None or canary.step_started_at is None or canary.promoting:
        return False
    last = status.analysis
    if last is None or last.at < canary.step_started_at:
        return True
    return now - last.at >= parse_duration(analysis.interval)


@dataclass(frozen=True)
class Comparison:
    """The two revisions a reading compares."""

    canary: str
    stable: str
    step_started_at: datetime
    """Since when the always-valid tests count the step's requests."""


def reading_due(
    spec: QwenDeploymentSpec, target: str, status: QwenDeploymentStatus, now: datetime
) -> Comparison | None:
    """What to read this pass, if a reading is due: only for a canary of the revision served, or
    for the new stable while its bake lasts."""
    canary, stable = status.canary, status.stable
    if status.bake is not None and stable is not None and canary is None and target == stable.revision:
        return _bake_reading(spec, status, now)
    if canary is None or stable is None or canary.revision != target or not analysis_due(spec, status, now):
        return None
    assert canary.step_started_at is not None  # analysis_due() says no reading before a step starts
    return Comparison(canary=canary.revision, stable=stable.revision, step_started_at=canary.step_started_at)


def _bake_reading(spec: QwenDeploymentSpec, status: QwenDeploymentStatus, now: datetime) -> Comparison | None:
    bake, stable, last = status.bake, status.stable, status.analysis
    assert bake is not None and stable is not None
    if spec.rollout.analysis.prometheus is None or now >= bake.until:
        return None
    interval = parse_duration(spec.rollout.analysis.interval)
    due = last is None or last.at < bake.started_at or now - last.at >= interval
    return Comparison(stable.revision, bake.revision, bake.started_at) if due else None


@dataclass(frozen=True)
class Recorded:
    """A reading as kept in status, and the conditions it set."""

    analysis: AnalysisReading
    conditions: list[Condition]


def record(
    reading: AnalysisReading,
    last: AnalysisReading | None,
    conditions: list[Condition],
    now: datetime,
    generation: int | None,
) -> Recorded:
    """The new reading, with the run of consecutive failures it extends or ends."""
    previous = last.consecutive_failures if last else 0
    if reading.verdict == "Failed":
        failures = previous + 1
    elif reading.verdict == "Passed":
        failures = 0
    else:  # Inconclusive and Error hold: they neither count nor reset
        failures = previous
    previous_first = last.first_failed_at if last else None
    first_failed_at = None if failures == 0 else (previous_first if previous else reading.at)
    recorded = reading.model_copy(
        update={"consecutive_failures": failures, "first_failed_at": first_failed_at}
    )
    held = reading.verdict in ("Inconclusive", "Error")
    conditions = with_condition(
        conditions, ConditionType.ANALYSIS_INCONCLUSIVE, "True" if held else "False",
        "Reading" + reading.verdict, reading.message if held else "", now=now, generation=generation,
    )  # fmt: skip
    if reading.verdict == "Failed":
        conditions = with_condition(
            conditions, ConditionType.SLO_BREACHED, "True", "ReadingFailed", reading.message,
            now=now, generation=generation,
        )  # fmt: skip
    elif reading.verdict == "Passed":
        conditions = with_condition(
            conditions, ConditionType.SLO_BREACHED, "False", "ReadingPassed", "",
            now=now, generation=generation,
        )  # fmt: skip
    return Recorded(recorded, conditions)


def step_passed(
    spec: QwenDeploymentSpec, analysis: AnalysisReading | None, step_started_at: datetime
) -> bool:
    """Whether the step may end on its pause: no analysis asked, or a Passed reading of this step."""
    if spec.rollout.analysis.prometheus is None:
        return True
    return analysis is not None and analysis.verdict == "Passed" and analysis.at >= step_started_at
