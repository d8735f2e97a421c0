"""Desired child objects of a QwenDeployment, as plain dicts: pure functions of the spec.

One revision is one Deployment `<name>-<revision>`; its pod template depends on
nothing but the revision's spec, so a Deployment never rolls its own pods: a
new version is a new Deployment, and promotion only changes Services and
labels on the Deployment object. That is why the pods carry
`qwenops.io/revision` but not `qwenops.io/track`: a track label in the pod
template would change at promotion and restart every pod, reloading the model.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from qwenops import naming
from qwenops.spec import QwenDeploymentSpec
from qwenops.status import CanaryRevision, StableRevision

Manifest = dict[str, Any]

STARTUP_PROBE_PERIOD_SECONDS = 10
STARTUP_BUDGET_SECONDS = 30 * 60
"""Time a pod has to download and load its weights before the startup probe gives up."""
PROGRESS_MARGIN_SECONDS = 10 * 60
MODEL_CACHE_PATH = "/models"
SHM_SIZE = "16Gi"


@dataclass(frozen=True)
class Owner:
    """The QwenDeployment that owns the children."""

    name: str
    namespace: str
    uid: str


def with_image(spec: QwenDeploymentSpec, serving_image: str) -> QwenDeploymentSpec:
    """The spec with `engine.image` resolved to the operator's serving image when unset."""
    if spec.engine.image:
        return spec
    return spec.model_copy(update={"engine": spec.engine.model_copy(update={"image": serving_image})})


def with_pods_of(spec: QwenDeploymentSpec, revision: StableRevision | CanaryRevision) -> QwenDeploymentSpec:
    """The spec as it was when `revision` was started: its model, engine and node pool."""
    return spec.model_copy(
        update={"model": revision.model, "engine": revision.engine, "node_pool": revision.node_pool}
    )


def pod_affecting(spec: QwenDeploymentSpec) -> dict[str, Any]:
    """Every field that changes the pods: what a revision hashes."""
    return {
        "model": spec.model.model_dump(mode="json", by_alias=True),
        "engine": spec.engine.model_dump(mode="json", by_alias=True),
        "nodePool": spec.node_pool.model_dump(mode="json", by_alias=True),
    }


