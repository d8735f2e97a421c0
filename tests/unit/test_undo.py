"""A person's undo: serve the revision before the current one until the spec changes."""

from datetime import UTC, datetime, timedelta

import pytest

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import (
    CanaryRevision,
    ConditionType,
    HandledRequests,
    Override,
    Phase,
    QwenDeploymentStatus,
    StableRevision,
    condition,
)
from qwenops.policy.rollout import DeploymentState, Observed, decide, resolve_target
from qwenops.render.defaults import revision_of

T0 = datetime(2026, 11, 29, 3, tzinfo=UTC)


def spec_at(commit: str) -> QwenDeploymentSpec:
    return QwenDeploymentSpec.model_validate(
        {"model": {"name": "Qwen/Qwen3-8B", "revision": commit * 40, "servedModelName": "q"}, "replicas": 2}
    )


A, B, C = spec_at("a"), spec_at("b"), spec_at("c")
REV_A, REV_B, REV_C = revision_of(A), revision_of(B), revision_of(C)


def stable(spec: QwenDeploymentSpec) -> StableRevision:
    return StableRevision(revision=revision_of(spec), model=spec.model, engine=spec.engine, node_pool=spec.node_pool)


def canary(spec: QwenDeploymentSpec) -> CanaryRevision:
    return CanaryRevision(
        revision=revision_of(spec), model=spec.model, engine=spec.engine, node_pool=spec.node_pool, started_at=T0
    )


def undo_to(spec: QwenDeploymentSpec, over: str) -> Override:
    return Override(revision=revision_of(spec), model=spec.model, engine=spec.engine,
                    node_pool=spec.node_pool, spec_revision=over, at=T0)  # fmt: skip


UNDO = {"qwenops.io/undo": "2026-11-29T03:00:00.000001Z"}
PROMOTED_B = QwenDeploymentStatus(stable=stable(B), previous=stable(A))


@pytest.mark.parametrize(
    ("case", "spec", "status", "annotations", "target", "override", "events"),
    [
        ("no request, no override: the spec's revision", B, PROMOTED_B, {}, REV_B, None, []),
        ("after a promotion, undo goes back to the previous stable", B, PROMOTED_B, UNDO, REV_A, REV_A,
         ["UndoRequested"]),
        ("with a canary running, undo keeps the stable and drops the canary",
         B, QwenDeploymentStatus(stable=stable(A), canary=canary(B)), UNDO, REV_A, REV_A, ["UndoRequested"]),
        ("a request already acted on does nothing more",
         B, PROMOTED_B.model_copy(update={"handled": HandledRequests(undo=UNDO["qwenops.io/undo"])}), UNDO,
         REV_B, None, []),
        ("nothing earlier to go back to", A, QwenDeploymentStatus(stable=stable(A)), UNDO, REV_A, None,
         ["UndoImpossible"]),
        ("the override holds while the spec stays",
         B, PROMOTED_B.model_copy(update={"override": undo_to(A, REV_B)}), {}, REV_A, REV_A, []),
        ("a new spec ends the override", C, PROMOTED_B.model_copy(update={"override": undo_to(A, REV_B)}), {},
         REV_C, None, ["UndoSuperseded"]),
        ("undo of a promoted undo goes forth to the spec's revision again",
         B, QwenDeploymentStatus(stable=stable(A), previous=stable(B), override=undo_to(A, REV_B)), UNDO,
         REV_B, None, ["UndoRequested"]),
    ],
)  # fmt: skip
def test_resolve_target(
    case: str, spec: QwenDeploymentSpec, status: QwenDeploymentStatus, annotations: dict[str, str],
    target: str, override: str | None, events: list[str],
) -> None:  # fmt: skip
    resolved = resolve_target(spec, revision_of(spec), status, annotations, T0, 4)
    assert resolved.revision == target, case
    assert revision_of(resolved.spec) == target, case  # the pods are the target's own
    assert (resolved.status.override.revision if resolved.status.override else None) == override, case
    assert [e.reason for e in resolved.events] == events, case
    overridden = condition(resolved.status.conditions, ConditionType.SPEC_OVERRIDDEN)
    if override is not None:
        assert overridden is not None and overridden.status == "True" and "instead of the spec's" in overridden.message
    elif overridden is not None:
        assert overridden.status == "False"
    if annotations:
        assert resolved.status.handled.undo == annotations["qwenops.io/undo"]


def test_undo_rolls_the_previous_revision_out_and_a_promotion_keeps_the_way_back() -> None:
    resolved = resolve_target(B, REV_B, PROMOTED_B, UNDO, T0, 4)
    observed = Observed(generation=4, deployments={REV_B: DeploymentState(REV_B, 2, 2, True)}, annotations=UNDO)
    plan = decide(resolved.spec, resolved.revision, resolved.status, observed, T0)
    assert plan.canary_revision == REV_A and plan.stable_revision == REV_B
    assert plan.status.phase == Phase.PROGRESSING
    # Once REV_A has every pod ready, it is promoted; REV_B becomes the way back.
    ready = Observed(generation=4, deployments={
        REV_A: DeploymentState(REV_A, 2, 2, True), REV_B: DeploymentState(REV_B, 2, 2, True)})  # fmt: skip
    later = decide(resolved.spec, REV_A, plan.status, ready, T0 + timedelta(minutes=1))
    while later.status.phase != Phase.HEALTHY:
        later = decide(resolved.spec, REV_A, later.status, ready, T0 + timedelta(minutes=2))
    assert later.status.stable is not None and later.status.stable.revision == REV_A
    assert later.status.previous is not None and later.status.previous.revision == REV_B
    assert later.status.override is not None and later.status.override.spec_revision == REV_B


def test_an_undo_during_a_canary_can_itself_be_undone() -> None:
    during = resolve_target(B, REV_B, QwenDeploymentStatus(stable=stable(A), canary=canary(B)), UNDO, T0, 4)
    assert during.revision == REV_A
    settled = during.status.model_copy(update={"canary": None})
    again = resolve_target(B, REV_B, settled, {"qwenops.io/undo": "second"}, T0, 4)
    assert again.revision == REV_B and again.status.override is None
    assert [e.reason for e in again.events] == ["UndoRequested"]
