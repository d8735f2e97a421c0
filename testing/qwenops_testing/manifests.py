"""QwenDeployment manifests for the tests, the demo and the benchmarks: one builder, so that the
spec's shape is written down once.

    qwen_deployment("a" * 40, replicas=2, steps=[{"weight": 25, "pause": "3s"}],
                    analysis={"prometheus": {"url": url}, "interval": "2s"})

gives `llm/chat` serving Qwen/Qwen3-0.6B at that commit as `qwen`; `expected_revision` is the
revision an operator running with :data:`SERVING_IMAGE` names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render.defaults import revision_of, with_image

API_VERSION = "qwenops.io/v1alpha1"
NAMESPACE, NAME = "llm", "chat"
MODEL = "Qwen/Qwen3-0.6B"
SERVED_MODEL_NAME = "qwen"
SERVING_IMAGE = "registry.example/qwenops/serving:test"
"""The serving image the kit's operators run with (`QWENOPS_SERVING_IMAGE`)."""

Manifest = dict[str, Any]


def qwd(namespace: str, name: str, spec: Mapping[str, Any]) -> Manifest:
    """A QwenDeployment manifest around `spec`, as written."""
    return {
        "apiVersion": API_VERSION,
        "kind": "QwenDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def qwen_deployment(
    commit: str,
    *,
    namespace: str = NAMESPACE,
    name: str = NAME,
    replicas: int = 1,
    model: Mapping[str, Any] | None = None,
    steps: Sequence[Mapping[str, Any]] | None = None,
    analysis: Mapping[str, Any] | None = None,
    rollout: Mapping[str, Any] | None = None,
    **spec: Any,
) -> Manifest:
    """A QwenDeployment of :data:`MODEL` at `commit`.

    `model` adds fields to ``spec.model`` (e.g. ``tokenSecret``); `steps`, `analysis` and the
    other fields of `rollout` (e.g. ``trafficRouting``) make ``spec.rollout``; any other keyword
    is a field of ``spec`` as it is spelled there (e.g. ``nodePool``).
    """
    body: dict[str, Any] = {
        "model": {"name": MODEL, "revision": commit, "servedModelName": SERVED_MODEL_NAME, **(model or {})},
        "replicas": replicas,
    }
    strategy: dict[str, Any] = {}
    if steps is not None:
        strategy["steps"] = [dict(step) for step in steps]
    if analysis is not None:
        strategy["analysis"] = dict(analysis)
    strategy.update(rollout or {})
    if strategy:
        body["rollout"] = strategy
    return qwd(namespace, name, {**body, **spec})


def expected_revision(manifest: Mapping[str, Any], serving_image: str = SERVING_IMAGE) -> str:
    """The revision an operator running with `serving_image` gives this manifest's spec."""
    spec = QwenDeploymentSpec.model_validate(manifest["spec"])
    return revision_of(with_image(spec, serving_image))
