"""QwenDeployments as the API returns them, at the moments `kubectl qwen` is run on call.

Each status is built from the operator's own models and dumped the way
`reconcile.py` writes it (camelCase, no nulls), so a fixture that drifts from
the status model fails here first.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import (
    AnalysisReading,
    BakeStatus,
    CanaryRevision,
    Condition,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    SLOReading,
    StableRevision,
    StartupStatus,
)

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
NS, NAME = "llm", "chat"
STABLE, CANARY, OLDER, REJECTED = "7d9f4c2a1b", "a1b2c3d4e5", "5e6f7a8b9c", "b7c8d9e0f1"
STABLE_COMMIT, CANARY_COMMIT, OLDER_COMMIT = "9c925d6" + "4" * 33, "1f2e3d4" + "c" * 33, "0a1b2c3" + "d" * 33

SLOS = {
    "maxErrorRate": 0.01,
    "p95LatencySeconds": 10,
    "p95TimeToFirstTokenSeconds": 1,
    "maxErrorRateVsStable": 2,
}


def spec(commit: str = CANARY_COMMIT, slos: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A spec as stored: three steps, the last one waiting for a person, and every SLO declared."""
    raw: dict[str, Any] = {
        "model": {"name": "Qwen/Qwen3-8B", "revision": commit, "servedModelName": "qwen3-8b"},
        "nodePool": {"nodeSelector": {"gpu-pool": "h100"}},
        "replicas": 2,
        "rollout": {
            "steps": [{"weight": 10, "pause": "5m"}, {"weight": 50, "pause": "10m"}, {"weight": 80}],
            "analysis": {
                "prometheus": {"url": "http://prometheus.monitoring:9090"},
                "interval": "30s",
                "window": "2m",
                "minRequests": 100,
                "failureLimit": 2,
                "slos": SLOS if slos is None else slos,
            },
        },
        **changes,
    }
    QwenDeploymentSpec.model_validate(raw)  # a spec the operator accepts
    return raw


SPEC = QwenDeploymentSpec.model_validate(spec())


def _model(commit: str) -> Any:
    return SPEC.model.model_copy(update={"revision": commit})


def stable(revision: str = STABLE, commit: str = STABLE_COMMIT) -> StableRevision:
    return StableRevision(
        revision=revision, model=_model(commit), engine=SPEC.engine, node_pool=SPEC.node_pool
    )


def canary(**fields: Any) -> CanaryRevision:
    values: dict[str, Any] = {
        "weight": 50,
        "step": 1,
        "started_at": NOW - timedelta(minutes=12),
        "step_started_at": NOW - timedelta(minutes=3),
        **fields,
    }
    return CanaryRevision(
        revision=CANARY, model=_model(CANARY_COMMIT), engine=SPEC.engine, node_pool=SPEC.node_pool, **values
    )


def cond(
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str = "",
    ago: timedelta = timedelta(minutes=3),
) -> Condition:
    return Condition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=NOW - ago
    )


PROMOTED_EARLIER = HistoryEntry(
    revision=OLDER, model=_model(OLDER_COMMIT), outcome="Promoted", at=NOW - timedelta(days=9),
    reason="every step passed",
)  # fmt: skip
PROMOTED = HistoryEntry(
    revision=STABLE, model=_model(STABLE_COMMIT), outcome="Promoted", at=NOW - timedelta(days=3),
    reason="every step passed",
)  # fmt: skip
BREACH_QUERY = (
    'sum(increase(http_requests_total{handler=~"/v1/completions|/v1/chat/completions",status="5xx",'
    'namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="a1b2c3d4e5"}[120s]))'
)
BREACH = (
    "SLO breached over 2m: maxErrorRate: error ratio 6.03% (49 of 812 requests) > 1% at 99% confidence "
    f"(p=2.1e-19); query: {BREACH_QUERY}"
)
ROLLED_BACK_EARLIER = HistoryEntry(
    revision=REJECTED, model=_model("e" * 40), outcome="RolledBack", at=NOW - timedelta(days=2, hours=4),
    reason="SLOBreached: SLO breached over 2m: p95LatencySeconds: p95 latency 12.3s > 10s; query: "
    'histogram_quantile(0.95, sum by (le) (rate({__name__=~"vllm[:_]e2e_request_latency_seconds_bucket"}[120s])))',
)  # fmt: skip

PASSED_MESSAGE = (
    "SLOs met over 2m (812 requests); maxErrorRate: error ratio 0.25% (2 of 812 requests) <= 1%; "
    "p95LatencySeconds: p95 latency 3.1s <= 10s; p95TimeToFirstTokenSeconds: p95 time to first token "
    "0.42s <= 1s; maxErrorRateVsStable: canary 0.25% (2/812) vs stable 0.2% (2/1000) = 1.23x: within 2x (p=0.5)"
)


