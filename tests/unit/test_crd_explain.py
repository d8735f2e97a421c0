"""The CRD as `kubectl explain`, autoscalers and `kubectl get <category>` read it."""

from collections.abc import Iterator
from typing import Any

import pytest

from qwenops.api import crd

UPSTREAM = ("spec.nodePool.affinity.", ".nodePool.affinity.")
"""Subtrees that are core/v1 types as they are (Affinity): `kubectl explain pod.spec.affinity`
describes them; the field holding one is described here like any other."""


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return crd.build_crd()


@pytest.fixture(scope="module")
def version(built: dict[str, Any]) -> dict[str, Any]:
    served: dict[str, Any] = built["spec"]["versions"][0]
    return served


def fields(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field below `schema` with its path: properties, items and additionalProperties."""
    for name, child in schema.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from fields(child, f"{path}.{name}")
    if "items" in schema:
        yield f"{path}[*]", schema["items"]
        yield from fields(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield f"{path}.*", schema["additionalProperties"]
        yield from fields(schema["additionalProperties"], f"{path}.*")


def undescribed(root: dict[str, Any]) -> list[str]:
    found = []
    for top in ("spec", "status"):
        node = root["properties"][top]
        if not node.get("description"):
            found.append(top)
        for path, child in fields(node, top):
            upstream = any(marker in path for marker in UPSTREAM)
            # An item or map value is described by its list or map unless it is an object.
            element = path.endswith(("[*]", ".*")) and child.get("type") != "object"
            if not (upstream or element) and not child.get("description", "").strip():
                found.append(path)
    return found


def test_every_field_outside_upstream_types_is_described(version: dict[str, Any]) -> None:
    missing = undescribed(version["schema"]["openAPIV3Schema"])
    assert not missing, f"{len(missing)} fields without a description:\n" + "\n".join(missing)


def test_the_walk_finds_a_field_without_a_description() -> None:
    root = {
        "properties": {
            "spec": {
                "description": "s",
                "properties": {
                    "a": {"type": "string", "description": "d"},
                    "b": {"type": "array", "description": "d", "items": {"type": "object", "properties": {
                        "c": {"type": "integer"}}}},
                    "m": {"type": "object", "additionalProperties": {"type": "string"}},
                    "nodePool": {"type": "object", "description": "d", "properties": {
                        "affinity": {"type": "object", "description": "d", "properties": {
                            "nodeAffinity": {"type": "object"}}}}},
                },
            },
            "status": {"properties": {}},
        }
    }
    assert undescribed(root) == ["spec.b[*]", "spec.b[*].c", "spec.m", "status"]


def test_scale_subresource_drives_spec_replicas(version: dict[str, Any]) -> None:
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert version["subresources"]["status"] == {}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["replicas"]["type"] == "integer"
    assert status["selector"]["type"] == "string"


def test_categories(built: dict[str, Any]) -> None:
    assert built["spec"]["names"]["categories"] == ["qwenops"]


def test_conditions_are_a_map_keyed_by_type(version: dict[str, Any]) -> None:
    conditions = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]
