"""Exact canary weights on a Gateway API HTTPRoute: pure reading and writing of its backendRefs.

The route is the user's (its parents, hostnames and matches are theirs); the
operator only sets the weights of the backendRefs that name the `<name>-stable`
and `<name>-canary` Services, adding either one where a rule names only the other.
Since the route splits traffic exactly, the canary needs only its weight's share of pods.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwenops.api import naming
from qwenops.routing.router import ObservedRoute, Watched


def _ours(ref: dict[str, Any], services: tuple[str, str]) -> bool:
    return ref.get("name") in services and ref.get("kind", "Service") == "Service" and not ref.get("group")


def weighted_rules(route: Mapping[str, Any], name: str, canary_weight: int) -> list[dict[str, Any]]:
    """The route's rules with our two backendRefs weighted `100 - w` and `w`."""
    stable, canary = (
        naming.service_name(name, naming.TRACK_STABLE),
        naming.service_name(name, naming.TRACK_CANARY),
    )
    rules: list[dict[str, Any]] = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = list(rule.get("backendRefs") or [])
        if not any(_ours(ref, (stable, canary)) for ref in refs):
            rules.append(rule)
            continue
        others = [ref for ref in refs if not _ours(ref, (stable, canary))]
        port = next((ref.get("port") for ref in refs if _ours(ref, (stable, canary)) and "port" in ref), None)
        ours = [
            {"name": stable, "weight": 100 - canary_weight},
            {"name": canary, "weight": canary_weight},
        ]
        for ref in ours:
            ref["port"] = port if port is not None else naming.SERVING_PORT
        rules.append({**rule, "backendRefs": [*others, *ours]})
    return rules


def routed_weight(route: Mapping[str, Any], name: str) -> int | None:
    """The canary's weight the route carries now, or None when no rule names our Services."""
    canary = naming.service_name(name, naming.TRACK_CANARY)
    stable = naming.service_name(name, naming.TRACK_STABLE)
    weights: set[int] = set()
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = rule.get("backendRefs") or []
        ours = {ref.get("name"): int(ref.get("weight", 1)) for ref in refs if _ours(ref, (stable, canary))}
        if ours:
            total = sum(ours.values())
            weights.add(round(100 * ours.get(canary, 0) / total) if total else 0)
    if len(weights) != 1:
        return None
    return weights.pop()


@dataclass(frozen=True)
class HTTPRouteRouter:
    route: str
    """The HTTPRoute's name, in the QwenDeployment's namespace."""

    def canary_pods(self, replicas: int, weight: int) -> int:
        return max(1, math.ceil(replicas * weight / 100))

    def carried_weight(self, replicas: int, canary_pods: int, weight: int) -> int:
        return weight

    def watched(self) -> Watched | None:
        return Watched("HTTPRoute", self.route)

    def weights_patch(self, route: ObservedRoute, weight: int) -> dict[str, Any] | None:
        found = route.found
        if found is None or routed_weight(found, route.owner) == weight:
            return None
        return {
            "metadata": {"resourceVersion": found["metadata"]["resourceVersion"]},
            "spec": {"rules": weighted_rules(found, route.owner, weight)},
        }

    def not_carried(self, route: ObservedRoute, wanted: int) -> str | None:
        if route.found is None:
            return f"HTTPRoute {self.route} not found"
        carried = routed_weight(route.found, route.owner)
        if carried is None:
            stable = naming.service_name(route.owner, naming.TRACK_STABLE)
            canary = naming.service_name(route.owner, naming.TRACK_CANARY)
            return f"HTTPRoute {self.route} has no rule naming Services {stable} and {canary}"
        if carried != wanted:
            return f"HTTPRoute {self.route} sends {carried}% to the canary, not {wanted}%"
        return None
