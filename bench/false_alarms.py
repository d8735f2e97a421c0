"""False alarms and detection of the canary analysis' error-rate guard, by simulation.

    python bench/false_alarms.py [--canaries 2000] [--seed 1] [--readings 10]

No network, no Prometheus: each simulated canary is a sequence of readings
judged by the real `qwenops.analysis.verdict.assess`, with `failureLimit`
semantics as the rollout applies them (a rollback needs `failureLimit`
consecutive Failed readings; Passed resets the run, Inconclusive and Error
hold it).

How readings are modelled. The analysis reads a `window` (2m) every
`interval` (30s), so consecutive windows overlap by 3/4 and their verdicts are
correlated: a burst of errors stays in four readings in a row. The simulation
keeps that structure exactly: time is cut into 30 s slices, each slice gets
`n/4` requests (steady traffic) and Binomial(`n/4`, `p`) errors (independent
requests with true error ratio `p`), and reading `j` sums slices `j .. j+3`,
the same window the PromQL `increase(...[2m])` would see. A canary step is
`--readings` readings (10: a 5-minute pause at a 30 s interval).

The table, per traffic level (`n` requests per window) and true error ratio:

* reading fails: the share of single readings that are Failed;
* rollback (fl=2): the share of canaries rolled back within the step with
  failureLimit=2: a false rollback for a healthy canary, a detection for a
  regressed one;
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

from qwenops.analysis.queries import Reading, build_queries
from qwenops.analysis.verdict import Outcome, assess
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


def window_counts(rng: random.Random, n: int, p: float, readings: int) -> list[tuple[int, int]]:
    """(requests, errors) of each overlapping window: reading j sums slices j .. j+3."""
    per_slice = n // SLICES_PER_WINDOW
    errors = [binomial(rng, per_slice, p) for _ in range(readings + SLICES_PER_WINDOW - 1)]
    return [(per_slice * SLICES_PER_WINDOW, sum(errors[j : j + SLICES_PER_WINDOW])) for j in range(readings)]


def rollback_at(outcomes: Sequence[Outcome], failure_limit: int) -> int | None:
    """The 1-based reading at which the rollout rolls back, or None (rollout._record's counting)."""
    failures = 0
    for index, outcome in enumerate(outcomes, start=1):
        if outcome == "Failed":
            failures += 1
        elif outcome == "Passed":
            failures = 0
        if failures >= failure_limit:
            return index
    return None


def guarded(analysis: Analysis) -> Callable[[int, int], Outcome]:
    def judge(requests: int, errors: int) -> Outcome:
        return assess(analysis, Reading.of(CANARY_QUERIES, requests=requests, errors=errors)).outcome

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
    naive_reading_fails: float
    naive_rollbacks: float
    bare_rollbacks: float
    median_readings: float | None


def simulate(n: int, rate: float, label: str, canaries: int, readings: int, seed: int) -> Row:
    rng = random.Random(f"{seed}/{n}/{rate}")
    judge = guarded(ANALYSIS)
    limit = ANALYSIS.failure_limit
    fails = naive_fails = rolled = naive_rolled = bare_rolled = 0
    when: list[int] = []
    for _ in range(canaries):
        windows = window_counts(rng, n, rate, readings)
        outcomes = [judge(requests, errors) for requests, errors in windows]
        naive_outcomes = [naive(requests, errors) for requests, errors in windows]
        fails += outcomes.count("Failed")
        naive_fails += naive_outcomes.count("Failed")
        at = rollback_at(outcomes, limit)
        if at is not None:
            rolled += 1
            when.append(at)
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
        naive_fails / total,
        naive_rolled / canaries,
        bare_rolled / canaries,
        statistics.median(when) if when else None,
    )


def vs_stable(canaries: int, readings: int, seed: int) -> list[tuple[int, float, str, float, float]]:
    """maxErrorRateVsStable=2 with the stable at 0.5 % and 9x the canary's traffic (a 10 % canary)."""
    spec = Analysis.model_validate(
        {"window": "2m", "minRequests": 100, "failureLimit": 2, "slos": {"maxErrorRateVsStable": 2}}
    )
    rows = []
    for n in (200, 1000, 5000):
        for rate, label in ((0.005, "same as stable"), (0.01, "2x stable (at limit)"), (0.025, "5x stable")):
            rng = random.Random(f"{seed}/vs/{n}/{rate}")
            fails = rolled = 0
            for _ in range(canaries):
                canary = window_counts(rng, n, rate, readings)
                stable = window_counts(rng, 9 * n, 0.005, readings)
                outcomes = [
                    assess(
                        spec,
                        Reading.of(CANARY_QUERIES, requests=cn, errors=ck),
                        Reading.of(STABLE_QUERIES, requests=sn, errors=sk),
                    ).outcome
                    for (cn, ck), (sn, sk) in zip(canary, stable, strict=True)
                ]
                fails += outcomes.count("Failed")
                rolled += rollback_at(outcomes, 2) is not None
            rows.append((n, rate, label, fails / (canaries * readings), rolled / canaries))
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
        "| naive: reading fails | naive: rollback | naive, no minimum: rollback "
        "| readings to rollback (median) |"
    )
    print()
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for n in TRAFFIC:
        for rate, label in RATES:
            row = simulate(n, rate, label, args.canaries, args.readings, args.seed)
            median = "-" if row.median_readings is None else f"{row.median_readings:g}"
            print(
                f"| {row.n:>15} | {row.rate * 100:>14.1f} % | {row.label:<16} | {pct(row.reading_fails):>13} "
                f"| {pct(row.rollbacks):>15} | {pct(row.naive_reading_fails):>20} "
                f"| {pct(row.naive_rollbacks):>15} | {pct(row.bare_rollbacks):>27} | {median:>29} |"
            )

    print()
    print("maxErrorRateVsStable 2, stable at 0.5 % with 9x the canary's traffic, failureLimit 2")
    print()
    print("| canary requests/window | canary error ratio | canary               | reading fails | rollback |")
    print("|------------------------|--------------------|----------------------|---------------|----------|")
    for n, rate, label, fails, rolled in vs_stable(max(1, args.canaries // 2), args.readings, args.seed):
        print(f"| {n:>22} | {rate * 100:>16.1f} % | {label:<20} | {pct(fails):>13} | {pct(rolled):>8} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
