"""A reconcile pass under `trafficRouting.inferencePool` (`controller.reconcile` over
tests/unit/fake_kube.py): each revision's pool and picker made beside its Deployment, the route's
weights set, a name another owner holds left alone (`ChildConflict`), strays of dropped revisions
removed only when they are this QwenDeployment's."""

from __future__ import annotations

from typing import Any

from qwenops.api import naming
from qwenops.io import kube
from qwenops.render.desired import Manifest
from tests.gateway_schemas import schema_errors
from tests.unit.fake_kube import FakeKube
from tests.unit.test_reconcile_pass import NAME, NS, REVISION, SPEC, STRAY, qwd, run

ROUTING = {"inferencePool": {"httpRoute": {"name": "front"}, "endpointPicker": {"run": {"image": "epp:1"}}}}
POOLED = {**SPEC, "rollout": {"trafficRouting": ROUTING}}
POOL = naming.pool_name(NAME, REVISION)
OURS = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, "name": NAME, "uid": "uid-chat",
        "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def route() -> Manifest:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "front", "namespace": NS},
        "spec": {"parentRefs": [{"name": "gw"}],
                 "rules": [{"backendRefs": [{"group": naming.POOL_GROUP, "kind": naming.POOL_KIND, "name": NAME}]}]},
    }  # fmt: skip


def pool(revision: str, *refs: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
        "metadata": {"name": naming.pool_name(NAME, revision), "namespace": NS,
                     "labels": {naming.LABEL_DEPLOYMENT: NAME, naming.LABEL_REVISION: revision},
                     "ownerReferences": list(refs)},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "targetPorts": [{"number": 8000}],
                 "endpointPickerRef": {"name": "x", "port": {"number": 9002}}},
    }  # fmt: skip


async def test_the_first_pass_makes_the_pool_and_picker_and_routes_to_the_pool() -> None:
    done = await run(qwd(POOLED), route())
    assert {
        f"create deployments/{NAME}-{REVISION}", f"create inferencepools/{POOL}",
        f"create deployments/{POOL}-epp", f"create services/{POOL}", "patch httproutes/front",
    } <= set(done.writes)  # fmt: skip
    stored = done.fake.stored(kube.INFERENCEPOOLS, NS, POOL)
    assert stored is not None and schema_errors(stored) == []
    front = done.fake.stored(kube.HTTPROUTES, NS, "front")
    assert front is not None and schema_errors(front) == []
    assert front["spec"]["rules"][0]["backendRefs"] == [
        {"group": naming.POOL_GROUP, "kind": naming.POOL_KIND, "name": POOL, "weight": 100}
    ]


async def test_a_second_pass_writes_nothing_and_keeps_the_picker_apart_from_the_revisions() -> None:
    done = await run(qwd(POOLED), route(), passes=2)
    assert [w for w in done.writes if not w.startswith("patch_status")] == []
    assert done.fake.stored(kube.DEPLOYMENTS, NS, f"{POOL}-epp") is not None


async def test_a_pool_at_the_wanted_name_without_an_owner_is_a_conflict_left_alone() -> None:
    theirs = pool(REVISION)
    done = await run(qwd(POOLED), route(), theirs, passes=2)
    assert not [w for w in done.fake.writes if w.resource == kube.INFERENCEPOOLS]
    kept = done.fake.stored(kube.INFERENCEPOOLS, NS, POOL)
    assert kept is not None and kept["spec"] == theirs["spec"]
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    conflict = next(c for c in stored["status"]["conditions"] if c["type"] == "ChildConflict")
    assert conflict["status"] == "True" and conflict["message"].startswith(f"InferencePool {NS}/{POOL} has no owner")


async def test_a_dropped_revisions_pool_goes_only_when_it_is_ours() -> None:
    ours, theirs = pool(STRAY, OURS), pool("eeeeeeeeee")
    done = await run(qwd(POOLED), route(), ours, theirs, passes=2)
    assert done.fake.stored(kube.INFERENCEPOOLS, NS, naming.pool_name(NAME, STRAY)) is None
    assert done.fake.stored(kube.INFERENCEPOOLS, NS, naming.pool_name(NAME, "eeeeeeeeee")) is not None
    assert done.fake.stored(kube.INFERENCEPOOLS, NS, POOL) is not None


async def test_without_an_inference_pool_router_no_pool_is_read_or_written(monkeypatch: Any) -> None:
    """A cluster without the Inference Extension has no InferencePools to list."""
    listed: list[kube.Resource] = []
    original = FakeKube.list_labelled

    async def recording(self: FakeKube, resource: kube.Resource, *args: Any) -> list[Manifest]:
        listed.append(resource)
        return await original(self, resource, *args)

    monkeypatch.setattr(FakeKube, "list_labelled", recording)
    done = await run(qwd(SPEC), passes=2)
    assert kube.INFERENCEPOOLS not in listed and kube.DEPLOYMENTS in listed
    assert not [w for w in done.fake.writes if w.resource == kube.INFERENCEPOOLS]


async def test_a_picker_service_name_another_owner_holds_is_a_conflict_and_no_pool_names_it() -> None:
    """QwenDeployment `chat-<revision>`'s own Service holds the name of chat's picker Service."""
    theirs = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": POOL, "namespace": NS, "labels": {naming.LABEL_DEPLOYMENT: POOL},
                     "ownerReferences": [{**OURS, "name": POOL, "uid": "uid-other"}]},
        "spec": {"selector": {naming.LABEL_DEPLOYMENT: POOL}, "ports": [{"name": "http", "port": 8000}]},
    }  # fmt: skip
    done = await run(qwd(POOLED), route(), theirs, passes=2)
    assert done.fake.stored(kube.INFERENCEPOOLS, NS, POOL) is None
    kept = done.fake.stored(kube.SERVICES, NS, POOL)
    assert kept is not None and kept["spec"] == theirs["spec"]
    stored = done.fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert stored is not None
    conflict = next(c for c in stored["status"]["conditions"] if c["type"] == "ChildConflict")
    assert conflict["message"] == f"Service {NS}/{POOL} is controlled by QwenDeployment {POOL}; rename one"
