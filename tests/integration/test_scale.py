"""An autoscaler drives `spec.replicas` through the scale subresource, with the real operator:
in the middle of a canary step the stable takes the new count and the canary's pods follow its
weight; the status tells an HPA how many pods serve and which pods to read metrics of."""

import math
from typing import Any

import pytest

from qwenops_testing.cluster import QWD_PATH, Client, deployments_of, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
WEIGHT = 25
SCALE = f"{QWD_PATH.format(namespace=NS)}/{NAME}/scale"


def manifest(commit: str) -> dict[str, Any]:
    return qwen_deployment(commit * 40, replicas=2, steps=[{"weight": WEIGHT}])  # held until promoted


def canary_pods(replicas: int) -> int:
    """The replica ratio's canary: `ceil(R*w/(100-w))` pods beside the stable's R."""
    return max(1, math.ceil(replicas * WEIGHT / (100 - WEIGHT)))


async def pods_at(
    emulator: KubeEmulator, operator: Operator, stable: str, canary: str, replicas: int
) -> dict[str, Any]:
    """Wait until the stable runs `replicas` ready pods and the canary its share, and the status says
    so: in status.replicas, and in the weight the pods carry (at least the step's, as near to it as
    whole pods allow)."""
    wanted = {stable: replicas, canary: canary_pods(replicas)}
    carried = round(100 * canary_pods(replicas) / (replicas + canary_pods(replicas)))
    assert carried >= WEIGHT

    def check() -> dict[str, Any] | None:
        found = deployments_of(emulator, NS, NAME)
        ready = {rev: (d.get("status") or {}).get("readyReplicas", 0) for rev, d in found.items()}
        counts = {rev: d["spec"]["replicas"] for rev, d in found.items()}
        status = status_of(emulator, NS, NAME)
        done = counts == wanted and ready == wanted and status.get("replicas") == sum(wanted.values())
        return status if done and (status.get("canary") or {}).get("weight") == carried else None

    status: dict[str, Any] = await eventually(check, f"{wanted} ready, in status.replicas", operator)
    return status


async def hpa_scales(client: Client, replicas: int) -> None:
    """What an HPA does: read the Scale, write it back with its resourceVersion, and read it again
    when the operator's status write came in between (409: the HPA tries again at its next sync)."""
    for _ in range(20):
        scale = await client.call("GET", SCALE)
        assert scale["kind"] == "Scale"
        scale["spec"]["replicas"] = replicas
        async with client.session.put(SCALE, json=scale) as response:
            if response.status != 409:
                assert response.status == 200, await response.text()
                return
    raise AssertionError("every write of the Scale conflicted")


async def test_scaling_mid_step_keeps_the_canary_at_its_weight(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    stable, canary = (expected_revision(manifest(c)) for c in "ab")
    await client.apply_qwd(manifest("a"))
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "b" * 40}}})
    status = await pods_at(emulator, operator, stable, canary, 2)
    assert status["phase"] == "Paused" and status["canary"]["step"] == 0

    for replicas in (6, 9, 3):
        await hpa_scales(client, replicas)
        status = await pods_at(emulator, operator, stable, canary, replicas)
        assert status["phase"] == "Paused" and status["canary"]["step"] == 0

    # The HPA reads pod metrics through status.selector: it selects both revisions' pods, no others.
    scale = await client.call("GET", SCALE)
    assert scale["spec"]["replicas"] == 3
    assert scale["status"] == {"replicas": 3 + canary_pods(3), "selector": f"qwenops.io/deployment={NAME}"}
    pods = await client.call("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={scale['status']['selector']}")
    running = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    revisions = sorted(p["metadata"]["labels"]["qwenops.io/revision"] for p in running)
    assert revisions == sorted([stable] * 3 + [canary] * canary_pods(3))
