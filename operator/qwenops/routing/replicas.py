"""The replica ratio: stable and canary pods behind one Service share traffic by their numbers.

No object carries the weights, so there is nothing to read or patch; the
canary gets more pods than its weight alone would give it, since the stable
keeps all of its pods until promotion.
"""

import math
from dataclasses import dataclass
from typing import Any

from qwenops.routing.router import ObservedRoute, Watched


def replica_share(stable: int, canary: int) -> int:
    """Percent of traffic the canary's ready pods get behind one Service."""
    return 0 if canary <= 0 else round(100 * canary / (stable + canary))


@dataclass(frozen=True)
class ReplicaRatio:
    def canary_pods(self, replicas: int, weight: int) -> int:
        """`R*w/(100-w)` pods for the canary's share to reach `w` beside `R` stable pods (rounded
        up: never less than declared, at least one)."""
        return max(1, math.ceil(replicas * weight / (100 - weight)))

    def carried_weight(self, replicas: int, canary_pods: int, weight: int) -> int:
        return replica_share(replicas, canary_pods)

    def watched(self) -> Watched | None:
        return None

    def weights_patch(self, route: ObservedRoute, weight: int) -> dict[str, Any] | None:
        return None

    def not_carried(self, route: ObservedRoute, wanted: int) -> str | None:
        return None
