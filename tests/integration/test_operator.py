"""The real kopf operator against the emulated Kubernetes API: what it stores and what it sends."""

import asyncio
import copy
from typing import Any

import pytest

from qwenops.api import naming
from qwenops.render.diff import is_derivative
from qwenops_testing.cluster import (
    DEPLOYMENTS,
    QWDS,
    SERVICES,
    Client,
    deployments_of,
    event_reasons,
    status_of,
)
from qwenops_testing.emulator import KubeEmulator
from qwenops_testing.manifests import SERVING_IMAGE, expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICE_PATH = f"/api/v1/namespaces/{NS}/services"


def manifest(commit: str = COMMIT_A, **spec: Any) -> dict[str, Any]:
    return qwen_deployment(commit, replicas=2, nodePool={"nodeSelector": {"gpu-pool": "h100"}}, **spec)


def revision(commit: str = COMMIT_A, **spec: Any) -> str:
    return expected_revision(manifest(commit, **spec))


def phase(emulator: KubeEmulator) -> str | None:
    return status_of(emulator, NS, NAME).get("phase")


async def healthy(emulator: KubeEmulator, operator: Operator, rev: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = status_of(emulator, NS, NAME)
        stable = (status.get("stable") or {}).get("revision")
        ok = (
            status.get("phase") == "Healthy"
            and stable == rev
            and set(deployments_of(emulator, NS, NAME)) == {rev}
        )
        return status if ok else None

    result: dict[str, Any] = await eventually(check, f"Healthy on revision {rev}", operator)
    return result


async def test_children_are_created_with_owner_references(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    owner = await client.apply_qwd(manifest())
    rev = revision()
    status = await healthy(emulator, operator, rev)

    deployment = deployments_of(emulator, NS, NAME)[rev]
    assert deployment["metadata"]["name"] == f"{NAME}-{rev}"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"gpu-pool": "h100"}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == SERVING_IMAGE
    services = {s["metadata"]["name"]: s for s in emulator.list_objects(SERVICES)}
    assert set(services) == {NAME, f"{NAME}-stable", f"{NAME}-canary"}
    for child in [deployment, *services.values()]:
        (ref,) = child["metadata"]["ownerReferences"]
        assert ref["uid"] == owner["metadata"]["uid"] and ref["controller"] is True

    assert status["observedGeneration"] == 1
    assert status["stable"]["model"]["revision"] == COMMIT_A
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {
        "Available": "True", "Progressing": "False", "InvalidSpec": "False", "ModelReady": "True"
    }
    assert status["startup"]["stage"] == "Ready" and status["startup"]["pods"] == {"Ready": 2}
    warned = [(w.method, w.path, w.warnings) for w in emulator.writes() if w.warnings]
    assert warned == [], "a write carried fields the CRD does not declare: the API server drops them"
    await eventually(
        lambda: {"Serving", "Available", "ModelReady"} <= set(event_reasons(emulator, NAME)), "events", operator
    )


async def test_replica_change_patches_the_same_deployment(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    rev = revision()
    await healthy(emulator, operator, rev)
    created_uid = deployments_of(emulator, NS, NAME)[rev]["metadata"]["uid"]

    await client.patch_qwd(NS, NAME, {"spec": {"replicas": 3}})
    await eventually(
        lambda: deployments_of(emulator, NS, NAME)[rev]["spec"]["replicas"] == 3, "3 replicas", operator
    )
    assert deployments_of(emulator, NS, NAME)[rev]["metadata"]["uid"] == created_uid
    await eventually(lambda: status_of(emulator, NS, NAME).get("observedGeneration") == 2, "gen 2", operator)


async def test_new_revision_replaces_the_old_without_a_gap(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    old, new = revision(), revision(COMMIT_B)
    await healthy(emulator, operator, old)

    emulator.set_deployment_ready(NS, f"{NAME}-{new}", False)  # the new model is still loading
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})
    await eventually(
        lambda: set(deployments_of(emulator, NS, NAME)) == {old, new}, "both revisions", operator
    )
    await asyncio.sleep(3)  # several resyncs: the old revision must keep serving all the while
    status = status_of(emulator, NS, NAME)
    assert status["phase"] == "Progressing"
    assert status["stable"]["revision"] == old and status["canary"]["revision"] == new
    running = deployments_of(emulator, NS, NAME)
    assert running[old]["spec"]["replicas"] == 2
    assert running[old]["metadata"]["labels"]["qwenops.io/track"] == "stable"
    assert running[new]["metadata"]["labels"]["qwenops.io/track"] == "canary"
    canary_service = emulator.get_object(SERVICES, NS, f"{NAME}-canary") or {}
    assert canary_service["spec"]["selector"]["qwenops.io/revision"] == new

    emulator.set_deployment_ready(NS, f"{NAME}-{new}", None)  # loaded
    status = await healthy(emulator, operator, new)
    assert "canary" not in status
    assert [(h["revision"], h["outcome"]) for h in status["history"]] == [(new, "Promoted")]
    promoted = deployments_of(emulator, NS, NAME)[new]
    assert promoted["metadata"]["labels"]["qwenops.io/track"] == "stable"
    stable_service = emulator.get_object(SERVICES, NS, f"{NAME}-stable") or {}
    assert stable_service["spec"]["selector"]["qwenops.io/revision"] == new
    await eventually(lambda: "Promoted" in event_reasons(emulator, NAME), "a Promoted event", operator)


async def test_drift_is_corrected(emulator: KubeEmulator, client: Client, operator: Operator) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    rev = revision()
    await healthy(emulator, operator, rev)
    name = f"{NAME}-{rev}"
    desired = deployments_of(emulator, NS, NAME)[rev]
    desired_args = desired["spec"]["template"]["spec"]["containers"][0]["args"]

    hand_edited = copy.deepcopy(desired["spec"]["template"]["spec"]["containers"])
    hand_edited[0]["args"] = [*desired_args, "--disable-log-stats"]
    await client.patch(
        f"{DEPLOYMENT_PATH}/{name}", {"spec": {"template": {"spec": {"containers": hand_edited}}}}
    )
    await client.patch(f"{SERVICE_PATH}/{NAME}-stable", {"spec": {"selector": {"app": "other"}}})
    since = emulator.request_count
    await eventually(
        lambda: (
            deployments_of(emulator, NS, NAME)[rev]["spec"]["template"]["spec"]["containers"][0]["args"]
            == desired_args
        ),
        "hand-edited args restored",
        operator,
    )
    await eventually(
        lambda: (
            (emulator.get_object(SERVICES, NS, f"{NAME}-stable") or {})["spec"]["selector"]
            == {"qwenops.io/deployment": NAME, "qwenops.io/revision": rev}
        ),
        "service selector restored",
        operator,
    )
    restores = {
        w.name: w
        for w in emulator.writes(since)
        if w.method == "PATCH" and w.resource in (DEPLOYMENTS, SERVICES)
    }
    # Only the drifted fields are sent back, as merge patches: the containers as the operator renders
    # them (the API server's defaults left to it); a foreign selector key is removed with null.
    assert restores[name].content_type == "application/merge-patch+json"
    sent = restores[name].body["spec"]["template"]["spec"]["containers"]
    assert restores[name].body == {"spec": {"template": {"spec": {"containers": sent}}}}
    assert sent[0]["args"] == desired_args
    assert is_derivative(sent, desired["spec"]["template"]["spec"]["containers"])
    restored = deployments_of(emulator, NS, NAME)[rev]["spec"]["template"]["spec"]["containers"]
    assert restored == desired["spec"]["template"]["spec"]["containers"]  # defaulted again, as before
    assert restores[f"{NAME}-stable"].body == {"spec": {"selector": {"app": None}}}

    await client.delete(f"{DEPLOYMENT_PATH}/{name}")
    await client.delete(f"{SERVICE_PATH}/{NAME}")
    await eventually(
        lambda: rev in deployments_of(emulator, NS, NAME), "deleted Deployment restored", operator
    )
    await eventually(lambda: emulator.get_object(SERVICES, NS, NAME), "deleted Service restored", operator)


async def test_a_reconcile_with_nothing_to_change_writes_nothing(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    await healthy(emulator, operator, revision())
    await asyncio.sleep(2)  # let the last events and kopf's own bookkeeping settle

    since = emulator.request_count
    await asyncio.sleep(4 * operator.resync_seconds + 1)
    reads = [r for r in emulator.request_log(since) if r.method == "GET" and r.name == NAME]
    assert len(reads) >= 3, "the resync timer did not run: the test would prove nothing"
    assert [(w.method, w.path) for w in emulator.writes(since)] == []


async def test_an_invalid_spec_is_reported_and_touches_no_child(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    rev = revision()
    await healthy(emulator, operator, rev)
    before = {d["metadata"]["name"]: d for d in emulator.list_objects(DEPLOYMENTS)}

    since = emulator.request_count
    # As if stored under an older CRD that allowed branches: the emulator, like one, admits it.
    with emulator.without_schema(QWDS):
        await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "main"}, "replicas": 5}})

    def refused() -> dict[str, Any] | None:
        status = status_of(emulator, NS, NAME)
        invalid = [c for c in status.get("conditions", []) if c["type"] == "InvalidSpec"]
        return status if invalid and invalid[0]["status"] == "True" else None

    status = await eventually(refused, "InvalidSpec", operator)
    assert status["phase"] == "Degraded"
    assert "spec.model.revision" in status["message"]
    assert status["stable"]["revision"] == rev
    await asyncio.sleep(3 * operator.resync_seconds)
    child_writes = [w for w in emulator.writes(since) if w.resource in (DEPLOYMENTS, SERVICES)]
    assert child_writes == []
    assert {d["metadata"]["name"]: d for d in emulator.list_objects(DEPLOYMENTS)} == before
    await eventually(lambda: "InvalidSpec" in event_reasons(emulator, NAME), "an InvalidSpec event", operator)
    assert event_reasons(emulator, NAME).count("InvalidSpec") == 1

    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_A}, "replicas": 2}})
    await eventually(lambda: not refused() and phase(emulator) == "Healthy", "recovered", operator)


