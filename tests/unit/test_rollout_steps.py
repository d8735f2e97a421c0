"""Table-driven tests of canary steps, analysis verdicts, rollback and a person's requests."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import (
    AnalysisReading,
    CanaryRevision,
    ConditionType,
    HandledRequests,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    condition,
)
from qwenops.controller import accounting
from qwenops.policy.rollout import Comparison, DeploymentState, Observed, analysis_due, decide, reading_due
from qwenops.policy.startup import RevisionStartup, Stage
from qwenops.routing.httproute import HTTPRouteRouter, weighted_rules
from qwenops.routing.replicas import ReplicaRatio, replica_share
from qwenops.routing.router import ObservedRoute

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD, NEW = "aaaaaaaaaa", "bbbbbbbbbb"
PROM = {
    "prometheus": {"url": "http://prometheus:9090"},
    "interval": "30s",
    "failureLimit": 2,
    "slos": {"maxErrorRate": 0.01},
}


def make_spec(
    steps: list[dict[str, Any]] | None = None, http_route: bool = False, **rollout: Any
) -> QwenDeploymentSpec:
    raw_rollout: dict[str, Any] = {
        "steps": steps
        if steps is not None
        else [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "2m"}],
        "analysis": PROM,
        **rollout,
    }
    if http_route:
        raw_rollout["trafficRouting"] = {"httpRoute": {"name": "chat"}}
    return QwenDeploymentSpec.model_validate(
        {
            "model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"},
            "replicas": 4,
            "rollout": raw_rollout,
        }
    )


SPEC = make_spec()
STABLE = StableRevision(revision=OLD, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool)


def canary(**fields: Any) -> CanaryRevision:
    values: dict[str, Any] = {"started_at": T0, **fields}
    return CanaryRevision(
        revision=NEW, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool, **values
    )


def status(**fields: Any) -> QwenDeploymentStatus:
    return QwenDeploymentStatus(stable=STABLE, **fields)


def reading(
    verdict: str, at: datetime, failures: int = 0, message: str = "", *, conclusive: bool = False
) -> AnalysisReading:
    return AnalysisReading(
        at=at,
        verdict=verdict,  # type: ignore[arg-type]
        consecutive_failures=failures,
        message=message or f"{verdict.lower()} reading",
        conclusive=conclusive,
    )


def world(
    canary_ready: int | None = None,
    canary_available: bool = False,
    canary_replicas_: int = 1,
    annotations: dict[str, str] | None = None,
    canary_stage: RevisionStartup | None = None,
    route: ObservedRoute | None = None,
) -> Observed:
    deployments = {OLD: DeploymentState(OLD, 4, 4, True)}
    if canary_ready is not None:
        deployments[NEW] = DeploymentState(NEW, canary_replicas_, canary_ready, canary_available)
    return Observed(
        generation=2,
        deployments=deployments,
        annotations=annotations or {},
        startups={NEW: canary_stage} if canary_stage is not None else {},
        route=route,
    )


def http_route(canary_weight: int | None) -> ObservedRoute:
    """The HTTPRoute `chat` as read, its backendRefs carrying `canary_weight` (None: no such route)."""
    if canary_weight is None:
        return ObservedRoute("chat", None)
    unweighted = {"spec": {"rules": [{"backendRefs": [{"name": "chat-stable", "port": 8000}]}]}}
    return ObservedRoute(
        "chat",
        {
            "metadata": {"resourceVersion": "7"},
            "spec": {"rules": weighted_rules(unweighted, "chat", canary_weight)},
        },
    )


REFUSED = "VerificationFailed: model-00002-of-00004.safetensors: sha256 is 5f3a1c…, expected 9c1b2d…"
DOWNLOADING = RevisionStartup(
    NEW, Stage.DOWNLOADING, {"Downloading": 1}, "1 Downloading: fetching the checkpoint"
)
VERIFY_REFUSED = RevisionStartup(NEW, Stage.VERIFICATION_FAILED, {"VerificationFailed": 1}, REFUSED, REFUSED)


STEP0 = T0 + timedelta(seconds=10)  # when the first step's weight took effect


@dataclass
class Case:
    name: str
    status: QwenDeploymentStatus
    observed: Observed
    now: datetime
    phase: Phase
    canary_pods: int | None  # replicas planned for the canary Deployment; None: no canary Deployment
    events: list[str]
    reading: AnalysisReading | None = None
    spec: QwenDeploymentSpec = SPEC
    step: int | None = None
    weight: int | None = None
    failures: int | None = None
    rollback: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    message_has: str = ""


CASES = [
    Case("a new canary first gets the pods for its first weight, and no traffic yet",
         status(), world(), T0, Phase.PROGRESSING, 1, ["RolloutStarted"], step=0, weight=0),
    Case("its pods ready, the step starts: the weight is the replica share",
         status(canary=canary()), world(canary_ready=1), STEP0, Phase.PROGRESSING, 1, ["StepStarted"],
         step=0, weight=20),
    Case("the pause holds the step",
         status(canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Passed", STEP0 + timedelta(seconds=30))),
         world(canary_ready=1), STEP0 + timedelta(seconds=40), Phase.PROGRESSING, 1, [], step=0, weight=20),
    Case("pause over but no passing reading in this step: hold",
         status(canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Passed", T0)),
         world(canary_ready=1), STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 1, [], step=0),
    Case("pause over and the reading passed: the next step asks for its pods",
         status(canary=canary(step_started_at=STEP0, weight=20)), world(canary_ready=1),
         STEP0 + timedelta(minutes=1), Phase.PROGRESSING, 4, ["StepAdvanced"],
         reading=reading("Passed", STEP0 + timedelta(minutes=1)), step=1, weight=20, failures=0),
    Case("one failed reading below failureLimit holds and says so",
         status(canary=canary(step_started_at=STEP0, weight=20)), world(canary_ready=1),
         STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 1, [],
         reading=reading("Failed", STEP0 + timedelta(minutes=2)), step=0, failures=1,
         extra={"SLOBreached": "True"}),
    Case("failureLimit consecutive failures roll back: weight 0, canary scaled to 0",
         status(canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Failed", STEP0, failures=1)),
         world(canary_ready=1), STEP0 + timedelta(seconds=30), Phase.ROLLED_BACK, 0, ["RolledBack"],
         reading=reading("Failed", STEP0 + timedelta(seconds=30), message="error rate 0.05 > 0.01"),
         rollback="SLOBreached", extra={"rejected": NEW}),
    Case("one failed reading conclusive since the step started rolls back at once, below failureLimit",
         status(canary=canary(step_started_at=STEP0, weight=20)), world(canary_ready=1),
         STEP0 + timedelta(seconds=30), Phase.ROLLED_BACK, 0, ["RolledBack"],
         reading=reading("Failed", STEP0 + timedelta(seconds=30), message="conclusive", conclusive=True),
         rollback="SLOBreached", extra={"rejected": NEW}, message_has="conclusive"),
    Case("an inconclusive reading neither counts nor resets the failures",
         status(canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Failed", STEP0, failures=1)),
         world(canary_ready=1), STEP0 + timedelta(minutes=3), Phase.PROGRESSING, 1, [],
         reading=reading("Inconclusive", STEP0 + timedelta(minutes=3)), failures=1,
         extra={"AnalysisInconclusive": "True"}),
    Case("a query error is not a failure either",
         status(canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Failed", STEP0, failures=1)),
         world(canary_ready=1), STEP0 + timedelta(minutes=3), Phase.PROGRESSING, 1, [],
         reading=reading("Error", STEP0 + timedelta(minutes=3)), failures=1),
    Case("a rejected revision stays at zero pods, quietly",
         status(rejected_revision=NEW), world(canary_ready=0, canary_replicas_=0), STEP0,
         Phase.ROLLED_BACK, 0, []),
    Case("retry by annotation starts it again from the first step",
         status(rejected_revision=NEW), world(canary_ready=0, canary_replicas_=0, annotations={"qwenops.io/retry": "t1"}),
         STEP0, Phase.PROGRESSING, 1, ["RetryRequested", "RolloutStarted"], step=0,
         extra={"handled": HandledRequests(retry="t1")}),
    Case("a retry that ends its first step at once (promote, pods still ready) goes on to the next",
         status(rejected_revision=NEW),
         world(canary_ready=1, annotations={"qwenops.io/retry": "t1", "qwenops.io/promote": "t1"}), STEP0,
         Phase.PROGRESSING, 4, ["RetryRequested", "RolloutStarted", "StepStarted", "StepAdvanced"], step=1,
         extra={"handled": HandledRequests(retry="t1", promote="t1")}),
    Case("a retry already acted on does not start it again",
         status(rejected_revision=NEW, handled=HandledRequests(retry="t1")),
         world(canary_ready=0, canary_replicas_=0, annotations={"qwenops.io/retry": "t1"}), STEP0,
         Phase.ROLLED_BACK, 0, []),
    Case("abort by annotation rolls back at once",
         status(canary=canary(step_started_at=STEP0, weight=20)),
         world(canary_ready=1, annotations={"qwenops.io/abort": "t1"}), STEP0, Phase.ROLLED_BACK, 0,
         ["RolledBack"], rollback="Aborted"),
    Case("promote by annotation ends the step now",
         status(canary=canary(step_started_at=STEP0, weight=20)),
         world(canary_ready=1, annotations={"qwenops.io/promote": "t1"}), STEP0, Phase.PROGRESSING, 4,
         ["StepAdvanced"], step=1),
    Case("a step with no pause waits for a person",
         status(canary=canary(step_started_at=STEP0, weight=20)), world(canary_ready=1), STEP0 + timedelta(hours=5),
         Phase.PAUSED, 1, [], spec=make_spec([{"weight": 10}, {"weight": 50, "pause": "1m"}]),
         reading=reading("Passed", STEP0 + timedelta(hours=5))),
    # Qwen3-8B, ~16 GB on a cold cache: 7m download + 2m verify + 8m load + 10m margin = 25m50s.
    Case("pods still downloading within the derived progress deadline: hold",
         status(canary=canary()), world(canary_ready=0, canary_stage=DOWNLOADING), T0 + timedelta(minutes=25),
         Phase.PROGRESSING, 1, []),
    Case("pods never ready within the derived progress deadline: rolled back, saying where they are",
         status(canary=canary()), world(canary_ready=0, canary_stage=DOWNLOADING), T0 + timedelta(minutes=26),
         Phase.ROLLED_BACK, 0, ["RolledBack"], rollback="ProgressDeadlineExceeded",
         message_has="not ready within 25m50s (derived: 16.0 GB (estimated from the name: 8B parameters at "
         "16-bit), cold cache: download 7m, verify 2m, load 8m): 0 ready, asked for at 00:00:00 "
         "(1 Downloading: fetching the checkpoint)"),
    Case("a declared progress deadline wins over the derived one",
         status(canary=canary()), world(canary_ready=0), T0 + timedelta(minutes=41),
         Phase.PROGRESSING, 1, [], spec=make_spec(progressDeadline="1h")),
    Case("a declared progress deadline passed: rolled back",
         status(canary=canary()), world(canary_ready=0), T0 + timedelta(minutes=61),
         Phase.ROLLED_BACK, 0, ["RolledBack"], spec=make_spec(progressDeadline="1h"),
         rollback="ProgressDeadlineExceeded", message_has="spec.rollout.progressDeadline 1h"),
    Case("a canary pod refused its checkpoint: rolled back at once, naming the file",
         status(canary=canary()), world(canary_ready=0, canary_stage=VERIFY_REFUSED), T0 + timedelta(minutes=3),
         Phase.ROLLED_BACK, 0, ["RolledBack"], rollback="VerificationFailed",
         message_has="model-00002-of-00004.safetensors: sha256 is 5f3a1c…"),
    Case("the last step passed: the canary scales to full size",
         status(canary=canary(step=1, step_started_at=STEP0, weight=50)), world(canary_ready=4, canary_replicas_=4),
         STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 4, ["Promoting"],
         reading=reading("Passed", STEP0 + timedelta(minutes=2))),
    Case("at full size and available, the canary becomes the stable revision",
         status(canary=canary(step=2, step_started_at=STEP0, weight=50, promoting=True)),
         world(canary_ready=4, canary_available=True, canary_replicas_=4), STEP0 + timedelta(minutes=3),
         Phase.HEALTHY, None, ["Promoted"]),
    Case("with an HTTPRoute the weight is exact and the canary needs only its share of pods",
         status(canary=canary()), world(canary_ready=1), STEP0, Phase.PROGRESSING, 1, ["StepStarted"],
         spec=make_spec(http_route=True), step=0, weight=10),
    Case("an HTTPRoute that does not carry the step's weight holds the step, saying why",
         status(canary=canary(step_started_at=STEP0, weight=10)), world(canary_ready=1, route=http_route(0)),
         STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 1, [], reading=reading("Passed", STEP0 + timedelta(minutes=2)),
         spec=make_spec(http_route=True), step=0, weight=10,
         message_has="holding: traffic weights not in effect: HTTPRoute chat sends 0% to the canary, not 10%"),
    Case("a missing HTTPRoute holds the step too",
         status(canary=canary(step_started_at=STEP0, weight=10)), world(canary_ready=1, route=http_route(None)),
         STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 1, [], reading=reading("Passed", STEP0 + timedelta(minutes=2)),
         spec=make_spec(http_route=True), step=0, message_has="HTTPRoute chat not found"),
    Case("an HTTPRoute carrying the step's weight lets the step end",
         status(canary=canary(step_started_at=STEP0, weight=10)), world(canary_ready=1, route=http_route(10)),
         STEP0 + timedelta(minutes=2), Phase.PROGRESSING, 2, ["StepAdvanced"],
         reading=reading("Passed", STEP0 + timedelta(minutes=2)), spec=make_spec(http_route=True), step=1),
    Case("while its pods are not ready the step has no weight for the route to carry: no hold",
         status(canary=canary()), world(canary_ready=1, route=http_route(None)), STEP0, Phase.PROGRESSING, 1,
         ["StepStarted"], spec=make_spec(http_route=True), step=0, weight=10),
    Case("a promoting canary held by its route keeps its full size",
         status(canary=canary(step=2, step_started_at=STEP0, weight=50, promoting=True)),
         world(canary_ready=2, canary_replicas_=4, route=http_route(10)), STEP0 + timedelta(minutes=3),
         Phase.PROGRESSING, 4, [], spec=make_spec(http_route=True),
         message_has="HTTPRoute chat sends 10% to the canary, not 50%"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide_steps(case: Case) -> None:
    plan = decide(case.spec, NEW, case.status, case.observed, case.now, case.reading)
    new = plan.status
    assert new.phase == case.phase, new.message
    planned = {d.revision: d for d in plan.deployments}
    assert planned[OLD].replicas == 4 if case.canary_pods is not None else True
    if case.canary_pods is None:
        assert NEW in planned and planned[NEW].track == "stable" and OLD in plan.delete
    else:
        assert planned[NEW].replicas == case.canary_pods and planned[NEW].track == "canary"
    assert [e.reason for e in plan.events] == case.events
    if case.step is not None:
        assert new.canary is not None and new.canary.step == case.step
    if case.weight is not None:
        assert new.canary is not None and new.canary.weight == case.weight
    if case.failures is not None:
        assert new.analysis is not None and new.analysis.consecutive_failures == case.failures
    assert plan.rollback_reason == case.rollback
    assert case.message_has in new.message, new.message
    if case.rollback:
        assert new.canary is None and plan.canary_weight == 0
        assert new.rejected_revision == NEW
        assert new.history[-1].outcome == "RolledBack" and case.rollback in new.history[-1].reason
        warning = next(e for e in plan.events if e.reason == "RolledBack")
        assert warning.type == "Warning" and case.rollback in warning.message
    for key, value in case.extra.items():
        if key == "rejected":
            assert new.rejected_revision == value
        elif key == "handled":
            assert new.handled == value
        else:
            found = condition(new.conditions, ConditionType(key))
            assert found is not None and found.status == value


def test_a_breach_names_the_measurement_in_the_rollback_event() -> None:
    breach = "errorRate 0.052 > maxErrorRate 0.01 (sum(increase(http_requests_total{...}[2m])))"
    before = status(
        canary=canary(step_started_at=STEP0, weight=20), analysis=reading("Failed", STEP0, failures=1)
    )
    plan = decide(SPEC, NEW, before, world(canary_ready=1), STEP0, reading("Failed", STEP0, message=breach))
    (event,) = plan.events
    assert breach in event.message and "SLOBreached" in event.message


def test_requeue_at_the_end_of_a_pause_or_the_next_reading() -> None:
    no_analysis = make_spec(analysis={})
    before = status(canary=canary(step_started_at=STEP0, weight=20))
    plan = decide(no_analysis, NEW, before, world(canary_ready=1), STEP0 + timedelta(seconds=45))
    assert plan.requeue_after == timedelta(seconds=15)
    plan = decide(SPEC, NEW, before, world(canary_ready=1), STEP0 + timedelta(seconds=5))
    assert plan.requeue_after == timedelta(seconds=30)


def test_without_analysis_the_pause_alone_advances() -> None:
    no_analysis = make_spec(analysis={})
    before = status(canary=canary(step_started_at=STEP0, weight=20))
    plan = decide(no_analysis, NEW, before, world(canary_ready=1), STEP0 + timedelta(minutes=1))
    assert [e.reason for e in plan.events] == ["StepAdvanced"]


def test_analysis_is_due_once_per_interval_within_a_step() -> None:
    running = status(canary=canary(step_started_at=STEP0, weight=20))
    assert analysis_due(SPEC, running, STEP0)
    read = running.model_copy(update={"analysis": reading("Passed", STEP0)})
    assert not analysis_due(SPEC, read, STEP0 + timedelta(seconds=29))
    assert analysis_due(SPEC, read, STEP0 + timedelta(seconds=30))
    assert not analysis_due(SPEC, status(canary=canary()), STEP0)  # no weight yet: nothing to judge
    assert not analysis_due(make_spec(analysis={}), running, STEP0)


def test_a_reading_is_taken_only_for_a_canary_of_the_revision_served() -> None:
    running = status(canary=canary(step_started_at=STEP0, weight=20))
    assert reading_due(SPEC, NEW, running, STEP0) == Comparison(canary=NEW, stable=OLD, step_started_at=STEP0)
    assert reading_due(SPEC, OLD, running, STEP0) is None  # an undo serves the stable: the canary goes
    read = running.model_copy(update={"analysis": reading("Passed", STEP0)})
    assert reading_due(SPEC, NEW, read, STEP0 + timedelta(seconds=29)) is None
    assert reading_due(SPEC, NEW, QwenDeploymentStatus(canary=running.canary), STEP0) is None  # no stable


@pytest.mark.parametrize(
    ("replicas", "weight", "exact", "pods", "share"),
    [(4, 10, False, 1, 20), (4, 50, False, 4, 50), (2, 10, False, 1, 33), (10, 25, False, 4, 29),
     (4, 10, True, 1, None), (10, 25, True, 3, None), (1, 99, False, 99, 99)],
)  # fmt: skip
def test_canary_pods_for_a_weight(
    replicas: int, weight: int, exact: bool, pods: int, share: int | None
) -> None:
    router = HTTPRouteRouter("chat") if exact else ReplicaRatio()
    assert router.canary_pods(replicas, weight) == pods
    if share is not None:
        assert replica_share(replicas, pods) == share >= weight


def test_a_long_rollout_is_never_late_while_its_pods_are_ready() -> None:
    """The progress deadline counts from when a step's pods were asked for, never from the start."""
    spec = make_spec(
        [{"weight": 10, "pause": "5m"}, {"weight": 25, "pause": "40m"}, {"weight": 50, "pause": "10m"}]
    )
    asked = T0 + timedelta(minutes=47)
    at_step_2 = canary(step=2, step_started_at=T0 + timedelta(minutes=48), weight=50, waiting_since=asked)
    plan = decide(spec, NEW, status(canary=at_step_2), world(canary_ready=4, canary_replicas_=4),
                  T0 + timedelta(minutes=58))  # fmt: skip
    assert plan.status.phase == Phase.PROGRESSING and plan.rollback_reason is None
    waiting = canary(step=2, weight=25, waiting_since=asked)
    in_time = decide(spec, NEW, status(canary=waiting), world(canary_ready=1, canary_replicas_=4),
                     asked + timedelta(minutes=25))  # fmt: skip
    assert in_time.rollback_reason is None
    late = decide(spec, NEW, status(canary=waiting), world(canary_ready=1, canary_replicas_=4),
                  asked + timedelta(minutes=26))  # fmt: skip
    assert late.rollback_reason == "ProgressDeadlineExceeded"
    assert "asked for at 00:47:00" in late.status.message


