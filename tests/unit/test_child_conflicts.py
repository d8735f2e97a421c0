"""Children are matched by ownership, never by name alone (`controller.reconcile` over tests/unit/fake_kube.py).

A child is this QwenDeployment's only when its `controller: true` ownerReference carries this
QwenDeployment's uid. Anything else at a name the operator wants (another QwenDeployment's child,
a Service Helm made without an owner, another controller's object) is left exactly as it is; the
QwenDeployment says so instead: `ChildConflict=True` naming the object and its owner, a Warning
event, phase `Degraded` and a message leading with the conflict. Strays are deleted only when
controlled, and only the object that was listed (a uid precondition).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api import naming
from qwenops.api.status import ConditionType, Phase, QwenDeploymentStatus, condition
from qwenops.controller import reconcile
from qwenops.io import kube
from qwenops.policy.conclude import report_conflicts, without_conflicts
from qwenops.render.desired import Manifest
from tests.unit.fake_kube import FakeKube
from tests.unit.test_reconcile_pass import (
    CONFIG,
    NAME,
    NS,
    REVISION,
    SPEC,
    STATUS,
    STRAY,
    never_read,
    qwd,
    run,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def service(name: str, *refs: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name, "namespace": NS, "labels": dict(labels or {}), "ownerReferences": list(refs),
        },
        "spec": {"selector": {"app": "someone-elses"}, "ports": [{"name": "http", "port": 80}]},
    }  # fmt: skip


def helm_service() -> Manifest:
    """Service `chat` as a Helm release makes it: no owner at all."""
    return service(NAME, labels={naming.LABEL_MANAGED_BY: "Helm"})


def other_qwds_service() -> Manifest:
    """`chat-stable` as QwenDeployment `chat-stable` (stored before its name was refused) made it."""
    ref = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, "name": "chat-stable",
           "uid": "uid-chat-stable", "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    return service(f"{NAME}-stable", ref, labels={naming.LABEL_DEPLOYMENT: "chat-stable"})


def deployment(revision: str, *refs: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": naming.deployment_name(NAME, revision),
            "namespace": NS,
            "labels": {naming.LABEL_DEPLOYMENT: NAME, naming.LABEL_REVISION: revision},
            "ownerReferences": list(refs),
        },
        "spec": {"replicas": 1},
    }


OURS_NOT_CONTROLLER = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, "name": NAME, "uid": "uid-chat"}
"""An ownerReference to this QwenDeployment without `controller: true`: another controller's object
that merely lists it as an owner."""


def status_of(fake: FakeKube) -> dict[str, Any]:
    stored = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    return dict(stored.get("status") or {})


def conflict_of(status: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == "ChildConflict"), None)


async def test_a_service_helm_made_without_an_owner_is_left_untouched() -> None:
    helm = helm_service()
    done = await run(qwd(SPEC), helm)
    assert f"patch services/{NAME}" not in done.writes
    assert f"create services/{NAME}-stable" in done.writes
    assert f"create deployments/{NAME}-{REVISION}" in done.writes
    kept = done.fake.stored(kube.SERVICES, NS, NAME)
    assert kept is not None
    assert kept["spec"] == helm["spec"] and kept["metadata"]["ownerReferences"] == []


async def test_the_conflict_is_a_condition_an_event_and_what_the_phase_says() -> None:
    done = await run(qwd(SPEC), helm_service())  # the first pass: its status write is no longer refused
    status = status_of(done.fake)
    found = conflict_of(status)
    assert found is not None and found["status"] == "True" and found["reason"] == "NameTaken"
    assert found["message"].startswith(f"Service {NS}/{NAME} has no owner")
    assert status["phase"] == "Degraded"
    assert status["message"].startswith(found["message"] + "; ")
    assert "ChildConflict" in done.events


async def test_another_qwendeployments_service_is_neither_patched_nor_adopted() -> None:
    theirs = other_qwds_service()
    done = await run(qwd(SPEC), theirs, passes=2)
    assert not [w for w in done.fake.writes if w.name == f"{NAME}-stable" and w.resource == kube.SERVICES]
    kept = done.fake.stored(kube.SERVICES, NS, f"{NAME}-stable")
    assert kept is not None
    assert kept["metadata"]["ownerReferences"] == theirs["metadata"]["ownerReferences"]
    assert kept["spec"]["selector"] == theirs["spec"]["selector"]
    found = conflict_of(status_of(done.fake))
    assert found is not None
    assert (
        found["message"]
        == f"Service {NS}/{NAME}-stable is controlled by QwenDeployment chat-stable; rename one"
    )


async def test_a_deployment_at_the_wanted_name_without_an_owner_is_a_conflict_not_an_error() -> None:
    orphan = deployment(REVISION)  # left by a deletion with --cascade=orphan, say
    done = await run(qwd(SPEC), orphan, passes=2)
    assert not [w for w in done.fake.writes if w.resource == kube.DEPLOYMENTS]
    assert done.refused == []
    kept = done.fake.stored(kube.DEPLOYMENTS, NS, f"{NAME}-{REVISION}")
    assert kept is not None
    assert kept["spec"] == orphan["spec"] and kept["metadata"]["ownerReferences"] == []
    found = conflict_of(status_of(done.fake))
    assert found is not None and found["message"].startswith(
        f"Deployment {NS}/{NAME}-{REVISION} has no owner"
    )


async def test_a_child_listing_this_qwendeployment_as_a_mere_owner_is_not_deleted_as_a_stray() -> None:
    theirs = deployment(STRAY, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "rs",
                                "controller": True}, OURS_NOT_CONTROLLER)  # fmt: skip
    done = await run(qwd(SPEC), theirs, passes=3)
    assert done.fake.stored(kube.DEPLOYMENTS, NS, naming.deployment_name(NAME, STRAY)) is not None
    assert STRAY not in str(status_of(done.fake))


async def test_a_child_without_any_controller_is_not_deleted_as_a_stray() -> None:
    done = await run(qwd(SPEC), deployment(STRAY, OURS_NOT_CONTROLLER), passes=3)
    assert done.fake.stored(kube.DEPLOYMENTS, NS, naming.deployment_name(NAME, STRAY)) is not None


class ReplacedAfterListing(FakeKube):
    """Between the pass's list and its delete, someone replaces the stray with an object of their own."""

    async def list_labelled(
        self, resource: kube.Resource, namespace: str, selector: Mapping[str, str]
    ) -> list[Manifest]:
        listed = await super().list_labelled(resource, namespace, selector)
        key = (kube.DEPLOYMENTS, NS, naming.deployment_name(NAME, STRAY))
        if resource == kube.DEPLOYMENTS and key in self.objects:
            replacement = copy.deepcopy(self.objects.pop(key))
            replacement["metadata"].update(uid="uid-someone-else", ownerReferences=[])
            self.put(replacement)
        return listed


