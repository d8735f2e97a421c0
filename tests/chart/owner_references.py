"""The children the operator writes, rendered by render/desired.py, and what their ownerReferences
ask of RBAC.

With the `OwnerReferencesPermissionEnforcement` admission plugin (on by default on OpenShift), a
create or update that sets `blockOwnerDeletion: true` on an ownerReference is refused unless its
writer may `update` the `finalizers` subresource of the owner's resource: the right to hold the
owner's deletion back (under foreground deletion) is the right to put a finalizer on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tests.chart.client_sends import UnresolvedCallError

Manifest = dict[str, Any]

REVISIONS = ("aaaaaaaaaa", "bbbbbbbbbb")
SAMPLE_SPEC = {
    "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
    "replicas": 1,
}


def _renderers() -> dict[str, Callable[[], list[Manifest]]]:
    """render.desired's functions whose manifests the operator writes, each called on a sample."""
    from qwenops.api.spec import parse_spec  # noqa: PLC0415
    from qwenops.render import desired, pools  # noqa: PLC0415
    from qwenops.render.defaults import with_image  # noqa: PLC0415

    owner = desired.Owner(name="chat", namespace="llm", uid="uid-chat")
    spec = with_image(parse_spec(owner.name, SAMPLE_SPEC), "registry.example/serving:1")
    stable, canary = REVISIONS
    picker = {"run": {"image": "registry.example/epp:1"}}
    routing = {"inferencePool": {"httpRoute": {"name": "front"}, "endpointPicker": picker}}
    pooled = with_image(parse_spec(owner.name, {**SAMPLE_SPEC, "rollout": {"trafficRouting": routing}}), "x:1")
    return {
        "desired_deployment": lambda: [
            desired.desired_deployment(owner, spec, stable, track="stable", replicas=1)
        ],
        "desired_services": lambda: desired.desired_services(owner, stable=stable, canary=canary),
        "desired_service": lambda: [desired.desired_service(owner, track="stable", revision=stable)],
        "desired_pool_objects": lambda: pools.desired_pool_objects(owner, pooled, canary),
    }


def rendered_children(functions: Iterable[str] | None = None) -> list[Manifest]:
    """What each of `functions` (default: every one known here) renders for a sample QwenDeployment."""
    renderers = _renderers()
    found: list[Manifest] = []
    for function in renderers if functions is None else functions:
        if function not in renderers:
            raise UnresolvedCallError(
                f"render.desired.{function} builds objects the operator writes: add it to "
                "tests/chart/owner_references.py so that its ownerReferences are checked"
            )
        found += renderers[function]()
    return found


def owner_finalizers(children: Iterable[Manifest]) -> dict[tuple[str, str], str]:
    """(group, `<plural>/finalizers`) of each owner a child's ownerReference sets
    `blockOwnerDeletion` on -> which child, for messages."""
    from qwenops.io import kube  # noqa: PLC0415

    found: dict[tuple[str, str], str] = {}
    for child in children:
        for ref in child["metadata"].get("ownerReferences") or []:
            if ref.get("blockOwnerDeletion"):
                owner = kube.resource_of(ref)
                found[(owner.group, f"{owner.plural}/finalizers")] = f"{child['kind']} {child['metadata']['name']}"
    return found
