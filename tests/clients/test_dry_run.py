"""Server-side dry runs as kubectl asks for them: `--dry-run=server` and `kubectl diff`."""

from __future__ import annotations

from pathlib import Path

from qwenops_testing.emulator import KubeEmulator
from tests.clients.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
QWDS = "qwenops.io/v1alpha1/qwendeployments"
EXAMPLE = REPO / "examples" / "chat.yaml"


async def test_dry_run_create_stores_nothing(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    since = emulator.request_count
    result = await kubectl("apply", "--dry-run=server", "-f", str(EXAMPLE))
    assert result.code == 0, result
    assert result.stdout.strip() == "qwendeployment.qwenops.io/chat created (server dry run)"
    assert emulator.get_object(QWDS, "llm", "chat") is None
    assert [w.query.get("dryRun") for w in emulator.writes(since)] == ["All"]


async def test_dry_run_is_admitted_as_a_write(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    wrong = EXAMPLE.read_text().replace("replicas: 2", "replicas: -1")
    result = await kubectl("apply", "--dry-run=server", "-f", "-", stdin=wrong)
    assert result.code == 1, result
    assert "spec.replicas" in result.stderr


async def test_diff_shows_a_change_and_changes_nothing(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
    assert (applied := await kubectl("apply", "-f", str(EXAMPLE))).code == 0, applied
    before = emulator.get_object(QWDS, "llm", "chat")
    same = await kubectl("diff", "-f", str(EXAMPLE))
    assert (same.code, same.stdout) == (0, ""), same
    changed = await kubectl("diff", "-f", "-", stdin=EXAMPLE.read_text().replace("replicas: 2", "replicas: 3"))
    assert changed.code == 1, changed  # 1: differences found
    assert "-  replicas: 2\n+  replicas: 3" in changed.stdout
    assert emulator.get_object(QWDS, "llm", "chat") == before


async def test_dry_run_delete_keeps_the_object(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    emulator.create_object("v1/services", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}},
                           namespace="default")  # fmt: skip
    result = await kubectl("delete", "svc", "web", "--dry-run=server")
    assert result.code == 0, result
    assert "(server dry run)" in result.stdout
    assert emulator.get_object("v1/services", "default", "web") is not None


async def test_server_side_apply_of_a_built_in_kind(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    """Server-side apply of the built-in kinds (helm 4 installs with it): created, then a field no
    longer applied removed; lists are atomic (apply.py)."""
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {a: b}}\nspec: {ports: [{port: 80}]}\n"
    result = await kubectl("apply", "--server-side", "-f", "-", stdin=service)
    assert result.code == 0, result
    assert result.stdout.strip() == "service/web serverside-applied"
    stored = emulator.get_object("v1/services", "default", "web")
    assert stored is not None and stored["metadata"]["labels"] == {"a": "b"}
    again = await kubectl("apply", "--server-side", "-f", "-", stdin=service.replace(", labels: {a: b}", ""))
    assert again.code == 0, again
    stored = emulator.get_object("v1/services", "default", "web")
    assert stored is not None and "labels" not in stored["metadata"]
