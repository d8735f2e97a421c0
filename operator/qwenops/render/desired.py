"""Desired child objects of a QwenDeployment, as plain dicts: pure functions of the spec.

One revision is one Deployment `<name>-<revision>`; its pod template depends on
nothing but the revision's spec, so a Deployment never rolls its own pods: a
new version is a new Deployment, and promotion only changes Services and
labels on the Deployment object. That is why the pods carry
`qwenops.io/revision` but not `qwenops.io/track`: a track label in the pod
template would change at promotion and restart every pod, reloading the model.
"""

import math
from dataclasses import dataclass
from typing import Any

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import Rejection
from qwenops.render.startup_budget import load_budget, startup_budget

Manifest = dict[str, Any]

STARTUP_PROBE_PERIOD_SECONDS = 10
MODEL_CACHE_PATH = "/models"
SERVING_UID = 10001
"""The serving image's non-root user (images/serving/Dockerfile)."""
SHM_SIZE = "16Gi"


@dataclass(frozen=True)
class Owner:
    """The QwenDeployment that owns the children."""

    name: str
    namespace: str
    uid: str


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
    """vLLM's arguments after the model path (which `qwenops-serve serve` fills in with the
    verified local snapshot); `--disable-log-stats` is refused by the spec's validation."""
    engine = spec.engine
    args = [
        "--served-model-name", spec.model.served_model_name,
        "--tensor-parallel-size", str(engine.tensor_parallel_size),
        "--gpu-memory-utilization", str(engine.gpu_memory_utilization),
    ]  # fmt: skip
    if engine.max_model_len is not None:
        args += ["--max-model-len", str(engine.max_model_len)]
    args += ["--host", "0.0.0.0", "--port", str(naming.SERVING_PORT)]
    return args + list(engine.extra_args)


def checkpoint_args(spec: QwenDeploymentSpec, *, digests: bool = True) -> list[str]:
    """The pin every `qwenops-serve` step works on: repo, commit, cache, and (for download and
    verify) the spec's digests; `serve` needs only the verified marker `verify` wrote."""
    model = spec.model
    args = ["--model", model.name, "--revision", model.revision, "--cache-dir", MODEL_CACHE_PATH]
    for digest in model.files if digests else ():
        args += ["--file", f"{digest.name}={digest.sha256}"]
    return args


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": naming.SERVING_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _pod_security() -> dict[str, Any]:
    """The serving image's user; fsGroup makes a claim's files writable by it."""
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVING_UID,
        "runAsGroup": SERVING_UID,
        "fsGroup": SERVING_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _init_resources() -> dict[str, Any]:
    """Downloading and hashing need a core and little memory; no GPU (the pod holds its GPUs anyway)."""
    return {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}


def _step(spec: QwenDeploymentSpec, name: str, command: str) -> dict[str, Any]:
    """An init container running one `qwenops-serve` step on the cache volume."""
    container: dict[str, Any] = {
        "name": name,
        "image": spec.engine.image,
        "command": ["qwenops-serve", command],
        "args": checkpoint_args(spec),
        "env": [{"name": "HF_HOME", "value": MODEL_CACHE_PATH}],
        "resources": _init_resources(),
        "securityContext": _container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "model-cache", "mountPath": MODEL_CACHE_PATH}],
    }
    if spec.model.hub_endpoint and name == naming.DOWNLOAD_CONTAINER:
        container["env"].append({"name": "HF_ENDPOINT", "value": spec.model.hub_endpoint})
    secret = spec.model.token_secret
    if secret is not None and name == naming.DOWNLOAD_CONTAINER:
        container["env"].append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}}
        )
    return container


