"""Events as kubectl reads them: `kubectl describe` asks by field selector, `kubectl events` too."""

from __future__ import annotations

from typing import Any

from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import qwen_deployment
from tests.clients.kubectl import Kubectl

QWDS = "qwenops.io/v1alpha1/qwendeployments"
NS = "default"


def event(name: str, about: dict[str, Any], reason: str, message: str, type_: str = "Normal") -> dict[str, Any]:
    meta = about["metadata"]
    return {
        "metadata": {"name": name},
        "involvedObject": {"apiVersion": about["apiVersion"], "kind": about["kind"], "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta["uid"]},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "firstTimestamp": meta["creationTimestamp"], "lastTimestamp": meta["creationTimestamp"],
        "source": {"component": "qwenops"},
    }  # fmt: skip


async def test_describe_shows_the_events_of_the_object(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    chat = emulator.create_object(QWDS, qwen_deployment("a" * 40, namespace=NS, name="chat"), namespace=NS)
    other = emulator.create_object(QWDS, qwen_deployment("b" * 40, namespace=NS, name="other"), namespace=NS)
    emulator.create_object("v1/events", event("chat.1", chat, "RolloutStarted", "canary abc at 10%"), namespace=NS)
    emulator.create_object("v1/events", event("other.1", other, "Promoted", "not chat's"), namespace=NS)
    result = await kubectl("describe", "qwd", "chat")
    assert result.code == 0, result
    events = result.stdout.split("Events:", 1)[1]
    assert "RolloutStarted" in events and "canary abc at 10%" in events
    assert "not chat's" not in events


async def test_field_selectors_on_reason_and_type(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    chat = emulator.create_object(QWDS, qwen_deployment("a" * 40, namespace=NS, name="chat"), namespace=NS)
    emulator.create_object("v1/events", event("chat.1", chat, "RolledBack", "slo", "Warning"), namespace=NS)
    emulator.create_object("v1/events", event("chat.2", chat, "Promoted", "ok"), namespace=NS)
    result = await kubectl("get", "events", "--field-selector", "type=Warning,involvedObject.kind=QwenDeployment",
                           "-o", "name")  # fmt: skip
    assert result.code == 0, result
    assert result.stdout.split() == ["event/chat.1"]
    refused = await kubectl("get", "events", "--field-selector", "involvedObject.color=red")
    assert refused.code == 1
    assert 'field label not supported: involvedObject.color' in refused.stderr
