"""One reconcile pass (`controller.reconcile.reconcile`) against an in-memory API (tests/unit/fake_kube.py).

What a pass writes, in order, and which writes the API refused: a new QwenDeployment gets its
stable Deployment and Services; a pass that finds nothing to change writes nothing; a pass that
decided on a status someone has since changed stops at the fence (a 409 on a status patch that
carries nothing but the resourceVersion read) before any child is written; an invalid spec gets its
status and nothing else; a child carrying the labels but not this QwenDeployment's uid in its
controller ownerReference is not its own (tests/unit/test_child_conflicts.py: what else sits at a
child's name is left alone and reported).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api import naming
from qwenops.api.spec import parse_spec
from qwenops.controller import reconcile
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube
from qwenops.policy.rollout import Event
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.desired import Manifest
from tests.unit.fake_kube import FakeKube

CONFIG = OperatorConfig(serving_image="registry.example/qwenops/serving:test", metrics_port=0)
NS, NAME = "llm", "chat"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
    "replicas": 2,
}
REVISION = revision_of(with_image(parse_spec(NAME, SPEC), CONFIG.serving_image))
STRAY = "dddddddddd"


def qwd(spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": NAME, "namespace": NS, "uid": "uid-chat", "generation": 1},
        "spec": spec,
    }


def foreign_deployment() -> Manifest:
    """Labelled as one of chat's revisions, but owned by another object."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": naming.deployment_name(NAME, STRAY),
            "namespace": NS,
            "labels": {
                naming.LABEL_MANAGED_BY: naming.MANAGER,
                naming.LABEL_DEPLOYMENT: NAME,
                naming.LABEL_REVISION: STRAY,
            },
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "someone-else"}
            ],
        },
        "spec": {"replicas": 1},
    }


async def never_read(*_: Any) -> Any:
    raise AssertionError("no analysis in these tests")


async def someone_changes_the_status(fake: FakeKube) -> None:
    """Another operator (or a person) writes the status after this pass read the object."""
    stored = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    await fake.patch_status(
        kube.QWENDEPLOYMENTS, NS, NAME, {"message": "written by another operator"},
        stored["metadata"]["resourceVersion"],
    )  # fmt: skip


@dataclass
class Pass:
    """The writes and events of the last pass over the QwenDeployment, and what it returned."""

    fake: FakeKube
    writes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    requeue: timedelta | None = None


async def run(
    *objects: Manifest,
    passes: int = 1,
    meddle: Callable[[FakeKube], Awaitable[None]] | None = None,
) -> Pass:
    """`passes` passes, each on a fresh read; `meddle` acts between the last read and its pass.
    The writes and refusals kept are the last pass's."""
    fake = FakeKube(*objects)
    result = Pass(fake)
    posted: list[Event] = []
    for number in range(passes):
        body = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
        assert body is not None
        if number == passes - 1:
            if meddle is not None:
                await meddle(fake)
            fake.writes.clear()
            fake.refused.clear()
        posted.clear()
        result.requeue = await reconcile.reconcile(
            fake,
            body,
            CONFIG,
            never_read,
            T0 + timedelta(seconds=number),
            post=lambda _, event: posted.append(event),
        )
        result.events = [event.reason for event in posted]
    result.writes = [str(write) for write in fake.writes]
    result.refused = [str(write) for write in fake.refused]
    return result


@dataclass(frozen=True)
class Case:
    name: str
    objects: tuple[Manifest, ...]
    writes: list[str]
    events: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    passes: int = 1
    meddle: Callable[[FakeKube], Awaitable[None]] | None = None


STATUS = f"patch_status qwendeployments/{NAME}"
FIRST_PASS = [
    STATUS,  # the fence: nothing, on the resourceVersion read
    f"create services/{NAME}",
    f"create services/{NAME}-stable",
    f"create services/{NAME}-canary",
    f"create deployments/{NAME}-{REVISION}",
]
FIRST_WRITES = [*FIRST_PASS, STATUS]
"""The fence changes nothing, not even the resourceVersion, so the first pass's own status write,
on the resourceVersion it read, is accepted."""

