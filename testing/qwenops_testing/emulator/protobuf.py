"""Protobuf request bodies of the few kinds typed clients send that way to the emulator.

Go clients built on client-go's typed clientsets (helm's release storage, ``kubectl create``)
write the built-in kinds as ``application/vnd.kubernetes.protobuf``: the ``k8s\\x00`` magic, then a
``runtime.Unknown`` envelope (its ``typeMeta`` and the object's own bytes). The emulator stores
JSON; :func:`decode` turns the body of a Secret, a ConfigMap, a Namespace or DeleteOptions into
the JSON object the same client would have sent as JSON, so that ``helm install`` can store its
releases and ``kubectl create namespace`` works. Other
kinds answer 415, as a server answers a body it cannot read. Answers stay JSON: these clients
accept it (their ``Accept`` lists ``application/json`` too).

The fields decoded are those of Kubernetes 1.35's ``generated.proto`` for these messages; the
ones a client never sets (``selfLink``, ``managedFields``) are skipped.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from typing import Any

from qwenops_testing.emulator.errors import ApiError, unsupported_media_type

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

Field = tuple[str, str | dict[int, Any]]
"""(JSON name, how to read it): a scalar type, or the fields of a nested message."""

_TIME: dict[int, Field] = {1: ("seconds", "int"), 2: ("nanos", "int")}
_OWNER: dict[int, Field] = {
    1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"), 5: ("apiVersion", "str"),
    6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
}  # fmt: skip
_META: dict[int, Field] = {
    1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 5: ("uid", "str"),
    6: ("resourceVersion", "str"), 7: ("generation", "int"), 8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", "map:str"), 12: ("annotations", "map:str"), 13: ("ownerReferences", "list:owner"),
    14: ("finalizers", "list:str"),
}  # fmt: skip
MESSAGES: dict[str, dict[int, Field]] = {
    "Secret": {1: ("metadata", "meta"), 2: ("data", "map:bytes"), 3: ("type", "str"),
               4: ("stringData", "map:str"), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", "meta"), 2: ("data", "map:str"), 3: ("binaryData", "map:bytes"),
                  4: ("immutable", "bool")},
    "Namespace": {1: ("metadata", "meta")},  # `kubectl create namespace`: spec and status the server's
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"),
                      2: ("preconditions", {1: ("uid", "str"), 2: ("resourceVersion", "str")}),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "str"),
                      5: ("dryRun", "list:str")},
}  # fmt: skip


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a message: a varint's int, a length-delimited field's bytes."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            yield number, data[at : at + size]
            at += size
        elif wire in (1, 5):  # fixed 64 and 32 bits: no field decoded here has one
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire} is not read")


def _time(raw: bytes) -> str:
    parts = message(raw, _TIME)
    at = datetime.datetime.fromtimestamp(parts.get("seconds", 0), datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(raw: bytes, read: Callable[[bytes], Any]) -> tuple[str, Any]:
    found = dict(fields(raw))
    key, value = found.get(1, b""), found.get(2, b"")
    assert isinstance(key, bytes) and isinstance(value, bytes)
    return key.decode(), read(value)


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "str": lambda raw: raw.decode(),
    "bytes": lambda raw: base64.b64encode(raw).decode(),
    "int": lambda raw: raw - (1 << 64) if raw >= 1 << 63 else raw,  # int64 as two's complement
    "bool": bool,
    "time": _time,
    "meta": lambda raw: message(raw, _META),
    "owner": lambda raw: message(raw, _OWNER),
}


def message(data: bytes, schema: dict[int, Field]) -> dict[str, Any]:
    """The JSON object of a message; maps and lists gather their repeated fields."""
    found: dict[str, Any] = {}
    for number, value in fields(data):
        if number not in schema:
            continue
        name, how = schema[number]
        if isinstance(how, dict):
            assert isinstance(value, bytes)
            found[name] = message(value, how)
        elif how.startswith("map:"):
            assert isinstance(value, bytes)
            key, item = _entry(value, _SCALARS[how[4:]])
            found.setdefault(name, {})[key] = item
        elif how.startswith("list:"):
            found.setdefault(name, []).append(_SCALARS[how[5:]](value))
        else:
            found[name] = _SCALARS[how](value)
    return found


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object a protobuf body holds (a 415 for a kind not decoded here, a 400 if garbled)."""
    if not body.startswith(MAGIC):
        raise unsupported_media_type(f"a {PROTOBUF} body starts with the k8s magic number")
    try:
        envelope = dict(fields(body[len(MAGIC) :]))
        type_meta = envelope.get(1, b"")
        raw = envelope.get(2, b"")
        assert isinstance(type_meta, bytes) and isinstance(raw, bytes)
        meta = message(type_meta, {1: ("apiVersion", "str"), 2: ("kind", "str")})
        kind = meta.get("kind", "")
        if kind not in MESSAGES:
            raise unsupported_media_type(
                f"the emulator (qwenops_testing.emulator) reads {PROTOBUF} bodies of "
                f"{', '.join(MESSAGES)} only, not of {kind or 'this request'}; send JSON"
            )
        return {**meta, **message(raw, MESSAGES[kind])}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the protobuf body cannot be read: {exc}") from exc
