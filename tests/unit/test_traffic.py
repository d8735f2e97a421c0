from typing import Any

import pytest

from qwenops.routing.httproute import routed_weight, weighted_rules


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