def startup(
    stage: str, pods: dict[str, int], message: str, revision: str = CANARY, **fields: Any
) -> StartupStatus:
    values: dict[str, Any] = {
        "since": NOW - timedelta(minutes=4),
        "model_bytes": 16_400_000_000,
        "warm_cache": False,
        "deadline_seconds": 1550,
        "budget": "16.4 GB (spec.model.size), cold cache: download 7m, verify 2m, load 4m",
        **fields,
    }
    return StartupStatus(revision=revision, stage=stage, pods=pods, message=message, **values)


def obj(status: QwenDeploymentStatus | dict[str, Any] | None, raw_spec: dict[str, Any] | None = None,
        generation: int = 4) -> dict[str, Any]:  # fmt: skip
    """The whole object, as a GET returns it."""
    body: dict[str, Any] = {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": NAME, "namespace": NS, "generation": generation, "resourceVersion": "812"},
        "spec": spec() if raw_spec is None else raw_spec,
    }
    if isinstance(status, QwenDeploymentStatus):
        body["status"] = dump(status)
    elif status is not None:
        body["status"] = status
    return body


def dump(status: QwenDeploymentStatus) -> dict[str, Any]:
    dumped: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def healthy() -> dict[str, Any]:
    return obj(
        QwenDeploymentStatus(
            observed_generation=4, phase=Phase.HEALTHY, message=f"revision {STABLE} serving on 2/2 replicas",
            stable=stable(), previous=stable(OLDER, OLDER_COMMIT),
            startup=startup("Ready", {"Ready": 2}, "2 Ready", revision=STABLE, since=NOW - timedelta(days=3)),
            history=[PROMOTED_EARLIER, PROMOTED],
            conditions=[cond("Available", "True", "ReplicasReady"), cond("ModelReady", "True", "Ready"),
                        cond("InvalidSpec", "False", "SpecValid")],
        ),
        spec(STABLE_COMMIT),
    )  # fmt: skip


def baking() -> dict[str, Any]:
    """Promoted 2 minutes ago, with a 30-minute bake: the older revision warm on one pod."""
    promoted = HistoryEntry(
        revision=STABLE,
        model=_model(STABLE_COMMIT),
        outcome="Promoted",
        at=NOW - timedelta(minutes=2),
        reason="every step passed",
    )
    bake = BakeStatus(
        revision=OLDER,
        warm_replicas=1,
        started_at=NOW - timedelta(minutes=2),
        until=NOW + timedelta(minutes=28),
    )
    return obj(
        QwenDeploymentStatus(
            observed_generation=4, phase=Phase.BAKING,
            message=f"revision {STABLE} baking until 03:28:00 on 2/2 replicas; revision {OLDER} kept warm on 1/1 pods",
            stable=stable(), previous=stable(OLDER, OLDER_COMMIT), bake=bake,
            history=[PROMOTED_EARLIER, promoted],
            conditions=[cond("Available", "True", "ReplicasReady"), cond("Progressing", "True", "Baking"),
                        cond("InvalidSpec", "False", "SpecValid")],
        ),
        spec(STABLE_COMMIT),
    )  # fmt: skip


CONFLICT = (
    f"Service {NS}/{NAME} has no owner (made by hand or by a tool such as Helm): "
    "delete it or rename this QwenDeployment"
)


def child_conflict() -> dict[str, Any]:
    """Healthy, but Service `chat` is a Helm release's: left alone, and what the phase says."""
    status = QwenDeploymentStatus.model_validate(healthy()["status"])
    return obj(
        status.model_copy(update={
            "phase": Phase.DEGRADED, "message": f"{CONFLICT}; {status.message}",
            "conditions": [*status.conditions, cond("ChildConflict", "True", "NameTaken", CONFLICT)],
        }),
        spec(STABLE_COMMIT),
    )  # fmt: skip


def canary_at_step_2() -> dict[str, Any]:
    """Step 2/3 (50 %: 2 canary pods beside 2 stable ones), 7 minutes of a 10-minute pause left."""
    return obj(
        QwenDeploymentStatus(
            observed_generation=4, phase=Phase.PROGRESSING,
            message=f"step 2/3 at 50%: waiting for pause; last reading Passed: {PASSED_MESSAGE}",
            stable=stable(), canary=canary(),
            analysis=AnalysisReading(
                at=NOW - timedelta(seconds=20), requests=812, error_rate=2 / 812, p95_latency_seconds=3.1,
                p95_time_to_first_token_seconds=0.42, verdict="Passed", message=PASSED_MESSAGE,
                checks=[SLOReading(slo="maxErrorRate", outcome="Passed", value=2 / 812, threshold=0.01),
                        SLOReading(slo="maxErrorRateVsStable", outcome="Passed", value=1.23, threshold=2),
                        SLOReading(slo="p95LatencySeconds", outcome="Passed", value=3.1, threshold=10),
                        SLOReading(slo="p95TimeToFirstTokenSeconds", outcome="Passed", value=0.42, threshold=1)],
            ),
            startup=startup("Ready", {"Ready": 2}, "2 Ready"),
            history=[PROMOTED_EARLIER, ROLLED_BACK_EARLIER, PROMOTED],
            conditions=[cond("Available", "True", "ReplicasReady"),
                        cond("Progressing", "True", "CanaryProgressing"),
                        cond("SLOBreached", "False", "ReadingPassed")],
        )
    )  # fmt: skip