async def test_a_stray_replaced_since_it_was_listed_is_not_deleted() -> None:
    ours = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, "name": NAME, "uid": "uid-chat",
            "controller": True}  # fmt: skip
    fake = ReplacedAfterListing(qwd(SPEC), deployment(STRAY, ours))
    for number in range(2):
        body = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
        assert body is not None
        await reconcile.reconcile(fake, body, CONFIG, never_read, T0 + timedelta(seconds=number),
                                  post=lambda *_: None)  # fmt: skip
    kept = fake.stored(kube.DEPLOYMENTS, NS, naming.deployment_name(NAME, STRAY))
    assert kept is not None and kept["metadata"]["uid"] == "uid-someone-else"


async def test_once_the_name_is_free_the_child_is_created_and_the_conflict_clears() -> None:
    async def helm_uninstalled(fake: FakeKube) -> None:
        await fake.delete(kube.SERVICES, NS, NAME)

    done = await run(qwd(SPEC), helm_service(), passes=3, meddle=helm_uninstalled)
    assert f"create services/{NAME}" in done.writes
    status = status_of(done.fake)
    found = conflict_of(status)
    assert found is not None and found["status"] == "False"
    assert status["phase"] != "Degraded" and "has no owner" not in status["message"]


async def test_a_pass_with_the_same_conflict_writes_nothing() -> None:
    done = await run(qwd(SPEC), helm_service(), other_qwds_service(), passes=3)
    assert done.writes == []
    assert done.events == []


