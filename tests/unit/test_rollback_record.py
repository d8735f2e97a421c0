"""A rollback, once decided, is never undone; a replaced canary stays on the record.

The write that scales a rolled-back canary to 0 also marks its Deployment rejected
(`qwenops.io/rejected`). The status saying so is written after the children and may be lost
with the operator that wrote it; the next pass finds the mark before it touches a child, and
writes the rollback down as the mark records it, whatever Prometheus answers by then. A
person's retry and a new revision in the spec still move on. And a canary that a newer
revision (or the stable one) replaces is recorded in `status.history` as `Replaced`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import (
    AnalysisReading,
    CanaryRevision,
    HandledRequests,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    Rejection,
    StableRevision,
)
from qwenops.controller import reconcile
from qwenops.controller.observe import observe_deployment
from qwenops.io import kube
from qwenops.io.kube_errors import KubeError
from qwenops.policy.rollout import DeploymentState, Observed, Plan, decide
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.desired import Owner, desired_deployment
from tests.unit.fake_kube import FakeKube
from tests.unit.test_reconcile_pass import CONFIG

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP0 = T0 + timedelta(seconds=10)
OLD, NEW, NEWER = "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"
SPEC = QwenDeploymentSpec.model_validate(
    {
        "model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"},
        "replicas": 4,
        "rollout": {
            "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "2m"}],
            "analysis": {"prometheus": {"url": "http://prometheus:9090"}, "interval": "30s",
                         "failureLimit": 2, "slos": {"maxErrorRate": 0.01}},
        },
    }
)  # fmt: skip
STABLE = StableRevision(revision=OLD, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool)
BREACH = "errorRate 0.5 > maxErrorRate 0.01"
MARK = Rejection(reason="SLOBreached", message=BREACH, at=STEP0 + timedelta(seconds=30))
LATER = STEP0 + timedelta(hours=1)  # the operator rescheduled after the analysis window passed


def canary(revision: str = NEW, **fields: Any) -> CanaryRevision:
    values: dict[str, Any] = {"started_at": T0, **fields}
    return CanaryRevision(
        revision=revision, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool, **values
    )


Verdict = Literal["Passed", "Failed", "Inconclusive", "Error"]


def reading(verdict: Verdict, at: datetime, failures: int = 0) -> AnalysisReading:
    return AnalysisReading(
        at=at, verdict=verdict, consecutive_failures=failures, message=f"{verdict} reading"
    )


STALE = QwenDeploymentStatus(
    stable=STABLE,
    canary=canary(step_started_at=STEP0, weight=20),
    analysis=reading("Failed", STEP0, failures=1),
    phase=Phase.PROGRESSING,
    message="step 1/2 at 20%: waiting for pause",
)
"""What the status still says when the rollback's status write was lost: step 1 running."""
ROLLED_BACK_ENTRY = HistoryEntry(
    revision=NEW, model=SPEC.model, outcome="RolledBack", at=MARK.at, reason=f"SLOBreached: {BREACH}"
)


def world(
    canary_replicas: int | None = 0,
    ready: int = 0,
    mark: Rejection | None = None,
    annotations: dict[str, str] | None = None,
    revision: str = NEW,
) -> Observed:
    deployments = {OLD: DeploymentState(OLD, 4, 4, True)}
    if canary_replicas is not None:
        deployments[revision] = DeploymentState(revision, canary_replicas, ready, False, rejection=mark)
    return Observed(generation=2, deployments=deployments, annotations=annotations or {})


def planned(plan: Plan, revision: str) -> tuple[int, Rejection | None]:
    (wanted,) = [d for d in plan.deployments if d.revision == revision]
    return wanted.replicas, wanted.rejection


