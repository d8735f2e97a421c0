"""What a pass reads and writes of its children: only the objects its QwenDeployment controls.

A child is the QwenDeployment's when its `controller: true` ownerReference carries the
QwenDeployment's uid; a name, a label or a plain ownerReference proves nothing. Any other
object at a name the pass wants (another QwenDeployment's child, a Service Helm made without
an owner, another controller's object) is never patched, adopted or deleted: it is left as it is
and named in :attr:`Children.conflicts`, which the status reports (`ChildConflict`).
"""

import logging
from dataclasses import dataclass, field

from qwenops.api import naming
from qwenops.controller.observe import conflict, controls
from qwenops.io import kube
from qwenops.render.desired import Manifest, Owner

log = logging.getLogger(__name__)

KINDS = (kube.DEPLOYMENTS, kube.SERVICES)
"""The kinds of the children, each listed once a pass by the QwenDeployment's label."""


@dataclass
class Children:
    """The children one pass listed, and the names it found held by another owner."""

    client: kube.KubeClient
    owner: Owner
    listed: dict[kube.Resource, dict[str, Manifest]]
    """Every object of each kind carrying the QwenDeployment's label, by name: controlled or not."""
    conflicts: list[str] = field(default_factory=list)

    @classmethod
    async def read(cls, client: kube.KubeClient, owner: Owner) -> "Children":
        listed = {}
        for resource in KINDS:
            found = await client.list_labelled(
                resource, owner.namespace, {naming.LABEL_DEPLOYMENT: owner.name}
            )
            listed[resource] = {child["metadata"]["name"]: child for child in found}
        return cls(client, owner, listed)

    def controlled(self, resource: kube.Resource) -> list[Manifest]:
        """The listed children of one kind that are this QwenDeployment's."""
        return [child for child in self.listed[resource].values() if controls(self.owner, child)]

    async def ensure(self, desired: Manifest, before_write: kube.BeforeWrite) -> kube.Outcome:
        """Create or patch `desired` unless its name is held by an object this QwenDeployment does
        not control; such an object is left alone and named in `conflicts`."""
        resource, meta = kube.resource_of(desired), desired["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        found = self.listed[resource].get(name)
        if found is None:  # not labelled, or absent: only a read by name tells
            found = await self.client.get(resource, namespace, name)
        outcome = await self.client.ensure(desired, found, known=True, before_write=before_write)
        if outcome == "conflict":
            holder = found or await self.client.get(resource, namespace, name)  # made meanwhile
            if holder is not None:
                said = conflict(desired["kind"], holder)
                log.warning("left alone: %s", said)
                self.conflicts.append(said)
        return outcome

    async def delete(self, resource: kube.Resource, child: Manifest) -> bool:
        """Delete a listed child, only if the object at its name is still that one (its uid)."""
        if not controls(self.owner, child):
            return False
        meta = child["metadata"]
        return await self.client.delete(resource, meta["namespace"], meta["name"], uid=meta["uid"])
