"""False alarms and detection of the canary analysis' error-rate guard, by simulation.

    python bench/false_alarms.py [--canaries 2000] [--seed 1] [--readings 10]

No network, no Prometheus: each simulated canary is a sequence of readings
judged by the real `qwenops.analysis.verdict.assess`, with `failureLimit`
semantics as the rollout applies them (a rollback needs `failureLimit`
consecutive Failed readings, or one conclusive on everything since the step
started; Passed resets the run, Inconclusive and Error hold it).

How readings are modelled. The analysis reads a `window` (2m) every
`interval` (30s), so consecutive windows overlap by 3/4 and their verdicts are
correlated: a burst of errors stays in four readings in a row. The simulation
keeps that structure exactly: time is cut into 30 s slices, each slice gets
`n/4` requests (steady traffic) and Binomial(`n/4`, `p`) errors (independent
requests with true error ratio `p`), and reading `j` sums slices `j .. j+3`,
the same window the PromQL `increase(...[2m])` would see; the counts since the
step started, which the always-valid test judges, sum slices 0 .. j+3 (the step
began with the first reading's window). A canary step is `--readings` readings
(10: a 5-minute pause at a 30 s interval).

The table, per traffic level (`n` requests per window) and true error ratio:

* reading fails: the share of single readings that are Failed;
* rollback (fl=2): the share of canaries rolled back within the step with
  failureLimit=2: a false rollback for a healthy canary, a detection for a
  regressed one; "window only" is the same without the counts since the step
  started (the guard before the always-valid test), from the same draws;
* naive: the same two figures for the guard this replaces, "observed k/n
  above maxErrorRate fails" (below minRequests: inconclusive, as ours);
* naive, no minimum: that rule where too little traffic is no excuse, as in
  tools that fail a reading for missing or scant data;
* readings to rollback: the median number of readings until the rollback,
  among canaries rolled back.
"""

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from datetime import timedelta

from qwenops.analysis.queries import Reading, build_queries, build_step_queries
from qwenops.analysis.verdict import Outcome, Verdict, assess
from qwenops.api.spec import Analysis

SLICES_PER_WINDOW = 4  # window 2m / interval 30s
SLO = 0.01
TRAFFIC = (20, 50, 100, 200, 500, 1000, 5000)
"""Requests per window; 20 and 50 are below minRequests: a low-traffic canary."""
RATES = ((0.005, "healthy"), (0.01, "healthy (at SLO)"), (0.02, "regressed 2x"), (0.05, "regressed 5x"))

ANALYSIS = Analysis.model_validate(
    {
        "window": "2m",
        "interval": "30s",
        "minRequests": 100,
        "failureLimit": 2,
        "confidence": 0.99,
        "slos": {"maxErrorRate": SLO},
    }
)
CANARY_QUERIES = build_queries(ANALYSIS, namespace="bench", deployment="chat", revision="canary")
STABLE_QUERIES = build_queries(ANALYSIS, namespace="bench", deployment="chat", revision="stable")
_AGE = timedelta(minutes=5)  # the step queries' text only; the counts are the simulation's
CANARY_STEP = build_step_queries(ANALYSIS, namespace="bench", deployment="chat", revision="canary", age=_AGE)
STABLE_STEP = build_step_queries(ANALYSIS, namespace="bench", deployment="chat", revision="stable", age=_AGE)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw by inversion (expected n·p steps; p is small here)."""
    if p <= 0 or n <= 0:
        return 0
    u = rng.random()
    q = 1.0 - p
    term = q**n
    cumulative, k = term, 0
    while u > cumulative and k < n:
        term *= (n - k) / (k + 1) * p / q
        k += 1
        cumulative += term
    return k


Counts = tuple[int, int]
"""(requests, errors)"""


def window_counts(rng: random.Random, n: int, p: float, readings: int) -> list[tuple[Counts, Counts]]:
    """(window, since the step started) counts of each reading: reading j's window sums slices
    j .. j+3, its counts since the step started slices 0 .. j+3."""
    per_slice = n // SLICES_PER_WINDOW
    errors = [binomial(rng, per_slice, p) for _ in range(readings + SLICES_PER_WINDOW - 1)]
    return [
        (
            (per_slice * SLICES_PER_WINDOW, sum(errors[j : j + SLICES_PER_WINDOW])),
            (per_slice * (j + SLICES_PER_WINDOW), sum(errors[: j + SLICES_PER_WINDOW])),
        )
        for j in range(readings)
    ]


Judged = tuple[Outcome, bool]
"""A reading's outcome, and whether it is conclusive (a rollback at once)."""


