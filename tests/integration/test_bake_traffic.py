"""The way back during a bake never leaves the `<name>` Service without a ready pod to send to.

On a full pool within a budget of surge 0 / unavailable 1, revision B is promoted with a bake
keeping one pod of A warm; then a breach (an abort) or a person's undo sends the traffic back to
A. The emulator's change log is replayed instant by instant: from the abort or the undo until A
serves on all its replicas again, the Service selects at least one ready pod (the warm one is
selected before B's pods go), and once all of it goes to A none goes to B again.
"""

import time

import pytest

from qwenops_testing.cluster import Client, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.service_timeline import replay

pytestmark = pytest.mark.integration

NS, NAME, R = "llm", "chat", 4
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
ROLLOUT = {"budget": {"maxSurge": 0, "maxUnavailable": 1}, "bake": {"duration": "10m", "warmReplicas": 1}}
WAYS = {"breach": {"qwenops.io/abort": "drill"}, "undo": {"qwenops.io/undo": "drill"}}


def manifest(commit: str) -> dict[str, object]:
    return qwen_deployment(commit, replicas=R, steps=[{"weight": 50, "pause": "1s"}], rollout=ROLLOUT)


@pytest.mark.parametrize("way", list(WAYS))
async def test_the_warm_pod_takes_the_traffic_before_the_new_revisions_pods_go(
    emulator: KubeEmulator, client: Client, operator: Operator, way: str
) -> None:
    emulator.deployments_become_available = True
    emulator.pod_timing.start_seconds = 0.2
    emulator.pod_timing.load_seconds = 1.0
    emulator.pod_timing.shutdown_seconds = 0.3
    emulator.add_nodes(R, gpus=1)  # exactly replicas x gpusPerReplica
    a, b = expected_revision(manifest(COMMIT_A)), expected_revision(manifest(COMMIT_B))
    await client.apply_qwd(manifest(COMMIT_A))
    await eventually(
        lambda: (status_of(emulator, NS, NAME).get("stable") or {}).get("revision") == a
        and status_of(emulator, NS, NAME).get("phase") == "Healthy",
        "revision A serving", operator, timeout=60,
    )  # fmt: skip
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})

    def baking_with_a_warm() -> bool:
        last = replay(emulator, NS, NAME)[-1]
        return last.baking and last.requested == R and last.ready.get(b) == R - 1 and last.ready.get(a) == 1

    await eventually(baking_with_a_warm, "B baking, one pod of A warm", operator, timeout=90)
    began = time.monotonic()
    await client.patch_qwd(NS, NAME, {"metadata": {"annotations": WAYS[way]}})

    def a_whole() -> bool:
        last = replay(emulator, NS, NAME)[-1]
        return last.at > began and last.requested == last.ready.get(a, 0) == R

    await eventually(a_whole, "A on all its replicas again", operator, timeout=60)
    after = [instant for instant in replay(emulator, NS, NAME) if instant.at >= began]
    for instant in after:
        assert sum(instant.selected.values()) >= 1, instant  # never a Service without endpoints
    moved = next(i for i, x in enumerate(after) if x.selected.get(a) and not x.selected.get(b))
    for instant in after[moved:]:
        assert not instant.selected.get(b), instant  # B's pods, once out of traffic, stay out
