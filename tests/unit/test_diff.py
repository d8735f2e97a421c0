from typing import Any

import pytest

from qwenops.render.diff import (
    controlled_by,
    controller_of,
    drift_patch,
    ensure_action,
    is_derivative,
    merge_patch,
)
from qwenops_testing.emulator import (
    merge_patch as apply_merge_patch,  # the emulator's RFC 7386, tested on its own
)

DESIRED = {"spec": {"replicas": 2, "template": {"containers": [{"name": "vllm", "args": ["a", "b"]}]}}}


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (DESIRED, True),
        # fields the server adds are not drift
        ({"spec": {"replicas": 2, "paused": False, "template": {"containers": [
            {"name": "vllm", "args": ["a", "b"], "imagePullPolicy": "IfNotPresent"}]}}}, True),
        ({"spec": {"replicas": 3, "template": {"containers": [{"name": "vllm", "args": ["a", "b"]}]}}}, False),
        ({"spec": {"replicas": 2, "template": {"containers": [{"name": "vllm", "args": ["a"]}]}}}, False),
        ({"spec": {"replicas": 2, "template": {"containers": [{"name": "vllm", "args": ["a", "b"]},
                                                          {"name": "sidecar"}]}}}, False),
        ({"spec": {"replicas": 2}}, False),
        ({}, False),
        ({"spec": {"replicas": "2", "template": {"containers": [{"name": "vllm", "args": ["a", "b"]}]}}}, False),
    ],
)  # fmt: skip
def test_is_derivative(live: dict[str, Any], expected: bool) -> None:
    assert is_derivative(DESIRED, live) is expected


def test_booleans_are_not_numbers() -> None:
    assert not is_derivative({"a": True}, {"a": 1})
    assert is_derivative({"a": 1}, {"a": 1.0})


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 3}}, {"a": {"y": 3}}),
        ({"a": [1, 2]}, {"a": [1]}, {"a": [1]}),
        ({}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
    ],
)
def test_merge_patch_turns_old_into_new(
    old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert merge_patch(old, new) == patch
    assert apply_merge_patch(old, patch) == new


def test_an_extra_selector_key_is_drift_but_an_extra_label_is_not() -> None:
    desired = {"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": "x"}}}
    assert is_derivative(
        desired, {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"selector": {"app": "x"}}}
    )
    assert not is_derivative(
        desired, {"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": "x", "o": "y"}}}
    )


@pytest.mark.parametrize(
    ("live", "patch"),
    [
        (
            {"spec": {"selector": {"app": "x", "o": "y"}, "ports": [{"port": 1}], "type": "ClusterIP"}},
            {"spec": {"selector": {"o": None}}},
        ),
        ({"spec": {"selector": {"app": "x"}, "ports": [{"port": 1, "protocol": "TCP"}]}}, {}),
        ({"spec": {"selector": {"app": "x"}, "ports": [{"port": 2}]}}, {"spec": {"ports": [{"port": 1}]}}),
        (
            {"metadata": {"labels": {"a": "2", "b": "3"}}},
            {"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 1}]}},
        ),
    ],
)
def test_drift_patch_restores_what_differs_and_nothing_else(
    live: dict[str, Any], patch: dict[str, Any]
) -> None:
    desired = {"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 1}]}}
    live = {"metadata": {"labels": {"a": "1"}}, **live} if "metadata" not in live else live
    assert drift_patch(desired, live) == patch
    assert is_derivative(desired, apply_merge_patch(live, drift_patch(desired, live)))


# --- ensure_action: what `ensure` sends, and never to an object another owner controls -----------

OURS = {"apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment", "name": "chat", "uid": "u1",
        "controller": True, "blockOwnerDeletion": True}  # fmt: skip
WANTED = {"metadata": {"name": "chat", "ownerReferences": [OURS]}, "spec": {"selector": {"a": "b"}}}


def stored_with(*refs: dict[str, Any], selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "chat", "ownerReferences": list(refs)}, "spec": {"selector": selector or {"a": "b"}}}


@pytest.mark.parametrize(
    ("live", "action"),
    [
        (None, "create"),
        (stored_with(OURS), "unchanged"),
        (stored_with(OURS, selector={"a": "c"}), "update"),
        (stored_with(), "conflict"),  # no owner: made by hand, or by Helm
        (stored_with({**OURS, "uid": "u2", "name": "chat-stable"}), "conflict"),  # another QwenDeployment's
        (stored_with({**OURS, "controller": False}), "conflict"),  # names us, but another controls it
        (stored_with({k: v for k, v in OURS.items() if k != "controller"}), "conflict"),
        (stored_with({**OURS, "uid": "u2"}, selector={"a": "c"}), "conflict"),  # drift is not ours to fix
    ],
)  # fmt: skip
def test_ensure_writes_only_what_the_desired_controller_controls(live: dict[str, Any] | None, action: str) -> None:
    assert ensure_action(WANTED, live)[0] == action


def test_another_owners_reference_on_a_controlled_child_is_kept() -> None:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u9"}
    assert ensure_action(WANTED, stored_with(OURS, other)) == ("unchanged", None)
    # Drift is put back without sending the ownerReferences: a merge patch would replace the list.
    assert ensure_action(WANTED, stored_with(other, OURS, selector={"a": "c"})) == (
        "update", {"spec": {"selector": {"a": "b"}}}
    )


def test_the_controller_is_the_one_reference_marked_so() -> None:
    assert controller_of(stored_with({**OURS, "controller": False}, {**OURS, "uid": "u2"})) == {**OURS, "uid": "u2"}
    assert controller_of(stored_with()) is None
    assert controlled_by(stored_with(OURS), "u1") and not controlled_by(stored_with(OURS), "u2")
