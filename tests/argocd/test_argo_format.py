"""argocd/resource_customizations/qwenops.io/QwenDeployment: the scripts in the layout of Argo CD's
own `resource_customizations`, and their tests in Argo CD's format, run as Argo CD's test runners
run them (util/lua/health_test.go, custom_actions_test.go), in the Lua 5.1 of argolua.py.

- `health_test.yaml`: `tests: [{healthStatus: {status, message}, inputPath}]`; the health of each
  input must be exactly that.
- `actions/action_test.yaml`: `discoveryTests: [{inputPath, result: [ResourceAction]}]`, each
  action discovery.lua returns must be one of `result` (Argo CD asserts Contains; here the two sets
  are equal too); `actionTests: [{action, inputPath, expectedOutputPath}]`, the object
  `actions/<action>/action.lua` returns must be the expected output.
Paths are relative to the test file's directory, as Argo CD joins them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from argocd.build import ACTION_TEST_TIME, ACTIONS, LAYOUT
from tests.argocd import cases
from tests.argocd.argolua import ArgoLua, clean_returned

HEALTH_TEST = LAYOUT / "health_test.yaml"
ACTION_TEST = LAYOUT / "actions" / "action_test.yaml"
CLOCK = datetime.fromisoformat(ACTION_TEST_TIME)
"""The action tests' clock: the value the expected outputs give each action's annotation."""


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def health_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = _load(HEALTH_TEST)["tests"]
    return tests


def discovery_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = _load(ACTION_TEST)["discoveryTests"]
    return tests


def action_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = _load(ACTION_TEST)["actionTests"]
    return tests


def test_the_files_are_where_argo_cd_looks_for_them() -> None:
    """resource_customizations/<group>/<Kind>/: health.lua and actions/discovery.lua, an
    actions/<name>/action.lua per action; every path a test names exists."""
    assert (
        LAYOUT.relative_to(LAYOUT.parents[2]).as_posix()
        == "resource_customizations/qwenops.io/QwenDeployment"
    )
    assert (LAYOUT / "health.lua").is_file() and (LAYOUT / "actions" / "discovery.lua").is_file()
    assert {p.parent.name for p in (LAYOUT / "actions").glob("*/action.lua")} == set(ACTIONS)
    for test in health_tests():
        assert (LAYOUT / test["inputPath"]).is_file(), test
        assert set(test) == {"healthStatus", "inputPath"} and set(test["healthStatus"]) == {
            "status",
            "message",
        }
    for test in discovery_tests():
        assert (LAYOUT / "actions" / test["inputPath"]).is_file(), test
    for test in action_tests():
        assert test["action"] in ACTIONS
        assert (LAYOUT / "actions" / test["inputPath"]).is_file(), test
        assert (LAYOUT / "actions" / test["expectedOutputPath"]).is_file(), test


def test_every_situation_is_tested_for_health_and_discovery() -> None:
    assert sorted(Path(t["inputPath"]).stem for t in health_tests()) == cases.names()
    assert sorted(Path(t["inputPath"]).stem for t in discovery_tests()) == cases.names()
    assert {t["action"] for t in action_tests()} == set(ACTIONS), "each action run once at least"


@pytest.mark.parametrize("test", health_tests(), ids=lambda t: t["inputPath"])
def test_health(test: dict[str, Any]) -> None:
    obj = _load(LAYOUT / test["inputPath"])
    got = ArgoLua().run(LAYOUT / "health.lua", obj)
    assert got == test["healthStatus"]


def _resource_actions(found: dict[str, Any]) -> list[dict[str, Any]]:
    """discovery.lua's table as Argo CD turns it into ResourceActions (name, disabled, iconClass,
    displayName; `disabled` false when absent)."""
    return [
        {"name": name, "disabled": bool(action.get("disabled", False))}
        | {key: action[key] for key in ("displayName", "iconClass") if key in action}
        for name, action in found.items()
    ]


@pytest.mark.parametrize("test", discovery_tests(), ids=lambda t: t["inputPath"])
def test_discovery(test: dict[str, Any]) -> None:
    obj = _load(LAYOUT / "actions" / test["inputPath"])
    found = ArgoLua().run(LAYOUT / "actions" / "discovery.lua", obj)
    actions = _resource_actions(found)
    for action in actions:
        assert action in test["result"], action  # Argo CD's own check
    assert sorted(actions, key=str) == sorted(test["result"], key=str)


@pytest.mark.parametrize("test", action_tests(), ids=lambda t: f"{t['action']}/{t['inputPath']}")
def test_action(test: dict[str, Any]) -> None:
    obj = _load(LAYOUT / "actions" / test["inputPath"])
    returned = ArgoLua(CLOCK).run(LAYOUT / "actions" / test["action"] / "action.lua", obj)
    expected = _load(LAYOUT / "actions" / test["expectedOutputPath"])
    assert clean_returned(returned, obj) == expected
    assert returned["metadata"]["annotations"][f"qwenops.io/{test['action']}"] == ACTION_TEST_TIME