async def test_deletion_removes_every_child(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    await healthy(emulator, operator, revision())
    await client.delete(f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments/{NAME}")
    await eventually(
        lambda: not emulator.list_objects(DEPLOYMENTS) and not emulator.list_objects(SERVICES),
        "children garbage-collected",
        operator,
    )
    assert emulator.get_object("qwenops.io/v1alpha1/qwendeployments", NS, NAME) is None


async def test_changes_made_while_the_operator_was_down_are_applied_on_restart(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    await healthy(emulator, operator, revision())
    await operator.stop(kill=True)

    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})
    await asyncio.sleep(1)
    assert phase(emulator) == "Healthy"  # nobody acted on it yet
    await operator.start()
    status = await healthy(emulator, operator, revision(COMMIT_B))
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]


async def test_only_its_own_children_are_watched(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    """The API server filters the Deployment and Pod watches: a cluster's other workloads are never
    sent to the operator, let alone kept in its memory."""
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    await healthy(emulator, operator, revision())
    watches = {
        r.resource: r.query.get("labelSelector")
        for r in emulator.request_log()
        if r.method == "GET" and r.query.get("watch") == "true" and r.resource in (DEPLOYMENTS, "v1/pods")
    }
    selector = f"{naming.LABEL_MANAGED_BY}={naming.MANAGER},{naming.LABEL_DEPLOYMENT}"
    assert watches == {DEPLOYMENTS: selector, "v1/pods": selector}