def rollback_at(outcomes: Sequence[Outcome | Judged], failure_limit: int) -> int | None:
    """The 1-based reading at which the rollout rolls back, or None (`policy.readings.record` and
    `policy.rollback.on_reading`)."""
    failures = 0
    for index, judged in enumerate(outcomes, start=1):
        outcome, conclusive = judged if isinstance(judged, tuple) else (judged, False)
        if outcome == "Failed":
            failures += 1
        elif outcome == "Passed":
            failures = 0
        if failures >= failure_limit or (outcome == "Failed" and conclusive):
            return index
    return None


def judged(verdict: Verdict) -> Judged:
    return verdict.outcome, verdict.conclusive


def guarded(analysis: Analysis, *, step: bool = True) -> Callable[[Counts, Counts], Judged]:
    """The real `assess` of one reading; `step=False`: the window alone (the guard before)."""

    def judge(window: Counts, since: Counts) -> Judged:
        canary = Reading.of(CANARY_QUERIES, requests=window[0], errors=window[1])
        canary_step = Reading.of(CANARY_STEP, requests=since[0], errors=since[1]) if step else None
        return judged(assess(analysis, canary, canary_step=canary_step))

    return judge


def naive(requests: int, errors: int) -> Outcome:
    if requests < ANALYSIS.min_requests:
        return "Inconclusive"
    return bare(requests, errors)


def bare(requests: int, errors: int) -> Outcome:
    """The naive rule with no minimum: a few requests with one error fail the reading."""
    return "Failed" if requests and errors / requests > SLO else "Passed"


@dataclass
class Row:
    n: int
    rate: float
    label: str
    reading_fails: float
    rollbacks: float
    window_rollbacks: float
    naive_reading_fails: float
    naive_rollbacks: float
    bare_rollbacks: float
    median_readings: float | None
    window_median_readings: float | None


def simulate(n: int, rate: float, label: str, canaries: int, readings: int, seed: int) -> Row:
    rng = random.Random(f"{seed}/{n}/{rate}")
    judge, window_only = guarded(ANALYSIS), guarded(ANALYSIS, step=False)
    limit = ANALYSIS.failure_limit
    fails = naive_fails = rolled = window_rolled = naive_rolled = bare_rolled = 0
    when: list[int] = []
    window_when: list[int] = []
    for _ in range(canaries):
        counts = window_counts(rng, n, rate, readings)
        windows = [window for window, _ in counts]
        outcomes = [judge(window, since) for window, since in counts]
        naive_outcomes = [naive(requests, errors) for requests, errors in windows]
        fails += [outcome for outcome, _ in outcomes].count("Failed")
        naive_fails += naive_outcomes.count("Failed")
        at = rollback_at(outcomes, limit)
        if at is not None:
            rolled += 1
            when.append(at)
        before = rollback_at([window_only(window, since) for window, since in counts], limit)
        if before is not None:
            window_rolled += 1
            window_when.append(before)
        naive_rolled += rollback_at(naive_outcomes, limit) is not None
        bare_outcomes = [bare(requests, errors) for requests, errors in windows]
        bare_rolled += rollback_at(bare_outcomes, limit) is not None
    total = canaries * readings
    return Row(
        n,
        rate,
        label,
        fails / total,
        rolled / canaries,
        window_rolled / canaries,
        naive_fails / total,
        naive_rolled / canaries,
        bare_rolled / canaries,
        statistics.median(when) if when else None,
        statistics.median(window_when) if window_when else None,
    )


