"""argocd/actions: which actions Argo CD offers, what each writes, and that the operator acts on it once."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from argocd.build import LAYOUT
from qwenops.api import naming
from qwenops.api.status import QwenDeploymentStatus
from qwenops.policy.rollout import DeploymentState, Observed, decide, resolve_target
from tests.argocd import cases
from tests.argocd.argolua import ACTIONS, action, discovery, enabled

OLD, NEW = "7d9f4c21ab", "a1b2c3d4e5"
NOW = datetime(2026, 3, 3, 9, 20, 5, tzinfo=UTC)
"""Within the fixtures' canary's progress deadline (25m50s from its start at 09:00)."""
STAMP = "2026-03-03T09:20:05Z"
VALUE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ(-\d+)?$")
ANNOTATIONS = {
    "promote": naming.ANNOTATION_PROMOTE,
    "abort": naming.ANNOTATION_ABORT,
    "retry": naming.ANNOTATION_RETRY,
    "undo": naming.ANNOTATION_UNDO,
}


def _offered() -> dict[str, set[str]]:
    """The actions each situation offers, from actions/action_test.yaml (Argo CD's format): one source."""
    tests = yaml.safe_load((LAYOUT / "actions" / "action_test.yaml").read_text(encoding="utf-8"))
    return {
        Path(test["inputPath"]).stem: {action["name"] for action in test["result"] if not action["disabled"]}
        for test in tests["discoveryTests"]
    }


OFFERED = _offered()


def test_the_actions_are_the_operators_requests() -> None:
    assert set(ACTIONS) == set(ANNOTATIONS)
    assert set(OFFERED) == set(cases.names())


@pytest.mark.parametrize("name", cases.names())
def test_discovery_lists_every_action_and_enables_what_the_operator_would_act_on(name: str) -> None:
    obj = cases.load(name)
    found = discovery(obj)
    assert set(found) == set(ACTIONS)
    for each in found.values():
        assert isinstance(each["disabled"], bool)
        assert each["displayName"]
        assert str(each["iconClass"]).startswith("fa ")
    assert enabled(obj) == OFFERED[name]


def test_discovery_ignores_an_invalid_spec_even_with_a_canary_in_the_status() -> None:
    obj = copy.deepcopy(cases.load("paused"))
    invalid = cases.load("invalid-spec")["status"]["conditions"]
    obj["status"]["conditions"] = [c for c in obj["status"]["conditions"] if c["type"] != "InvalidSpec"]
    obj["status"]["conditions"] += [c for c in invalid if c["type"] == "InvalidSpec"]
    assert enabled(obj) == set()


def with_a_child_conflict(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as the operator writes it while a child's name is held by another owner: phase Degraded."""
    conflicted = copy.deepcopy(obj)
    conflict = cases.load("child-conflict")["status"]["conditions"][-1]
    assert conflict["type"] == "ChildConflict"
    conflicted["status"]["phase"] = "Degraded"
    conflicted["status"]["conditions"].append(conflict)
    return conflicted


@pytest.mark.parametrize("name", ["paused", "progressing-step-1", "rolled-back-slo-breach", "healthy"])
def test_a_child_conflict_offers_what_the_rollout_underneath_would(name: str) -> None:
    """The conflict takes the phase, not the operator's readiness to act on a request."""
    assert enabled(with_a_child_conflict(cases.load(name))) == OFFERED[name]


# --- what an action writes -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ACTIONS)
@pytest.mark.parametrize("name", cases.names())
def test_an_action_sets_only_its_annotation_to_a_new_value(name: str, kind: str) -> None:
    before = cases.load(name)
    after = action(kind, before)
    key = ANNOTATIONS[kind]
    old_annotations = dict(before["metadata"].get("annotations") or {})
    new_annotations = dict(after["metadata"]["annotations"])
    value = new_annotations.pop(key)
    assert VALUE.match(value), value
    assert value != old_annotations.pop(key, None)
    handled = (before.get("status") or {}).get("handled") or {}
    assert value != handled.get(kind)
    assert new_annotations == old_annotations, "other annotations are kept"
    assert after["spec"] == before["spec"], "an action never touches spec"
    assert after.get("status") == before.get("status"), "nor status"
    unchanged = {k: v for k, v in before["metadata"].items() if k != "annotations"}
    assert {k: v for k, v in after["metadata"].items() if k != "annotations"} == unchanged
    assert {k: v for k, v in after.items() if k != "metadata"} == {
        k: v for k, v in before.items() if k != "metadata"
    }


@pytest.mark.parametrize("kind", ACTIONS)
def test_the_value_is_the_request_time_in_utc(kind: str) -> None:
    after = action(kind, cases.load("paused"), now=NOW)
    assert after["metadata"]["annotations"][ANNOTATIONS[kind]] == STAMP


@pytest.mark.parametrize("kind", ACTIONS)
def test_two_requests_in_one_second_still_differ(kind: str) -> None:
    obj = copy.deepcopy(cases.load("paused"))
    key = ANNOTATIONS[kind]
    obj["metadata"]["annotations"][key] = STAMP
    first = action(kind, obj, now=NOW)
    assert first["metadata"]["annotations"][key] == f"{STAMP}-2"
    # The operator handled the first; the person asks again within the same second.
    first["status"]["handled"][kind] = STAMP
    first["metadata"]["annotations"][key] = f"{STAMP}-2"
    second = action(kind, first, now=NOW)
    assert second["metadata"]["annotations"][key] == f"{STAMP}-3"


def test_a_clock_behind_the_last_handled_value_still_makes_a_new_one() -> None:
    obj = copy.deepcopy(cases.load("paused"))
    obj["metadata"]["annotations"][naming.ANNOTATION_PROMOTE] = "2026-03-03T09:21:00Z"
    obj["status"]["handled"]["promote"] = STAMP  # another Argo CD replica's clock was ahead
    after = action("promote", obj, now=NOW)
    assert after["metadata"]["annotations"][naming.ANNOTATION_PROMOTE] == f"{STAMP}-2"


def test_an_object_without_annotations_gets_one() -> None:
    obj = copy.deepcopy(cases.load("paused"))
    del obj["metadata"]["annotations"]
    after = action("abort", obj, now=NOW)
    assert after["metadata"]["annotations"] == {naming.ANNOTATION_ABORT: STAMP}


# --- what the operator makes of it ---------------------------------------------------------------

WORLDS: dict[str, tuple[DeploymentState, ...]] = {
    "canary-loading": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 1, 0, False)),
    "canary-unschedulable": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 1, 0, False)),
    "progressing-step-1": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 1, 1, True)),
    "paused": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 1, 1, True)),
    "promoting": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 2, 1, False)),
    "rolled-back-slo-breach": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 0, 0, True)),
    "rolled-back-verification-failed": (DeploymentState(OLD, 2, 2, True), DeploymentState(NEW, 0, 0, True)),
}
"""The Deployments beside each fixture whose status offers an action."""


