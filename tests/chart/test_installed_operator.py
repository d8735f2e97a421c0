"""The operator as `helm install` leaves it, with its ServiceAccount's permissions enforced: the chart
installed with the real helm 4 into the emulated API, then the real operator run with the arguments
and environment of the Deployment the install stored, as that Deployment's ServiceAccount (a bearer
token the emulator's RBAC authorizer maps to it, rbac.py), walks a QwenDeployment through a canary
over InferencePools to promotion; no request is refused (403) by the Roles and ClusterRoles the
install stored. (That the authorizer refuses what is not granted: tests/unit/test_emulator_rbac.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from qwenops_testing.emulator.rbac import Authorizer
from tests.chart.helm import CHART, NAMESPACE, RELEASE, Helm, Manifest
from tests.chart.test_install import run_helm
from tests.chart.test_rbac_audit import is_discovery, walk_a_canary

pytestmark = pytest.mark.integration

TOKEN = "the-operators-service-account-token"


@pytest_asyncio.fixture
async def installed(helm: Helm, tmp_path: Path) -> AsyncIterator[tuple[KubeEmulator, Manifest, Authorizer]]:
    """The chart installed on a new cluster; its operator Deployment; RBAC enforced for its ServiceAccount."""
    resources = [*(spec for spec in DEFAULT_RESOURCES if spec.group != "qwenops.io"), *PLATFORM_RESOURCES]
    async with run_emulator(resources=resources, crds=(), deployments_become_available=True) as emulator:
        config = write_kubeconfig(tmp_path / "helm-kubeconfig", emulator.url)
        await run_helm(helm, config, "install", RELEASE, str(CHART), "--namespace", NAMESPACE,
                       "--create-namespace", "--wait")  # fmt: skip
        [deployment] = [d for d in emulator.list_objects("apps/v1/deployments")
                        if d["metadata"]["namespace"] == NAMESPACE]  # fmt: skip
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        assert emulator.get_object("v1/serviceaccounts", NAMESPACE, account) is not None
        authorizer = emulator.enforce_rbac({TOKEN: f"system:serviceaccount:{NAMESPACE}:{account}"})
        yield emulator, deployment, authorizer


async def test_the_installed_operator_needs_no_more_than_its_service_account_may(
    installed: tuple[KubeEmulator, Manifest, Authorizer], tmp_path: Path
) -> None:
    emulator, deployment, authorizer = installed
    since = emulator.request_count  # helm's requests before it are not the operator's
    requests = [r for r in await walk_a_canary(emulator, [deployment], tmp_path / "operator", TOKEN)
                if r.index >= since]  # fmt: skip
    assert authorizer.denied == []
    operators = [r for r in requests if r.resource is not None and not is_discovery(r)]
    assert len(operators) > 20
    assert authorizer.checked == len(operators)  # every one it sent was checked as its ServiceAccount
