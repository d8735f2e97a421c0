"""The generated Argo CD settings hold exactly the Lua of argocd/, and are current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import lupa.lua51 as lua51
import pytest
import yaml

from argocd import build
from tests.argocd.argolua import ACTIONS, ROOT


def test_generated_files_are_current() -> None:
    for path, text in build.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python -m argocd.build"
    assert build.main(["--check"]) == 0


def _cm_data(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if path == build.PATCH:
        assert (loaded["apiVersion"], loaded["kind"], loaded["metadata"]) == (
            "v1",
            "ConfigMap",
            {"name": "argocd-cm"},
        )
        data = loaded["data"]
    else:
        data = loaded["configs"]["cm"]
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", [build.PATCH, build.VALUES], ids=lambda p: p.name)
def test_the_keys_hold_the_scripts_byte_for_byte(path: Path) -> None:
    data = _cm_data(path)
    assert set(data) == {
        "resource.customizations.health.qwenops.io_QwenDeployment",
        "resource.customizations.actions.qwenops.io_QwenDeployment",
    }
    assert data[build.HEALTH_KEY] == (ROOT / "health.lua").read_text(encoding="utf-8")
    actions = yaml.safe_load(data[build.ACTIONS_KEY])
    assert set(actions) == {"discovery.lua", "definitions"}
    assert actions["discovery.lua"] == (ROOT / "actions" / "discovery.lua").read_text(encoding="utf-8")
    assert [d["name"] for d in actions["definitions"]] == list(ACTIONS)
    for definition in actions["definitions"]:
        assert set(definition) == {"name", "action.lua"}
        assert definition["action.lua"] == build.action_script(definition["name"])


def test_the_build_and_the_tests_know_the_same_actions() -> None:
    assert tuple(build.ACTIONS) == ACTIONS


def test_scripts_embed_cleanly_and_compile_as_lua_5_1() -> None:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    assert runtime.lua_version == (5, 1)
    compile_ = cast(
        Callable[[str, str], Any],
        runtime.eval("function(text, name) local f, e = loadstring(text, name); return e end"),
    )
    for relative in ["health.lua", "actions/discovery.lua", "actions/request.lua"]:
        text = build.script(relative)  # no tabs, no trailing blanks, one final newline
        assert compile_(text, relative) is None
    for name in ACTIONS:
        assert compile_(build.action_script(name), name) is None


def test_the_actions_differ_only_in_their_first_two_lines() -> None:
    bodies = {}
    for name in ACTIONS:
        lines = build.action_script(name).splitlines()
        assert lines[0].startswith(f"-- qwenops.io/{name}: ")
        assert lines[1] == f'local kind = "{name}"'
        bodies[name] = lines[2:]
    first = bodies[ACTIONS[0]]
    assert all(body == first for body in bodies.values())


def test_a_stale_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "PATCH", tmp_path / "argocd-cm-patch.yaml")
    monkeypatch.setattr(build, "VALUES", tmp_path / "argo-cd-values.yaml")
    assert build.main(["--check"]) == 1
    assert build.main([]) == 0
    assert build.main(["--check"]) == 0