def paused() -> dict[str, Any]:
    return obj(
        QwenDeploymentStatus(
            observed_generation=4, phase=Phase.PAUSED, message="step 3/3 at 80%: paused until promoted",
            stable=stable(),
            canary=canary(step=2, weight=80, step_started_at=NOW - timedelta(minutes=1)),
            analysis=AnalysisReading(
                at=NOW - timedelta(seconds=70), requests=90, error_rate=0.0, verdict="Inconclusive",
                message="inconclusive: 90 requests in 2m < 100: too few to judge",
            ),
            startup=startup("Ready", {"Ready": 8}, "8 Ready"),
            history=[PROMOTED],
            conditions=[cond("Available", "True", "ReplicasReady"),
                        cond("AnalysisInconclusive", "True", "ReadingInconclusive",
                             "inconclusive: 90 requests in 2m < 100: too few to judge", timedelta(seconds=70))],
        )
    )  # fmt: skip


def rolled_back() -> dict[str, Any]:
    """Two failed readings in a row: the canary rolled back 2 minutes ago, the stable serves."""
    reason = f"SLOBreached: {BREACH}"
    return obj(
        QwenDeploymentStatus(
            observed_generation=4, phase=Phase.ROLLED_BACK,
            message=f"revision {CANARY} rolled back (SLOBreached): {BREACH}",
            stable=stable(), rejected_revision=CANARY,
            analysis=AnalysisReading(
                at=NOW - timedelta(minutes=2), requests=812, error_rate=49 / 812, p95_latency_seconds=3.4,
                p95_time_to_first_token_seconds=0.5, verdict="Failed", consecutive_failures=2,
                first_failed_at=NOW - timedelta(minutes=2, seconds=30), message=BREACH,
                checks=[SLOReading(slo="maxErrorRate", outcome="Failed", value=49 / 812, threshold=0.01),
                        SLOReading(slo="maxErrorRateVsStable", outcome="Skipped", threshold=2),
                        SLOReading(slo="p95LatencySeconds", outcome="Passed", value=3.4, threshold=10),
                        SLOReading(slo="p95TimeToFirstTokenSeconds", outcome="Passed", value=0.5, threshold=1)],
            ),
            startup=startup("Ready", {"Ready": 2}, "2 Ready", revision=STABLE),
            history=[PROMOTED, HistoryEntry(revision=CANARY, model=_model(CANARY_COMMIT), outcome="RolledBack",
                                            at=NOW - timedelta(minutes=2), reason=reason)],
            conditions=[cond("Available", "True", "ReplicasReady", ago=timedelta(days=3)),
                        cond("Progressing", "False", "RolledBack", ago=timedelta(minutes=2)),
                        cond("SLOBreached", "True", "ReadingFailed", BREACH, timedelta(minutes=2, seconds=30))],
        )
    )  # fmt: skip


def downloading() -> dict[str, Any]:
    """The first revision's pods fetching the weights."""
    message = "2 Downloading: fetching Qwen/Qwen3-8B@9c925d6"
    return obj(
        QwenDeploymentStatus(
            observed_generation=1, phase=Phase.PROGRESSING, message=f"revision {STABLE} starting: 0/2 replicas ready",
            stable=stable(),
            startup=startup("Downloading", {"Downloading": 2}, message, revision=STABLE,
                            since=NOW - timedelta(minutes=3)),
            conditions=[cond("Available", "False", "ReplicasNotReady"),
                        cond("ModelReady", "False", "Downloading", f"revision {STABLE}: {message}")],
        ),
        spec(STABLE_COMMIT), generation=1,
    )  # fmt: skip


VERIFICATION = (
    "VerificationFailed: model-00002-of-00004.safetensors: sha256 is 5f3a1c\u2026, expected 9c1b2d\u2026"
)


def failed_verification() -> dict[str, Any]:
    """The first revision refused its checkpoint: a file does not match its digest."""
    message = f"1 VerificationFailed, 1 Verifying: {VERIFICATION}"
    why = (
        f"revision {STABLE} cannot serve: a pod refused the checkpoint: {VERIFICATION}; "
        "fix spec.model and apply it again"
    )
    return obj(
        QwenDeploymentStatus(
            observed_generation=1, phase=Phase.FAILED, message=why, stable=stable(),
            startup=startup("VerificationFailed", {"VerificationFailed": 1, "Verifying": 1}, message,
                            revision=STABLE, since=NOW - timedelta(minutes=6)),
            conditions=[cond("Available", "False", "VerificationFailed", why),
                        cond("ModelReady", "False", "VerificationFailed", f"revision {STABLE}: {message}")],
        ),
        spec(STABLE_COMMIT), generation=1,
    )  # fmt: skip
