"""The one place that maps `spec.rollout.trafficRouting` to its router.

A new router is a module implementing :class:`~qwenops.routing.router.Router`,
its field in `TrafficRouting` (api/spec.py), and one line in `_DECLARED`.
"""

from collections.abc import Callable

from qwenops.api.spec import TrafficRouting
from qwenops.routing.httproute import HTTPRouteRouter
from qwenops.routing.inferencepool import InferencePoolRouter
from qwenops.routing.replicas import ReplicaRatio
from qwenops.routing.router import Router

_DECLARED: tuple[Callable[[TrafficRouting], Router | None], ...] = (
    lambda routing: None if routing.http_route is None else HTTPRouteRouter(routing.http_route.name),
    lambda routing: (
        None if (pools := routing.inference_pool) is None else InferencePoolRouter(pools.http_route.name)
    ),
)
"""Each declared router: the one `trafficRouting` names, if it does."""


def router_for(routing: TrafficRouting) -> Router:
    """The router `trafficRouting` declares; none declared: the replica ratio behind one Service."""
    for declared in _DECLARED:
        router = declared(routing)
        if router is not None:
            return router
    return ReplicaRatio()