def test_a_promotion_whose_pods_never_come_is_late_too() -> None:
    promoting = canary(step=2, step_started_at=STEP0, weight=50, promoting=True, waiting_since=T0)
    plan = decide(SPEC, NEW, status(canary=promoting), world(canary_ready=2, canary_replicas_=4),
                  T0 + timedelta(minutes=26))  # fmt: skip
    assert plan.rollback_reason == "ProgressDeadlineExceeded"


def test_requests_with_no_canary_are_recorded_and_never_fire_later() -> None:
    healthy = QwenDeploymentStatus(stable=STABLE)
    annotations = {"qwenops.io/abort": "monday", "qwenops.io/promote": "monday"}
    plan = decide(SPEC, OLD, healthy, world(annotations=annotations), T0)
    assert plan.status.handled == HandledRequests(abort="monday", promote="monday")
    assert [e.reason for e in plan.events if e.reason == "RequestIgnored"] == ["RequestIgnored"] * 2
    # A week later a rollout starts; the old annotations are still on the object.
    later = decide(SPEC, NEW, plan.status, world(annotations=annotations), T0 + timedelta(days=7))
    assert later.status.phase == Phase.PROGRESSING and later.rollback_reason is None


def test_a_promote_while_the_steps_pods_start_ends_the_step_once_they_are_ready() -> None:
    ask = {"qwenops.io/promote": "now"}
    waiting = decide(SPEC, NEW, status(canary=canary()), world(canary_ready=0, annotations=ask), T0)
    assert waiting.status.handled.promote is None  # kept for when the step starts
    started = decide(SPEC, NEW, waiting.status, world(canary_ready=1, annotations=ask), STEP0)
    assert started.status.handled.promote == "now"
    assert started.status.canary is not None and started.status.canary.step == 1


@pytest.mark.parametrize(
    ("before", "reading_", "seconds"),
    [
        # Conclusive on its first failed reading: the breach and the rollback are the same reading.
        (None, reading("Failed", STEP0 + timedelta(seconds=30), conclusive=True), 0.0),
        # failureLimit=2: from the first failed reading of the run.
        (
            reading("Failed", STEP0, failures=1).model_copy(update={"first_failed_at": STEP0}),
            reading("Failed", STEP0 + timedelta(seconds=30)),
            30.0,
        ),
    ],
)
def test_breach_to_rollback_is_observed_for_every_slo_rollback(
    before: AnalysisReading | None, reading_: AnalysisReading, seconds: float
) -> None:
    stored = status(canary=canary(step_started_at=STEP0, weight=20), analysis=before)
    now = reading_.at
    plan = decide(SPEC, NEW, stored, world(canary_ready=1), now, reading_)
    assert plan.rollback_reason == "SLOBreached"

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(f"qwenops_breach_to_rollback_seconds_{name}") or 0.0

    count, total = sample("count"), sample("sum")
    accounting._count_state("llm", "chat", stored, plan.status, plan, now)
    assert (sample("count") - count, sample("sum") - total) == (1.0, seconds)
