"""Exact canary weights across two InferencePools, one per revision, on the user's HTTPRoute.

The route is the user's (its parents, hostnames, matches and other backends are theirs). A rule
is the operator's when one of its backendRefs is an InferencePool named `<name>` (what a person
writes before any revision exists) or `<name>-<revision>` (a revision's pool): those backendRefs,
and only those, become the stable revision's pool at `100 - w` and the canary's at `w` (the stable's
alone at 100 when no canary runs). The pools' names change with the revisions, so the router is
told which two revisions the weight is between (`ObservedRoute.stable` and `.canary`).
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwenops.api import naming
from qwenops.routing.router import ObservedRoute, Watched

_REVISION = re.compile(f"[0-9a-f]{{{naming.REVISION_LENGTH}}}")


def _ours(ref: Mapping[str, Any], owner: str, namespace: str | None) -> bool:
    if ref.get("group") != naming.POOL_GROUP or ref.get("kind") != naming.POOL_KIND:
        return False
    if ref.get("namespace") not in (None, namespace):
        return False
    name = str(ref.get("name", ""))
    return name == owner or (
        name.startswith(f"{owner}-") and _REVISION.fullmatch(name.removeprefix(f"{owner}-")) is not None
    )


def wanted_weights(owner: str, stable: str, canary: str | None, weight: int) -> dict[str, int]:
    """Each pool the operator's backendRefs should name, and its weight."""
    if canary is None:
        return {naming.pool_name(owner, stable): 100}
    return {naming.pool_name(owner, stable): 100 - weight, naming.pool_name(owner, canary): weight}


def _namespace(route: Mapping[str, Any]) -> str | None:
    namespace = (route.get("metadata") or {}).get("namespace")
    return str(namespace) if namespace is not None else None


def routed_pools(route: Mapping[str, Any], owner: str) -> list[dict[str, int]]:
    """For each of the operator's rules, the pools its backendRefs name and their weights."""
    namespace = _namespace(route)
    found: list[dict[str, int]] = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = [ref for ref in rule.get("backendRefs") or [] if _ours(ref, owner, namespace)]
        if refs:
            found.append({str(ref["name"]): int(ref.get("weight", 1)) for ref in refs})
    return found


def weighted_rules(route: Mapping[str, Any], owner: str, wanted: Mapping[str, int]) -> list[dict[str, Any]]:
    """The route's rules, the operator's backendRefs in each of its rules replaced by `wanted`."""
    namespace = _namespace(route)
    rules: list[dict[str, Any]] = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = list(rule.get("backendRefs") or [])
        if not any(_ours(ref, owner, namespace) for ref in refs):
            rules.append(rule)
            continue
        others = [ref for ref in refs if not _ours(ref, owner, namespace)]
        ours = [
            {"group": naming.POOL_GROUP, "kind": naming.POOL_KIND, "name": name, "weight": weight}
            for name, weight in wanted.items()
        ]
        rules.append({**rule, "backendRefs": [*others, *ours]})
    return rules


def _share(carried: Mapping[str, int], pool: str) -> int:
    total = sum(carried.values())
    return round(100 * carried.get(pool, 0) / total) if total else 0


@dataclass(frozen=True)
class InferencePoolRouter:
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
        if found is None or route.stable is None or self.not_carried(route, weight) is None:
            return None
        wanted = wanted_weights(route.owner, route.stable, route.canary, weight)
        return {
            "metadata": {"resourceVersion": found["metadata"]["resourceVersion"]},
            "spec": {"rules": weighted_rules(found, route.owner, wanted)},
        }

    def not_carried(self, route: ObservedRoute, wanted: int) -> str | None:
        where = f"HTTPRoute {self.route}"
        if route.found is None:
            return f"{where} not found"
        rules = routed_pools(route.found, route.owner)
        if not rules:
            return f"{where} has no rule with a backendRef of kind InferencePool named {route.owner}"
        if route.stable is None:
            return f"{where}: the revisions it should route to are not known yet"
        want = wanted_weights(route.owner, route.stable, route.canary, wanted)
        for carried in rules:
            if set(carried) != set(want):
                named = ", ".join(sorted(carried))
                return f"{where} sends to InferencePools {named}, not {', '.join(sorted(want))}"
            if route.canary is None:
                if sum(carried.values()) == 0:
                    return f"{where} sends no traffic to InferencePool {next(iter(want))}"
                continue
            canary = naming.pool_name(route.owner, route.canary)
            if (share := _share(carried, canary)) != wanted:
                return f"{where} sends {share}% to InferencePool {canary}, not {wanted}%"
        return None
