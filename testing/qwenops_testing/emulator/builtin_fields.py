"""Unknown fields of the built-in kinds, found by Kubernetes 1.35's definitions (openapi.py), as
the API server's strict decoding finds them.

``fieldValidation=Strict`` (what kubectl sends by default) refuses an object with a field its kind
does not have, all of them named in one 400 (``strict decoding error: unknown field
"spec.replica"``); ``fieldValidation=Warn`` asked for explicitly answers a ``Warning`` per field.
Without a directive the emulator keeps such a field and says nothing, where a real server drops it
with a warning: the objects the operator's tests store stay as they wrote them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import kmock

from qwenops_testing.crd_schema import path_text
from qwenops_testing.emulator.errors import cannot_decode
from qwenops_testing.emulator.openapi import definitions

Path = tuple[str | int, ...]


@functools.cache
def kind_schema(group: str, version: str, kind: str) -> Mapping[str, Any] | None:
    """The definition of a built-in kind (None: not one Kubernetes 1.35 has)."""
    wanted = [{"group": group, "kind": kind, "version": version}]
    found = (s for s in definitions().values() if s.get("x-kubernetes-group-version-kind") == wanted)
    return next(found, None)


def resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema a ``$ref`` (or an ``allOf`` of one) stands for."""
    while True:
        refs = [schema.get("$ref"), *(s.get("$ref") for s in schema.get("allOf") or ())]
        ref = next((r for r in refs if r), None)
        if not ref:
            return schema
        schema = definitions()[str(ref).rsplit("/", 1)[-1]]


def unknown(value: Any, schema: Mapping[str, Any], path: Path = ()) -> Iterator[Path]:
    """The fields of `value` its schema does not have."""
    schema = resolve(schema)
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is None:
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                for key, item in value.items():
                    yield from unknown(item, extra, (*path, key))
            return
        for key, item in value.items():
            if key in properties:
                yield from unknown(item, properties[key], (*path, key))
            else:
                yield (*path, key)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from unknown(item, schema["items"], (*path, index))


def decode(resource: kmock.resource, kind: str, obj: Mapping[str, Any], directive: str | None, *,
           patch: bool) -> list[str]:  # fmt: skip
    """The warnings of a built-in object's unknown fields; a 400 under ``Strict``."""
    if directive not in ("Strict", "Warn"):
        return []
    schema = kind_schema(str(resource.group), str(resource.version), kind)
    if schema is None:
        return []
    found = [f'unknown field "{path_text(path)}"' for path in unknown(obj, schema)]
    if found and directive == "Strict":
        why = f"strict decoding error: {', '.join(found)}"
        raise cannot_decode(kind, str(resource.version), why, patch=patch)
    return found
