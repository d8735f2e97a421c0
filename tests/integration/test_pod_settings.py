"""`spec.pod` with the real operator and the emulated API: the pods get the settings, the stable's
Deployment stays as the API server stored it (quantities canonical: no patch for "0.5" stored as
"500m"), and a change of them is a new revision rolled out as a canary."""

from typing import Any

import pytest

from qwenops_testing.cluster import DEPLOYMENTS, Client, deployments_of, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
POD = {
    "resources": {"requests": {"cpu": "0.5", "memory": "1.5Gi"}, "limits": {"memory": "2Gi"}},
    "imagePullSecrets": [{"name": "registry-credentials"}],
    "runtimeClassName": "nvidia",
    "priorityClassName": "inference-high",
    "labels": {"team": "ml-platform"},
    "annotations": {"example.com/owner": "ml"},
}


def manifest(pod: dict[str, Any]) -> dict[str, Any]:
    return qwen_deployment("a" * 40, replicas=1, steps=[{"weight": 50}], pod=pod)  # held until promoted


async def test_pod_settings_reach_the_pods_and_a_change_is_a_canary(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    first = manifest(POD)
    stable = expected_revision(first)
    await client.apply_qwd(first)
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
    template = deployments_of(emulator, NS, NAME)[stable]["spec"]["template"]
    vllm = next(c for c in template["spec"]["containers"] if c["name"] == "vllm")
    assert vllm["resources"]["requests"] == {"cpu": "500m", "memory": "1536Mi", "nvidia.com/gpu": "1"}
    assert template["spec"]["runtimeClassName"] == "nvidia"
    assert template["spec"]["priorityClassName"] == "inference-high"
    assert template["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert template["metadata"]["labels"]["team"] == "ml-platform"
    assert template["metadata"]["annotations"]["example.com/owner"] == "ml"

    since = emulator.request_count
    changed = manifest({**POD, "labels": {"team": "search"}})
    canary = expected_revision(changed)
    assert canary != stable
    await client.patch_qwd(NS, NAME, {"spec": {"pod": {"labels": {"team": "search"}}}})

    def canary_paused() -> dict[str, Any] | None:
        status = status_of(emulator, NS, NAME)
        ok = status.get("phase") == "Paused" and (status.get("canary") or {}).get("revision") == canary
        return status if ok else None

    await eventually(canary_paused, "the label change rolled out as a canary", operator)
    found = deployments_of(emulator, NS, NAME)
    assert found[canary]["spec"]["template"]["metadata"]["labels"]["team"] == "search"
    assert found[stable]["spec"]["template"]["metadata"]["labels"]["team"] == "ml-platform"
    stable_writes = [
        w for w in emulator.writes(since)
        if w.resource == DEPLOYMENTS and w.name == f"{NAME}-{stable}" and "template" in str(w.body)
    ]  # fmt: skip
    assert stable_writes == []  # neither the change nor the canonical quantities touched its pods
