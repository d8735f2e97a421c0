"""OpenAPI v3 as a 1.35 API server publishes it: ``/openapi/v3`` (the index of group versions) and
``/openapi/v3/api/v1``, ``/openapi/v3/apis/GROUP/VERSION`` (each a document of its paths and schemas).

kubectl reads these to validate what it sends (it asks the server to, with ``fieldValidation``,
when the PATCH operation of the kind lists that parameter, as here), to build the patches of
``kubectl apply`` and for ``kubectl explain``. The built-in kinds' schemas are Kubernetes 1.35's, as
the installed ``kubernetes-validate`` package ships them (read from its package data, converted from
JSON Schema back to OpenAPI: ``$ref`` into ``#/components/schemas``, nullable types single, an
int-or-string a ``string`` of format ``int-or-string``); a custom resource's is its CRD's schema,
with ``metadata`` the ObjectMeta. A served resource without a known schema (kopf's peerings, an
HTTPRoute) is an object that keeps unknown fields. OpenAPI v2 (``/openapi/v2``) is not served: a
1.35 kubectl does not need it where v3 is served.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.resources
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.errors import ApiError

Body = dict[str, Any]
DEFINITIONS = "kubernetes-json-schema/v1.35.0-local/_definitions.json"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_SCALARS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}


@functools.cache
def definitions() -> dict[str, Body]:
    """Kubernetes 1.35's definitions, as OpenAPI v3 schemas by name."""
    text = (importlib.resources.files("kubernetes_validate") / DEFINITIONS).read_text()
    found: dict[str, Body] = {}
    for name, schema in json.loads(text)["$defs"].items():
        found[name] = {**_SCALARS[name], "description": schema.get("description", "")} if name in _SCALARS \
            else _openapi(schema)  # fmt: skip
    return found


def _openapi(schema: Any) -> Any:
    """A JSON Schema of kubernetes-validate as the OpenAPI v3 the API server publishes."""
    if isinstance(schema, list):
        return [_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: Body = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            converted[key] = types[0] if len(types) == 1 else types
        elif key == "enum":
            converted[key] = [v for v in value if v is not None]
        elif key == "$ref":
            converted[key] = value.replace("#/$defs/", "#/components/schemas/")
        elif key in ("properties", "patternProperties"):
            converted[key] = {name: _openapi(sub) for name, sub in value.items()}
        else:
            converted[key] = _openapi(value)
    if "$ref" in converted and len(converted) > 1:  # OpenAPI 3.0 ignores a $ref's siblings
        converted = {"allOf": [{"$ref": converted.pop("$ref")}], **converted}
    return converted


def _gvk(group: str, version: str, kind: str) -> list[Body]:
    return [{"group": group, "version": version, "kind": kind}]


def _refs(schema: Any) -> Iterable[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)


def custom_schema(crd: Mapping[str, Any], version: Mapping[str, Any]) -> Body:
    """A CRD version's published schema: its own, with ObjectMeta as ``metadata``."""
    spec = crd["spec"]
    schema: Body = copy.deepcopy(version.get("schema", {}).get("openAPIV3Schema") or {"type": "object"})
    properties = schema.setdefault("properties", {})
    properties["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{_META}.ObjectMeta"}],
                              "description": "Standard object's metadata."}  # fmt: skip
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    schema["x-kubernetes-group-version-kind"] = _gvk(spec["group"], version["name"], spec["names"]["kind"])
    return schema


class OpenApi:
    """The documents of the served resources: `served` lists them with their kinds and whether they
    are namespaced; `custom` gives a custom resource's schema (None: a built-in kind's)."""

    def __init__(
        self,
        served: Callable[[], Iterable[tuple[kmock.resource, str, bool]]],
        custom: Callable[[kmock.resource], Body | None],
    ) -> None:
        self._served = served
        self._custom = custom

    def _by_group_version(self) -> dict[str, list[tuple[kmock.resource, str, bool]]]:
        found: dict[str, list[tuple[kmock.resource, str, bool]]] = {}
        for res, kind, namespaced in self._served():
            key = f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}"
            found.setdefault(key, []).append((res, kind, namespaced))
        return found

    def index(self) -> Body:
        paths = {}
        for key in self._by_group_version():
            text = json.dumps(self.document(key), sort_keys=True)
            digest = hashlib.sha512(text.encode()).hexdigest().upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": paths}

    def document(self, key: str) -> Body:
        """The document of ``api/v1`` or ``apis/GROUP/VERSION``."""
        resources = self._by_group_version().get(key.strip("/"))
        if not resources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        schemas: Body = {}
        paths: Body = {}
        for res, kind, namespaced in resources:
            name = self._schema(res, kind, schemas)
            paths.update(_paths(res, kind, namespaced, name))
        _close_over(schemas)
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.35.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        }

    def _schema(self, res: kmock.resource, kind: str, schemas: Body) -> str:
        """Put the kind's schema (and its List's) into `schemas`; the kind's schema name."""
        group, version = str(res.group), str(res.version)
        custom = self._custom(res)
        name = f"{'.'.join(reversed(group.split('.')))}.{version}.{kind}"
        if custom is not None:
            schemas[name] = custom
            return name
        for known, schema in definitions().items():
            if schema.get("x-kubernetes-group-version-kind") in (_gvk(group, version, kind),
                                                                 _gvk(group, version, f"{kind}List")):
                schemas[known] = schema
                name = known if known.endswith(f".{kind}") else name
        if name not in schemas:
            schemas[name] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                             "x-kubernetes-group-version-kind": _gvk(group, version, kind)}  # fmt: skip
        return name


def _close_over(schemas: Body) -> None:
    """Add every definition the schemas refer to, and theirs."""
    pending = [*_refs(list(schemas.values())), f"{_META}.Status"]
    while pending:
        name = pending.pop()
        if name not in schemas and name in definitions():
            schemas[name] = definitions()[name]
            pending.extend(_refs(schemas[name]))


_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _params(*names: str) -> list[Body]:
    return [{"name": name, "in": "query", "schema": {"type": "string"}} for name in names]


def _paths(res: kmock.resource, kind: str, namespaced: bool, schema: str) -> Body:
    base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    collection = f"{base}/namespaces/{{namespace}}/{res.plural}" if namespaced else f"{base}/{res.plural}"
    gvk = {"group": res.group, "version": res.version, "kind": kind}
    answer = {"200": {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}}  # fmt: skip

    def operation(action: str, verb: str, *params: str) -> Body:
        return {"operationId": f"{verb}{kind}", "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk, "parameters": _params(*params),
                "responses": answer}  # fmt: skip

    scope = [{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}] \
        if namespaced else []  # fmt: skip
    named = [*scope, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        collection: {"parameters": scope, "get": operation("list", "list", "labelSelector", "fieldSelector"),
                     "post": operation("post", "create", *_QUERY)},
        f"{collection}/{{name}}": {
            "parameters": named,
            "get": operation("get", "read"),
            "put": operation("put", "replace", *_QUERY),
            "patch": operation("patch", "patch", *_QUERY, "force"),
            "delete": operation("delete", "delete", "dryRun", "gracePeriodSeconds", "propagationPolicy"),
        },
    }  # fmt: skip
