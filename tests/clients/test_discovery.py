"""Discovery as kubectl 1.35 reads it: the core group, the named groups, subresources, the version."""

from __future__ import annotations

import json

from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import qwen_deployment
from tests.clients.kubectl import Kubectl


async def test_core_and_named_groups_are_listed(kubectl: Kubectl) -> None:
    result = await kubectl("api-resources", "--no-headers")
    assert result.code == 0, result
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert rows["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["qwendeployments"][1:] == ["qwd", "qwenops.io/v1alpha1", "true", "QwenDeployment"]
    assert not [name for name in rows if "/" in name]  # subresources are not resources


async def test_get_of_core_and_group_resources_together(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/services", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}},
                           namespace="default")  # fmt: skip
    result = await kubectl("get", "deploy,svc,pods", "-o", "name")
    assert result.code == 0, result
    assert "service/web" in result.stdout.split()
    assert result.stderr == ""


async def test_short_name_is_not_ambiguous(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("qwenops.io/v1alpha1/qwendeployments", qwen_deployment("a" * 40, namespace="default", name="chat"),
                           namespace="default")  # fmt: skip
    result = await kubectl("get", "qwd", "-o", "name")
    assert result.code == 0, result
    assert result.stdout.split() == ["qwendeployment.qwenops.io/chat"]
    assert "could also match" not in result.stderr  # the warning of an ambiguous short name
    assert result.stderr == ""


async def test_server_version_is_1_35(kubectl: Kubectl) -> None:
    result = await kubectl("version", "-o", "json")
    assert result.code == 0, result
    server = json.loads(result.stdout)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "35")
    assert server["gitVersion"].startswith("v1.35.")
