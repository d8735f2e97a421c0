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
QWD_PATH = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments"


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


async def test_a_qwendeployment_never_carries_a_finalizer_and_is_deleted_without_the_operator(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    """As after `helm uninstall`: nothing waits for an operator that is gone."""
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    await healthy(emulator, operator, revision())
    await asyncio.sleep(2 * operator.resync_seconds)  # resync passes too, not only the create handler's
    await operator.stop()

    await client.delete(f"{QWD_PATH}/{NAME}")
    await eventually(
        lambda: (
            emulator.get_object(QWDS, NS, NAME) is None
            and not emulator.list_objects(DEPLOYMENTS)
            and not emulator.list_objects(SERVICES)
        ),
        "the QwenDeployment and its children gone, with no operator running",
    )
    versions = emulator.versions(QWDS, NS, NAME)
    assert len(versions) > 2  # created, then the operator's writes
    assert [v["metadata"]["finalizers"] for v in versions if "finalizers" in v["metadata"]] == []


async def test_the_finalizer_an_earlier_version_put_is_removed(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    """An upgrade leaves no finalizer behind: on a live object, nor on one deleted meanwhile."""
    emulator.deployments_become_available = True
    await operator.stop()
    for name in (NAME, "gone"):
        left_behind = manifest()
        left_behind["metadata"].update(name=name, finalizers=[f"{naming.GROUP}/finalizer"])
        await client.apply_qwd(left_behind)
    await client.delete(f"{QWD_PATH}/gone")  # marked for deletion, held by the finalizer
    assert emulator.get_object(QWDS, NS, "gone") is not None

    await operator.start()
    await eventually(
        lambda: emulator.get_object(QWDS, NS, "gone") is None, "the deleted one released", operator
    )
    await healthy(emulator, operator, revision())
    await eventually(
        lambda: "finalizers" not in (emulator.get_object(QWDS, NS, NAME) or {})["metadata"],
        "the live one's finalizer removed",
        operator,
    )


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


def foreign_service(name: str, *refs: dict[str, Any]) -> dict[str, Any]:
    """A Service the operator did not make: Helm's (no owner), or another controller's."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "Helm"},
                     "ownerReferences": list(refs)},
        "spec": {"selector": {"app": "frontend"}, "ports": [{"name": "http", "port": 80}]},
    }  # fmt: skip


async def test_a_name_another_owner_holds_is_left_alone_and_reported(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    emulator.deployments_become_available = True
    # Another controller's object: its owner must exist, or the garbage collector takes it.
    lease = emulator.create_object("coordination.k8s.io/v1/leases", {"metadata": {"name": "frontend"}}, NS)
    controller = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": "frontend",
                  "uid": lease["metadata"]["uid"], "controller": True}  # fmt: skip
    helm = emulator.create_object(SERVICES, foreign_service(NAME), NS)
    theirs = emulator.create_object(SERVICES, foreign_service(f"{NAME}-canary", controller), NS)
    await client.apply_qwd(manifest())
    rev = revision()

    def reported() -> dict[str, Any] | None:
        status = status_of(emulator, NS, NAME)
        found = [c for c in status.get("conditions", []) if c["type"] == "ChildConflict"]
        return (
            status if found and found[0]["status"] == "True" and status.get("phase") == "Degraded" else None
        )

    status = await eventually(reported, "ChildConflict", operator)
    assert status["message"].startswith(
        f"Service {NS}/{NAME} has no owner (made by hand or by a tool such as Helm): delete it or rename "
        f"this QwenDeployment; Service {NS}/{NAME}-canary is controlled by Lease frontend; rename one"
    )
    await eventually(lambda: rev in deployments_of(emulator, NS, NAME), "its own Deployment", operator)
    await eventually(lambda: emulator.get_object(SERVICES, NS, f"{NAME}-stable"), "its own Service", operator)
    await eventually(
        lambda: "ChildConflict" in event_reasons(emulator, NAME), "a ChildConflict event", operator
    )
    await asyncio.sleep(3 * operator.resync_seconds)
    for before in (helm, theirs):
        name = before["metadata"]["name"]
        assert [w for w in emulator.writes() if w.resource == SERVICES and w.name == name] == []
        assert emulator.get_object(SERVICES, NS, name) == before
    assert event_reasons(emulator, NAME).count("ChildConflict") == 1

    await client.delete(f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments/{NAME}")
    await eventually(lambda: not deployments_of(emulator, NS, NAME), "its own children collected", operator)
    assert emulator.get_object(SERVICES, NS, f"{NAME}-stable") is None
    assert emulator.get_object(SERVICES, NS, NAME) == helm
    assert emulator.get_object(SERVICES, NS, f"{NAME}-canary") == theirs


async def test_a_qwendeployment_named_after_anothers_track_service_touches_nothing(
    emulator: KubeEmulator, client: Client, operator: Operator
) -> None:
    """`chat-stable` next to `chat`: both would claim Service `chat-stable`. Such a name is refused
    (the emulator admits it through without_schema, as a cluster would have before the rule): it
    never flips the selector."""
    emulator.deployments_become_available = True
    await client.apply_qwd(manifest())
    rev = revision()
    await healthy(emulator, operator, rev)
    service = emulator.get_object(SERVICES, NS, f"{NAME}-stable")

    since = emulator.request_count
    with emulator.without_schema(QWDS):  # as stored before the CRD refused such names
        await client.apply_qwd(qwen_deployment(COMMIT_B, name=f"{NAME}-stable"))

    def refused() -> dict[str, Any] | None:
        status = status_of(emulator, NS, f"{NAME}-stable")
        invalid = [c for c in status.get("conditions", []) if c["type"] == "InvalidSpec"]
        return status if invalid and invalid[0]["status"] == "True" else None

    status = await eventually(refused, "InvalidSpec", operator)
    assert "metadata.name" in status["message"] and "-stable" in status["message"]
    await asyncio.sleep(3 * operator.resync_seconds)
    assert [w for w in emulator.writes(since) if w.resource in (DEPLOYMENTS, SERVICES)] == []
    assert emulator.get_object(SERVICES, NS, f"{NAME}-stable") == service
    assert phase(emulator) == "Healthy"
