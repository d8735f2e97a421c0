"""The leader election's Lease (`coordination.k8s.io/v1`): read, create and update, nothing else.

Its client is never guarded by leadership (:meth:`qwenops.io.kube.Kube.guarded`): a candidate that
does not lead must still read and write the Lease to take it. Every write is conditional: a create
fails (409) when a Lease exists at its name, an update (PUT) when the Lease was written since the
resourceVersion it carries was read; :class:`LeaseConflictError` says so.
"""

from typing import Any, Protocol

from qwenops.io import kube, kube_errors

Manifest = dict[str, Any]


class LeaseConflictError(Exception):
    """Another candidate wrote the Lease first: nothing was written."""


class LeaseStore(Protocol):
    """What the election asks of the API: :class:`Leases`, or a test's fake."""

    async def read(self, namespace: str, name: str) -> Manifest | None: ...

    async def create(self, lease: Manifest) -> Manifest: ...

    async def update(self, lease: Manifest) -> Manifest: ...


class Leases:
    """Leases through the operator's Kubernetes client (an unguarded one)."""

    def __init__(self, client: kube.Kube) -> None:
        self.client = client

    async def read(self, namespace: str, name: str) -> Manifest | None:
        return await self.client.get(kube.LEASES, namespace, name)

    async def create(self, lease: Manifest) -> Manifest:
        try:
            return await self.client.create(kube.LEASES, lease["metadata"]["namespace"], lease)
        except kube_errors.KubeError as exc:
            if exc.conflict:
                raise LeaseConflictError(exc.message) from exc
            raise

    async def update(self, lease: Manifest) -> Manifest:
        meta = lease["metadata"]
        try:
            return await self.client.replace(kube.LEASES, meta["namespace"], meta["name"], lease)
        except kube_errors.KubeError as exc:
            if exc.conflict:
                raise LeaseConflictError(exc.message) from exc
            raise
