"""argocd/health.lua, run by a real Lua 5.1 against QwenDeployments the operator's status model accepts."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from argocd.build import LAYOUT
from qwenops.api.bake import Bake
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import Phase, QwenDeploymentStatus
from qwenops.policy.conclude import report_conflicts
from qwenops.policy.rollout import DeploymentState, Observed, decide, refuse
from qwenops.policy.startup import RevisionStartup, Stage
from tests.argocd import cases
from tests.argocd.argolua import health

ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
CONTAINS: dict[str, tuple[str, ...]] = {
    "progressing-step-1": ("step 1/2 at 10%: waiting for pause", "last reading Passed"),
    "rolled-back-slo-breach": (
        "revision a1b2c3d4e5 rolled back (SLOBreached)",
        "maxErrorRate: error ratio 6.36%",
    ),
    "rolled-back-verification-failed": (
        "revision a1b2c3d4e5 rolled back (VerificationFailed)",
        "model-00002-of-00005.safetensors: sha256 is",
    ),
    "failed-first-revision": ("revision 7d9f4c21ab cannot serve", "fix spec.model"),
}
"""Situations whose health message is the operator's own `status.message`, verbatim, and what it
must say, whatever else the operator writes."""


@dataclass(frozen=True)
class Expected:
    status: str
    message: str


def _expected() -> dict[str, Expected]:
    """The status and message of each situation, from health_test.yaml (Argo CD's format): one source."""
    tests = yaml.safe_load((LAYOUT / "health_test.yaml").read_text(encoding="utf-8"))["tests"]
    return {
        Path(test["inputPath"]).stem: Expected(
            test["healthStatus"]["status"], test["healthStatus"]["message"]
        )
        for test in tests
    }


EXPECTED = _expected()


def test_every_fixture_has_an_expectation_and_every_expectation_a_fixture() -> None:
    assert sorted(EXPECTED) == cases.names()


@pytest.mark.parametrize("name", cases.names())
def test_fixture_matches_the_api(name: str) -> None:
    """The fixtures cannot drift from the API: the operator's models accept each status and spec."""
    obj = cases.load(name)
    assert obj["apiVersion"] == "qwenops.io/v1alpha1"
    assert obj["kind"] == "QwenDeployment"
    assert isinstance(obj["metadata"]["generation"], int)
    status = cases.status_of(obj)
    if status.observed_generation is not None:
        assert status.observed_generation <= obj["metadata"]["generation"]
    if name == cases.INVALID_SPEC:
        with pytest.raises(ValidationError, match="revision"):
            cases.spec_of(obj)
    else:
        cases.spec_of(obj)


@pytest.mark.parametrize("name", cases.names())
def test_health_of_each_situation(name: str) -> None:
    obj = cases.load(name)
    expected = EXPECTED[name]
    got = health(obj)
    assert got == {"status": expected.status, "message": expected.message}
    for part in CONTAINS.get(name, ()):
        assert part in got["message"]
    if name in CONTAINS:
        assert expected.message == obj["status"]["message"]


@pytest.mark.parametrize("name", cases.names())
def test_message_is_never_empty_even_without_the_operators_one_liner(name: str) -> None:
    obj = copy.deepcopy(cases.load(name))
    if "status" in obj:
        obj["status"].pop("message", None)
        for each in obj["status"].get("conditions", []):
            each["message"] = ""
    got = health(obj)
    assert got["status"] == EXPECTED[name].status
    assert got["message"].strip()


def test_a_rollback_without_a_message_is_explained_by_its_history_entry() -> None:
    obj = copy.deepcopy(cases.load("rolled-back-slo-breach"))
    del obj["status"]["message"]
    got = health(obj)
    assert got["status"] == "Degraded"
    assert got["message"].startswith("revision a1b2c3d4e5 rolled back (SLOBreached: maxErrorRate")


@pytest.mark.parametrize("phase", ["Degraded", "Healthy", "Progressing"])
def test_a_child_conflict_is_degraded_and_named_whatever_the_phase(phase: str) -> None:
    """The condition decides, and names the object when the operator's one-liner is missing."""
    obj = copy.deepcopy(cases.load("child-conflict"))
    obj["status"]["phase"] = phase
    del obj["status"]["message"]
    assert health(obj) == {
        "status": "Degraded",
        "message": "Service llm/chat-stable is controlled by QwenDeployment chat-stable; rename one",
    }


def test_the_generation_may_arrive_as_a_string() -> None:
    obj = copy.deepcopy(cases.load("healthy"))
    obj["status"]["observedGeneration"] = "1"
    assert health(obj)["status"] == "Healthy"
    obj["metadata"]["generation"] = "2"
    assert health(obj) == {
        "status": "Progressing",
        "message": "Waiting for the operator to observe generation 2",
    }


def test_an_unknown_phase_is_unknown_with_the_operators_message() -> None:
    obj = copy.deepcopy(cases.load("healthy"))
    obj["status"]["phase"] = "Hibernating"
    assert health(obj) == {
        "status": "Unknown",
        "message": "unknown phase Hibernating: revision 7d9f4c21ab serving on 2/2 replicas",
    }


def test_every_result_is_a_status_argo_cd_accepts() -> None:
    for name in cases.names():
        assert health(cases.load(name))["status"] in ARGO_STATUSES


# --- the statuses the operator's own state machine writes, phase by phase ------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OLD, NEW = "7d9f4c21ab", "a1b2c3d4e5"
SPEC = QwenDeploymentSpec.model_validate(
    {
        "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen3-8b"},
        "replicas": 2,
        "rollout": {
            "steps": [{"weight": 10, "pause": "5m"}, {"weight": 50}],
            "trafficRouting": {"httpRoute": {"name": "chat"}},
        },
    }
)