def vs_stable(canaries: int, readings: int, seed: int) -> list[tuple[int, float, str, float, float, float]]:
    """maxErrorRateVsStable=2 with the stable at 0.5 % and 9x the canary's traffic (a 10 % canary)."""
    spec = Analysis.model_validate(
        {"window": "2m", "minRequests": 100, "failureLimit": 2, "slos": {"maxErrorRateVsStable": 2}}
    )
    rows = []
    for n in (200, 1000, 5000):
        for rate, label in ((0.005, "same as stable"), (0.01, "2x stable (at limit)"), (0.025, "5x stable")):
            rng = random.Random(f"{seed}/vs/{n}/{rate}")
            fails = rolled = window_rolled = 0
            for _ in range(canaries):
                canary = window_counts(rng, n, rate, readings)
                stable = window_counts(rng, 9 * n, 0.005, readings)
                outcomes: list[Judged] = []
                window_only: list[Judged] = []
                for ((cn, ck), (scn, sck)), ((sn, sk), (ssn, ssk)) in zip(canary, stable, strict=True):
                    windows = (
                        Reading.of(CANARY_QUERIES, requests=cn, errors=ck),
                        Reading.of(STABLE_QUERIES, requests=sn, errors=sk),
                    )
                    steps = {
                        "canary_step": Reading.of(CANARY_STEP, requests=scn, errors=sck),
                        "stable_step": Reading.of(STABLE_STEP, requests=ssn, errors=ssk),
                    }
                    outcomes.append(judged(assess(spec, *windows, **steps)))
                    window_only.append(judged(assess(spec, *windows)))
                fails += [outcome for outcome, _ in outcomes].count("Failed")
                rolled += rollback_at(outcomes, 2) is not None
                window_rolled += rollback_at(window_only, 2) is not None
            rows.append(
                (n, rate, label, fails / (canaries * readings), rolled / canaries, window_rolled / canaries)
            )
    return rows


def pct(value: float) -> str:
    return f"{value * 100:6.2f} %"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--canaries", type=int, default=2000, help="simulated canaries per row (default 2000)"
    )
    parser.add_argument("--readings", type=int, default=10, help="readings per canary step (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.canaries < 1 or args.readings < 1:
        parser.error("--canaries and --readings must be at least 1")

    print(
        f"maxErrorRate {SLO:.0%}, confidence {ANALYSIS.confidence}, minRequests {ANALYSIS.min_requests}, "
        f"window {ANALYSIS.window} read every {ANALYSIS.interval} (windows overlap 3/4), "
        f"failureLimit {ANALYSIS.failure_limit}, {args.readings} readings per step, "
        f"{args.canaries} canaries per row, seed {args.seed}"
    )
    header = (
        "| requests/window | true error ratio | canary           | reading fails | rollback (fl=2) "
        "| window only: rollback | naive: reading fails | naive: rollback | naive, no minimum: rollback "
        "| readings to rollback (median) | window only: readings to rollback |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for n in TRAFFIC:
        for rate, label in RATES:
            row = simulate(n, rate, label, args.canaries, args.readings, args.seed)
            median = "-" if row.median_readings is None else f"{row.median_readings:g}"
            before = "-" if row.window_median_readings is None else f"{row.window_median_readings:g}"
            print(
                f"| {row.n:>15} | {row.rate * 100:>14.1f} % | {row.label:<16} | {pct(row.reading_fails):>13} "
                f"| {pct(row.rollbacks):>15} | {pct(row.window_rollbacks):>21} "
                f"| {pct(row.naive_reading_fails):>20} "
                f"| {pct(row.naive_rollbacks):>15} | {pct(row.bare_rollbacks):>27} | {median:>29} "
                f"| {before:>33} |",
                flush=True,
            )

    print()
    print("maxErrorRateVsStable 2, stable at 0.5 % with 9x the canary's traffic, failureLimit 2")
    print()
    print(
        "| canary requests/window | canary error ratio | canary               | reading fails | rollback "
        "| window only: rollback |"
    )
    print(
        "|------------------------|--------------------|----------------------|---------------|----------"
        "|-----------------------|"
    )
    for n, rate, label, fails, rolled, before in vs_stable(
        max(1, args.canaries // 2), args.readings, args.seed
    ):
        print(
            f"| {n:>22} | {rate * 100:>16.1f} % | {label:<20} | {pct(fails):>13} | {pct(rolled):>8} "
            f"| {pct(before):>21} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
