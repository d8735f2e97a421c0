"""An in-memory stand-in for `qwenops.io.kube.Kube` (the `KubeClient` protocol), for unit tests.

Objects live in a dict; each write the API server would accept is applied and recorded in
`writes`, each it would refuse (a stale resourceVersion, a name taken) raises the KubeError the
real client raises and is recorded in `refused`. Like the API server it keeps `resourceVersion`
(one counter for all objects) and `uid`, and answers a merge patch carrying
`metadata.resourceVersion` with 409 when the object has moved on.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwenops.io import kube
from qwenops.io.kube import Manifest, Outcome, Resource
from qwenops.io.kube_errors import KubeError
from qwenops.render.diff import ensure_action

_KINDS = {("v1", "Pod"): kube.PODS, ("v1", "Secret"): kube.SECRETS}


def resource_of(manifest: Mapping[str, Any]) -> Resource:
    return _KINDS.get((manifest["apiVersion"], manifest["kind"])) or kube.resource_of(manifest)


@dataclass(frozen=True)
class Write:
    """One write request: `verb` is create, patch, patch_status or delete; `body` what was sent."""

    verb: str
    resource: Resource
    namespace: str
    name: str
    body: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.verb} {self.resource.plural}/{self.name}"


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = apply_merge_patch(merged.get(key), value)
    return merged


class FakeKube:
    """Answers what `KubeClient` asks, from objects held in memory."""

    def __init__(self, *objects: Manifest) -> None:
        self.objects: dict[tuple[Resource, str, str], Manifest] = {}
        self.writes: list[Write] = []
        self.refused: list[Write] = []
        self._versions = itertools.count(1)
        for manifest in objects:
            self.put(manifest)

    # -- the test's side ---------------------------------------------------------------------------

    def put(self, manifest: Manifest) -> Manifest:
        """Store `manifest` as the API server would (a uid, a new resourceVersion); not a recorded write."""
        stored = copy.deepcopy(manifest)
        meta = stored["metadata"]
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[(resource_of(stored), meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def stored(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        found = self.objects.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    # -- KubeClient ---------------------------------------------------------------------------------

    async def get(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        return self.stored(resource, namespace, name)

    async def list_labelled(
        self, resource: Resource, namespace: str, selector: Mapping[str, str]
    ) -> list[Manifest]:
        return [
            copy.deepcopy(found)
            for (kind, where, _), found in sorted(self.objects.items(), key=lambda item: item[0][2])
            if kind == resource
            and where == namespace
            and all((found["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]

    async def ensure(
        self,
        desired: Manifest,
        live: Manifest | None = None,
        *,
        known: bool = False,
        before_write: kube.BeforeWrite | None = None,
    ) -> Outcome:
        resource = resource_of(desired)
        meta = desired["metadata"]
        if not known:
            live = await self.get(resource, meta["namespace"], meta["name"])
        action, patch = ensure_action(desired, live)
        if action in {"unchanged", "conflict"}:
            return action
        if before_write is not None:
            await before_write()
        if action == "create":
            try:
                self._create(resource, desired)
            except KubeError as exc:
                if exc.conflict:
                    return "conflict"
                raise
            return "created"
        await self.patch(resource, meta["namespace"], meta["name"], patch or {})
        return "updated"

    async def delete(self, resource: Resource, namespace: str, name: str, *, uid: str | None = None) -> bool:
        key = (resource, namespace, name)
        found = self.objects.get(key)
        write = Write("delete", resource, namespace, name, {"preconditions": {"uid": uid}} if uid else None)
        if found is None:
            return False
        if uid is not None and found["metadata"]["uid"] != uid:  # the API server's precondition
            self.refused.append(write)
            return False
        del self.objects[key]
        self.writes.append(write)
        return True

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Manifest:
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        return self._patch(Write("patch_status", resource, namespace, name, body))

    async def check_version(self, resource: Resource, namespace: str, name: str, resource_version: str) -> None:
        body = {"metadata": {"resourceVersion": resource_version}}  # as Kube sends it: no `status` key
        self._patch(Write("patch_status", resource, namespace, name, body))

    async def patch(self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Manifest:
        return self._patch(Write("patch", resource, namespace, name, dict(body)))

    # -- the API server's rules ---------------------------------------------------------------------

    def _create(self, resource: Resource, desired: Manifest) -> None:
        meta = desired["metadata"]
        write = Write("create", resource, meta["namespace"], meta["name"], copy.deepcopy(desired))
        if (resource, meta["namespace"], meta["name"]) in self.objects:
            self.refused.append(write)
            raise KubeError(409, f"{resource.plural} {meta['name']!r} already exists")
        self.put(desired)
        self.writes.append(write)

    def _patch(self, write: Write) -> Manifest:
        key = (write.resource, write.namespace, write.name)
        found = self.objects.get(key)
        if found is None:
            self.refused.append(write)
            raise KubeError(404, f"{write.resource.plural} {write.name!r} not found")
        body = dict(write.body or {})
        wanted_version = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_version is not None and wanted_version != found["metadata"]["resourceVersion"]:
            self.refused.append(write)
            raise KubeError(
                409, "the object has been modified; please apply your changes to the latest version"
            )
        if write.verb == "patch_status":  # the status subresource ignores everything else
            body = {"status": body["status"]} if "status" in body else {}
        else:
            body.pop("status", None)
        patched = apply_merge_patch(found, body)
        patched["metadata"]["resourceVersion"] = found["metadata"]["resourceVersion"]
        self.writes.append(write)
        if patched == found:  # a patch that changes nothing leaves the resourceVersion as it was
            return copy.deepcopy(found)
        return self.put(patched)
