"""Table-driven tests of the rollout state machine (`rollout.decide`, `rollout.refuse`)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import (
    CanaryRevision,
    ConditionType,
    HistoryEntry,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    condition,
)
from qwenops.policy.rollout import DeploymentState, Observed, decide, refuse
from qwenops.policy.startup import RevisionStartup, Stage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD, NEW, NEWER, STRAY = "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"


def spec(**changes: Any) -> QwenDeploymentSpec:
    raw: dict[str, Any] = {
        "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
        "replicas": 2,
    }
    return QwenDeploymentSpec.model_validate({**raw, **changes})


SPEC = spec()


def stable(revision: str = OLD) -> StableRevision:
    return StableRevision(revision=revision, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool)


def canary(revision: str = NEW, **fields: Any) -> CanaryRevision:
    """A canary of SPEC, which declares no steps: it goes straight to promoting."""
    values: dict[str, Any] = {"started_at": T0, "promoting": True, **fields}
    return CanaryRevision(
        revision=revision, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool, **values
    )


def ready(revision: str, replicas: int = 2) -> DeploymentState:
    return DeploymentState(revision, replicas, replicas, available=True)


def loading(revision: str, replicas: int = 2, ready_replicas: int = 0) -> DeploymentState:
    return DeploymentState(revision, replicas, ready_replicas, available=False)


def available_before() -> QwenDeploymentStatus:
    """A status whose stable revision was once seen Available."""
    first = decide(SPEC, OLD, QwenDeploymentStatus(stable=stable()), observe(ready(OLD)), T0)
    return first.status


def observe(*states: DeploymentState) -> Observed:
    return Observed(generation=3, deployments={s.revision: s for s in states})


@dataclass
class Case:
    name: str
    target: str
    status: QwenDeploymentStatus
    observed: Observed
    phase: Phase
    stable: str
    canary: str | None
    deployments: list[tuple[str, str, int]]
    delete: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    spec: QwenDeploymentSpec = SPEC


CASES = [
    Case(
        "first apply serves the spec's revision as stable at once",
        target=OLD, status=QwenDeploymentStatus(), observed=observe(),
        phase=Phase.PROGRESSING, stable=OLD, canary=None,
        deployments=[(OLD, "stable", 2)], events=["Serving"],
    ),
    Case(
        "stable becomes available: healthy, announced once",
        target=OLD, status=QwenDeploymentStatus(stable=stable()), observed=observe(ready(OLD)),
        phase=Phase.HEALTHY, stable=OLD, canary=None,
        deployments=[(OLD, "stable", 2)], events=["Available"],
    ),
    Case(
        "steady state says nothing",
        target=OLD, status=available_before(), observed=observe(ready(OLD)),
        phase=Phase.HEALTHY, stable=OLD, canary=None, deployments=[(OLD, "stable", 2)],
    ),
    Case(
        "stable that loses replicas is degraded, with a warning",
        target=OLD, status=available_before(), observed=observe(loading(OLD, ready_replicas=1)),
        phase=Phase.DEGRADED, stable=OLD, canary=None,
        deployments=[(OLD, "stable", 2)], events=["Degraded"],
    ),
    Case(
        "scaled to zero is healthy",
        target=OLD, status=QwenDeploymentStatus(stable=stable()), observed=observe(loading(OLD, 0)),
        phase=Phase.HEALTHY, stable=OLD, canary=None, deployments=[(OLD, "stable", 0)], spec=spec(replicas=0),
    ),
    Case(
        "a stray Deployment of an unknown revision is removed",
        target=OLD, status=available_before(), observed=observe(ready(OLD), ready(STRAY)),
        phase=Phase.HEALTHY, stable=OLD, canary=None, deployments=[(OLD, "stable", 2)], delete=[STRAY],
    ),
    Case(
        "a new revision starts beside the stable, which keeps full capacity",
        target=NEW, status=available_before(), observed=observe(ready(OLD)),
        phase=Phase.PROGRESSING, stable=OLD, canary=NEW,
        deployments=[(OLD, "stable", 2), (NEW, "canary", 2)], events=["RolloutStarted", "Promoting"],
    ),
    Case(
        "a loading canary holds: nothing is promoted, nothing removed",
        target=NEW, status=QwenDeploymentStatus(stable=stable(), canary=canary()),
        observed=observe(ready(OLD), loading(NEW, ready_replicas=1)),
        phase=Phase.PROGRESSING, stable=OLD, canary=NEW,
        deployments=[(OLD, "stable", 2), (NEW, "canary", 2)],
    ),
    Case(
        "an available canary is promoted and the old stable removed",
        target=NEW, status=QwenDeploymentStatus(stable=stable(), canary=canary()),
        observed=observe(ready(OLD), ready(NEW)),
        phase=Phase.HEALTHY, stable=NEW, canary=None,
        deployments=[(NEW, "stable", 2)], delete=[OLD], events=["Promoted"],
    ),
    Case(
        "spec back to the stable revision abandons the canary",
        target=OLD, status=QwenDeploymentStatus(stable=stable(), canary=canary()),
        observed=observe(ready(OLD), loading(NEW)),
        phase=Phase.HEALTHY, stable=OLD, canary=None,
        deployments=[(OLD, "stable", 2)], delete=[NEW], events=["CanaryAbandoned", "Available"],
    ),
    Case(
        "a newer spec mid-rollout replaces the canary",
        target=NEWER, status=QwenDeploymentStatus(stable=stable(), canary=canary()),
        observed=observe(ready(OLD), loading(NEW)),
        phase=Phase.PROGRESSING, stable=OLD, canary=NEWER,
        deployments=[(OLD, "stable", 2), (NEWER, "canary", 2)], delete=[NEW],
        events=["CanaryReplaced", "RolloutStarted", "Promoting"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    plan = decide(case.spec, case.target, case.status, case.observed, T0 + timedelta(minutes=1))
    assert plan.status.phase == case.phase
    assert plan.status.stable is not None and plan.status.stable.revision == case.stable
    assert (plan.status.canary.revision if plan.status.canary else None) == case.canary
    assert plan.stable_revision == case.stable and plan.canary_revision == case.canary
    assert [(d.revision, d.track, d.replicas) for d in plan.deployments] == case.deployments
    assert list(plan.delete) == case.delete
    assert [e.reason for e in plan.events] == case.events
    assert plan.status.observed_generation == 3
    assert plan.status.message


def test_deciding_twice_on_the_same_world_changes_nothing() -> None:
    world = observe(ready(OLD), loading(NEW))
    first = decide(SPEC, NEW, available_before(), world, T0)
    second = decide(SPEC, NEW, first.status, world, T0 + timedelta(seconds=30))
    assert second.status == first.status
    assert second.events == ()


def test_conditions_move_their_transition_time_only_on_change() -> None:
    first = decide(SPEC, OLD, QwenDeploymentStatus(stable=stable()), observe(ready(OLD)), T0)
    later = decide(SPEC, OLD, first.status, observe(ready(OLD)), T0 + timedelta(hours=1))
    available = condition(later.status.conditions, ConditionType.AVAILABLE)
    assert available is not None and available.last_transition_time == T0
    lost = decide(SPEC, OLD, later.status, observe(loading(OLD)), T0 + timedelta(hours=2))
    available = condition(lost.status.conditions, ConditionType.AVAILABLE)
    assert available is not None and available.status == "False"
    assert available.last_transition_time == T0 + timedelta(hours=2)


def test_promotion_records_history_within_the_limit() -> None:
    old_entries = [
        HistoryEntry(revision=f"{i:010d}", model=SPEC.model, outcome="Promoted", at=T0) for i in range(3)
    ]
    status = QwenDeploymentStatus(stable=stable(), canary=canary(), history=old_entries)
    plan = decide(spec(revisionHistoryLimit=2), NEW, status, observe(ready(OLD), ready(NEW)), T0)
    assert [h.revision for h in plan.status.history] == ["0000000002", NEW]
    assert plan.status.history[-1].outcome == "Promoted"


def test_promotion_carries_the_canarys_pod_fields_into_stable() -> None:
    tp2 = spec(engine={"tensorParallelSize": 2}, nodePool={"gpusPerReplica": 2})
    status = QwenDeploymentStatus(
        stable=stable(),
        canary=CanaryRevision(
            revision=NEW, model=tp2.model, engine=tp2.engine, node_pool=tp2.node_pool, promoting=True
        ),
    )
    plan = decide(tp2, NEW, status, observe(ready(OLD), ready(NEW)), T0)
    assert plan.status.stable is not None
    assert plan.status.stable.engine.tensor_parallel_size == 2
    assert plan.status.stable.node_pool.gpus_per_replica == 2


def test_refusing_a_spec_says_why_once_and_keeps_the_revisions() -> None:
    before = QwenDeploymentStatus(stable=stable(), canary=canary(), phase=Phase.PROGRESSING)
    status, event = refuse(before, ["spec.model.revision: not a commit"], 4, T0)
    invalid = condition(status.conditions, ConditionType.INVALID_SPEC)
    assert invalid is not None and invalid.status == "True"
    assert "spec.model.revision" in invalid.message
    assert status.phase == Phase.DEGRADED and status.observed_generation == 4
    assert status.stable == before.stable and status.canary == before.canary
    assert event is not None and event.type == "Warning"
    again, repeated = refuse(status, ["spec.model.revision: not a commit"], 4, T0 + timedelta(minutes=1))
    assert repeated is None and again == status


def test_a_valid_spec_clears_invalid_spec() -> None:
    refused, _ = refuse(available_before(), ["spec.replicas: bad"], 4, T0)
    plan = decide(SPEC, OLD, refused, observe(ready(OLD)), T0 + timedelta(minutes=1))
    invalid = condition(plan.status.conditions, ConditionType.INVALID_SPEC)
    assert invalid is not None and invalid.status == "False"
    assert plan.status.phase == Phase.HEALTHY


def test_a_first_revision_whose_pods_refuse_the_checkpoint_fails_and_stays() -> None:
    refused = "VerificationFailed: model.safetensors: sha256 is 5f3a1c…, expected 9c1b2d…"
    observed = Observed(
        generation=3,
        deployments={OLD: loading(OLD)},
        startups={OLD: RevisionStartup(OLD, Stage.VERIFICATION_FAILED, {"VerificationFailed": 2}, refused, refused)},
    )
    plan = decide(SPEC, OLD, QwenDeploymentStatus(stable=stable()), observed, T0)
    assert plan.status.phase == Phase.FAILED
    assert refused in plan.status.message and "fix spec.model" in plan.status.message
    available = condition(plan.status.conditions, ConditionType.AVAILABLE)
    assert available is not None and (available.status, available.reason) == ("False", "VerificationFailed")
    # The Deployment stays as declared: a person fixes the spec; nothing else runs to fall back to.
    assert [(d.revision, d.replicas) for d in plan.deployments] == [(OLD, 2)]
    # Once it serves again, the failure is forgotten.
    healed = decide(SPEC, OLD, plan.status, observe(ready(OLD)), T0 + timedelta(minutes=5))
    assert healed.status.phase == Phase.HEALTHY
