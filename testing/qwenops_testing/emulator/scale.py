"""The scale subresource of a custom resource whose CRD declares one (``subresources.scale``), as an
HPA, KEDA or ``kubectl scale`` use it.

``GET .../NAME/scale`` answers an ``autoscaling/v1`` ``Scale``: ``spec.replicas`` read at the CRD's
``specReplicasPath``, ``status.replicas`` at its ``statusReplicasPath`` (0 when absent) and
``status.selector`` at its ``labelSelectorPath`` (left out when absent), with the object's name,
namespace, uid, resourceVersion and creationTimestamp. ``PUT`` of a Scale and ``PATCH`` (merge or
JSON patch, applied to the Scale) write ``spec.replicas`` alone, as an update of the object: its
admission (schema, CEL rules, defaults), its generation, a 409 on a stale
``metadata.resourceVersion``. A Scale whose ``spec.replicas`` is missing, not an integer or negative
is a 422, as autoscaling/v1's validation says. Only a JSONPath of dotted field names is read.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator import patches
from qwenops_testing.emulator.admission import Options
from qwenops_testing.emulator.errors import ApiError, not_found, not_found_subresource
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.request_log import content_type
from qwenops_testing.emulator.store import Store

PATH = re.compile(r"/apis/(?!apps/)[^/]+/[^/]+/namespaces/[^/]+/[^/]+/[^/]+/scale")
"""The URL of a namespaced custom resource's scale subresource (apps/v1's are workload_scale.py's)."""


@dataclasses.dataclass(frozen=True)
class ScalePaths:
    """Where a resource keeps the numbers of its Scale (a CRD's ``subresources.scale``)."""

    spec_replicas: tuple[str, ...]
    status_replicas: tuple[str, ...]
    label_selector: tuple[str, ...] | None

    @classmethod
    def of(cls, crd: Mapping[str, Any]) -> ScalePaths | None:
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        scale = (version.get("subresources") or {}).get("scale")
        if scale is None:
            return None
        selector = scale.get("labelSelectorPath")
        return cls(
            _path(scale["specReplicasPath"]),
            _path(scale["statusReplicasPath"]),
            _path(selector) if selector else None,
        )


def _path(json_path: str) -> tuple[str, ...]:
    if not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", json_path):
        raise ValueError(f"the emulator reads only dotted field paths, not {json_path!r}")
    return tuple(json_path.lstrip(".").split("."))


def _read(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _write(obj: Body, path: tuple[str, ...], value: Any) -> None:
    node = obj
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


class Scales:
    """The scale subresource of every installed CRD that declares one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._paths: dict[kmock.resource, ScalePaths] = {}

    def install(self, resource: kmock.resource, crd: Mapping[str, Any]) -> None:
        paths = ScalePaths.of(crd)
        if paths is None:
            self._paths.pop(resource, None)
        else:
            self._paths[resource] = paths

    async def fetch(self, request: kmock.Request) -> Body:
        key, paths = self._target(request)
        return self._scale(self._existing(key), paths)

    async def replace(self, request: kmock.Request) -> Body:
        key, paths = self._target(request)
        return self._apply(key, paths, self._existing(key), request.data, Options.of(request.params))

    async def patch(self, request: kmock.Request) -> Body:
        key, paths = self._target(request)
        old = self._existing(key)
        media_type = content_type(request.headers)
        if media_type == patches.APPLY_PATCH:
            raise patches.server_side_apply_refused()
        scale = patches.patched(self._scale(old, paths), request.data, media_type, key[0], key[2])
        return self._apply(key, paths, old, scale, Options.of(request.params, patch=True))

    # -- parts -----------------------------------------------------------------------------------

    def _target(self, request: kmock.Request) -> tuple[ObjectKey, ScalePaths]:
        assert request.resource is not None and request.name is not None
        paths = self._paths.get(request.resource)
        if paths is None:
            raise not_found_subresource(request.resource, "scale")
        return (request.resource, request.namespace, request.name), paths

    def _existing(self, key: ObjectKey) -> Body:
        obj = self.store.current(key)
        if obj is None:
            raise not_found(key[0], key[2])
        return obj

    def _apply(self, key: ObjectKey, paths: ScalePaths, old: Body, scale: Any, options: Options) -> Body:
        replicas = _replicas(scale, key[2])
        new = copy.deepcopy(old)
        rv = (scale.get("metadata") or {}).get("resourceVersion") if isinstance(scale, dict) else None
        new["metadata"]["resourceVersion"] = rv or old["metadata"]["resourceVersion"]
        _write(new, paths.spec_replicas, replicas)
        return self._scale(self.store.update(key, old, new, None, options), paths)

    @staticmethod
    def _scale(obj: Mapping[str, Any], paths: ScalePaths) -> Body:
        meta = obj["metadata"]
        status: Body = {"replicas": _read(obj, paths.status_replicas) or 0}
        selector = _read(obj, paths.label_selector) if paths.label_selector else None
        if selector:
            status["selector"] = selector
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                field: meta[field]
                for field in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if field in meta
            },
            "spec": {"replicas": _read(obj, paths.spec_replicas) or 0},
            "status": status,
        }


def _replicas(scale: Any, name: str) -> int:
    """The Scale's ``spec.replicas``, or the 422 autoscaling/v1's validation answers."""
    value = _read(scale, ("spec", "replicas")) if isinstance(scale, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    why = "must be greater than or equal to 0" if isinstance(value, int) else "must be an integer"
    message = f"spec.replicas: Invalid value: {value!r}: {why}"
    raise ApiError(
        422, "Invalid", f'Scale.autoscaling "{name}" is invalid: {message}',
        {"name": name, "group": "autoscaling", "kind": "Scale",
         "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "spec.replicas"}]},
    )  # fmt: skip
