"""OpenAPI as kubectl reads it: default `kubectl apply` (validation asked of the server),
`kubectl explain`, and an unknown field refused under `--validate=strict`."""

from __future__ import annotations

from pathlib import Path

from qwenops_testing.emulator import KubeEmulator
from tests.clients.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
QWDS = "qwenops.io/v1alpha1/qwendeployments"
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
"""


async def test_apply_the_example_with_default_validation(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    result = await kubectl("apply", "-f", str(REPO / "examples" / "chat.yaml"))
    assert result.code == 0, result
    assert result.stdout.strip() == "qwendeployment.qwenops.io/chat created"
    assert emulator.get_object(QWDS, "llm", "chat") is not None
    again = await kubectl("apply", "-f", str(REPO / "examples" / "chat.yaml"))
    assert again.code == 0, again
    assert again.stdout.strip() == "qwendeployment.qwenops.io/chat unchanged"


async def test_apply_a_deployment_twice(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    assert (created := await kubectl("apply", "-f", "-", stdin=DEPLOYMENT)).code == 0, created
    changed = DEPLOYMENT.replace("replicas: 1", "replicas: 3")
    result = await kubectl("apply", "-f", "-", stdin=changed)
    assert result.code == 0, result
    assert result.stdout.strip() == "deployment.apps/web configured"
    stored = emulator.get_object("apps/v1/deployments", "default", "web")
    assert stored is not None and stored["spec"]["replicas"] == 3


async def test_an_unknown_field_is_refused_under_strict_validation(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    wrong = (REPO / "examples" / "chat.yaml").read_text().replace("  replicas: 2", "  replicas: 2\n  replica: 3")
    result = await kubectl("apply", "--validate=strict", "-f", "-", stdin=wrong)
    assert result.code == 1, result
    assert 'unknown field "spec.replica"' in result.stderr
    assert emulator.get_object(QWDS, "llm", "chat") is None


async def test_explain_a_qwendeployment_field(kubectl: Kubectl) -> None:
    result = await kubectl("explain", "qwd.spec.replicas")
    assert result.code == 0, result
    assert "KIND:       QwenDeployment" in result.stdout
    assert "FIELD: replicas <integer>" in result.stdout


async def test_explain_a_built_in_kind(kubectl: Kubectl) -> None:
    result = await kubectl("explain", "deployment.spec.strategy")
    assert result.code == 0, result
    assert "rollingUpdate\t<RollingUpdateDeployment>" in result.stdout


async def test_an_unknown_field_of_a_built_in_kind_is_refused(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    wrong = DEPLOYMENT.replace("image: \"nginx:1.27\"", "image: \"nginx:1.27\", imagePullPolcy: Always")
    result = await kubectl("apply", "-f", "-", stdin=wrong)
    assert result.code == 1, result
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolcy"' in result.stderr
    assert emulator.get_object("apps/v1/deployments", "default", "web") is None
    warned = await kubectl("apply", "--validate=warn", "-f", "-", stdin=wrong)
    assert warned.code == 0, warned
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolcy"' in warned.stderr


async def test_a_warning_is_said_once(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    """A warning goes with the answer it belongs to, not with every later answer of the same verb."""
    wrong = DEPLOYMENT.replace("image: \"nginx:1.27\"", "image: \"nginx:1.27\", imagePullPolcy: Always")
    warned = await kubectl("create", "--validate=warn", "-f", "-", stdin=wrong)
    assert warned.code == 0, warned
    assert "unknown field" in warned.stderr
    later = await kubectl("create", "-f", "-", stdin=DEPLOYMENT.replace("name: web", "name: api"))
    assert later.code == 0, later
    assert later.stderr == ""


async def test_reapply_a_deployment_with_a_changed_container(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    """kubectl apply's strategic merge patch: containers merged by name, ordered by $setElementOrder."""
    two = DEPLOYMENT.replace('spec: {containers: [{name: nginx, image: "nginx:1.27"}]}',
                             'spec: {containers: [{name: nginx, image: "nginx:1.27"}, {name: side, image: "s:1"}]}')
    assert (created := await kubectl("apply", "-f", "-", stdin=two)).code == 0, created
    changed = two.replace('{name: nginx, image: "nginx:1.27"}, {name: side, image: "s:1"}',
                          '{name: side, image: "s:2"}, {name: nginx, image: "nginx:1.27"}')
    result = await kubectl("apply", "-f", "-", stdin=changed)
    assert result.code == 0, result
    stored = emulator.get_object("apps/v1/deployments", "default", "web")
    assert stored is not None
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("side", "s:2"), ("nginx", "nginx:1.27")]
    dropped = await kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    assert dropped.code == 0, dropped
    stored = emulator.get_object("apps/v1/deployments", "default", "web")
    assert stored is not None
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["nginx"]
