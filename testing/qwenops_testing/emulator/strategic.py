"""Strategic merge patch of the built-in kinds, as apimachinery's ``strategicpatch`` applies it,
with the patch strategies and merge keys of Kubernetes 1.35's definitions
(``x-kubernetes-patch-strategy``, ``x-kubernetes-patch-merge-key``; openapi.py).

Maps merge recursively and ``null`` deletes a key, as in a merge patch. A list whose strategy is
``merge`` is merged: by its merge key for a list of objects (an item with ``$patch: delete``
removes the one with its key; a new key is appended), as a set for a list of scalars (less the
values of ``$deleteFromPrimitiveList/<field>``); ``$setElementOrder/<field>`` orders the result;
any other list is replaced whole. ``$patch: replace`` in a map replaces it, ``$patch: delete``
deletes it, and ``$retainKeys`` keeps only the keys it names (a ``retainKeys`` field such as a
Deployment's ``strategy``). A custom resource has no strategic merge patch: a 415, as the API
server answers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator.builtin_fields import resolve
from qwenops_testing.emulator.errors import ApiError, bad_request

Body = dict[str, Any]
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def strategic_merge(original: Any, patch: Any, schema: Mapping[str, Any] | None) -> Any:
    """`original` with `patch` applied, the strategies read from `schema` (None: none known)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    schema = resolve(schema) if schema is not None else None
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    result: Body = copy.deepcopy(original) if isinstance(original, dict) else {}
    retained = patch.get("$retainKeys")
    properties = (schema or {}).get("properties") or {}
    extra = (schema or {}).get("additionalProperties")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        field = properties.get(key) if properties else extra if isinstance(extra, Mapping) else None
        field = resolve(field) if isinstance(field, Mapping) else None
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list):
            merged = _list(result.get(key), value, field, patch.get(f"{_DELETE_PRIMITIVES}{key}"))
            result[key] = _ordered(merged, patch.get(f"{_ORDER}{key}"), field)
        else:
            result[key] = strategic_merge(result.get(key), value, field)
    for key, order in patch.items():
        if key.startswith(_ORDER) and key.removeprefix(_ORDER) not in patch:
            name = key.removeprefix(_ORDER)
            field = properties.get(name)
            result[name] = _ordered(result.get(name) or [], order, resolve(field) if field else None)
    for key, values in patch.items():
        if key.startswith(_DELETE_PRIMITIVES) and key.removeprefix(_DELETE_PRIMITIVES) not in patch:
            name = key.removeprefix(_DELETE_PRIMITIVES)
            result[name] = [item for item in result.get(name) or [] if item not in values]
    if isinstance(retained, list):
        result = {k: v for k, v in result.items() if k in retained}
    return result


def _strategy(field: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """(merge, merge key) of a list field."""
    if field is None:
        return False, None
    strategies = str(field.get("x-kubernetes-patch-strategy") or "").split(",")
    return "merge" in strategies, field.get("x-kubernetes-patch-merge-key")


def _list(original: Any, patch: list[Any], field: Mapping[str, Any] | None, deleted: Any) -> list[Any]:
    merge, key = _strategy(field)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    if not merge:
        return [copy.deepcopy(item) for item in patch]
    original = original if isinstance(original, list) else []
    if key is None:  # a set of scalars
        result = [item for item in original if not (isinstance(deleted, list) and item in deleted)]
        return result + [item for item in patch if item not in result]
    items_schema = (field or {}).get("items")
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(422, "Invalid", f"map: {item} does not contain declared merge key: {key}")
        same = (i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key])
        at = next(same, None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append(strategic_merge(None, item, items_schema))
        else:
            result[at] = strategic_merge(result[at], item, items_schema)
    return result


def _ordered(items: list[Any], order: Any, field: Mapping[str, Any] | None) -> list[Any]:
    """The items in ``$setElementOrder``'s order; those it does not name after, as they were."""
    if not isinstance(order, list):
        return items
    _, key = _strategy(field)

    def ident(item: Any) -> Any:
        return item.get(key) if key is not None and isinstance(item, dict) else item

    wanted = [ident(item) for item in order]
    named = sorted((i for i in items if ident(i) in wanted), key=lambda i: wanted.index(ident(i)))
    return named + [i for i in items if ident(i) not in wanted]