# -- the decision: a mark on the canary's Deployment ------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [None, reading("Inconclusive", LATER), reading("Passed", LATER), reading("Error", LATER)],
    ids=["no-reading", "inconclusive", "passed", "error"],
)
def test_a_rollback_whose_status_write_was_lost_is_written_down_from_the_mark(
    answer: AnalysisReading | None,
) -> None:
    plan = decide(SPEC, NEW, STALE, world(mark=MARK), LATER, answer)
    status = plan.status
    assert status.phase == Phase.ROLLED_BACK and status.canary is None and status.rejected_revision == NEW
    assert f"(SLOBreached): {BREACH}" in status.message
    assert planned(plan, NEW) == (0, MARK) and plan.canary_weight == 0 and plan.canary_revision is None
    assert planned(plan, OLD) == (4, None)
    assert status.history == [ROLLED_BACK_ENTRY]  # at the time it was decided, not now
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "RolledBack")]
    assert plan.rollback_reason == "SLOBreached"
    # Written down once: the next pass holds it, quietly, and leaves the mark as it is.
    again = decide(SPEC, NEW, status, world(mark=MARK), LATER + timedelta(minutes=5))
    assert again.status.phase == Phase.ROLLED_BACK and again.status.history == [ROLLED_BACK_ENTRY]
    assert planned(again, NEW) == (0, MARK) and again.events == () and again.rollback_reason is None


def test_a_rollback_decided_now_marks_the_deployment_it_scales_to_zero() -> None:
    failed = reading("Failed", STEP0 + timedelta(seconds=30))
    plan = decide(SPEC, NEW, STALE, world(1, ready=1), STEP0 + timedelta(seconds=30), failed)
    assert plan.status.phase == Phase.ROLLED_BACK
    assert planned(plan, NEW) == (0, Rejection(reason="SLOBreached", message="Failed reading", at=failed.at))


def test_a_rollback_only_the_status_records_is_marked_from_its_history() -> None:
    """An operator that knew no marks rolled it back: the Deployment is marked on the next pass."""
    rejected = QwenDeploymentStatus(stable=STABLE, rejected_revision=NEW, history=[ROLLED_BACK_ENTRY])
    plan = decide(SPEC, NEW, rejected, world(), LATER)
    assert plan.status.phase == Phase.ROLLED_BACK and plan.events == ()
    assert planned(plan, NEW) == (0, MARK)


def test_a_retry_starts_a_marked_revision_again_and_drops_the_mark() -> None:
    for before in (STALE, QwenDeploymentStatus(stable=STABLE, rejected_revision=NEW)):
        plan = decide(SPEC, NEW, before, world(mark=MARK, annotations={naming.ANNOTATION_RETRY: "t1"}), LATER)
        assert plan.status.phase == Phase.PROGRESSING and plan.status.rejected_revision is None
        assert plan.status.canary is not None and plan.status.canary.started_at == LATER
        assert planned(plan, NEW) == (1, None)
        assert [e.reason for e in plan.events] == ["RetryRequested", "RolloutStarted"]
        assert plan.status.handled == HandledRequests(retry="t1")


def test_a_new_revision_in_the_spec_replaces_a_marked_one_recording_its_rollback() -> None:
    plan = decide(SPEC, NEWER, STALE, world(mark=MARK), LATER)
    assert plan.status.canary is not None and plan.status.canary.revision == NEWER
    assert NEW in plan.delete and planned(plan, NEWER) == (1, None)
    assert plan.status.history == [ROLLED_BACK_ENTRY]


def test_a_mark_older_than_the_canarys_start_no_longer_holds() -> None:
    """Left behind by an operator that knew no marks and then acted on a retry: removed."""
    assert MARK.at is not None
    retried = STALE.model_copy(update={"canary": canary(started_at=MARK.at + timedelta(minutes=5))})
    plan = decide(SPEC, NEW, retried, world(1, mark=MARK), MARK.at + timedelta(minutes=6))
    assert plan.status.phase == Phase.PROGRESSING and planned(plan, NEW) == (1, None)


# -- the mark on the Deployment --------------------------------------------------------------------

OWNER = Owner(name="chat", namespace="llm", uid="uid-chat")


