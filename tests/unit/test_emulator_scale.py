"""The scale subresource of the QwenDeployment CRD as the emulated API serves it (emulator/scale.py):
an autoscaling/v1 Scale read from `spec.replicas`, `status.replicas` and `status.selector`, and
written to `spec.replicas` through the CRD's admission, as an HPA, KEDA or `kubectl scale` do."""

from __future__ import annotations

from qwenops_testing.emulator import JSON_PATCH, MERGE_PATCH, KubeEmulator
from tests.unit.emulator_http import NS, QWD, QWDS, WIDGETS, Api, api, chat, emulator, widget

__all__ = ["api", "emulator"]  # the fixtures

SCALE = f"{QWD}/chat/scale"


async def test_get_answers_a_scale_of_the_replica_paths(api: Api, emulator: KubeEmulator) -> None:
    created = await api.ok("POST", QWD, chat(replicas=3))
    await api.ok("PATCH", f"{QWD}/chat/status", {"status": {"replicas": 2, "selector": "a=b"}}, content_type=MERGE_PATCH)
    scale = await api.ok("GET", SCALE)
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["kind"] == "Scale"
    assert scale["metadata"]["name"] == "chat"
    assert scale["metadata"]["namespace"] == NS
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]
    assert scale["metadata"]["resourceVersion"] == emulator.get_object(QWDS, NS, "chat")["metadata"]["resourceVersion"]  # type: ignore[index]
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 2, "selector": "a=b"}


async def test_a_status_not_written_yet_reads_as_zero_replicas(api: Api) -> None:
    await api.ok("POST", QWD, chat(replicas=3))
    scale = await api.ok("GET", SCALE)
    assert scale["status"] == {"replicas": 0}


async def test_put_writes_spec_replicas_and_bumps_the_generation(api: Api, emulator: KubeEmulator) -> None:
    await api.ok("POST", QWD, chat(replicas=1))
    scale = await api.ok("GET", SCALE)
    scale["spec"]["replicas"] = 4
    written = await api.ok("PUT", SCALE, scale)
    assert written["spec"] == {"replicas": 4}
    stored = emulator.get_object(QWDS, NS, "chat")
    assert stored is not None
    assert stored["spec"]["replicas"] == 4
    assert stored["metadata"]["generation"] == 2


async def test_put_with_a_stale_resource_version_is_a_conflict(api: Api) -> None:
    await api.ok("POST", QWD, chat(replicas=1))
    scale = await api.ok("GET", SCALE)
    await api.ok("PATCH", f"{QWD}/chat", {"spec": {"replicas": 2}}, content_type=MERGE_PATCH)
    scale["spec"]["replicas"] = 5
    status, answer = await api.put(SCALE, scale)
    assert (status, answer["reason"]) == (409, "Conflict")


async def test_merge_and_json_patches_write_spec_replicas(api: Api, emulator: KubeEmulator) -> None:
    await api.ok("POST", QWD, chat(replicas=1))
    await api.ok("PATCH", SCALE, {"spec": {"replicas": 6}}, content_type=MERGE_PATCH)
    assert emulator.get_object(QWDS, NS, "chat")["spec"]["replicas"] == 6  # type: ignore[index]
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 7}]
    written = await api.ok("PATCH", SCALE, patch, content_type=JSON_PATCH)
    assert written["spec"]["replicas"] == 7


async def test_the_crd_schema_refuses_what_it_refuses_on_the_object(api: Api, emulator: KubeEmulator) -> None:
    await api.ok("POST", QWD, chat(replicas=1))
    status, answer = await api.patch(SCALE, {"spec": {"replicas": 5000}})
    assert (status, answer["reason"]) == (422, "Invalid")
    assert "spec.replicas" in answer["message"]
    assert emulator.get_object(QWDS, NS, "chat")["spec"]["replicas"] == 1  # type: ignore[index]


async def test_a_negative_or_missing_replica_count_is_invalid(api: Api) -> None:
    await api.ok("POST", QWD, chat(replicas=1))
    for body in ({"spec": {"replicas": -1}}, {"spec": {}}, {"spec": {"replicas": "2"}}):
        scale = await api.ok("GET", SCALE)
        status, answer = await api.put(SCALE, {**scale, **body})
        assert (status, answer["reason"]) == (422, "Invalid"), body


async def test_a_missing_object_or_a_resource_without_scale_is_not_found(api: Api) -> None:
    status, _ = await api.get(SCALE)
    assert status == 404
    await api.ok("POST", WIDGETS, widget())
    status, _ = await api.get(f"{WIDGETS}/chat/scale")
    assert status == 404
