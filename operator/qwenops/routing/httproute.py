"""Exact canary weights on a Gateway API HTTPRoute: pure reading and writing of its backendRefs.

The route is the user's (its parents, hostnames and matches are theirs); the
operator only sets the weights of the backendRefs that name the `<name>-stable`
and `<name>-canary` Services, adding either one where a rule names only the other.
"""

from typing import Any

from qwenops.api import naming


def _ours(ref: dict[str, Any], services: tuple[str, str]) -> bool:
    return ref.get("name") in services and ref.get("kind", "Service") == "Service" and not ref.get("group")


def weighted_rules(route: dict[str, Any], name: str, canary_weight: int) -> list[dict[str, Any]]:
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


def routed_weight(route: dict[str, Any], name: str) -> int | None:
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
