"""InferencePool routing: the router's weights, readback and hold; the pools and pickers rendered;
which of them a pass removes. Every route and pool here is checked against the closed schemas."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec, TrafficRouting
from qwenops.api.status import CanaryRevision, Phase, QwenDeploymentStatus, StableRevision
from qwenops.controller.pools import strays
from qwenops.policy.rollout import DeploymentState, Observed, decide
from qwenops.render.desired import Owner, desired_deployment
from qwenops.render.pools import desired_pool_objects
from qwenops.routing.inferencepool import InferencePoolRouter, routed_pools
from qwenops.routing.registry import router_for
from qwenops.routing.router import ObservedRoute
from tests.gateway_schemas import schema_errors

OLD, NEW, OLDER = "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"
POOL = {"group": naming.POOL_GROUP, "kind": naming.POOL_KIND}
OWNER = Owner(name="chat", namespace="llm", uid="uid-chat")


def ref(name: str, weight: int | None = None, **more: Any) -> dict[str, Any]:
    return {**POOL, "name": name, **({} if weight is None else {"weight": weight}), **more}


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "front", "namespace": "llm", "resourceVersion": "7"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}
                      for refs in rules],
        },
    }  # fmt: skip


def patched(found: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`found` after a merge patch of its rules (a list is replaced whole)."""
    return {**found, "spec": {**found["spec"], "rules": patch["spec"]["rules"]}}


ROUTER = InferencePoolRouter("front")
OTHER_SERVICE = {"name": "legacy", "port": 80, "weight": 5}


@pytest.mark.parametrize(
    ("rules", "stable", "canary", "weight", "expected"),
    [
        # A person's route names the placeholder `<name>`: it becomes the stable's pool alone.
        ([[ref("chat")]], OLD, None, 0, [[ref("chat-aaaaaaaaaa", 100)]]),
        # A canary: the stable's pool at 100 - w, the canary's at w.
        ([[ref("chat-aaaaaaaaaa", 100)]], OLD, NEW, 10,
         [[ref("chat-aaaaaaaaaa", 90), ref("chat-bbbbbbbbbb", 10)]]),
        # Promoted: the new stable's pool alone; the old one's backendRef goes.
        ([[ref("chat-aaaaaaaaaa", 0), ref("chat-bbbbbbbbbb", 100)]], NEW, None, 0, [[ref("chat-bbbbbbbbbb", 100)]]),
        # Another backend of the rule (a Service, another owner's pool) and a rule without ours stay.
        ([[OTHER_SERVICE, ref("chat-aaaaaaaaaa"), ref("chat-other", 3)], [ref("elsewhere")]], OLD, NEW, 25,
         [[OTHER_SERVICE, ref("chat-other", 3), ref("chat-aaaaaaaaaa", 75), ref("chat-bbbbbbbbbb", 25)],
          [ref("elsewhere")]]),
        # A pool of ours by name but in another namespace, or a Service of that name, is not ours.
        ([[ref("chat", namespace="other"), {"name": "chat", "port": 8000}, ref("chat")]], OLD, None, 0,
         [[ref("chat", namespace="other"), {"name": "chat", "port": 8000}, ref("chat-aaaaaaaaaa", 100)]]),
    ],
)  # fmt: skip
def test_weights_are_set_on_our_pools_only(
    rules: list[list[dict[str, Any]]], stable: str, canary: str | None, weight: int,
    expected: list[list[dict[str, Any]]],
) -> None:  # fmt: skip
    found = route(*rules)
    patch = ROUTER.weights_patch(ObservedRoute("chat", found, stable, canary), weight)
    assert patch is not None and patch["metadata"] == {"resourceVersion": "7"}
    after = patched(found, patch)
    assert [rule["backendRefs"] for rule in after["spec"]["rules"]] == expected
    assert [rule["matches"] for rule in after["spec"]["rules"]] == [
        r["matches"] for r in found["spec"]["rules"]
    ]
    assert schema_errors(after) == []
    read_back = ObservedRoute("chat", after, stable, canary)
    assert ROUTER.not_carried(read_back, weight) is None
    assert ROUTER.weights_patch(read_back, weight) is None  # carried: nothing more to write


