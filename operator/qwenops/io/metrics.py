"""The operator's own metrics (prometheus-client), served on a port of their own.

`qwenops_revision_info` names each running revision's track and checkpoint, so that a dashboard
joins vLLM's series (labelled by revision, not track) to stable and canary; `qwenops_slo_threshold`
holds each SLO a QwenDeployment declares, so that a dashboard draws the spec's SLO, not a copy.
"""

from contextlib import suppress

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from qwenops.analysis.answers import ANSWER_CHECKS, ProbeResult
from qwenops.api.naming import TRACK_CANARY, TRACK_STABLE
from qwenops.api.slos import SLOS
from qwenops.api.spec import Analysis
from qwenops.api.status import Phase, QwenDeploymentStatus

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
GPUS_REQUESTED = Gauge(
    "qwenops_gpus_requested",
    "GPUs the QwenDeployment's pods ask for (Pending and terminating pods too), by track: stable, "
    "canary, warm (the previous revision's pods kept during a bake), or leaving (a removed "
    "revision's pods on their way out).",
    ["namespace", "name", "track"],
)
CAPACITY_MISSING = Gauge(
    "qwenops_capacity_missing_replicas",
    "Serving replicas missing below spec.replicas within a rollout's budget (status.capacity).",
    ["namespace", "name"],
)
GPU_TRACKS = ("stable", "canary", "warm", "leaving")
PROBES = Counter(
    "qwenops_probe_answers_total",
    "Answers to answer-quality probes, by revision track and result: passed, the first check that "
    "failed (status, content, specialToken, finishReason, json, toolCall, match), or noAnswer.",
    ["namespace", "name", "track", "result"],
)
RECONCILE_SECONDS = Histogram(
    "qwenops_reconcile_duration_seconds",
    "Time of one reconcile, Prometheus queries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILE_ERRORS = Counter(
    "qwenops_reconcile_errors_total", "Reconciles that ended in an error, by kind.", ["kind"]
)


REVISION_INFO = Gauge(
    "qwenops_revision_info",
    "1 for each revision the QwenDeployment runs, with its track (stable, canary) and checkpoint "
    "(the model's pinned commit); join vLLM's series on revision.",
    ["namespace", "name", "revision", "track", "checkpoint"],
)
SLO_THRESHOLD = Gauge(
    "qwenops_slo_threshold",
    "Each SLO the QwenDeployment declares (spec.rollout.analysis.slos), in the SLO's unit.",
    ["namespace", "name", "slo"],
)
_SHOWN: dict[tuple[str, str], set[tuple[str, ...]]] = {}
"""The revision and SLO series of each QwenDeployment now set, so that a pass removes the stale ones."""


def serve(port: int) -> None:
    """Serve /metrics on `port` (0: don't serve)."""
    if port:
        start_http_server(port)


PROBE_TRACKS = (TRACK_CANARY, TRACK_STABLE)
PROBE_RESULTS = ("passed", "noAnswer", *(name for name, _ in ANSWER_CHECKS))


def record_probe(namespace: str, name: str, track: str, result: ProbeResult) -> None:
    """Count one probe's answer under its result: passed, noAnswer, or its first failed check."""
    label = {"Passed": "passed", "Error": "noAnswer"}.get(result.result) or result.check or "failed"
    PROBES.labels(namespace, name, track, label).inc()


ROLLBACK_REASONS = ("SLOBreached", "ProgressDeadlineExceeded", "VerificationFailed", "Aborted")


def record_state(namespace: str, name: str, phase: Phase | None, weight: int) -> None:
    CANARY_WEIGHT.labels(namespace, name).set(weight)
    for reason in ROLLBACK_REASONS:  # at 0 from the start, so increase() sees the first rollback
        ROLLBACKS.labels(namespace, name, reason)
    for each in Phase:
        PHASE.labels(namespace, name, each.value).set(1 if each == phase else 0)


def record_gpus(namespace: str, name: str, by_track: dict[str, int], missing: int) -> None:
    """The GPUs each track's pods ask for, and the serving replicas missing."""
    for track in GPU_TRACKS:
        GPUS_REQUESTED.labels(namespace, name, track).set(by_track.get(track, 0))
    CAPACITY_MISSING.labels(namespace, name).set(missing)


def forget(namespace: str, name: str) -> None:
    """Remove a deleted QwenDeployment's series."""
    with suppress(KeyError):
        CANARY_WEIGHT.remove(namespace, name)
    with suppress(KeyError):
        CAPACITY_MISSING.remove(namespace, name)
    for track in GPU_TRACKS:
        with suppress(KeyError):
            GPUS_REQUESTED.remove(namespace, name, track)
    for each in Phase:
        with suppress(KeyError):
            PHASE.remove(namespace, name, each.value)
    for reason in ROLLBACK_REASONS:
        with suppress(KeyError):
            ROLLBACKS.remove(namespace, name, reason)
    for track in PROBE_TRACKS:
        for result in PROBE_RESULTS:
            with suppress(KeyError):
                PROBES.remove(namespace, name, track, result)
    for series in _SHOWN.pop((namespace, name), set()):
        _remove(namespace, name, series)


def revision_series(status: QwenDeploymentStatus) -> set[tuple[str, str, str]]:
    """(revision, track, checkpoint) of each revision the status says runs. The checkpoint is the
    pinned commit, not the model's name: the metrics carry names, enumerations and hashes, no spec text."""
    return {
        (each.revision, track, each.model.revision)
        for track, each in (("stable", status.stable), ("canary", status.canary))
        if each is not None
    }


def record_rollout(namespace: str, name: str, status: QwenDeploymentStatus, analysis: Analysis) -> None:
    """Set the revision and SLO series of one QwenDeployment after a pass; remove those gone."""
    revisions: set[tuple[str, ...]] = {("revision", *labels) for labels in revision_series(status)}
    thresholds = {slo.key: value for slo in SLOS if (value := analysis.slos.threshold(slo)) is not None}
    series = revisions | {("slo", key) for key in thresholds}
    for gone in _SHOWN.get((namespace, name), set()) - series:
        _remove(namespace, name, gone)
    for _, *labels in revisions:
        REVISION_INFO.labels(namespace, name, *labels).set(1)
    for key, value in thresholds.items():
        SLO_THRESHOLD.labels(namespace, name, key).set(value)
    _SHOWN[(namespace, name)] = series


def _remove(namespace: str, name: str, series: tuple[str, ...]) -> None:
    kind, *labels = series
    with suppress(KeyError):
        (REVISION_INFO if kind == "revision" else SLO_THRESHOLD).remove(namespace, name, *labels)