def revision_of(spec: QwenDeploymentSpec) -> str:
    """A short stable hash of the pod-affecting fields (resolve the image first with `with_image`).

    Replicas and rollout settings are not in it: changing them starts no new revision.
    """
    canonical = json.dumps(pod_affecting(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[: naming.REVISION_LENGTH]


def common_labels(owner: Owner) -> dict[str, str]:
    return {
        naming.LABEL_NAME: "qwen",
        naming.LABEL_INSTANCE: owner.name,
        naming.LABEL_PART_OF: "qwenops",
        naming.LABEL_MANAGED_BY: naming.MANAGER,
        naming.LABEL_DEPLOYMENT: owner.name,
    }


def owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def vllm_args(spec: QwenDeploymentSpec) -> list[str]:
    """The OpenAI server's arguments; `--disable-log-stats` is refused by the spec's validation."""
    engine = spec.engine
    args = [
        "--model", spec.model.name,
        "--revision", spec.model.revision,
        "--served-model-name", spec.model.served_model_name,
        "--tensor-parallel-size", str(engine.tensor_parallel_size),
        "--gpu-memory-utilization", str(engine.gpu_memory_utilization),
    ]  # fmt: skip
    if engine.max_model_len is not None:
        args += ["--max-model-len", str(engine.max_model_len)]
    args += ["--host", "0.0.0.0", "--port", str(naming.SERVING_PORT)]
    return args + list(engine.extra_args)


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": naming.SERVING_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def desired_pod_template(owner: Owner, spec: QwenDeploymentSpec, revision: str) -> Manifest:
    pool = spec.node_pool
    gpus = str(pool.gpus_per_replica)
    labels = {
        **common_labels(owner),
        naming.LABEL_COMPONENT: "model-server",
        naming.LABEL_VERSION: revision,
        naming.LABEL_REVISION: revision,
    }
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "containers": [
            {
                "name": "vllm",
                "image": spec.engine.image,
                "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                "args": vllm_args(spec),
                "env": [
                    {"name": "HF_HOME", "value": MODEL_CACHE_PATH},
                    {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
                ],
                "ports": [
                    {
                        "name": naming.SERVING_PORT_NAME,
                        "containerPort": naming.SERVING_PORT,
                        "protocol": "TCP",
                    }
                ],
                "resources": {
                    "requests": {pool.gpu_resource: gpus},
                    "limits": {pool.gpu_resource: gpus},
                },
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "model-cache", "mountPath": MODEL_CACHE_PATH},
                ],
                "startupProbe": _probe(
                    "/health",
                    STARTUP_PROBE_PERIOD_SECONDS,
                    STARTUP_BUDGET_SECONDS // STARTUP_PROBE_PERIOD_SECONDS,
                ),
                "readinessProbe": _probe("/health", 5, 3),
                "livenessProbe": _probe("/health", 10, 6),
            }
        ],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
            {"name": "model-cache", "emptyDir": {}},
        ],
    }
    if pool.node_selector:
        pod_spec["nodeSelector"] = dict(pool.node_selector)
    if pool.tolerations:
        pod_spec["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in pool.tolerations
        ]
    if pool.affinity:
        pod_spec["affinity"] = pool.affinity
    return {
        "metadata": {
            "labels": labels,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(naming.SERVING_PORT),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": pod_spec,
    }


def desired_deployment(
    owner: Owner,
    spec: QwenDeploymentSpec,
    revision: str,
    *,
    track: str,
    replicas: int,
) -> Manifest:
    """The Deployment `<name>-<revision>` serving one revision on `track` with `replicas` pods."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": naming.deployment_name(owner.name, revision),
            "namespace": owner.namespace,
            "labels": {
                **common_labels(owner),
                naming.LABEL_COMPONENT: "model-server",
                naming.LABEL_VERSION: revision,
                naming.LABEL_REVISION: revision,
                naming.LABEL_TRACK: track,
            },
            "annotations": {
                naming.ANNOTATION_MODEL: f"{spec.model.name}@{spec.model.revision}",
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            "progressDeadlineSeconds": STARTUP_BUDGET_SECONDS + PROGRESS_MARGIN_SECONDS,
            "selector": {
                "matchLabels": {
                    naming.LABEL_DEPLOYMENT: owner.name,
                    naming.LABEL_REVISION: revision,
                }
            },
            # A spare GPU lets a pod be replaced without losing capacity; without one the
            # new pod waits and the old one keeps serving.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": desired_pod_template(owner, spec, revision),
        },
    }


def desired_service(owner: Owner, *, track: str | None, revision: str | None) -> Manifest:
    """`<name>` selects every track; `<name>-<track>` selects the pods of one revision."""
    selector = {naming.LABEL_DEPLOYMENT: owner.name}
    labels = {**common_labels(owner), naming.LABEL_COMPONENT: "service"}
    if track is not None:
        labels[naming.LABEL_TRACK] = track
        if revision is not None:
            selector[naming.LABEL_REVISION] = revision
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.service_name(owner.name, track),
            "namespace": owner.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {
                    "name": naming.SERVING_PORT_NAME,
                    "port": naming.SERVING_PORT,
                    "targetPort": naming.SERVING_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def desired_services(owner: Owner, *, stable: str, canary: str | None) -> list[Manifest]:
    """The three Services; with no canary running, `<name>-canary` points at the stable pods."""
    return [
        desired_service(owner, track=None, revision=None),
        desired_service(owner, track=naming.TRACK_STABLE, revision=stable),
        desired_service(owner, track=naming.TRACK_CANARY, revision=canary or stable),
    ]
