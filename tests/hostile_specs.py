"""Hostile specs beyond the manifest corpus: the ones too big to keep as files, built here, and the
ones only the models can refuse.

`GENERATED` are refused by both the CRD (`tests.schema_check.admit`) and the models, as the corpus
under tests/manifests/invalid/ is (tests/unit/test_hostile_specs.py). `in_cluster` says whether an
API server could store the object at all (etcd keeps at most 1.5 MiB an object; the API server's
JSON reader takes at most 10000 levels and no number past float64): only those reach the running
operator in tests/integration/test_hostile_specs.py, as an object stored under an older CRD would (the
emulator reads a request of at most 1 MiB, hence 512 KiB, not 1.5 MiB, for the longest string).

`MODELS_ONLY` get past the CRD by design: a structural schema has no pattern for map keys, and a
CEL rule over keys of unbounded length is refused for its estimated cost. The models refuse them
(InvalidSpec), so the running operator must too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PIN = {
    "name": "Qwen/Qwen3-8B",
    "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5",
    "servedModelName": "qwen3-8b",
}
MIB = 1024 * 1024


@dataclass(frozen=True)
class HostileSpec:
    name: str
    expect: str  # the field the refusal must name
    build: Callable[[], dict[str, Any]]  # the spec
    in_cluster: bool  # an API server could store it (under 1.5 MiB, under 10000 levels)

    def manifest(self, name: str = "chat", namespace: str = "llm") -> dict[str, Any]:
        return {
            "apiVersion": "qwenops.io/v1alpha1",
            "kind": "QwenDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": self.build(),
        }


def with_model(**fields: Any) -> dict[str, Any]:
    return {"model": {**PIN, **fields}}


def nested(key: str, depth: int, leaf: Any) -> Any:
    """`{key: {key: ... leaf}}`, `depth` levels, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {key: value}
    return value


GENERATED = (
    HostileSpec(
        "served-model-name-10-mb", "spec.model.servedModelName",
        lambda: with_model(servedModelName="q" * (10 * MIB)), in_cluster=False,
    ),
    HostileSpec(
        "served-model-name-512-kib", "spec.model.servedModelName",
        lambda: with_model(servedModelName="q" * (MIB // 2)), in_cluster=True,
    ),
    HostileSpec(
        "extra-arg-10-mb", "spec.engine.extraArgs.0",
        lambda: {"model": PIN, "engine": {"extraArgs": ["--chat-template=" + "x" * (10 * MIB)]}}, in_cluster=False,
    ),
    HostileSpec(
        "extra-args-100-thousand", "spec.engine.extraArgs",
        lambda: {"model": PIN, "engine": {"extraArgs": ["--enable-prefix-caching"] * 100_000}}, in_cluster=False,
    ),
    HostileSpec(
        "extra-args-10-thousand", "spec.engine.extraArgs",
        lambda: {"model": PIN, "engine": {"extraArgs": ["--enable-prefix-caching"] * 10_000}}, in_cluster=True,
    ),
    HostileSpec(
        "affinity-10000-levels", "spec.nodePool.affinity",
        lambda: {"model": PIN, "nodePool": {"affinity": nested("nodeAffinity", 10_000, {})}}, in_cluster=False,
    ),
    HostileSpec(
        "image-10000-levels", "spec.engine.image",
        lambda: {"model": PIN, "engine": {"image": nested("a", 10_000, "b")}}, in_cluster=False,
    ),
    HostileSpec(
        "affinity-40-levels", "spec.nodePool.affinity",
        lambda: {"model": PIN, "nodePool": {"affinity": nested("nodeAffinity", 40, {})}}, in_cluster=True,
    ),
    HostileSpec(
        "node-selector-100-thousand", "spec.nodePool.nodeSelector",
        lambda: {"model": PIN, "nodePool": {"nodeSelector": {f"k{i}": "v" for i in range(100_000)}}},
        in_cluster=False,
    ),
    HostileSpec(
        "files-5000", "spec.model.files",
        lambda: with_model(files=[{"name": f"f{i}.safetensors", "sha256": f"{i:064x}"} for i in range(5000)]),
        in_cluster=True,
    ),
    HostileSpec(
        "replicas-10-to-the-400", "spec.replicas",
        lambda: {"model": PIN, "replicas": 10**400}, in_cluster=False,
    ),
    HostileSpec(
        "max-model-len-negative-10-to-the-30", "spec.engine.maxModelLen",
        lambda: {"model": PIN, "engine": {"maxModelLen": -(10**30)}}, in_cluster=True,
    ),
)  # fmt: skip


def node_selector(key: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"model": PIN, "nodePool": {"nodeSelector": {key: "h100"}}}


MODELS_ONLY = (
    HostileSpec("node-selector-key-space", "spec.nodePool.nodeSelector", node_selector("gpu pool"), True),
    HostileSpec("node-selector-key-traversal", "spec.nodePool.nodeSelector", node_selector("a/../../b"), True),
    HostileSpec("node-selector-key-selector", "spec.nodePool.nodeSelector", node_selector("gpu=h100,evil"), True),
    HostileSpec("node-selector-key-newline", "spec.nodePool.nodeSelector", node_selector("gpu\nevil"), True),
    HostileSpec("node-selector-key-unicode", "spec.nodePool.nodeSelector", node_selector("gpu-p\u043eol"), True),
    HostileSpec("node-selector-key-empty", "spec.nodePool.nodeSelector", node_selector(""), True),
    HostileSpec("node-selector-key-512-kib", "spec.nodePool.nodeSelector", node_selector("k" * (MIB // 2)), True),
)
