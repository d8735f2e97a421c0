"""Discovery as a Kubernetes 1.35 API server answers it: ``/version``, ``/api``, ``/api/v1``,
``/apis``, ``/apis/GROUP`` and ``/apis/GROUP/VERSION``.

kmock's own discovery names the core group ``/v1`` (kubectl then drops every core resource), lists
subresources with their parent's short names (kubectl then finds ``qwd`` ambiguous) and says the
server is 1.26. Here the core group version is ``v1``; a subresource is a ``name/sub`` entry with an
empty singular name, no short names or categories and its own verbs, as the real server lists it;
the usual resources are in the ``all`` category.

Aggregated discovery (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``)
is not served: the answer is the legacy document with ``Content-Type: application/json``, which
client-go reads as a server without aggregated discovery and falls back to the per-group documents,
as it does against an aggregated API server that lacks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import kmock

from qwenops_testing.emulator.errors import ApiError

Body = dict[str, Any]

SERVER_VERSION: Body = {
    "major": "1",
    "minor": "35",
    "emulationMajor": "1",
    "emulationMinor": "35",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "34",
    "gitVersion": "v1.35.0",
    "gitCommit": "66452049f3d692768c39c797b21b793dce80314e",
    "gitTreeState": "clean",
    "buildDate": "2025-12-17T12:32:06Z",
    "goVersion": "go1.25.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
"""``/version`` of a Kubernetes 1.35.0 API server."""

# The built-in resources a real server puts in the `all` category (`kubectl get all`).
_ALL_CATEGORY = frozenset({("", "pods"), ("", "services"), ("apps", "deployments"), ("apps", "replicasets")})
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"]}


class Discovery:
    """The discovery documents of the resources `resources` lists (read at each request, so a
    resource declared later is served from then on), each described by `info`."""

    def __init__(
        self,
        resources: Callable[[], Iterable[kmock.resource]],
        info: Callable[[kmock.resource], kmock.ResourceInfo | None],
    ) -> None:
        self._resources = resources
        self._info = info

    def served(self) -> list[kmock.resource]:
        found = {
            res for res in self._resources()
            if isinstance(res.group, str) and isinstance(res.version, str) and isinstance(res.plural, str)
        }  # fmt: skip
        return sorted(found, key=lambda r: (str(r.group), str(r.version), str(r.plural)))

    def groups(self) -> dict[str, list[str]]:
        """Each named group and its versions (the first one preferred), core excluded."""
        found: dict[str, list[str]] = {}
        for res in self.served():
            if res.group and res.version not in found.setdefault(str(res.group), []):
                found[str(res.group)].append(str(res.version))
        return found

    def api(self) -> Body:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    def apis(self) -> Body:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in self.groups().items()],
        }

    def group(self, name: str) -> Body:
        versions = self.groups().get(name)
        if not versions:
            raise _not_found()
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}

    def resource_list(self, group: str, version: str) -> Body:
        """The APIResourceList of ``group/version`` (``group`` empty: the core ``v1``)."""
        found = [res for res in self.served() if res.group == group and res.version == version]
        if not found:
            raise _not_found()
        entries: list[Body] = []
        for res in found:
            entries.extend(self._entries(res))
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries,
        }

    def _entries(self, res: kmock.resource) -> list[Body]:
        info = self._info(res)
        kind = (info.kind if info else None) or str(res.plural).capitalize()
        namespaced = info is None or info.namespaced is not False
        entry: Body = {
            "name": res.plural,
            "singularName": (info.singular if info else None) or kind.lower(),
            "namespaced": namespaced,
            "kind": kind,
            "verbs": sorted(info.verbs) if info and info.verbs else ["get", "list", "watch"],
        }
        if info and info.shortnames:
            entry["shortNames"] = sorted(info.shortnames)
        if (res.group, res.plural) in _ALL_CATEGORY:
            entry["categories"] = ["all"]
        entries = [entry]
        for sub in sorted(info.subresources if info else ()):
            verbs = _SUBRESOURCE_VERBS.get(sub, ["get"])
            entries.append({"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": namespaced,
                            "kind": kind, "verbs": verbs})  # fmt: skip
        if (res.group, res.plural) in (("apps", "deployments"), ("apps", "replicasets")):  # scale.py
            entries.append({"name": f"{res.plural}/scale", "singularName": "", "namespaced": True,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})  # fmt: skip
        if (res.group, res.plural) == ("", "pods"):  # served by the emulator (nodes.py)
            entries.append({"name": "pods/eviction", "singularName": "", "namespaced": True,
                            "group": "policy", "version": "v1", "kind": "Eviction",
                            "verbs": ["create"]})  # fmt: skip
        return entries


def _group(name: str, versions: list[str]) -> Body:
    gvs = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