def reconcile(name: str, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One pass of the operator's core over `obj`: its annotations in, the status it would write out.

    The spec's revision hash is the canary's (or the rejected one's): the fixtures name revisions
    for people, not the hash of their spec.
    """
    status = cases.status_of(obj)
    spec = cases.spec_of(obj)
    target = NEW
    annotations = dict(obj["metadata"].get("annotations") or {})
    generation = obj["metadata"]["generation"]
    resolved = resolve_target(spec, target, status, annotations, now, generation)
    world = Observed(generation, {s.revision: s for s in WORLDS[name]}, annotations)
    plan = decide(resolved.spec, resolved.revision, resolved.status, world, now)
    updated = copy.deepcopy(obj)
    updated["status"] = plan.status.model_dump(by_alias=True, mode="json", exclude_none=True)
    return updated


def effect(kind: str, before: QwenDeploymentStatus, after: QwenDeploymentStatus) -> None:
    """What each request must have done, from `before` to `after`."""
    if kind == "promote":
        assert before.canary is not None and after.canary is not None
        assert (after.canary.step, after.canary.promoting) > (before.canary.step, before.canary.promoting)
    elif kind == "abort":
        assert after.phase == "RolledBack"
        assert after.history[-1].reason.startswith("Aborted")
    elif kind == "retry":
        assert after.phase == "Progressing"
        assert after.canary is not None and after.canary.revision == NEW and after.canary.step == 0
        assert after.rejected_revision is None
    elif kind == "undo":
        assert after.override is not None and after.override.revision == OLD
        assert after.canary is None
    else:  # pragma: no cover
        raise AssertionError(kind)


OFFERS = [(name, kind) for name in sorted(WORLDS) for kind in ACTIONS if kind in OFFERED[name]]


@pytest.mark.parametrize(("name", "kind"), OFFERS, ids=[f"{n}-{k}" for n, k in OFFERS])
def test_the_operator_acts_on_an_offered_action_once(name: str, kind: str) -> None:
    obj = cases.load(name)
    requested = action(kind, obj, now=NOW)
    value = requested["metadata"]["annotations"][ANNOTATIONS[kind]]

    acted = reconcile(name, requested, NOW + timedelta(seconds=1))
    before, after = cases.status_of(obj), cases.status_of(acted)
    effect(kind, before, after)
    assert getattr(after.handled, kind) == value

    again = reconcile(name, acted, NOW + timedelta(seconds=2))
    assert again["status"]["handled"] == acted["status"]["handled"]
    settled = cases.status_of(again)
    assert len(settled.history) == len(after.history), "no second rollback"
    assert settled.override == after.override, "no second undo"
    if after.canary is not None and settled.canary is not None:
        assert (settled.canary.step, settled.canary.started_at) == (
            after.canary.step,
            after.canary.started_at,
        )


def test_a_second_promote_is_a_second_request() -> None:
    obj = cases.load("progressing-step-1")
    first = reconcile("progressing-step-1", action("promote", obj, now=NOW), NOW)
    assert cases.status_of(first).canary is not None
    second_request = action("promote", first, now=NOW)  # the same second: still a new value
    assert (
        second_request["metadata"]["annotations"][naming.ANNOTATION_PROMOTE]
        != first["metadata"]["annotations"][naming.ANNOTATION_PROMOTE]
    )
    second = cases.status_of(reconcile("progressing-step-1", second_request, NOW))
    canary = second.canary
    assert canary is not None and canary.promoting, "step 2 of 2 ended: the canary scales up to take over"


@pytest.mark.parametrize("name", sorted(n for n, offered in OFFERED.items() if "promote" not in offered))
def test_where_promote_is_not_offered_the_operator_would_not_use_it_now(name: str) -> None:
    """The reason promote is withheld: the operator would use it up for nothing, or keep it for later."""
    obj = cases.load(name)
    status = cases.status_of(obj)
    steady = status.canary is None
    loading = status.canary is not None and status.canary.step_started_at is None
    promoting = status.canary is not None and status.canary.promoting
    stale = status.observed_generation is None or status.observed_generation < obj["metadata"]["generation"]
    refused = status.phase == "Degraded" and any(
        c.type == "InvalidSpec" and c.status == "True" for c in status.conditions
    )
    assert steady or loading or promoting or stale or refused
