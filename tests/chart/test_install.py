"""`helm install`, `helm upgrade` and `helm uninstall` of charts/qwenops with the real helm 4 against
the emulated API, as a user runs them on a new cluster: every object the chart renders is stored
(helm 4 applies them server-side, and keeps its releases in protobuf-written Secrets), the CRD
is kept on uninstall (`helm.sh/resource-policy: keep`) and everything else removed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from qwenops_testing.emulator import (
    DEFAULT_RESOURCES,
    PLATFORM_RESOURCES,
    KubeEmulator,
    run_emulator,
    write_kubeconfig,
)
from tests.chart.helm import CHART, NAMESPACE, RELEASE, VALUE_FILES, Helm, Manifest

EVERYTHING = VALUE_FILES / "everything.yaml"


@pytest_asyncio.fixture
async def bare() -> AsyncIterator[KubeEmulator]:
    """A new cluster: no CRD, the kinds the chart writes served, and the namespaces the everything
    values name (its PodMonitor's, its watched namespaces') existing."""
    resources = [*(spec for spec in DEFAULT_RESOURCES if spec.group != "qwenops.io"), *PLATFORM_RESOURCES]
    async with run_emulator(resources=resources, crds=(), namespaces=("default", "monitoring", "a", "b"),
                            deployments_become_available=True) as emulator:
        yield emulator


async def run_helm(helm: Helm, kubeconfig: Path, *args: str) -> str:
    """helm against the emulator, without blocking the event loop that serves it."""
    process = await asyncio.create_subprocess_exec(
        str(helm.binary), *args, "--kubeconfig", str(kubeconfig), env=helm.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, f"helm {' '.join(args)} exited {process.returncode}:\n{err.decode()}"
    return out.decode()


def identities(objects: Sequence[Manifest]) -> set[tuple[str, str, str | None]]:
    return {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}


def stored(emulator: KubeEmulator) -> set[tuple[str, str, str | None]]:
    """Every object in the emulator of a kind the chart renders (its release Secrets aside)."""
    found = set()
    for spec in PLATFORM_RESOURCES + DEFAULT_RESOURCES:
        path = f"{spec.group}/{spec.version}/{spec.plural}".lstrip("/")
        for obj in emulator.list_objects(path):
            if spec.kind == "Secret" and obj["metadata"]["name"].startswith("sh.helm.release."):
                continue
            if spec.kind in ("Namespace", "Event", "ReplicaSet", "Pod"):  # not the chart's: its Deployment's
                continue
            found.add((spec.kind, obj["metadata"]["name"], obj["metadata"].get("namespace")))
    return found


def rendered(helm: Helm, values: Sequence[Path]) -> set[tuple[str, str, str | None]]:
    """What `helm install` writes: the objects it renders, each namespaced one in the release's
    namespace unless it names its own."""
    found = set()
    for kind, name, namespace in identities(helm.template(values)):
        cluster_scoped = kind in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition")
        found.add((kind, name, None if cluster_scoped else namespace or NAMESPACE))
    return found


@pytest.mark.integration
async def test_install_upgrade_uninstall(helm: Helm, bare: KubeEmulator, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", bare.url)
    common = ["--namespace", NAMESPACE]
    await run_helm(helm, config, "install", RELEASE, str(CHART), *common, "--create-namespace", "--wait")
    assert stored(bare) == rendered(helm, [])
    [crd] = bare.list_objects("apiextensions.k8s.io/v1/customresourcedefinitions")
    assert {c["type"] for c in crd["status"]["conditions"]} == {"NamesAccepted", "Established"}
    assert bare.list_objects("qwenops.io/v1alpha1/qwendeployments") == []  # the CRD's resource is served

    await run_helm(helm, config, "upgrade", RELEASE, str(CHART), *common, "--values", str(EVERYTHING))
    assert stored(bare) == rendered(helm, [EVERYTHING])
    kinds = {kind for kind, _, _ in stored(bare)}
    assert {"PodMonitor", "ServiceMonitor", "PrometheusRule", "ConfigMap", "NetworkPolicy"} <= kinds
    releases = bare.list_objects("v1/secrets")
    assert sorted(s["metadata"]["name"] for s in releases) == [
        f"sh.helm.release.v1.{RELEASE}.v1", f"sh.helm.release.v1.{RELEASE}.v2"]  # fmt: skip
    assert {s["metadata"]["labels"]["status"] for s in releases} == {"superseded", "deployed"}
    listed = await run_helm(helm, config, "list", *common, "--output", "json")
    assert '"status":"deployed"' in listed and '"revision":"2"' in listed

    out = await run_helm(helm, config, "uninstall", RELEASE, *common)
    assert "kept due to the resource policy" in out and "qwendeployments.qwenops.io" in out
    assert stored(bare) == {("CustomResourceDefinition", "qwendeployments.qwenops.io", None)}
    assert bare.list_objects("v1/secrets") == []
