"""The operator's metrics that dashboards join on: each revision's track and checkpoint, and each
declared SLO; set after every pass, removed when the revision or the SLO is gone."""

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus
from qwenops.io import metrics
from tests.status_fixtures import (
    CANARY,
    CANARY_COMMIT,
    NS,
    SLOS,
    SPEC,
    STABLE,
    STABLE_COMMIT,
    canary,
    spec,
    stable,
)

NAME = "metrics-check"


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    yield
    metrics.forget(NS, NAME)


def info() -> dict[tuple[str, str, str], float]:
    """(revision, track, checkpoint) -> value of this QwenDeployment's revision series."""
    return {
        (s.labels["revision"], s.labels["track"], s.labels["checkpoint"]): s.value
        for family in REGISTRY.collect()
        if family.name == "qwenops_revision_info"
        for s in family.samples
        if s.labels["namespace"] == NS and s.labels["name"] == NAME
    }


def thresholds() -> dict[str, float]:
    return {
        s.labels["slo"]: s.value
        for family in REGISTRY.collect()
        if family.name == "qwenops_slo_threshold"
        for s in family.samples
        if s.labels["name"] == NAME
    }


def test_each_running_revision_is_named_with_its_track_and_checkpoint() -> None:
    rollout = QwenDeploymentStatus(stable=stable(), canary=canary())
    metrics.record_rollout(NS, NAME, rollout, SPEC.rollout.analysis)
    assert info() == {
        (STABLE, "stable", STABLE_COMMIT): 1.0,
        (CANARY, "canary", CANARY_COMMIT): 1.0,
    }
    promoted = QwenDeploymentStatus(stable=stable(CANARY, CANARY_COMMIT))
    metrics.record_rollout(NS, NAME, promoted, SPEC.rollout.analysis)
    assert info() == {(CANARY, "stable", CANARY_COMMIT): 1.0}, "no stale track"
    metrics.forget(NS, NAME)
    assert info() == {}


def test_the_slos_are_the_specs_declarations() -> None:
    metrics.record_rollout(NS, NAME, QwenDeploymentStatus(), SPEC.rollout.analysis)
    assert thresholds() == {key: float(value) for key, value in SLOS.items()}
    fewer = QwenDeploymentSpec.model_validate(spec(slos={"maxErrorRate": 0.05}))
    metrics.record_rollout(NS, NAME, QwenDeploymentStatus(), fewer.rollout.analysis)
    assert thresholds() == {"maxErrorRate": 0.05}, "an SLO no longer declared has no series"
