"""What the API server makes of a client's body: pure functions from a request's object (and the
stored one) to what is stored. Server-owned metadata is set here, never taken from the client.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.errors import bad_request, conflict, invalid
from qwenops_testing.emulator.resources import DEPLOYMENTS

Body = dict[str, Any]
ObjectKey = tuple[kmock.resource, str | None, str]

# The metadata fields that clients cannot change with a write (restored from the stored object).
SERVER_OWNED_METADATA = (
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

# Characters Kubernetes uses for generateName suffixes (no vowels, no look-alikes).
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now(after: float = 0) -> str:
    """The wall clock (plus `after` seconds) as the API writes it."""
    moment = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=after)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def with_metadata(key: ObjectKey, raw: Body) -> Body:
    """Objects seeded kmock-style (``emulator.objects[...] = {...}``) may lack metadata."""
    meta = raw.get("metadata")
    if isinstance(meta, dict) and meta.get("name") == key[2]:
        return raw
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["name"] = key[2]
    if key[1] is not None:
        meta["namespace"] = key[1]
    return {**raw, "metadata": meta}


def spec_part(obj: Mapping[str, Any], *, has_status: bool) -> Body:
    """What counts for ``generation``: all but metadata, and but status with a status subresource."""
    skipped = {"metadata", "status"} if has_status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skipped}


def bumps_generation(
    resource: kmock.resource, old: Body, new: Body, *, has_status: bool, subresource: str | None = None
) -> bool:
    """Whether an update changes ``generation``: a change of :func:`spec_part`, and for an apps/v1
    Deployment of its annotations too (pkg/registry/apps/deployment/strategy.go, PrepareForUpdate,
    still so in 1.35: "annotation updates bump the generation because annotations are copied from
    deployments to their replica sets"), but not through ``/status`` (the status strategy has no
    such rule: the Deployment controller's UpdateStatus sets the revision annotation without a
    new generation); labels never do."""
    if spec_part(new, has_status=has_status) != spec_part(old, has_status=has_status):
        return True
    annotations = [obj["metadata"].get("annotations") or {} for obj in (old, new)]
    return resource == DEPLOYMENTS and subresource is None and annotations[0] != annotations[1]


def to_create(resource: kmock.resource, url_namespace: str | None, body: Any, *, namespaced: bool) -> Body:
    """A POST's body with its name (``generateName`` resolved) and namespace settled; a copy."""
    if not isinstance(body, dict):
        raise bad_request("the body is not a JSON object")
    obj: Body = copy.deepcopy(body)
    meta: Body = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata is not an object")
    if namespaced:
        if url_namespace and (meta.get("namespace") or url_namespace) != url_namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        namespace = url_namespace or meta.get("namespace")
        if not namespace:
            raise bad_request("a namespaced object needs a namespace")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if not meta.get("name"):
        if not meta.get("generateName"):
            raise invalid(resource, "", "metadata.name: Required value: name or generateName is required")
        suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
        meta["name"] = meta["generateName"] + suffix
    return obj


def created(obj: Body, *, api_version: str, kind: str, has_status: bool, resource_version: str) -> Body:
    """A new object as stored: its apiVersion and kind, fresh server-owned metadata, no status
    when the resource has a status subresource (status is written through /status only)."""
    stored = {"apiVersion": api_version, "kind": kind, **obj}
    meta = stored["metadata"]
    for field in SERVER_OWNED_METADATA:
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta["generation"] = 1
    meta["resourceVersion"] = resource_version
    if has_status:
        stored.pop("status", None)
    return stored


def updated(
    key: ObjectKey,
    old: Body,
    new: Any,
    subresource: str | None,
    *,
    api_version: str,
    kind: str,
    has_status: bool,
) -> Body:
    """Turn a client's full new body into what is stored: server-owned fields restored.

    A stale ``metadata.resourceVersion`` is a conflict; a write to ``/status`` changes the status
    alone, a write to the object everything but the status (with a status subresource).
    """
    resource, _, name = key
    if not isinstance(new, dict):
        raise bad_request("the body is not a JSON object")
    new_meta = new.get("metadata")
    if new_meta is None:
        new_meta = new["metadata"] = {}
    if not isinstance(new_meta, dict):
        raise bad_request("metadata is not an object")
    requested_rv = new_meta.get("resourceVersion")
    if requested_rv not in (None, "") and str(requested_rv) != str(old["metadata"].get("resourceVersion")):
        raise conflict(resource, name)
    if new_meta.get("name", name) != name:
        raise bad_request(
            f"the name of the object ({new_meta.get('name')}) does not match the name on the URL ({name})"
        )
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        return result
    result = copy.deepcopy(new)
    meta = result["metadata"]
    for field in (*SERVER_OWNED_METADATA, "name", "namespace"):
        if field in old["metadata"]:
            meta[field] = old["metadata"][field]
        else:
            meta.pop(field, None)
    result["apiVersion"] = api_version
    result["kind"] = kind
    if has_status:
        if "status" in old:
            result["status"] = old["status"]
        else:
            result.pop("status", None)
    if old["metadata"].get("deletionTimestamp"):
        added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
        if added:
            found = "[]string{" + ", ".join(f'"{f}"' for f in sorted(added)) + "}"
            raise invalid(
                resource,
                name,
                "metadata.finalizers: Forbidden: no new finalizers can be "
                f"added if the object is being deleted, found new finalizers {found}",
                kind=kind,
            )
    return result
