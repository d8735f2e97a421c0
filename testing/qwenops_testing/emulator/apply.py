"""Server-side apply (``kubectl apply --server-side``, Argo CD, helm 4's installs), with
``managedFields`` as the API server keeps them.

An apply (``PATCH`` with ``application/apply-patch+yaml`` and a ``fieldManager``) creates the
object or sets the fields it names; fields its manager applied before and applies no more are
removed, unless another manager owns them too. A field another manager owns with another value
is a conflict: a 409 naming each, unless ``force=true`` takes them over. Each manager's fields are
kept as ``FieldsV1`` in ``metadata.managedFields`` (operation ``Apply``); once an object has
managed fields, every other write to it records the fields it changed for its manager (the
``fieldManager`` query, else the client's User-Agent up to its first ``/``) with operation
``Update``, taking them from the others.

Simplified, and said so in docs/testing.md: lists are atomic (one field, whoever sets it owns it
whole, as for a list without ``x-kubernetes-list-type: map``); the status subresource's fields are
not tracked; an object never applied carries no managed fields; a built-in kind's list with merge
keys (a pod's containers) is atomic too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from qwenops_testing.emulator.errors import ApiError, bad_request

Body = dict[str, Any]
Path = tuple[str, ...]
_IGNORED: set[Path] = {
    ("apiVersion",), ("kind",), ("status",), ("metadata", "name"), ("metadata", "namespace"),
    ("metadata", "managedFields"), ("metadata", "resourceVersion"), ("metadata", "uid"),
    ("metadata", "generation"), ("metadata", "creationTimestamp"),
}  # fmt: skip


def parse(text: str) -> Body:
    """An apply body (YAML, or JSON, which is YAML too)."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("the apply patch is not an object")
    return body


def manager_of(params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The write's field manager: ``fieldManager``, else the User-Agent's product."""
    if params.get("fieldManager"):
        return params["fieldManager"]
    agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), "unknown")
    return agent.split("/", 1)[0]


def leaves(value: Any, prefix: Path = ()) -> set[Path]:
    """The fields of an object as managedFields counts them: a map's keys, anything else whole."""
    if isinstance(value, dict) and value:
        found: set[Path] = set()
        for key, item in value.items():
            found |= leaves(item, (*prefix, str(key)))
        return {p for p in found if p not in _IGNORED and p[:1] != ("status",)}
    return {prefix} if prefix else set()


def _get(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def _set(obj: Body, path: Path, value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = copy.deepcopy(value)


def _remove(obj: Body, path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        child = parents[-1].get(part)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):  # drop the maps the removal left empty
        if parents[depth]:
            break
        parents[depth - 1].pop(path[depth - 1], None)


def fields_v1(paths: Iterable[Path]) -> Body:
    tree: Body = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def paths_of(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    found: set[Path] = set()
    for key, child in tree.items():
        if key.startswith("f:"):
            path = (*prefix, key[2:])
            found |= paths_of(child, path) if child else {path}
    return found


def _entries(obj: Mapping[str, Any] | None) -> list[Body]:
    return [dict(e) for e in ((obj or {}).get("metadata", {}).get("managedFields") or [])]


def _entry(manager: str, operation: str, api_version: str, paths: set[Path], now: str) -> Body:
    return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}  # fmt: skip


def _owned(entry: Mapping[str, Any]) -> set[Path]:
    return paths_of(entry.get("fieldsV1") or {})


def _overlaps(path: Path, owned: set[Path]) -> bool:
    return any(path[: len(o)] == o or o[: len(path)] == path for o in owned)


def applied(old: Body | None, config: Body, manager: str, *, force: bool, api_version: str, now: str) -> Body:
    """The object after `manager` applies `config` to `old` (None: a create); 409 on conflicts."""
    entries = _entries(old)
    mine = next((e for e in entries if (e["manager"], e["operation"]) == (manager, "Apply")), None)
    others = [e for e in entries if e is not mine]
    wanted = leaves(config)
    conflicts = []
    for entry in others:
        owned = _owned(entry)
        for path in sorted(wanted):
            if _overlaps(path, owned) and _get(old, path) != _get(config, path):
                conflicts.append((entry["manager"], entry["apiVersion"], path))
    if conflicts and not force:
        raise _conflict(conflicts)
    result: Body = copy.deepcopy(old) if old is not None else {}
    before = _owned(mine) if mine else set()
    kept_by_others = set().union(*(_owned(e) for e in others)) if others else set()
    for path in before - wanted:
        if not _overlaps(path, kept_by_others):
            _remove(result, path)
    for path in wanted:
        _set(result, path, _get(config, path)[1])
    for key in ("apiVersion", "kind"):
        result.setdefault(key, config.get(key))
    result.setdefault("metadata", {}).setdefault("name", config.get("metadata", {}).get("name"))
    taken = {p for _, _, p in conflicts}
    kept = []
    for entry in others:
        rest = {p for p in _owned(entry) if not any(_overlaps(p, {t}) for t in taken)}
        if rest:
            kept.append({**entry, "fieldsV1": fields_v1(rest)})
    result["metadata"]["managedFields"] = [*kept, _entry(manager, "Apply", api_version, wanted, now)]
    return result


def record_update(old: Body, new: Body, manager: str, *, api_version: str, now: str) -> None:
    """Give `manager` the fields a write changed (in `new`'s managedFields), once the object has any."""
    entries = _entries(old)
    if not entries:
        return
    changed = {p for p in leaves(old) | leaves(new) if _get(old, p) != _get(new, p)}
    if not changed:
        new.setdefault("metadata", {})["managedFields"] = entries
        return
    kept = []
    mine: set[Path] = set()
    for entry in entries:
        owned = _owned(entry)
        if (entry["manager"], entry["operation"]) == (manager, "Update"):
            mine = owned
            continue
        rest = {p for p in owned if not _overlaps(p, changed)}
        if rest:
            kept.append({**entry, "fieldsV1": fields_v1(rest)})
    mine = {p for p in mine | changed if _get(new, p)[0]}
    entry = _entry(manager, "Update", api_version, mine, now)
    new.setdefault("metadata", {})["managedFields"] = [*kept, entry]


def _conflict(conflicts: list[tuple[str, str, Path]]) -> ApiError:
    causes = [{"type": "FieldManagerConflict", "message": f'conflict with "{manager}" using {version}',
               "field": "." + ".".join(path)} for manager, version, path in conflicts]  # fmt: skip
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    count = f"{len(causes)} conflict{'s' if len(causes) > 1 else ''}"
    message = f"Apply failed with {count}: " + (
        f"{causes[0]['message']}: {causes[0]['field']}" if len(causes) == 1 else f"\n{lines}")
    return ApiError(409, "Conflict", message, {"causes": causes})
