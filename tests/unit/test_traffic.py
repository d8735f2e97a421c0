from typing import Any

import pytest

from qwenops.api.spec import TrafficRouting
from qwenops.routing.httproute import HTTPRouteRouter, routed_weight, weighted_rules
from qwenops.routing.registry import router_for
from qwenops.routing.replicas import ReplicaRatio
from qwenops.routing.router import ObservedRoute


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"matches": [{"path": {"value": "/"}}], "backendRefs": refs} for refs in rules],
        }
    }


def test_weights_are_set_on_our_two_services_and_nothing_else() -> None:
    original = route([{"name": "chat-stable", "port": 8000}], [{"name": "other", "port": 80}])
    rules = weighted_rules(original, "chat", 10)
    assert rules[0]["backendRefs"] == [
        {"name": "chat-stable", "weight": 90, "port": 8000},
        {"name": "chat-canary", "weight": 10, "port": 8000},
    ]
    assert rules[0]["matches"] == original["spec"]["rules"][0]["matches"]
    assert rules[1] == original["spec"]["rules"][1]
    assert routed_weight({"spec": {"rules": rules}}, "chat") == 10


@pytest.mark.parametrize(
    ("refs", "weight"),
    [
        ([{"name": "chat-stable", "weight": 75}, {"name": "chat-canary", "weight": 25}], 25),
        ([{"name": "chat-stable"}], 0),
        ([{"name": "chat-stable", "weight": 0}, {"name": "chat-canary", "weight": 0}], 0),
        ([{"name": "chat-canary"}], 100),
        ([{"name": "elsewhere"}], None),
        ([{"name": "chat-canary", "group": "other.io", "kind": "Backend"}], None),
    ],
)
def test_routed_weight_reads_what_the_route_carries(refs: list[dict[str, Any]], weight: int | None) -> None:
    assert routed_weight(route(refs), "chat") == weight


def test_rules_that_disagree_carry_no_single_weight() -> None:
    disagreeing = route(
        [{"name": "chat-stable", "weight": 90}, {"name": "chat-canary", "weight": 10}],
        [{"name": "chat-stable", "weight": 50}, {"name": "chat-canary", "weight": 50}],
    )
    assert routed_weight(disagreeing, "chat") is None
    assert routed_weight({"spec": {"rules": weighted_rules(disagreeing, "chat", 30)}}, "chat") == 30


def test_the_registry_maps_traffic_routing_to_its_router() -> None:
    assert router_for(TrafficRouting()) == ReplicaRatio()
    assert router_for(TrafficRouting.model_validate({"httpRoute": {"name": "chat"}})) == HTTPRouteRouter("chat")


def test_the_replica_ratio_reads_and_writes_nothing_and_never_holds() -> None:
    router = ReplicaRatio()
    assert router.watched() is None
    assert router.weights_patch(ObservedRoute("chat", None), 10) is None
    assert router.not_carried(ObservedRoute("chat", None), 10) is None
    assert router.carried_weight(4, 1, 10) == 20  # one pod beside four carries a fifth


def test_an_httproute_router_reads_its_route_and_patches_it_on_the_version_read() -> None:
    router = HTTPRouteRouter("front")
    watched = router.watched()
    assert watched is not None
    assert (watched.kind, watched.name) == ("HTTPRoute", "front")
    found = {"metadata": {"resourceVersion": "42"}, **route([{"name": "chat-stable", "port": 8000}])}
    patch = router.weights_patch(ObservedRoute("chat", found), 25)
    assert patch is not None and patch["metadata"] == {"resourceVersion": "42"}
    assert routed_weight(patch, "chat") == 25
    assert router.weights_patch(ObservedRoute("chat", {**found, **patch}), 25) is None  # carried already
    assert router.weights_patch(ObservedRoute("chat", None), 25) is None  # nothing to patch
    assert router.carried_weight(4, 1, 10) == 10


@pytest.mark.parametrize(
    ("found", "why"),
    [
        (None, "HTTPRoute front not found"),
        (route([{"name": "elsewhere"}]), "HTTPRoute front has no rule naming Services chat-stable and chat-canary"),
        (route([{"name": "chat-stable", "weight": 90}, {"name": "chat-canary", "weight": 10}]),
         "HTTPRoute front sends 10% to the canary, not 25%"),
        (route([{"name": "chat-stable", "weight": 75}, {"name": "chat-canary", "weight": 25}]), None),
    ],
)  # fmt: skip
def test_an_httproute_router_says_why_its_route_does_not_carry_the_weight(
    found: dict[str, Any] | None, why: str | None
) -> None:
    assert HTTPRouteRouter("front").not_carried(ObservedRoute("chat", found), 25) == why
