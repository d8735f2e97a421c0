"""A revision's InferencePool and the endpoint picker the operator runs for it, as plain dicts.

With `trafficRouting.inferencePool`, each revision has an InferencePool `<name>-<revision>`
selecting the revision's model pods (the labels its Deployment selects them by) on the serving
port, and naming an endpoint picker: the spec's existing Service, or one the operator runs for
the revision (a Deployment `<name>-<revision>-epp` behind a Service `<name>-<revision>`). The
picker's pods carry `qwenops.io/endpoint-picker`, not `qwenops.io/deployment`: nothing that
selects the model's pods (its Services, its pools, the operator's own lists) selects them.
"""

from typing import Any

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.traffic import PICKER_ENV_POOL_NAME, PICKER_ENV_POOL_NAMESPACE, PickerRun
from qwenops.render.desired import Manifest, Owner, owner_reference

PICKER_CONTAINER = "epp"
PICKER_PORT_NAME = "grpc"
PICKER_COMPONENT = "endpoint-picker"


def _picker_labels(owner: Owner, revision: str) -> dict[str, str]:
    return {
        naming.LABEL_NAME: PICKER_COMPONENT,
        naming.LABEL_INSTANCE: owner.name,
        naming.LABEL_PART_OF: "qwenops",
        naming.LABEL_MANAGED_BY: naming.MANAGER,
        naming.LABEL_COMPONENT: PICKER_COMPONENT,
        naming.LABEL_PICKER: owner.name,
        naming.LABEL_REVISION: revision,
    }


def _picker_selector(owner: Owner, revision: str) -> dict[str, str]:
    return {naming.LABEL_PICKER: owner.name, naming.LABEL_REVISION: revision}


def desired_pool(owner: Owner, spec: QwenDeploymentSpec, revision: str) -> Manifest:
    """The InferencePool `<name>-<revision>` of a revision's model pods."""
    routing = spec.rollout.traffic_routing.inference_pool
    assert routing is not None, "only with trafficRouting.inferencePool"
    picker = routing.endpoint_picker
    if picker.service is not None:
        ref: dict[str, Any] = {"name": picker.service.name, "port": {"number": picker.service.port}}
    else:
        assert picker.run is not None
        ref = {"name": naming.pool_name(owner.name, revision), "port": {"number": picker.run.port}}
    return {
        # Literals, as in every render function: the chart's RBAC test reads the kinds written.
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {
            "name": naming.pool_name(owner.name, revision),
            "namespace": owner.namespace,
            "labels": {
                naming.LABEL_NAME: "qwen",
                naming.LABEL_INSTANCE: owner.name,
                naming.LABEL_PART_OF: "qwenops",
                naming.LABEL_MANAGED_BY: naming.MANAGER,
                naming.LABEL_DEPLOYMENT: owner.name,
                naming.LABEL_COMPONENT: "inference-pool",
                naming.LABEL_REVISION: revision,
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            # The revision's model pods, as its Deployment selects them.
            "selector": {
                "matchLabels": {naming.LABEL_DEPLOYMENT: owner.name, naming.LABEL_REVISION: revision}
            },
            "targetPorts": [{"number": naming.SERVING_PORT}],
            "endpointPickerRef": {
                "kind": "Service",
                **ref,
                "failureMode": picker.failure_mode,
            },
        },
    }


def desired_picker_deployment(owner: Owner, run: PickerRun, revision: str, *, replicas: int = 1) -> Manifest:
    """The endpoint picker of one revision's pool: one pod (none while the revision runs none), its
    arguments naming the pool."""
    labels = _picker_labels(owner, revision)
    pod_spec: dict[str, Any] = {
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": PICKER_CONTAINER,
                "image": run.image,
                "args": list(run.args),
                "env": [
                    {"name": PICKER_ENV_POOL_NAME, "value": naming.pool_name(owner.name, revision)},
                    {
                        "name": PICKER_ENV_POOL_NAMESPACE,
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                    },
                ],
                "ports": [{"name": PICKER_PORT_NAME, "containerPort": run.port, "protocol": "TCP"}],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    if run.service_account_name is not None:
        pod_spec["serviceAccountName"] = run.service_account_name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": naming.picker_deployment_name(owner.name, revision),
            "namespace": owner.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": _picker_selector(owner, revision)},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def desired_picker_service(owner: Owner, run: PickerRun, revision: str) -> Manifest:
    """The Service `<name>-<revision>` the revision's pool names as its endpoint picker."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.pool_name(owner.name, revision),
            "namespace": owner.namespace,
            "labels": _picker_labels(owner, revision),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": _picker_selector(owner, revision),
            "ports": [
                {
                    "name": PICKER_PORT_NAME,
                    "port": run.port,
                    "targetPort": PICKER_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def desired_pool_objects(
    owner: Owner, spec: QwenDeploymentSpec, revision: str, *, running: bool = True
) -> list[Manifest]:
    """Everything a revision needs beside its Deployment under `trafficRouting.inferencePool`: its
    pool, and the picker the operator runs for it (if it runs one; without pods while the revision
    is `running` none, a rolled-back canary). Nothing under other routers."""
    routing = spec.rollout.traffic_routing.inference_pool
    if routing is None:
        return []
    run = routing.endpoint_picker.run
    pickers = [] if run is None else [
        desired_picker_deployment(owner, run, revision, replicas=1 if running else 0),
        desired_picker_service(owner, run, revision),
    ]  # fmt: skip
    return [*pickers, desired_pool(owner, spec, revision)]
