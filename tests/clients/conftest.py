"""The real kubectl 1.35 against the emulated API: a kubeconfig in tmp, the binary `make helm`
fetches (tests/chart/fetch_helm.py), each test's emulator its own.

Where kubectl cannot be had (no network for the first download, another platform) the tests are
skipped with the reason, unless $QWENOPS_REQUIRE_HELM is set, as CI sets it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from qwenops_testing.emulator import KubeEmulator, run_emulator, write_kubeconfig
from tests.chart.conftest import REQUIRE_ENV, required
from tests.chart.fetch_helm import HelmUnavailableError, ensure_helm
from tests.clients.kubectl import Kubectl

NS = "default"


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    try:
        binary = ensure_helm().parent / "kubectl"
    except HelmUnavailableError as exc:
        message = f"no kubectl binary: {exc} (`make helm` fetches it)"
        if required():
            pytest.fail(f"{message}; ${REQUIRE_ENV} is set, so the client tests must run")
        pytest.skip(message)
    if not binary.is_file():
        pytest.skip(f"no kubectl beside helm at {binary} (set by $QWENOPS_HELM?)")
    return binary


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[KubeEmulator]:
    async with run_emulator(deployments_become_available=True) as emulator:
        yield emulator


@pytest.fixture
def kubectl(kubectl_binary: Path, emulator: KubeEmulator, tmp_path: Path) -> Kubectl:
    config = write_kubeconfig(tmp_path / "kubeconfig", emulator.url, namespace=NS)
    return Kubectl(kubectl_binary, config, tmp_path)
