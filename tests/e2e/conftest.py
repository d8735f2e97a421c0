"""The e2e suite runs against a real cluster: the current kubeconfig context (kind by default).

Where no cluster answers, the suite runs against the emulated API instead (emulated.py), with the
real kubectl: the CRD admission corpus through `--dry-run=server`, the locally run operator; the
tests that need real pods skip, saying so (emulated.NEEDS_KUBELET). With $QWENOPS_REQUIRE_E2E set a
missing real cluster fails instead, with the reason `python -m tests.e2e.cluster up` gives (`make
e2e` runs it first), from the same functions. Without kubectl at all every test that needs a
cluster is skipped with the reason printed (`pytest -rs`). The tests of tests/e2e that need no
cluster (test_setup.py) run everywhere, in `make test` too.
"""

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.fetch_helm import HelmUnavailableError, ensure_helm
from tests.e2e.cluster import REQUIRE_ENV, context_problem, decide, find_kubectl, required, suite_skip_reason
from tests.e2e.emulated import MODE_ENV, NEEDS_KUBELET, emulated_cluster, environment
from tests.e2e.support import Kubectl, Subject, stack_problem

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "qwenops.io_qwendeployments.yaml"


def cluster_problem() -> str | None:
    """Why no cluster can be used, or None when the current context's answers."""
    return suite_skip_reason(decide(context_problem(find_kubectl())))


def _unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"{reason}; ${REQUIRE_ENV} is set, so the e2e suite must run")
    pytest.skip(reason)


def emulated() -> bool:
    return os.environ.get(MODE_ENV) == "emulated"


@pytest.fixture(scope="package")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """kubectl against the cluster: the real one, else (no $QWENOPS_REQUIRE_E2E) the emulated API,
    KUBECONFIG pointing at it for the rest of tests/e2e."""
    found = find_kubectl()
    if found is None:  # fetch the pinned one (as `make helm` does), for the emulated cluster at least
        with contextlib.suppress(HelmUnavailableError):
            found = find_kubectl(fetched=ensure_helm().parent / "kubectl")
    problem = cluster_problem()
    if problem is None:
        assert found is not None
        yield found
        return
    if required() or found is None:
        _unavailable(problem)
    assert found is not None
    with emulated_cluster(tmp_path_factory.mktemp("emulated-cluster")) as kubeconfig, environment(kubeconfig):
        yield found


@pytest.fixture(scope="package")
def crd_installed(kubectl: str) -> Iterator[None]:
    subprocess.run([kubectl, "apply", "--server-side", "-f", str(CRD)], check=True)
    subprocess.run(
        [kubectl, "wait", "--for=condition=Established", "--timeout=60s",
         "crd/qwendeployments.qwenops.io"],
        check=True,
    )  # fmt: skip
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: llm}\n"
    subprocess.run([kubectl, "apply", "-f", "-"], input=namespace, text=True, check=True)
    yield


@pytest.fixture(scope="package")
def stack(kubectl: str) -> Kubectl:
    """The cluster with what `python -m tests.e2e.cluster up` installs: the operator (the chart), Prometheus and
    the Hub stand-in, each ready."""
    if emulated():
        pytest.skip(NEEDS_KUBELET)
    client = Kubectl(kubectl)
    problem = stack_problem(client)
    if problem:
        _unavailable(f"{problem} (python -m tests.e2e.cluster up installs it; make e2e runs that first)")
    return client


@pytest.fixture
def subject(stack: Kubectl, request: pytest.FixtureRequest) -> Iterator[Subject]:
    """A QwenDeployment of a fresh name for one test, deleted after it (with its pods)."""
    words = request.node.name.removeprefix("test_").replace("_", "-")
    prefix = "".join(c for c in words if c.isalnum() or c == "-")[:20].strip("-")
    made = Subject(stack, f"{prefix}-{uuid.uuid4().hex[:5]}")
    yield made
    made.delete()
