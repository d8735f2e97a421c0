"""`qwenops.io/undo` with the real operator: back to the previous revision, spec untouched."""

from typing import Any

import pytest

from qwenops_testing.cluster import QWDS, Client, deployments_of, event_reasons, status_of
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"


def manifest(commit: str) -> dict[str, Any]:
    return qwen_deployment(commit * 40)


async def serving(emulator: KubeEmulator, operator: Operator, revision: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = status_of(emulator, NS, NAME)
        ok = status.get("phase") == "Healthy" and (status.get("stable") or {}).get("revision") == revision
        return status if ok and set(deployments_of(emulator, NS, NAME)) == {revision} else None

    found: dict[str, Any] = await eventually(check, f"Healthy on {revision}", operator)
    return found


async def test_undo_serves_the_previous_revision_until_the_spec_changes(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    rev_a, rev_b, rev_c = (expected_revision(manifest(c)) for c in "abc")
    await client.apply_qwd(manifest("a"))
    await serving(emulator, operator, rev_a)
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "b" * 40}}})
    await serving(emulator, operator, rev_b)
    spec_before = (emulator.get_object(QWDS, NS, NAME) or {})["spec"]

    await client.patch_qwd(NS, NAME, {"metadata": {"annotations": {"qwenops.io/undo": "t1"}}})
    status = await serving(emulator, operator, rev_a)
    assert (emulator.get_object(QWDS, NS, NAME) or {})["spec"] == spec_before  # spec never written
    assert status["override"]["revision"] == rev_a and status["override"]["specRevision"] == rev_b
    assert status["handled"]["undo"] == "t1"
    overridden = next(c for c in status["conditions"] if c["type"] == "SpecOverridden")
    assert overridden["status"] == "True" and rev_b in overridden["message"]
    assert "UndoRequested" in event_reasons(emulator, NAME)

    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "c" * 40}}})
    status = await serving(emulator, operator, rev_c)
    assert "override" not in status
    assert "UndoSuperseded" in event_reasons(emulator, NAME)