def test_the_mark_rendered_on_a_deployment_is_read_back_as_it_was() -> None:
    marked = desired_deployment(OWNER, SPEC, NEW, track="canary", replicas=0, rejection=MARK)
    assert observe_deployment(NEW, marked).rejection == MARK
    assert (
        observe_deployment(NEW, desired_deployment(OWNER, SPEC, NEW, track="canary", replicas=1)).rejection
        is None
    )


def test_a_mark_that_does_not_parse_still_rejects() -> None:
    marked = desired_deployment(OWNER, SPEC, NEW, track="canary", replicas=0)
    marked["metadata"]["annotations"][naming.ANNOTATION_REJECTED] = "rolled back, by hand"
    found = observe_deployment(NEW, marked).rejection
    assert found is not None and found.at is None and "rolled back, by hand" in found.message
    plan = decide(SPEC, NEW, STALE, world(mark=found), LATER)
    assert plan.status.phase == Phase.ROLLED_BACK and planned(plan, NEW)[0] == 0


# -- one pass against the API: the order of its writes -----------------------------------------------

NS, NAME = "llm", "chat"
RAW_SPEC: dict[str, Any] = {
    "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
    "replicas": 3,
    "rollout": {
        "steps": [{"weight": 25, "pause": "1m"}, {"weight": 40, "pause": "1m"}],
        "analysis": {"prometheus": {"url": "http://prometheus:9090"}, "interval": "30s", "failureLimit": 2,
                     "slos": {"maxErrorRate": 0.01}},
    },
}  # fmt: skip
CANARY_SPEC = {**RAW_SPEC, "model": {**RAW_SPEC["model"], "revision": "c" * 40}}
CANARY_REVISION = revision_of(with_image(parse_spec(NAME, CANARY_SPEC), CONFIG.serving_image))
CANARY_DEPLOYMENT = naming.deployment_name(NAME, CANARY_REVISION)


@dataclass
class Api:
    """FakeKube, whose Deployments become ready as asked, and whose RolledBack status write fails."""

    fake: FakeKube = field(default_factory=FakeKube)
    verdict: Verdict = "Failed"
    lose_rolled_back: bool = True

    async def read(self, *args: Any) -> AnalysisReading:
        return reading(self.verdict, at=args[-1])  # (spec, owner, canary, stable, now)

    def ready(self) -> None:
        for (resource, _, _), found in self.fake.objects.items():
            if resource == kube.DEPLOYMENTS:
                replicas = found["spec"]["replicas"]
                found["status"] = {
                    "observedGeneration": found["metadata"]["generation"], "readyReplicas": replicas,
                    "availableReplicas": replicas, "updatedReplicas": replicas,
                    "conditions": [{"type": "Available", "status": "True"}],
                }  # fmt: skip

    async def run(self, now: datetime) -> None:
        body = self.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
        assert body is not None
        self.fake.writes.clear()
        # A status write the API failed ends the pass there, as kopf's handler would see it.
        with contextlib.suppress(KubeError):
            await reconcile.reconcile(self.fake, body, CONFIG, self.read, now, post=lambda *_: None)
        self.ready()

    def change(self, edit: Callable[[dict[str, Any]], object]) -> None:
        """A person edits the QwenDeployment."""
        stored = self.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
        assert stored is not None
        edit(stored)
        stored["metadata"]["generation"] += 1
        self.fake.put(stored)

    def status(self) -> dict[str, Any]:
        stored = self.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
        assert stored is not None
        found: dict[str, Any] = stored.get("status") or {}
        return found

    def canary(self) -> dict[str, Any]:
        found = self.fake.stored(kube.DEPLOYMENTS, NS, CANARY_DEPLOYMENT)
        assert found is not None
        return found


