"""Events as kubectl reads them: `kubectl describe` asks by field selector, `kubectl events` too."""

from __future__ import annotations

import json
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


NEW_EVENT = """
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: chat.2, namespace: default}
eventTime: "2026-03-01T03:00:00.000000Z"
reportingController: qwenops.io/operator
reportingInstance: qwenops-0
action: Rollout
reason: RolledBack
type: Warning
note: p95 latency over the SLO
regarding: {apiVersion: qwenops.io/v1alpha1, kind: QwenDeployment, name: chat, namespace: default, uid: UID}
"""


async def test_one_store_for_both_event_apis(kubectl: Kubectl, emulator: KubeEmulator) -> None:
    chat = emulator.create_object(QWDS, qwen_deployment("a" * 40, namespace=NS, name="chat"), namespace=NS)
    emulator.create_object("v1/events", event("chat.1", chat, "RolloutStarted", "canary at 10%"), namespace=NS)
    created = await kubectl("create", "-f", "-", stdin=NEW_EVENT.replace("UID", chat["metadata"]["uid"]))
    assert created.code == 0, created
    core = await kubectl("get", "events.v1.", "--field-selector", "reason=RolledBack", "-o", "json")
    assert core.code == 0, core
    [stored] = json.loads(core.stdout)["items"]
    assert (stored["message"], stored["involvedObject"]["name"]) == ("p95 latency over the SLO", "chat")
    assert stored["reportingComponent"] == "qwenops.io/operator"
    new = await kubectl("get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=chat", "-o", "json")
    assert new.code == 0, new
    notes = {item["metadata"]["name"]: item["note"] for item in json.loads(new.stdout)["items"]}
    assert notes == {"chat.1": "canary at 10%", "chat.2": "p95 latency over the SLO"}
    described = await kubectl("describe", "qwd", "chat")
    assert "p95 latency over the SLO" in described.stdout.split("Events:", 1)[1]
