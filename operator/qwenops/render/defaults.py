"""The spec as the operator runs it, and the revision it hashes to. Pure.

A spec leaves some settings to the operator (the serving image, the Hub mirror, the default
Prometheus); they are resolved here before the spec is hashed, so a new operator default
starts new revisions instead of restarting running pods. A revision is the hash of every
field that changes the pods (`pod_affecting`): replicas and rollout settings change no pod.
"""

import hashlib
import json
from typing import Any

from qwenops.api import naming
from qwenops.api.spec import PrometheusRef, QwenDeploymentSpec
from qwenops.api.status import CanaryRevision, Override, StableRevision


def with_image(spec: QwenDeploymentSpec, serving_image: str) -> QwenDeploymentSpec:
    """The spec with `engine.image` resolved to the operator's serving image when unset."""
    if spec.engine.image:
        return spec
    return spec.model_copy(update={"engine": spec.engine.model_copy(update={"image": serving_image})})


def with_hub(spec: QwenDeploymentSpec, endpoint: str | None) -> QwenDeploymentSpec:
    """The spec with the operator's Hub mirror when it names none (resolved before hashing, like
    the image: a new default starts new revisions instead of restarting running pods)."""
    if spec.model.hub_endpoint or not endpoint:
        return spec
    return spec.model_copy(update={"model": spec.model.model_copy(update={"hub_endpoint": endpoint})})


def with_prometheus(spec: QwenDeploymentSpec, prometheus_url: str | None) -> QwenDeploymentSpec:
    """The spec with the operator's default Prometheus when it declares SLOs (or probes, judged as
    SLOs at each reading) but names none."""
    analysis = spec.rollout.analysis
    declared = analysis.probes is not None or any(v is not None for v in analysis.slos.model_dump().values())
    if analysis.prometheus is not None or not prometheus_url or not declared:
        return spec
    resolved = analysis.model_copy(update={"prometheus": PrometheusRef(url=prometheus_url)})
    return spec.model_copy(update={"rollout": spec.rollout.model_copy(update={"analysis": resolved})})


def with_pods_of(
    spec: QwenDeploymentSpec, revision: StableRevision | CanaryRevision | Override
) -> QwenDeploymentSpec:
    """The spec as it was when `revision` was started: its model, engine, node pool and pod settings."""
    return spec.model_copy(
        update={
            "model": revision.model,
            "engine": revision.engine,
            "node_pool": revision.node_pool,
            "pod": revision.pod,
        }
    )


def pod_affecting(spec: QwenDeploymentSpec) -> dict[str, Any]:
    """Every field that changes the pods: what a revision hashes. `spec.pod` only when set, so
    that the revisions of objects written before it existed stay what they were."""
    fields = {
        "model": spec.model.model_dump(mode="json", by_alias=True, exclude_none=True),
        "engine": spec.engine.model_dump(mode="json", by_alias=True, exclude_none=True),
        "nodePool": spec.node_pool.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    if not spec.pod.is_empty():
        fields["pod"] = spec.pod.model_dump(mode="json", by_alias=True, exclude_none=True)
    return fields


def revision_of(spec: QwenDeploymentSpec) -> str:
    """A short stable hash of the pod-affecting fields (resolve the image first with `with_image`).

    Replicas and rollout settings are not in it: changing them starts no new revision. Unset
    optional fields are left out, so a field added to the API later does not change the
    revision of every existing object.
    """
    canonical = json.dumps(pod_affecting(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[: naming.REVISION_LENGTH]
