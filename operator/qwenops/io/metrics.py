"""The operator's own metrics (prometheus-client), served on a port of their own."""

from contextlib import suppress

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from qwenops.api.status import Phase

ROLLBACKS = Counter(
    "qwenops_rollbacks_total",
    "Canaries rolled back, by reason (SLOBreached, ProgressDeadlineExceeded, VerificationFailed, Aborted).",
    ["namespace", "name", "reason"],
)
BREACH_TO_ROLLBACK = Histogram(
    "qwenops_breach_to_rollback_seconds",
    "From the first failed reading of a run to the rollback it caused (0: one conclusive reading).",
    buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 600),
)
CANARY_WEIGHT = Gauge(
    "qwenops_canary_weight_percent", "Share of traffic the canary gets now.", ["namespace", "name"]
)
PHASE = Gauge(
    "qwenops_phase",
    "1 for the QwenDeployment's current phase, 0 for the others.",
    ["namespace", "name", "phase"],
)
RECONCILE_SECONDS = Histogram(
    "qwenops_reconcile_duration_seconds",
    "Time of one reconcile, Prometheus queries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILE_ERRORS = Counter(
    "qwenops_reconcile_errors_total", "Reconciles that ended in an error, by kind.", ["kind"]
)


def serve(port: int) -> None:
    """Serve /metrics on `port` (0: don't serve)."""
    if port:
        start_http_server(port)


ROLLBACK_REASONS = ("SLOBreached", "ProgressDeadlineExceeded", "VerificationFailed", "Aborted")


def record_state(namespace: str, name: str, phase: Phase | None, weight: int) -> None:
    CANARY_WEIGHT.labels(namespace, name).set(weight)
    for reason in ROLLBACK_REASONS:  # at 0 from the start, so increase() sees the first rollback
        ROLLBACKS.labels(namespace, name, reason)
    for each in Phase:
        PHASE.labels(namespace, name, each.value).set(1 if each == phase else 0)


def forget(namespace: str, name: str) -> None:
    """Remove a deleted QwenDeployment's series."""
    with suppress(KeyError):
        CANARY_WEIGHT.remove(namespace, name)
    for each in Phase:
        with suppress(KeyError):
            PHASE.remove(namespace, name, each.value)
    for reason in ROLLBACK_REASONS:
        with suppress(KeyError):
            ROLLBACKS.remove(namespace, name, reason)