def ready(revision: str, replicas: int, ready_replicas: int | None = None) -> DeploymentState:
    count = replicas if ready_replicas is None else ready_replicas
    return DeploymentState(revision, replicas, count, available=count == replicas)


def observed(*states: DeploymentState, **extra: Any) -> Observed:
    return Observed(generation=5, deployments={s.revision: s for s in states}, **extra)


def as_object(status: QwenDeploymentStatus) -> dict[str, Any]:
    """The QwenDeployment as the API serves it, with the status the operator wrote."""
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": "chat", "namespace": "llm", "generation": 5},
        "spec": SPEC.model_dump(by_alias=True, mode="json", exclude_none=True),
        "status": status.model_dump(by_alias=True, mode="json", exclude_none=True),
    }


def walk() -> list[tuple[str, QwenDeploymentStatus]]:
    """One QwenDeployment's life through every phase, each status written by `rollout.decide`."""
    seen: list[tuple[str, QwenDeploymentStatus]] = []
    status = decide(SPEC, OLD, QwenDeploymentStatus(), observed(), T0).status
    seen.append(("first revision starting", status))
    status = decide(SPEC, OLD, status, observed(ready(OLD, 2)), T0 + timedelta(minutes=20)).status
    seen.append(("first revision serving", status))
    healthy = status
    seen.append(("stable lost a replica", decide(SPEC, OLD, healthy, observed(ready(OLD, 2, 1)), T0).status))
    t = T0 + timedelta(days=1)
    status = decide(SPEC, NEW, healthy, observed(ready(OLD, 2)), t).status
    seen.append(("canary starting", status))
    status = decide(
        SPEC, NEW, status, observed(ready(OLD, 2), ready(NEW, 1)), t + timedelta(minutes=5)
    ).status
    seen.append(("canary at step 1", status))
    step_1 = status
    status = decide(
        SPEC, NEW, status, observed(ready(OLD, 2), ready(NEW, 1)), t + timedelta(minutes=11)
    ).status
    seen.append(("canary paused at step 2", status))
    abort = {"qwenops.io/abort": "1"}
    status = decide(
        SPEC,
        NEW,
        status,
        observed(ready(OLD, 2), ready(NEW, 1), annotations=abort),
        t + timedelta(minutes=12),
    ).status
    seen.append(("canary aborted", status))
    refused = "VerificationFailed: model-00001-of-00004.safetensors: sha256 is 00…, expected 11…"
    startup = RevisionStartup(NEW, Stage.VERIFICATION_FAILED, {"VerificationFailed": 1}, refused, refused)
    status = decide(
        SPEC, NEW, step_1, observed(ready(OLD, 2), ready(NEW, 1, 0), startups={NEW: startup}), t
    ).status
    seen.append(("canary refused its checkpoint", status))
    first = decide(SPEC, OLD, QwenDeploymentStatus(), observed(), T0).status
    startup = RevisionStartup(OLD, Stage.VERIFICATION_FAILED, {"VerificationFailed": 2}, refused, refused)
    status = decide(SPEC, OLD, first, observed(ready(OLD, 2, 0), startups={OLD: startup}), T0).status
    seen.append(("first revision refused its checkpoint", status))
    status, _ = refuse(healthy, ["spec.replicas must be at least 0"], 5, t)
    seen.append(("spec refused", status))
    status, _ = report_conflicts(
        healthy,
        [
            "Service llm/chat has no owner (made by hand or by a tool such as "
            "Helm): delete it or rename this QwenDeployment"
        ],
        t,
        5,
    )
    seen.append(("a child's name held by another owner", status))
    baked = SPEC.model_copy(
        update={"rollout": SPEC.rollout.model_copy(update={"bake": Bake(duration="30m")})}
    )
    assert step_1.canary is not None
    promoting = step_1.model_copy(update={"canary": step_1.canary.model_copy(update={"promoting": True})})
    status = decide(
        baked, NEW, promoting, observed(ready(OLD, 2), ready(NEW, 2)), t + timedelta(minutes=13)
    ).status
    seen.append(("promoted, baking", status))
    return seen


HEALTH_OF_PHASE = {
    Phase.PROGRESSING: "Progressing",
    Phase.PAUSED: "Suspended",
    Phase.HEALTHY: "Healthy",
    Phase.DEGRADED: "Degraded",
    Phase.ROLLED_BACK: "Degraded",
    Phase.FAILED: "Degraded",
    Phase.BAKING: "Progressing",
}


def test_the_walk_reaches_every_phase() -> None:
    assert {status.phase for _, status in walk()} == set(Phase)


@pytest.mark.parametrize(("situation", "status"), walk(), ids=[situation for situation, _ in walk()])
def test_health_of_what_the_operator_writes(situation: str, status: QwenDeploymentStatus) -> None:
    assert status.phase is not None
    got = health(as_object(status))
    assert got["status"] == HEALTH_OF_PHASE[status.phase], situation
    assert got["message"] == status.message, situation


def test_a_rollback_within_a_budget_says_the_capacity_still_missing() -> None:
    obj = copy.deepcopy(cases.load("rolled-back-slo-breach"))
    message = "1 of 2 serving replicas missing (1 ready)"
    obj["status"]["capacity"] = {
        "missing": 1,
        "serving": 1,
        "since": "2026-03-03T09:20:00Z",
        "message": message,
    }
    cases.status_of(obj)  # as the operator writes it
    got = health(obj)
    assert got["status"] == "Degraded"
    assert got["message"] == f"{obj['status']['message']}; capacity: {message}"