async def test_without_a_conflict_no_condition_appears() -> None:
    done = await run(qwd(SPEC), passes=2)
    assert conflict_of(status_of(done.fake)) is None
    assert STATUS in done.writes


# --- the status a conflict writes: pure --------------------------------------------------------


def test_a_conflict_leads_the_message_and_stripping_it_gives_back_the_rollouts_own() -> None:
    before = QwenDeploymentStatus(phase=Phase.ROLLED_BACK, message="revision x rolled back (SLOBreached)")
    said, event = report_conflicts(before, ["Service llm/chat is controlled by QwenDeployment a; rename one"],
                                   T0, 3)  # fmt: skip
    assert said.phase == Phase.DEGRADED
    assert said.message == "Service llm/chat is controlled by QwenDeployment a; rename one; " + before.message
    assert event is not None and event.type == "Warning" and event.reason == "ChildConflict"
    assert without_conflicts(said).message == before.message
    again, event = report_conflicts(
        without_conflicts(said), ["Service llm/chat is controlled by QwenDeployment a; rename one"], T0, 3
    )
    assert again == said and event is None  # the same conflict: the same status, no new event


def test_no_conflict_clears_the_condition_only_where_it_was_set() -> None:
    plain = QwenDeploymentStatus(phase=Phase.HEALTHY, message="serving")
    assert report_conflicts(plain, [], T0, 1) == (plain, None)
    said, _ = report_conflicts(plain, ["Service llm/chat has no owner"], T0, 1)
    cleared, event = report_conflicts(without_conflicts(said), [], T0 + timedelta(minutes=1), 1)
    found = condition(cleared.conditions, ConditionType.CHILD_CONFLICT)
    assert found is not None and found.status == "False" and event is None
    assert cleared.message == "serving"


@pytest.mark.parametrize("message", ["", "serving"])
def test_a_message_not_led_by_the_conflict_is_left_alone(message: str) -> None:
    said, _ = report_conflicts(QwenDeploymentStatus(), ["Service llm/chat has no owner"], T0, 1)
    other = said.model_copy(update={"message": message})
    assert without_conflicts(other).message == message


class CreatedByAnotherPass(FakeKube):
    """Another pass of the same QwenDeployment (a second operator, say) creates each child first."""

    def _create(self, resource: kube.Resource, desired: Manifest) -> None:
        if (resource, desired["metadata"]["namespace"], desired["metadata"]["name"]) not in self.objects:
            self.put(desired)
        super()._create(resource, desired)


async def test_a_child_another_pass_of_the_same_qwendeployment_created_first_is_no_conflict() -> None:
    fake = CreatedByAnotherPass({**qwd(SPEC), "status": {}})  # with a status, the fence moves nothing
    body = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert body is not None
    posted: list[str] = []
    await reconcile.reconcile(fake, body, CONFIG, never_read, T0, post=lambda _, e: posted.append(e.reason))
    assert [str(w) for w in fake.refused] == [
        f"create services/{NAME}",
        f"create services/{NAME}-stable",
        f"create services/{NAME}-canary",
        f"create deployments/{NAME}-{REVISION}",
    ]  # each came second
    status = status_of(fake)
    assert status["stable"]["revision"] == REVISION  # the pass's status was written
    assert conflict_of(status) is None and "ChildConflict" not in posted