@pytest.mark.parametrize(
    ("found", "stable", "canary", "why"),
    [
        (None, OLD, NEW, "HTTPRoute front not found"),
        (route([{"name": "chat-stable", "port": 8000}]), OLD, NEW,
         "HTTPRoute front has no rule with a backendRef of kind InferencePool named chat"),
        (route([ref("chat")]), OLD, NEW,
         "HTTPRoute front sends to InferencePools chat, not chat-aaaaaaaaaa, chat-bbbbbbbbbb"),
        (route([ref("chat-cccccccccc", 90), ref("chat-bbbbbbbbbb", 10)]), OLD, NEW,
         "HTTPRoute front sends to InferencePools chat-bbbbbbbbbb, chat-cccccccccc, "
         "not chat-aaaaaaaaaa, chat-bbbbbbbbbb"),
        (route([ref("chat-aaaaaaaaaa", 100), ref("chat-bbbbbbbbbb", 0)]), OLD, NEW,
         "HTTPRoute front sends 0% to InferencePool chat-bbbbbbbbbb, not 25%"),
        (route([ref("chat-aaaaaaaaaa", 3), ref("chat-bbbbbbbbbb", 1)]), OLD, NEW, None),  # 1 in 4: 25%
        # Two rules must both carry it.
        (route([ref("chat-aaaaaaaaaa", 75), ref("chat-bbbbbbbbbb", 25)],
               [ref("chat-aaaaaaaaaa", 50), ref("chat-bbbbbbbbbb", 50)]), OLD, NEW,
         "HTTPRoute front sends 50% to InferencePool chat-bbbbbbbbbb, not 25%"),
        (route([ref("chat-aaaaaaaaaa", 0)]), OLD, None, "HTTPRoute front sends no traffic to InferencePool chat-aaaaaaaaaa"),
        (route([ref("chat-aaaaaaaaaa")]), OLD, None, None),
        (route([ref("chat-aaaaaaaaaa")]), None, None,
         "HTTPRoute front: the revisions it should route to are not known yet"),
    ],
)  # fmt: skip
def test_the_router_says_why_its_route_does_not_carry_the_weight(
    found: dict[str, Any] | None, stable: str | None, canary: str | None, why: str | None
) -> None:
    weight = 25 if canary is not None else 0
    assert ROUTER.not_carried(ObservedRoute("chat", found, stable, canary), weight) == why


def test_the_registry_maps_an_inference_pool_to_its_router() -> None:
    routing = TrafficRouting.model_validate(
        {"inferencePool": {"httpRoute": {"name": "front"}, "endpointPicker": {"service": {"name": "epp"}}}}
    )
    router = router_for(routing)
    assert router == ROUTER
    watched = router.watched()
    assert watched is not None and (watched.kind, watched.name) == ("HTTPRoute", "front")
    assert (router.canary_pods(4, 10), router.carried_weight(4, 1, 10)) == (1, 10)  # exact: one pod of four


# -- the hold, as the policy decides it ------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP0 = T0 + timedelta(seconds=10)
PICKER_SERVICE = {"service": {"name": "chat-epp"}}


def spec(picker: dict[str, Any] | None = None) -> QwenDeploymentSpec:
    return QwenDeploymentSpec.model_validate(
        {
            "model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"},
            "replicas": 4,
            "rollout": {
                "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "2m"}],
                "trafficRouting": {
                    "inferencePool": {
                        "httpRoute": {"name": "front"},
                        "endpointPicker": picker or PICKER_SERVICE,
                    }
                },
            },
        }
    )


SPEC = spec()
STABLE = StableRevision(revision=OLD, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool)


