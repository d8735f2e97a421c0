"""Server-side apply of QwenDeployments as kubectl sends it: managedFields, conflicts, force."""

from __future__ import annotations

import json
from pathlib import Path

from qwenops_testing.emulator import KubeEmulator
from tests.clients.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
QWDS = "qwenops.io/v1alpha1/qwendeployments"
EXAMPLE = (REPO / "examples" / "chat.yaml").read_text()


async def test_apply_creates_then_changes_and_records_its_fields(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    created = await kubectl("apply", "--server-side", "-f", "-", stdin=EXAMPLE)
    assert created.code == 0, created
    assert created.stdout.strip() == "qwendeployment.qwenops.io/chat serverside-applied"
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None
    [entry] = stored["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("kubectl", "Apply")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]
    changed = await kubectl("apply", "--server-side", "-f", "-", stdin=EXAMPLE.replace("replicas: 2", "replicas: 3"))
    assert changed.code == 0, changed
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None and stored["spec"]["replicas"] == 3


async def test_a_field_another_manager_changed_is_a_conflict_until_forced(
    kubectl: Kubectl, emulator: KubeEmulator
) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    assert (created := await kubectl("apply", "--server-side", "-f", "-", stdin=EXAMPLE)).code == 0, created
    patched = await kubectl("patch", "qwd", "chat", "-n", "llm", "--type=merge",
                            "-p", json.dumps({"spec": {"replicas": 4}}))  # fmt: skip
    assert patched.code == 0, patched
    refused = await kubectl("apply", "--server-side", "-f", "-", stdin=EXAMPLE)
    assert refused.code == 1, refused
    assert 'conflict with "kubectl-patch"' in refused.stderr and ".spec.replicas" in refused.stderr
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None and stored["spec"]["replicas"] == 4
    forced = await kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=EXAMPLE)
    assert forced.code == 0, forced
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None and stored["spec"]["replicas"] == 2
    managers = {(e["manager"], e["operation"]) for e in stored["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers


async def test_a_field_no_longer_applied_is_removed(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    labelled = EXAMPLE.replace("  namespace: llm\n", "  namespace: llm\n  labels: {team: chat}\n")
    assert (created := await kubectl("apply", "--server-side", "-f", "-", stdin=labelled)).code == 0, created
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None and stored["metadata"]["labels"] == {"team": "chat"}
    assert (again := await kubectl("apply", "--server-side", "-f", "-", stdin=EXAMPLE)).code == 0, again
    stored = emulator.get_object(QWDS, "llm", "chat")
    assert stored is not None and "labels" not in stored["metadata"]
