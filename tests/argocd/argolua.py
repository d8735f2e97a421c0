"""Run the Argo CD Lua scripts as Argo CD runs them, with a real Lua 5.1 (lupa's `lua51`).

Argo CD (util/lua/lua.go) runs a script from argocd-cm in gopher-lua, a Lua 5.1, with the
standard libraries skipped and only these opened: `package` (so `require`), the base library,
`table`, and a safe `os` reachable only as `require("os")`, holding `time` and `date`
(util/lua/oslib_safe.go). No `string`, `math`, `io` or `debug`; no string methods
(`("x"):sub(1)`), since the string metatable comes with the string library. The resource is
the global `obj`, decoded from JSON: objects and arrays are tables, numbers are numbers, null
is nil. The returned table goes back through JSON (gopher-json): a table with number keys is an
array, and an empty table an empty array, which Argo CD turns back into `{}` where the live
object had a map there (`cleanReturnedObj`).

`ArgoLua` builds that environment in a fresh Lua state, and more strictly: reading or writing a
global the environment does not define is an error, so a script that leans on a library Argo CD
does not give fails here instead of misbehaving there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import lupa.lua51 as lua51

from argocd.build import action_script

ROOT = Path(__file__).resolve().parents[2] / "argocd"
HEALTH = ROOT / "health.lua"
DISCOVERY = ROOT / "actions" / "discovery.lua"
ACTIONS = ("promote", "abort", "retry", "undo")
"""The actions these tests know (tests/argocd/test_build.py checks the build offers the same)."""

Json = Any
"""A JSON-shaped value: dict, list, str, float/int, bool or None."""

_SANDBOX = """
local os_date, os_time, fixed = os.date, os.time, ...
local safe_os = {}
function safe_os.time(t)
  if t ~= nil then return os_time(t) end
  if fixed ~= nil then return fixed end
  return os_time()
end
function safe_os.date(format, t)
  if t == nil then t = fixed end
  if t == nil then return os_date(format) end
  return os_date(format, t)
end

local env = {}
for _, name in ipairs({
  "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "print", "rawequal",
  "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
}) do
  env[name] = _G[name]
end
env._VERSION = _VERSION
env.table = {
  concat = table.concat, insert = table.insert, maxn = table.maxn, remove = table.remove,
  sort = table.sort, getn = table.getn,
}
env.require = function(name)
  if name == "os" then return safe_os end
  error("module '" .. tostring(name) .. "' not found: Argo CD preloads only os")
end
env._G = env
return env
"""

_STRICT = """
local env = ...
setmetatable(env, {
  __index = function(_, name) error("read of undefined global '" .. tostring(name) .. "'", 2) end,
  __newindex = function(_, name) error("write of global '" .. tostring(name) .. "': use local", 2) end,
})
"""


class LuaError(AssertionError):
    """A script failed to load or run."""


class ArgoLua:
    """A fresh Lua 5.1 state shaped like Argo CD's, with an optional fixed clock (UTC)."""

    def __init__(self, now: datetime | None = None) -> None:
        # Scripts run in an environment of their own (below), so lupa's `python` global is out of reach.
        self.runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
        # Argo CD opens no string library, so strings have no metatable and no methods.
        self.runtime.execute('debug.setmetatable("", nil)')
        self.now = now

    def run(self, script: Path | str, obj: Mapping[str, Json]) -> Json:
        """Run a script with `obj` as the global, and return what it returns, through JSON."""
        text = script.read_text(encoding="utf-8") if isinstance(script, Path) else script
        name = script.name if isinstance(script, Path) else "script"
        fixed = None if self.now is None else int(self.now.astimezone(UTC).timestamp())
        env = cast(Any, self.runtime.execute(_SANDBOX, fixed))
        env["obj"] = self._to_lua(obj)
        self.runtime.execute(_STRICT, env)
        ok, result = self._load(text, name, env)
        if ok is None or ok is False:
            raise LuaError(f"{name}: {result}")
        return self._from_lua(result)

    def _load(self, text: str, name: str, env: Any) -> tuple[Any, Any]:
        """Compile `text` as Lua 5.1, run it in `env` under pcall: (true, result) or (false/nil, error)."""
        run = cast(
            Callable[[str, str, Any], tuple[Any, Any]],
            self.runtime.eval(
                "function(text, name, env)"
                " local f, e = loadstring(text, '=' .. name)"
                " if f == nil then return nil, e end"
                " setfenv(f, env)"
                " return pcall(f)"
                " end"
            ),
        )
        return run(text, name, env)

    # -- JSON <-> Lua, as Argo CD converts -------------------------------------------------------

    def _to_lua(self, value: Json) -> Any:
        if isinstance(value, Mapping):
            table = self.runtime.table()
            for key, item in value.items():
                if item is not None:
                    table[str(key)] = self._to_lua(item)
            return table
        if isinstance(value, list):
            table = self.runtime.table()
            for index, item in enumerate(value, 1):
                table[index] = self._to_lua(item)
            return table
        if isinstance(value, bool | str | int | float):
            return value
        raise TypeError(f"not a JSON value: {value!r}")

    def _from_lua(self, value: Any) -> Json:
        if lua51.lua_type(value) == "table":
            keys = list(value.keys())
            if not keys:
                return []
            if all(isinstance(k, int | float) and not isinstance(k, bool) for k in keys):
                return [self._from_lua(value[k]) for k in sorted(keys)]
            if all(isinstance(k, str) for k in keys):
                return {k: self._from_lua(value[k]) for k in keys}
            raise TypeError(f"a table with mixed keys cannot be JSON: {keys!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value is None or isinstance(value, bool | str | int | float):
            return value
        raise TypeError(f"Lua returned a {lua51.lua_type(value)}, which is not JSON")


def clean_returned(new: Json, old: Json) -> Json:
    """Argo CD's cleanReturnedObj: an empty array where the live object had a map becomes the map."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: clean_returned(value, old[key]) if key in old else value for key, value in new.items()}
    if isinstance(new, list) and isinstance(old, dict) and not new:
        return old
    if isinstance(new, list) and isinstance(old, list):
        return [clean_returned(item, old[i]) if i < len(old) else item for i, item in enumerate(new)]
    return new


def health(obj: Mapping[str, Json], *, lua: ArgoLua | None = None) -> dict[str, str]:
    result = (lua or ArgoLua()).run(HEALTH, obj)
    assert isinstance(result, dict), result
    return {str(k): str(v) for k, v in result.items()}


def discovery(obj: Mapping[str, Json], *, lua: ArgoLua | None = None) -> dict[str, dict[str, Json]]:
    result = (lua or ArgoLua()).run(DISCOVERY, obj)
    assert isinstance(result, dict), result
    return {str(k): dict(v) for k, v in result.items()}


def enabled(obj: Mapping[str, Json], *, lua: ArgoLua | None = None) -> set[str]:
    """The actions Argo CD would offer (an action is enabled unless `disabled` is true)."""
    return {name for name, action in discovery(obj, lua=lua).items() if action.get("disabled") is not True}


def action(name: str, obj: Mapping[str, Json], *, now: datetime | None = None) -> dict[str, Json]:
    """Run one action and return the object Argo CD would patch the live one to."""
    result = ArgoLua(now).run(action_script(name), obj)
    assert isinstance(result, dict), result
    cleaned = clean_returned(result, dict(obj))
    assert isinstance(cleaned, dict)
    return cleaned