def in_step(weight: int) -> QwenDeploymentStatus:
    canary = CanaryRevision(
        revision=NEW, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool,
        started_at=T0, step_started_at=STEP0, weight=weight,
    )  # fmt: skip
    return QwenDeploymentStatus(stable=STABLE, canary=canary)


@pytest.mark.parametrize(
    ("refs", "held", "next_step"),
    [
        ([ref("chat-aaaaaaaaaa", 90), ref("chat-bbbbbbbbbb", 10)], None, 1),
        ([ref("chat-aaaaaaaaaa", 100), ref("chat-bbbbbbbbbb", 0)],
         "holding: traffic weights not in effect: HTTPRoute front sends 0% to InferencePool chat-bbbbbbbbbb, "
         "not 10%", 0),
        ([ref("chat-aaaaaaaaaa", 100)], "HTTPRoute front sends to InferencePools chat-aaaaaaaaaa, not", 0),
    ],
)  # fmt: skip
def test_a_step_is_held_until_the_route_carries_its_weight(
    refs: list[dict[str, Any]], held: str | None, next_step: int
) -> None:
    observed = Observed(
        generation=2,
        deployments={OLD: DeploymentState(OLD, 4, 4, True), NEW: DeploymentState(NEW, 1, 1, True)},
        route=ObservedRoute("chat", route(refs)),  # as observed: the pass names no revisions yet
    )
    plan = decide(SPEC, NEW, in_step(10), observed, STEP0 + timedelta(minutes=2))
    assert plan.status.phase == Phase.PROGRESSING
    assert plan.status.canary is not None and plan.status.canary.step == next_step
    if held is None:
        assert "holding" not in plan.status.message
    else:
        assert held in plan.status.message
    assert (plan.stable_revision, plan.canary_revision) == (OLD, NEW)  # what the weights are set between


# -- the pools and pickers rendered --------------------------------------------------------------

RUN = {"run": {"image": "registry.example/epp:1", "serviceAccountName": "chat-epp"}}


def test_a_pool_selects_the_revisions_model_pods_and_names_the_existing_picker() -> None:
    [pool] = desired_pool_objects(OWNER, spec({**PICKER_SERVICE, "failureMode": "FailOpen"}), NEW)
    assert schema_errors(pool) == []
    assert pool["metadata"]["name"] == "chat-bbbbbbbbbb"
    assert pool["metadata"]["ownerReferences"][0]["controller"] is True
    model = desired_deployment(OWNER, SPEC, NEW, track=naming.TRACK_CANARY, replicas=1)
    assert pool["spec"]["selector"] == model["spec"]["selector"]
    assert pool["spec"]["targetPorts"] == [{"number": naming.SERVING_PORT}]
    assert pool["spec"]["endpointPickerRef"] == {
        "kind": "Service", "name": "chat-epp", "port": {"number": 9002}, "failureMode": "FailOpen",
    }  # fmt: skip


