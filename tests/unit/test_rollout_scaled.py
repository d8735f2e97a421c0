"""`spec.replicas` changed in the middle of a canary step (an autoscaler writing the scale
subresource): the stable takes the new count, the canary the pods that carry the step's weight
beside it, and `status.canary.weight` says the share those pods carry now."""

from datetime import timedelta

import pytest

from qwenops.policy.rollout import DeploymentState, Observed, decide
from tests.unit.test_rollout_steps import NEW, OLD, STEP0, canary, make_spec, status


def ready_as_before() -> Observed:
    """Both revisions' pods ready as the previous count asked (the stable's 2, the canary's 1)."""
    deployments = {OLD: DeploymentState(OLD, 2, 2, True), NEW: DeploymentState(NEW, 1, 1, True)}
    return Observed(generation=3, deployments=deployments, annotations={}, startups={}, route=None)


@pytest.mark.parametrize(
    ("replicas", "canary_pods", "weight"), [(6, 2, 25), (9, 3, 25), (2, 1, 33), (4, 2, 33)]
)
def test_the_canary_follows_a_new_replica_count_mid_step(replicas: int, canary_pods: int, weight: int) -> None:
    spec = make_spec(steps=[{"weight": 25}]).model_copy(update={"replicas": replicas})
    before = status(canary=canary(step_started_at=STEP0, weight=33))  # started with 2 replicas: 1 pod of 3
    plan = decide(spec, NEW, before, ready_as_before(), STEP0 + timedelta(minutes=5))
    pods = {d.revision: d.replicas for d in plan.deployments}
    assert pods == {OLD: replicas, NEW: canary_pods}
    assert plan.status.canary is not None
    assert plan.status.canary.weight == weight
    assert plan.status.canary.step_started_at == STEP0  # the same step goes on


def test_exact_weights_stay_the_steps_whatever_the_count() -> None:
    spec = make_spec(steps=[{"weight": 25}], http_route=True).model_copy(update={"replicas": 6})
    before = status(canary=canary(step_started_at=STEP0, weight=25))
    plan = decide(spec, NEW, before, ready_as_before(), STEP0 + timedelta(minutes=5))
    assert plan.status.canary is not None and plan.status.canary.weight == 25
