"""CustomResourceDefinitions through the API: `kubectl apply -f crds/` on a cluster without the
QwenDeployment's, then its resource served as the definition says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from qwenops_testing.emulator import DEFAULT_RESOURCES, KubeEmulator, run_emulator, write_kubeconfig
from qwenops_testing.emulator.resources import CRD_RESOURCE
from tests.clients.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def bare(kubectl_binary: Path, tmp_path: Path) -> AsyncIterator[tuple[KubeEmulator, Kubectl]]:
    """An emulator with no CRD installed, and kubectl against it."""
    resources = [*(spec for spec in DEFAULT_RESOURCES if spec.plural != "qwendeployments"), CRD_RESOURCE]
    async with run_emulator(resources=resources, crds=(), namespaces=("default", "llm")) as emulator:
        config = write_kubeconfig(tmp_path / "kubeconfig", emulator.url)
        yield emulator, Kubectl(kubectl_binary, config, tmp_path)


async def test_apply_the_crds_then_the_example(bare: tuple[KubeEmulator, Kubectl]) -> None:
    emulator, kubectl = bare
    assert emulator.list_objects("apiextensions.k8s.io/v1/customresourcedefinitions") == []
    missing = await kubectl("get", "qwd")
    assert missing.code == 1
    assert 'the server doesn\'t have a resource type "qwd"' in missing.stderr
    applied = await kubectl("apply", "-f", str(REPO / "crds"))
    assert applied.code == 0, applied
    crd = "customresourcedefinition.apiextensions.k8s.io/qwendeployments.qwenops.io"
    assert applied.stdout.strip() == f"{crd} created"
    established = await kubectl("wait", "--for=condition=Established", "crd/qwendeployments.qwenops.io",
                                "--timeout=20s")  # fmt: skip
    assert established.code == 0, established
    example = await kubectl("apply", "-f", str(REPO / "examples" / "chat.yaml"))
    assert example.code == 0, example
    listed = await kubectl("get", "qwd", "-n", "llm")
    assert listed.code == 0, listed
    assert listed.stdout.split()[:7] == ["NAME", "STABLE", "CANARY", "WEIGHT", "PHASE", "PODS", "AGE"]
    explained = await kubectl("explain", "qwd.spec.model")
    assert explained.code == 0, explained
    [stored] = emulator.list_objects("apiextensions.k8s.io/v1/customresourcedefinitions")
    assert stored["status"]["acceptedNames"]["shortNames"] == ["qwd"]
    again = await kubectl("apply", "-f", str(REPO / "crds"))
    assert again.code == 0, again
    assert again.stdout.strip().endswith("unchanged")