def test_a_picker_the_operator_runs_serves_one_revisions_pool() -> None:
    deployment, service, pool = desired_pool_objects(OWNER, spec(RUN), NEW)
    assert schema_errors(pool) == []
    assert (deployment["kind"], deployment["metadata"]["name"]) == ("Deployment", "chat-bbbbbbbbbb-epp")
    assert (service["kind"], service["metadata"]["name"]) == ("Service", "chat-bbbbbbbbbb")
    assert pool["spec"]["endpointPickerRef"] == {
        "kind": "Service", "name": "chat-bbbbbbbbbb", "port": {"number": 9002}, "failureMode": "FailClose",
    }  # fmt: skip
    template = deployment["spec"]["template"]
    pod_labels = template["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # Nothing that selects the model's pods selects the picker's, nor lists its Deployment as one.
    assert (
        naming.LABEL_DEPLOYMENT not in pod_labels
        and naming.LABEL_DEPLOYMENT not in deployment["metadata"]["labels"]
    )
    [container] = template["spec"]["containers"]
    assert container["args"] == ["--pool-name=$(POOL_NAME)", "--pool-namespace=$(POOL_NAMESPACE)"]
    assert {"name": "POOL_NAME", "value": "chat-bbbbbbbbbb"} in container["env"]
    assert template["spec"]["serviceAccountName"] == "chat-epp"
    assert container["ports"][0]["containerPort"] == service["spec"]["ports"][0]["port"] == 9002


def test_the_pickers_kubernetes_objects_are_valid() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment, service, _ = desired_pool_objects(OWNER, spec(RUN), NEW)
    for obj in (deployment, service):
        kubernetes_validate.validate(obj, "1.35", strict=True)


def test_a_revision_without_pods_keeps_its_pool_and_a_picker_without_pods() -> None:
    deployment, _, pool = desired_pool_objects(OWNER, spec(RUN), NEW, running=False)
    assert deployment["spec"]["replicas"] == 0
    assert pool["kind"] == naming.POOL_KIND


def test_other_routers_have_no_pools() -> None:
    plain = QwenDeploymentSpec.model_validate(
        {"model": {"name": "Qwen/Qwen3-8B", "revision": "b" * 40, "servedModelName": "qwen"}}
    )
    assert desired_pool_objects(OWNER, plain, NEW) == []


def test_the_schemas_catch_what_the_api_server_refuses() -> None:
    [pool] = desired_pool_objects(OWNER, SPEC, NEW)
    pool["spec"]["endpointPickerRef"].pop("port")
    assert any("port" in e for e in schema_errors(pool))  # a Service picker names its port
    pool["spec"]["endpointPickerRef"]["portNumber"] = 9002  # the older alpha field
    assert any("portNumber" in e for e in schema_errors(pool))
    service_without_port = route([{"name": "chat-stable"}])
    assert any("port" in e for e in schema_errors(service_without_port))
    assert schema_errors(route([ref("chat-aaaaaaaaaa", 1_000_001)]))


# -- which of them a pass removes ------------------------------------------------------------------


def test_strays_are_our_own_objects_of_dropped_revisions_pools_first() -> None:
    objects = [
        *desired_pool_objects(OWNER, spec(RUN), OLD),
        *desired_pool_objects(OWNER, spec(RUN), OLDER),
        *desired_pool_objects(OWNER, spec(RUN), NEW),
    ]
    for number, obj in enumerate(objects):
        obj["metadata"]["uid"] = f"uid-{number}"
    foreign = desired_pool_objects(Owner("chat", "llm", "uid-someone-else"), spec(RUN), OLDER)[2]
    listed = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    listed[("InferencePool", "chat-foreign")] = foreign
    found = strays(OWNER, listed, {NEW})
    assert [(o["kind"], o["metadata"]["name"]) for o in found] == [
        ("InferencePool", "chat-aaaaaaaaaa"), ("InferencePool", "chat-cccccccccc"),
        ("Deployment", "chat-aaaaaaaaaa-epp"), ("Deployment", "chat-cccccccccc-epp"),
        ("Service", "chat-aaaaaaaaaa"), ("Service", "chat-cccccccccc"),
    ]  # fmt: skip
    assert strays(OWNER, listed, {OLD, OLDER, NEW}) == []


def test_routed_pools_reads_each_rule_of_ours() -> None:
    found = route([ref("chat-aaaaaaaaaa", 9), ref("chat-bbbbbbbbbb")], [{"name": "x", "port": 1}])
    assert routed_pools(found, "chat") == [{"chat-aaaaaaaaaa": 9, "chat-bbbbbbbbbb": 1}]


def test_the_example_route_is_valid_and_marks_its_rule_for_the_operator() -> None:
    import yaml  # noqa: PLC0415

    path = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "inference-pool-route.yaml"
    [route_doc] = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] == "HTTPRoute"]
    assert schema_errors(route_doc) == []
    assert routed_pools(route_doc, route_doc["metadata"]["name"]) == [{"chat": 1}]
