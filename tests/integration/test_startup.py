"""Pods on their way to serving: the real operator reads their stages from pod status.

The emulator plays the kubelet: `set_pod_status` gives a Deployment's pods the
container statuses a node would report while `download`, `verify` and `vllm`
run, or after `verify` refused a file.
"""

from typing import Any

import pytest

from qwenops_testing.cluster import EVENTS, Client, deployments_of, event_reasons, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
REFUSED = (
    "VerificationFailed: model-00002-of-00004.safetensors: sha256 is 5f3a1c2b9d8e, "
    "expected 9c1b2d3e4f5a"
)


def manifest(commit: str) -> dict[str, Any]:
    return qwen_deployment(commit, steps=[{"weight": 50, "pause": "1h"}])


def pod_status(download: dict[str, Any], verify: dict[str, Any] | None = None,
               vllm: dict[str, Any] | None = None, last_verify: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    inits = [{"name": "download", "state": download, "lastState": {}, "ready": False}]
    if verify is not None:
        inits.append({"name": "verify", "state": verify, "lastState": last_verify or {}, "ready": False})
    status: dict[str, Any] = {
        "phase": "Pending" if vllm is None else "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "initContainerStatuses": inits,
    }
    if vllm is not None:
        status["containerStatuses"] = [{"name": "vllm", "state": vllm, "ready": False}]
    return status


RUNNING = {"running": {"startedAt": "2026-11-29T03:00:00Z"}}
DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}
WAITING = {"waiting": {"reason": "PodInitializing"}}


def stage(emulator: KubeEmulator) -> str | None:
    return (status_of(emulator, NS, NAME).get("startup") or {}).get("stage")


def model_ready(emulator: KubeEmulator) -> dict[str, Any]:
    conditions = status_of(emulator, NS, NAME).get("conditions") or []
    return next((c for c in conditions if c["type"] == "ModelReady"), {})


async def test_status_follows_a_pod_from_download_to_ready(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    rev = expected_revision(manifest(COMMIT_A))
    deployment = f"{NAME}-{rev}"
    emulator.set_deployment_ready(NS, deployment, False)
    emulator.set_pod_status(NS, deployment, pod_status(RUNNING, WAITING))
    await client.apply_qwd(manifest(COMMIT_A))
    await eventually(lambda: stage(emulator) == "Downloading", "stage Downloading", operator)
    startup = status_of(emulator, NS, NAME)["startup"]
    assert startup["revision"] == rev and startup["pods"] == {"Downloading": 1}
    assert startup["warmCache"] is False and "0.6B parameters" in startup["budget"]
    assert model_ready(emulator)["reason"] == "Downloading"

    for pod, expected in [
        (pod_status(DONE, RUNNING), "Verifying"),
        (pod_status(DONE, DONE, RUNNING), "Loading"),
    ]:
        emulator.set_pod_status(NS, deployment, pod)
        await eventually(lambda expected=expected: stage(emulator) == expected, f"stage {expected}", operator)
        assert status_of(emulator, NS, NAME)["phase"] == "Progressing"

    emulator.set_pod_status(NS, deployment, None)
    emulator.set_deployment_ready(NS, deployment, True)
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
    assert stage(emulator) == "Ready" and model_ready(emulator)["status"] == "True"
    reasons = event_reasons(emulator, NAME)
    await eventually(
        lambda: [r for r in event_reasons(emulator, NAME) if r in {"Downloading", "Verifying", "Loading",
                 "ModelReady"}] == ["Downloading", "Verifying", "Loading", "ModelReady"],
        f"one event per stage, in order (so far {reasons})", operator,
    )  # fmt: skip


async def test_a_canary_whose_pods_refuse_the_checkpoint_is_rolled_back_naming_the_file(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    stable = expected_revision(manifest(COMMIT_A))
    await client.apply_qwd(manifest(COMMIT_A))
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)

    canary = expected_revision(manifest(COMMIT_B))
    emulator.set_deployment_ready(NS, f"{NAME}-{canary}", False)
    refused = {"terminated": {"exitCode": 3, "reason": "Error", "message": REFUSED}}
    emulator.set_pod_status(
        NS, f"{NAME}-{canary}",
        pod_status(DONE, {"waiting": {"reason": "CrashLoopBackOff"}}, last_verify=refused),
    )  # fmt: skip
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})

    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "RolledBack", "RolledBack", operator)
    status = status_of(emulator, NS, NAME)
    assert status["stable"]["revision"] == stable and status["rejectedRevision"] == canary
    assert "VerificationFailed" in status["history"][-1]["reason"]
    assert "model-00002-of-00004.safetensors" in status["history"][-1]["reason"]
    assert deployments_of(emulator, NS, NAME)[canary]["spec"]["replicas"] == 0
    def rolled_back_event() -> dict[str, Any] | None:
        return next((e for e in emulator.list_objects(EVENTS) if e.get("reason") == "RolledBack"), None)

    event = await eventually(rolled_back_event, "a RolledBack event", operator)
    assert event["type"] == "Warning"
    assert "(VerificationFailed)" in event["message"] and "model-00002-of-00004.safetensors" in event["message"]
    # The stable kept serving throughout.
    assert deployments_of(emulator, NS, NAME)[stable]["spec"]["replicas"] == 1


async def test_pods_that_fit_on_no_node_show_the_schedulers_message_until_a_gpu_frees(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    emulator.add_nodes(2, gpus=0, prefix="cpu-node")
    await client.apply_qwd(manifest(COMMIT_A))
    await eventually(lambda: stage(emulator) == "Unschedulable", "stage Unschedulable", operator)
    startup = status_of(emulator, NS, NAME)["startup"]
    assert startup["pods"] == {"Unschedulable": 1}
    assert startup["message"] == (
        "1 Unschedulable: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )
    assert model_ready(emulator)["reason"] == "Unschedulable"
    await eventually(lambda: "Unschedulable" in event_reasons(emulator, NAME), "an Unschedulable event", operator)

    emulator.add_nodes(1, gpus=1)  # room at last: the pending pod is scheduled there
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
    assert stage(emulator) == "Ready"
