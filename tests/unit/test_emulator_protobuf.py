"""Protobuf bodies (protobuf.py): a Secret as client-go's typed client writes it read as its JSON;
another kind a 415, garbage a 400."""

from __future__ import annotations

import pytest

from qwenops_testing.emulator import ApiError
from qwenops_testing.emulator.protobuf import MAGIC, decode


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def entry(key: str, value: bytes) -> bytes:
    return field(1, key.encode()) + field(2, value)


def envelope(kind: str, raw: bytes) -> bytes:
    return MAGIC + field(1, field(1, b"v1") + field(2, kind.encode())) + field(2, raw)


def test_a_secret_is_read_as_its_json() -> None:
    meta = (field(1, b"sh.helm.release.v1.x.v1") + field(11, entry("owner", b"helm"))
            + field(11, entry("status", b"deployed")) + field(7, 3) + field(8, field(1, 1_700_000_000)))  # fmt: skip
    raw = field(1, meta) + field(2, entry("release", b"\x00\xffbinary")) + field(3, b"helm.sh/release.v1")
    assert decode(envelope("Secret", raw)) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sh.helm.release.v1.x.v1", "labels": {"owner": "helm", "status": "deployed"},
                     "generation": 3, "creationTimestamp": "2023-11-14T22:13:20Z"},
        "data": {"release": "AP9iaW5hcnk="}, "type": "helm.sh/release.v1",
    }  # fmt: skip


def test_a_namespace_as_kubectl_create_namespace_sends_it() -> None:
    raw = field(1, field(1, b"llm"))
    assert decode(envelope("Namespace", raw)) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}}


def test_delete_options_with_a_precondition() -> None:
    raw = field(2, field(2, b"42")) + field(4, b"Foreground") + field(5, b"All")
    assert decode(envelope("DeleteOptions", raw)) == {
        "apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": "42"},
        "propagationPolicy": "Foreground", "dryRun": ["All"],
    }  # fmt: skip


def test_another_kind_is_unsupported_and_garbage_a_bad_request() -> None:
    with pytest.raises(ApiError) as unsupported:
        decode(envelope("Deployment", field(1, b"")))
    assert unsupported.value.status == 415 and "Secret, ConfigMap, Namespace, DeleteOptions" in unsupported.value.message
    with pytest.raises(ApiError) as garbled:
        decode(MAGIC + b"\x0a\xff\xff")
    assert garbled.value.status == 400
