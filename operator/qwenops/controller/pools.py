"""A revision's InferencePool and endpoint picker (`trafficRouting.inferencePool`): listed each
pass, and removed with the revision's Deployment.

Listed only under that router (a cluster without the Inference Extension has no InferencePools to
list). Like every child, one is the QwenDeployment's only when its `controller: true`
ownerReference carries the QwenDeployment's uid: anything else at its name is never deleted.
They are kept apart from the model's Deployments, which the pass reads by revision: a picker's
Deployment is no revision's Deployment.
"""

import logging
from collections.abc import Collection

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.controller.observe import controls
from qwenops.io import kube
from qwenops.render.desired import Manifest, Owner

log = logging.getLogger(__name__)

POOL_OBJECTS = {
    "InferencePool": kube.INFERENCEPOOLS,
    "Deployment": kube.DEPLOYMENTS,
    "Service": kube.SERVICES,
}
"""Where the API keeps each kind a revision's pool brings (the chart's RBAC test reads this)."""

_REMOVAL_ORDER = ("InferencePool", "Deployment", "Service")
"""The pool first: it names the picker, whose Service goes last."""


async def pool_children(
    client: kube.KubeClient, spec: QwenDeploymentSpec, namespace: str, name: str
) -> dict[tuple[str, str], Manifest]:
    """The pools and pickers carrying the QwenDeployment's labels, by kind and name (its own or
    not); none when it routes through no InferencePool."""
    if spec.rollout.traffic_routing.inference_pool is None:
        return {}
    pools = await client.list_labelled(kube.INFERENCEPOOLS, namespace, {naming.LABEL_DEPLOYMENT: name})
    pickers = {naming.LABEL_PICKER: name}
    deployments = await client.list_labelled(kube.DEPLOYMENTS, namespace, pickers)
    services = await client.list_labelled(kube.SERVICES, namespace, pickers)
    return {(o["kind"], o["metadata"]["name"]): o for o in [*pools, *deployments, *services]}


def strays(owner: Owner, listed: dict[tuple[str, str], Manifest], keep: Collection[str]) -> list[Manifest]:
    """The listed objects this QwenDeployment controls whose revision is none of `keep`, the pools
    first."""
    found = [
        o for o in listed.values()
        if controls(owner, o) and (o["metadata"].get("labels") or {}).get(naming.LABEL_REVISION) not in keep
    ]  # fmt: skip
    return sorted(found, key=lambda o: (_REMOVAL_ORDER.index(o["kind"]), o["metadata"]["name"]))


async def remove_strays(
    client: kube.KubeClient,
    owner: Owner,
    listed: dict[tuple[str, str], Manifest],
    keep: Collection[str],
    before_write: kube.BeforeWrite,
) -> None:
    """Delete each stray (on its uid: one made meanwhile at the name is another object)."""
    for stray in strays(owner, listed, keep):
        meta = stray["metadata"]
        await before_write()
        if await client.delete(POOL_OBJECTS[stray["kind"]], owner.namespace, meta["name"], uid=meta["uid"]):
            log.info("deleted %s %s/%s", stray["kind"], owner.namespace, meta["name"])
