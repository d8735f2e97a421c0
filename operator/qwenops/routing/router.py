"""The seam between the rollout policy and whatever carries the canary's share of traffic.

A router answers the policy's questions (how many canary pods a step's weight
needs, what weight they then really get, whether the object that carries the
weights does so yet) and tells the controller which object to read each pass
and how to patch it. Each implementation is its own module; `registry` maps
`spec.rollout.trafficRouting` to one. Everything here is pure: the controller
does the reading and the writing.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Watched:
    """The object a router keeps the weights on: its kind (the controller knows where the API keeps
    it) and its name, in the QwenDeployment's namespace."""

    kind: str
    name: str


@dataclass(frozen=True)
class ObservedRoute:
    """The router's object as read this pass."""

    owner: str
    """The QwenDeployment's name: the object names its Services `<owner>-stable` and `<owner>-canary`."""
    found: Mapping[str, Any] | None
    """The object as the API returned it; None: it does not exist."""
    stable: str | None = None
    """The stable revision, for a router whose backends are per revision (None: not known here)."""
    canary: str | None = None
    """The canary revision the weight goes to (None: none runs, or not known here)."""

    def between(self, stable: str, canary: str | None) -> "ObservedRoute":
        """The same object, read as carrying weights between `stable` and `canary`."""
        return ObservedRoute(self.owner, self.found, stable, canary)


class Router(Protocol):
    def canary_pods(self, replicas: int, weight: int) -> int:
        """Canary pods a step of `weight` percent needs beside a stable of `replicas` pods."""
        ...

    def carried_weight(self, replicas: int, canary_pods: int, weight: int) -> int:
        """The weight the canary really gets once its `canary_pods` are ready (the step asked `weight`)."""
        ...

    def watched(self) -> Watched | None:
        """The object to read each pass, if the weights live on one (None: the pods carry them)."""
        ...

    def weights_patch(self, route: ObservedRoute, weight: int) -> dict[str, Any] | None:
        """The merge patch that makes the object carry `weight`: conditional on the version read.
        None when it carries it already or there is nothing to patch."""
        ...

    def not_carried(self, route: ObservedRoute, wanted: int) -> str | None:
        """Why the object does not carry the canary's `wanted` weight yet (None: it does)."""
        ...