async def test_the_pass_after_a_lost_rollback_status_keeps_the_canary_at_zero() -> None:
    api = Api()
    original = api.fake.patch_status

    async def patch_status(*args: Any) -> Any:
        if api.lose_rolled_back and args[3].get("phase") == "RolledBack":
            raise KubeError(500, "injected: the status write is lost")
        return await original(*args)

    api.fake.patch_status = patch_status  # type: ignore[method-assign]
    api.fake.put({"apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment",
                  "metadata": {"name": NAME, "namespace": NS, "uid": "uid-chat"}, "spec": RAW_SPEC})  # fmt: skip
    now = T0
    for _ in range(3):  # the stable revision serves
        await api.run(now := now + timedelta(seconds=1))
    api.change(lambda qwd: qwd.update(spec=CANARY_SPEC))
    while "stepStartedAt" not in (api.status().get("canary") or {}):
        await api.run(now := now + timedelta(seconds=1))
    while api.canary()["spec"]["replicas"] > 0:  # two Failed readings: rolled back
        await api.run(now := now + timedelta(seconds=31))
    marked, scaled = [w.body for w in api.fake.writes if str(w) == f"patch deployments/{CANARY_DEPLOYMENT}"]
    assert marked is not None and scaled is not None
    mark = marked["metadata"]["annotations"][naming.ANNOTATION_REJECTED]
    assert "replicas" not in marked.get("spec", {}) and "SLOBreached" in mark  # marked first, no pod moved
    assert scaled["spec"]["replicas"] == 0  # then scaled, after the traffic left it
    assert api.status()["phase"] == "Progressing"  # the status saying RolledBack was lost

    api.lose_rolled_back = False
    api.verdict = "Inconclusive"  # no pods, no traffic: Prometheus cannot judge it any more
    for _ in range(3):
        await api.run(now := now + timedelta(minutes=10))
        assert api.canary()["spec"]["replicas"] == 0
        assert [str(w) for w in api.fake.writes if w.resource == kube.DEPLOYMENTS] == []
    status = api.status()
    assert (status["phase"], status["rejectedRevision"], "canary" in status) == (
        "RolledBack",
        CANARY_REVISION,
        False,
    )
    assert [(h["outcome"], h["reason"]) for h in status["history"]] == [
        ("RolledBack", "SLOBreached: Failed reading")
    ]

    # A person's retry scales it up and removes the mark, in one write.
    api.change(lambda qwd: qwd["metadata"].update(annotations={naming.ANNOTATION_RETRY: "t1"}))
    await api.run(now := now + timedelta(seconds=1))
    (retried,) = [w.body for w in api.fake.writes if str(w) == f"patch deployments/{CANARY_DEPLOYMENT}"]
    assert retried is not None and retried["spec"]["replicas"] == 1
    assert retried["metadata"]["annotations"] == {naming.ANNOTATION_REJECTED: None}
    assert naming.ANNOTATION_REJECTED not in api.canary()["metadata"]["annotations"]
    assert api.status()["phase"] == "Progressing"


# -- a replaced canary -------------------------------------------------------------------------------


def test_a_canary_replaced_by_a_newer_revision_is_recorded_once() -> None:
    running = QwenDeploymentStatus(stable=STABLE, canary=canary(step_started_at=STEP0, weight=20))
    plan = decide(SPEC, NEWER, running, world(1, ready=1), LATER)
    assert [e.reason for e in plan.events] == ["CanaryReplaced", "RolloutStarted"]
    assert plan.status.history == [
        HistoryEntry(revision=NEW, model=SPEC.model, outcome="Replaced", at=LATER,
                     reason="at step 1 (20%)", replaced_by=NEWER)
    ]  # fmt: skip
    again = decide(SPEC, NEWER, plan.status, world(1, revision=NEWER), LATER + timedelta(seconds=5))
    assert again.status.history == plan.status.history


def test_a_canary_abandoned_for_the_stable_revision_is_recorded_replaced_by_it() -> None:
    running = QwenDeploymentStatus(stable=STABLE, canary=canary(step_started_at=STEP0, weight=20))
    plan = decide(SPEC, OLD, running, world(1, ready=1), LATER)
    assert [(h.revision, h.outcome, h.replaced_by) for h in plan.status.history] == [(NEW, "Replaced", OLD)]