CASES = [
    Case(
        "a new QwenDeployment gets its stable Deployment and Services, and its status",
        (qwd(SPEC),),
        FIRST_WRITES,
        ["Serving"],
    ),
    Case("the next pass reports where the Deployment it now sees is", (qwd(SPEC),), [STATUS], passes=2),
    Case("then a pass with nothing changed writes nothing", (qwd(SPEC),), [], passes=3),
    Case(
        "a status changed since the read stops the pass at the fence, before any child",
        (qwd(SPEC),),
        [],
        refused=[STATUS],
        meddle=someone_changes_the_status,
    ),
    Case("an invalid spec writes the status only", (qwd({"replicas": 2}),), [STATUS], ["InvalidSpec"]),
    Case(
        "a labelled child another object owns is not this QwenDeployment's: left alone",
        (qwd(SPEC), foreign_deployment()),
        FIRST_WRITES,
        ["Serving"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_what_a_pass_writes(case: Case) -> None:
    done = await run(*case.objects, passes=case.passes, meddle=case.meddle)
    assert done.writes == case.writes
    assert done.refused == case.refused
    assert done.events == case.events


async def test_the_first_passes_write_owned_children_and_a_status_naming_the_revision() -> None:
    done = await run(qwd(SPEC), passes=2)
    deployment = done.fake.stored(kube.DEPLOYMENTS, NS, f"{NAME}-{REVISION}")
    assert deployment is not None
    assert [ref["uid"] for ref in deployment["metadata"]["ownerReferences"]] == ["uid-chat"]
    assert deployment["spec"]["replicas"] == 2
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert stored["status"]["stable"]["revision"] == REVISION
    assert stored["status"]["phase"] == "Progressing"


async def test_the_fence_writes_nothing_on_the_resource_version_read() -> None:
    """Not even `status: {}`: on an object with no status yet, that is a change (a new resourceVersion)
    that would refuse the pass's own status write."""
    done = await run(qwd(SPEC))
    assert done.fake.writes[0].body == {"metadata": {"resourceVersion": "1"}}
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert stored["status"]["stable"]["revision"] == REVISION  # written by the first pass itself


async def test_a_pass_stopped_at_the_fence_asks_to_decide_again_at_once() -> None:
    done = await run(qwd(SPEC), meddle=someone_changes_the_status)
    assert done.requeue == timedelta(0)
    assert done.fake.stored(kube.DEPLOYMENTS, NS, f"{NAME}-{REVISION}") is None
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert stored["status"] == {"message": "written by another operator"}


async def test_an_invalid_spec_says_why_in_the_status() -> None:
    done = await run(qwd({"replicas": 2}))
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    invalid = [c for c in stored["status"]["conditions"] if c["type"] == "InvalidSpec"]
    assert [c["status"] for c in invalid] == ["True"]
    assert "model" in invalid[0]["message"]


async def test_a_foreign_child_is_neither_deleted_nor_counted() -> None:
    done = await run(qwd(SPEC), foreign_deployment(), passes=2)
    assert done.fake.stored(kube.DEPLOYMENTS, NS, naming.deployment_name(NAME, STRAY)) is not None
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert STRAY not in str(stored["status"])


async def test_the_status_carries_the_scale_subresource_fields() -> None:
    """`status.replicas`: the serving revisions' ready pods as the pass found them; `status.selector`:
    every model pod of the QwenDeployment, whatever its revision."""
    done = await run(qwd(SPEC), passes=1)
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert stored["status"]["replicas"] == 0  # the Deployment was not there when the pass looked
    assert stored["status"]["selector"] == f"{naming.LABEL_DEPLOYMENT}={NAME}"
    deployment = done.fake.stored(kube.DEPLOYMENTS, NS, f"{NAME}-{REVISION}")
    assert deployment is not None
    deployment["status"] = {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1}
    done.fake.put(deployment)
    done = await run(*done.fake.objects.values(), passes=1)
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    assert stored["status"]["replicas"] == 2
