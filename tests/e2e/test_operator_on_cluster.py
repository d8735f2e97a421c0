"""The operator, run locally, against a real cluster: what only a real API server can show.

Server-side defaulting of Deployments and Services must not count as drift (the
operator's no-op reconcile writes nothing), garbage collection removes the
children, and the pod template is accepted by real validation. GPU pods stay
Pending on a cluster without GPUs; the Deployment objects are what is checked.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
COMMIT = "9c925d64d72725edaf899c6cb9c377fd0709d9c5"


def kubectl_json(kubectl: str, *args: str) -> Any:
    out = subprocess.run(
        [kubectl, *args, "-o", "json"], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def wait_for(check: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"not seen within {timeout}s: {what}")


@pytest.fixture
def namespace(kubectl: str, crd_installed: None) -> Iterator[str]:
    name = f"qwenops-e2e-{uuid.uuid4().hex[:6]}"
    subprocess.run([kubectl, "create", "namespace", name], check=True)
    yield name
    subprocess.run([kubectl, "delete", "namespace", name, "--wait=false"], check=False)


@pytest.fixture
def operator(namespace: str, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "operator.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "qwenops.cli", "run", "-n", namespace, "--standalone"],
            env={**os.environ, "QWENOPS_RESYNC_SECONDS": "2"}, stdout=output, stderr=output, cwd=REPO,
        )  # fmt: skip
        try:
            yield log
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_deployment_created_and_left_alone_once_settled(kubectl: str, namespace: str, operator: Path) -> None:
    manifest = {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": "chat", "namespace": namespace},
        "spec": {"model": {"name": "Qwen/Qwen3-0.6B", "revision": COMMIT, "servedModelName": "qwen"}},
    }
    subprocess.run([kubectl, "apply", "-f", "-"], input=json.dumps(manifest), text=True, check=True)

    def deployments() -> list[Any]:
        items: list[Any] = kubectl_json(kubectl, "-n", namespace, "get", "deployments")["items"]
        return items

    (deployment,) = wait_for(deployments, "the Deployment", timeout=60)
    wait_for(
        lambda: len(kubectl_json(kubectl, "-n", namespace, "get", "services")["items"]) == 3, "3 Services"
    )
    status = wait_for(
        lambda: kubectl_json(kubectl, "-n", namespace, "get", "qwd", "chat").get("status", {}).get("phase"),
        "a phase in status",
    )
    assert status in ("Progressing", "Healthy")

    time.sleep(5)  # let the first reconciles settle
    before = {d["metadata"]["name"]: d["metadata"]["resourceVersion"] for d in deployments()}
    time.sleep(10)  # five resyncs
    after = {d["metadata"]["name"]: d["metadata"]["resourceVersion"] for d in deployments()}
    assert before == after, f"the operator rewrote a settled Deployment:\n{operator.read_text()[-3000:]}"
    assert deployment["metadata"]["ownerReferences"][0]["kind"] == "QwenDeployment"

    # With no GPU on the nodes the scheduler's own words reach status; with one, the image pull
    # or the download has started.
    startup = wait_for(
        lambda: kubectl_json(kubectl, "-n", namespace, "get", "qwd", "chat").get("status", {}).get("startup"),
        "status.startup",
    )
    assert startup["stage"] in ("Unschedulable", "Pending", "Downloading", "DownloadFailed"), startup
    if startup["stage"] == "Unschedulable":
        assert "nvidia.com/gpu" in startup["message"], startup

    subprocess.run([kubectl, "-n", namespace, "delete", "qwd", "chat"], check=True)
    wait_for(lambda: not deployments(), "children garbage-collected")


def test_kubectl_finds_the_plugin_and_it_shows_what_the_operator_wrote(
    kubectl: str, namespace: str, operator: Path
) -> None:
    """`kubectl qwen`, as a user runs it: kubectl finds the `kubectl-qwen` the package installs
    (beside this Python) on PATH, and it reads the status the operator wrote."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    plugins = run("plugin", "list")
    assert "kubectl-qwen" in plugins.stdout, plugins.stdout + plugins.stderr
    manifest = {
        "apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment",
        "metadata": {"name": "chat", "namespace": namespace},
        "spec": {"model": {"name": "Qwen/Qwen3-0.6B", "revision": COMMIT, "servedModelName": "qwen"}},
    }  # fmt: skip
    subprocess.run([kubectl, "apply", "-f", "-"], input=json.dumps(manifest), text=True, check=True)
    revision = wait_for(
        lambda: ((kubectl_json(kubectl, "-n", namespace, "get", "qwd", "chat").get("status") or {})
                 .get("startup") or {}).get("revision"),
        "the first revision in status",
    )  # fmt: skip
    status = run("qwen", "status", "chat", "-n", namespace)
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(":", 1) for line in status.stdout.splitlines() if ":" in line and line[0] != " ")
    assert fields["Name"].strip() == "chat" and fields["Namespace"].strip() == namespace, status.stdout
    assert fields["Phase"].strip() in ("Progressing", "Healthy"), status.stdout
    assert revision in status.stdout, status.stdout
    listed = run("qwen", "list", "-n", namespace)
    assert listed.returncode == 0 and "chat" in listed.stdout, listed.stdout + listed.stderr
    subprocess.run([kubectl, "-n", namespace, "delete", "qwd", "chat"], check=True)
