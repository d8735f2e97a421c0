"""Server-side printing as kubectl reads it: the CRD's printer columns, the built-in kinds' columns."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import qwen_deployment
from tests import status_fixtures
from tests.clients.kubectl import Kubectl

QWDS = "qwenops.io/v1alpha1/qwendeployments"
NS = "default"
STABLE, CANARY = status_fixtures.STABLE, status_fixtures.CANARY
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
"""


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


async def write_status(kubectl: Kubectl, status: dict[str, Any]) -> None:
    """The status as the operator writes it (a merge patch of the status subresource, replacing it)."""
    patched = await kubectl("patch", "qwd", "chat", "--subresource=status", "--type=json",
                            "-p", json.dumps([{"op": "add", "path": "/status", "value": status}]))  # fmt: skip
    assert patched.code == 0, patched


async def chat_with_status(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object(QWDS, qwen_deployment("a" * 40, namespace=NS, name="chat"), namespace=NS)
    await write_status(kubectl, status_fixtures.canary_at_step_2()["status"])


async def test_get_qwd_prints_the_crd_columns(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    await chat_with_status(kubectl, emulator)
    result = await kubectl("get", "qwd")
    assert result.code == 0, result
    table = rows(result.stdout)
    assert table[0] == ["NAME", "STABLE", "CANARY", "WEIGHT", "PHASE", "PODS", "AGE"]
    assert table[1][:6] == ["chat", STABLE, CANARY, "50", "Progressing", "Ready"]
    assert re.fullmatch(r"\d+s", table[1][6])  # a date column, printed as an age


async def test_get_qwd_watch_prints_rows_as_they_change(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    await chat_with_status(kubectl, emulator)
    process = await kubectl.start("get", "qwd", "-w")
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            header = (await process.stdout.readline()).decode()
            assert rows(header)[0][:2] == ["NAME", "STABLE"]
            assert rows((await process.stdout.readline()).decode())[0][4] == "Progressing"
            await write_status(kubectl, status_fixtures.healthy()["status"])
            words = (await process.stdout.readline()).decode().split()  # an empty cell prints as nothing
            assert words[:4] == ["chat", STABLE, "Healthy", "Ready"]
    finally:
        process.terminate()
        await process.communicate()


async def test_built_in_kinds_print_their_usual_columns(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/services", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}}, namespace=NS)
    result = await kubectl("get", "svc", "web")
    assert result.code == 0, result
    table = rows(result.stdout)
    assert table[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert table[1][:5] == ["web", "ClusterIP", table[1][2], "<none>", "80/TCP"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", table[1][2])
    deploy = await kubectl("apply", "--validate=false", "-f", "-", stdin=DEPLOYMENT)
    assert deploy.code == 0, deploy
    result = await kubectl("get", "deploy", "web", "-o", "wide")
    assert result.code == 0, result
    table = rows(result.stdout)
    assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert table[1][0] == "web" and table[1][5:] == ["nginx", "nginx:1.27", "app=web"]
    pods = await kubectl("get", "pods")
    assert pods.code == 0, pods
    assert rows(pods.stdout)[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    chat = emulator.create_object(QWDS, qwen_deployment("a" * 40, namespace=NS, name="chat"), namespace=NS)
    emulator.create_object("v1/events", {
        "metadata": {"name": "chat.1"}, "reason": "RolloutStarted", "message": "canary at 10%", "type": "Normal",
        "involvedObject": {"kind": "QwenDeployment", "name": "chat", "uid": chat["metadata"]["uid"]},
        "lastTimestamp": chat["metadata"]["creationTimestamp"], "source": {"component": "qwenops"},
    }, namespace=NS)  # fmt: skip
    events = await kubectl("get", "events")
    assert events.code == 0, events
    table = rows(events.stdout)
    assert table[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]  # the name only with -o wide
    assert table[1][1:] == ["Normal", "RolloutStarted", "qwendeployment/chat", "canary at 10%"]


async def test_scale_a_deployment(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    assert (created := await kubectl("apply", "-f", "-", stdin=DEPLOYMENT)).code == 0, created
    scaled = await kubectl("scale", "deploy", "web", "--replicas=3")
    assert scaled.code == 0, scaled
    assert scaled.stdout.strip() == "deployment.apps/web scaled"
    stored = emulator.get_object("apps/v1/deployments", NS, "web")
    assert stored is not None and stored["spec"]["replicas"] == 3
    stale = await kubectl("scale", "deploy", "web", "--replicas=1", "--current-replicas=2")
    assert stale.code == 1, stale  # a precondition kubectl checks against the Scale it read


async def test_nodes_print_their_status_and_roles(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.add_nodes(2, gpus=1, labels={"node-role.kubernetes.io/gpu": ""})
    second = sorted(node["metadata"]["name"] for node in emulator.list_objects("v1/nodes"))[1]
    emulator.patch_object("v1/nodes", None, second, {"spec": {"unschedulable": True}})
    result = await kubectl("get", "nodes")
    assert result.code == 0, result
    table = rows(result.stdout)
    assert table[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [row[1:3] for row in table[1:]] == [["Ready", "gpu"], ["Ready,SchedulingDisabled", "gpu"]]
