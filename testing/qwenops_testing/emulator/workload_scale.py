"""The ``scale`` subresource of Deployments and ReplicaSets (``kubectl scale``, autoscalers): the
object seen as an ``autoscaling/v1`` Scale, and a Scale written back as its ``spec.replicas``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.errors import bad_request, conflict
from qwenops_testing.emulator.objects import Body

SCALABLE = frozenset({
    kmock.resource("apps", "v1", "deployments"), kmock.resource("apps", "v1", "replicasets"),
})  # fmt: skip
SCALE = kmock.resource("autoscaling", "v1", "scales")
"""What a patch of the subresource is a patch of (its kind's definition: autoscaling/v1 Scale)."""


def view(obj: Mapping[str, Any]) -> Body:
    """The object's Scale."""
    meta = obj["metadata"]
    labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                   "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))},
    }


def written(resource: kmock.resource, old: Mapping[str, Any], scale: Any) -> Body:
    """The object with the Scale's replicas (its resourceVersion, if any, checked as a precondition)."""
    if not isinstance(scale, dict) or not isinstance((scale.get("spec") or {}).get("replicas", 0), int):
        raise bad_request("the body is not a Scale with an integer spec.replicas")
    expected = (scale.get("metadata") or {}).get("resourceVersion")
    if expected not in (None, "") and str(expected) != old["metadata"].get("resourceVersion"):
        raise conflict(resource, old["metadata"]["name"])
    new = copy.deepcopy(dict(old))
    new.setdefault("spec", {})["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
    new["metadata"].pop("resourceVersion", None)
    return new