def desired_pod_template(owner: Owner, spec: QwenDeploymentSpec, revision: str) -> Manifest:
    """Download, verify, then serve: each a container, so pod status shows which one a pod is at."""
    pool = spec.node_pool
    gpus = str(pool.gpus_per_replica)
    labels = {
        **spec.pod.labels,  # the spec refuses the operator's keys; they would lose here anyway
        **common_labels(owner),
        naming.LABEL_COMPONENT: "model-server",
        naming.LABEL_VERSION: revision,
        naming.LABEL_REVISION: revision,
    }
    load = int(load_budget(spec.model).total_seconds())
    cache: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": spec.model.cache.claim_name}}
        if spec.model.cache is not None
        else {"emptyDir": {}}
    )
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,  # the model server never calls the API
        "terminationGracePeriodSeconds": 60,
        "securityContext": _pod_security(),
        "initContainers": [
            _step(spec, naming.DOWNLOAD_CONTAINER, "download"),
            _step(spec, naming.VERIFY_CONTAINER, "verify"),
        ],
        "containers": [
            {
                "name": naming.SERVING_CONTAINER,
                "image": spec.engine.image,
                "command": ["qwenops-serve", "serve"],
                "args": [*checkpoint_args(spec, digests=False), "--", *vllm_args(spec)],
                "env": [
                    {"name": "HF_HOME", "value": MODEL_CACHE_PATH},
                    {"name": "HF_HUB_OFFLINE", "value": "1"},
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
                    "requests": {**spec.pod.resources.requests, pool.gpu_resource: gpus},
                    "limits": {**spec.pod.resources.limits, pool.gpu_resource: gpus},
                },
                "securityContext": _container_security(),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "model-cache", "mountPath": MODEL_CACHE_PATH},
                ],
                "startupProbe": _probe(
                    "/health", STARTUP_PROBE_PERIOD_SECONDS, math.ceil(load / STARTUP_PROBE_PERIOD_SECONDS)
                ),
                "readinessProbe": _probe("/health", 5, 3),
                "livenessProbe": _probe("/health", 10, 6),
            }
        ],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
            {"name": "model-cache", **cache},
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
    pod_spec.update(_pod_settings(spec))
    return {
        "metadata": {
            "labels": labels,
            "annotations": {
                **spec.pod.annotations,
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(naming.SERVING_PORT),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": pod_spec,
    }


def _pod_settings(spec: QwenDeploymentSpec) -> dict[str, Any]:
    """The pod spec's fields `spec.pod` sets, only those set (an unset one leaves the pods as before)."""
    settings: dict[str, Any] = {}
    if spec.pod.image_pull_secrets:
        settings["imagePullSecrets"] = [{"name": secret.name} for secret in spec.pod.image_pull_secrets]
    if spec.pod.runtime_class_name:
        settings["runtimeClassName"] = spec.pod.runtime_class_name
    if spec.pod.priority_class_name:
        settings["priorityClassName"] = spec.pod.priority_class_name
    return settings


def desired_deployment(
    owner: Owner,
    spec: QwenDeploymentSpec,
    revision: str,
    *,
    track: str,
    replicas: int,
    rejection: Rejection | None = None,
    marked: bool = False,
) -> Manifest:
    """The Deployment `<name>-<revision>` serving one revision on `track` with `replicas` pods.

    `rejection`: the revision was rolled back, and the Deployment says so
    (`qwenops.io/rejected`). `marked`: the stored Deployment says so, and no
    longer should (a retry): its mark is removed.
    """
    annotations: dict[str, str | None] = {naming.ANNOTATION_MODEL: f"{spec.model.name}@{spec.model.revision}"}
    if rejection is not None:
        annotations[naming.ANNOTATION_REJECTED] = rejection.model_dump_json(by_alias=True, exclude_none=True)
    elif marked:
        annotations[naming.ANNOTATION_REJECTED] = None  # a merge patch's null: the mark goes
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
            "annotations": annotations,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            # The Deployment's own clock (a cold start, the longest): the operator judges the
            # canary against its own deadline, which knows whether the cache is warm.
            "progressDeadlineSeconds": int(
                startup_budget(spec.model, warm_cache=False).deadline.total_seconds()
            ),
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
    """`<name>` selects every track (pinned to the stable by `desired_services` while no canary
    runs); `<name>-<track>` selects the pods of one revision."""
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
    """The three Services; with no canary running, `<name>-canary` points at the stable pods, and
    `<name>` selects the stable's pods only: a revision kept warm (a bake) carries no traffic
    until a rollback makes it the stable, and a revision leaving (rolled back, undone, replaced)
    none from the moment it leaves, while its pods still run."""
    every = desired_service(owner, track=None, revision=None)
    if canary is None:
        every["spec"]["selector"][naming.LABEL_REVISION] = stable
    return [
        every,
        desired_service(owner, track=naming.TRACK_STABLE, revision=stable),
        desired_service(owner, track=naming.TRACK_CANARY, revision=canary or stable),
    ]
