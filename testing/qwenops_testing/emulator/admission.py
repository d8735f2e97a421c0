"""What the API server does to a write between decoding its body and storing it, for every create
and update (POST, PUT, PATCH, ``/status``), over HTTP or through the emulator's direct access.
In the API server's order:

1. decoding. A custom resource's fields that its CRD's schema does not declare are dropped
   (pruning); ``fieldValidation=Strict`` (kubectl's default) refuses them instead, all named in
   one 400 (``strict decoding error: unknown field "spec.foo"``); ``Warn``, the API server's
   default when a request names none, answers with a ``Warning`` header per field; ``Ignore`` drops
   them silently. A built-in object's unknown fields are refused or warned of under an explicit
   ``Strict`` or ``Warn`` (builtin_fields.py). A built-in object's resource quantities are read
   and canonicalised (quantity.py): one that is no quantity is a 400;
2. defaulting: the CRD's structural defaults, its nulls pruned (qwenops_testing.crd_schema); the
   built-in objects' defaults (defaults.py);
3. the namespace lifecycle, when the emulator serves namespaces: a namespaced object is created
   only in an existing namespace (404 ``namespaces "x" not found``; 403 while it is deleted);
4. validation, every error in one 422 ``Invalid`` with a cause each: the ownerReferences of every
   object (at most one ``controller: true``; apiVersion, kind, name and uid set), a custom
   resource's schema and CEL rules, ratcheted on updates (a ``/status`` write changes the status
   alone, so in effect only the status is checked against its schema);
5. the Service storage: cluster IPs allocated (defaults.py).

A CRD is installed with :meth:`Admission.install`; :meth:`Admission.without_schema` serves a
custom resource as a CRD without a schema would (nothing pruned, defaulted or checked), to store
what an older, looser CRD admitted.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import kmock

from qwenops_testing.crd_schema import (
    Violation,
    default,
    go_value,
    path_text,
    prune_nulls,
    prune_unknown,
    unknown_fields,
    violations,
)
from qwenops_testing.emulator import builtin_fields, defaults
from qwenops_testing.emulator.errors import ApiError, bad_request, cannot_decode, invalid_fields, not_found
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.quantity import QuantityError
from qwenops_testing.emulator.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    SERVICES,
    Catalog,
    ResourceSpec,
    qualified,
)

FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
_BUILT_IN_DEFAULTS = {
    SERVICES: defaults.default_service,
    DEPLOYMENTS: defaults.default_deployment,
    PODS: defaults.default_pod,
}


@dataclasses.dataclass
class Options:
    """What a write asks beyond its body (from its request), and the warnings it is answered with."""

    field_validation: str | None = None  # Ignore, Warn or Strict; None is Warn
    patch: bool = False  # a PATCH: its decoding errors are worded without the kind
    warnings: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, params: Mapping[str, str], *, patch: bool = False) -> Options:
        """The options of a request's query; an unknown ``fieldValidation`` is a 400."""
        directive = params.get("fieldValidation") or None
        if directive is not None and directive not in FIELD_VALIDATION:
            raise bad_request(f'fieldValidation parameter: invalid value "{directive}", '
                              "must be one of Ignore, Warn or Strict")  # fmt: skip
        return cls(directive, patch)


@dataclasses.dataclass
class Write:
    """One write on its way to the store; admission changes `new` in place."""

    resource: kmock.resource
    kind: str
    new: Body
    old: Body | None = None  # None: a create
    options: Options = dataclasses.field(default_factory=Options)

    @property
    def name(self) -> str:
        return str(self.new["metadata"].get("name", ""))


class Reader(Protocol):
    """What admission reads of the stored objects (the Store)."""

    def current(self, key: ObjectKey) -> Body | None: ...

    def live_in(self, resource: kmock.resource) -> list[tuple[ObjectKey, Body]]: ...


@dataclasses.dataclass(frozen=True)
class CustomResource:
    """A CRD's served resource and the schema of its storage version."""

    spec: ResourceSpec
    schema: Mapping[str, Any]

    @classmethod
    def of(cls, crd: Mapping[str, Any]) -> CustomResource:
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        names = crd["spec"]["names"]
        spec = ResourceSpec(
            crd["spec"]["group"], version["name"], names["plural"], names["kind"],
            namespaced=crd["spec"].get("scope", "Namespaced") == "Namespaced",
            status="status" in (version.get("subresources") or {}),
            shortnames=tuple(names.get("shortNames") or ()),
        )  # fmt: skip
        return cls(spec, version["schema"]["openAPIV3Schema"])


class Admission:
    """See the module's docstring: call it with each :class:`Write` before it is stored."""

    def __init__(self, reader: Reader, catalog: Catalog) -> None:
        self.reader = reader
        self.catalog = catalog
        self._custom: dict[kmock.resource, CustomResource] = {}
        self._unchecked: dict[kmock.resource, int] = {}

    def install(self, crd: Mapping[str, Any]) -> ResourceSpec:
        """Admit the CRD's resource by its schema; the resource to declare."""
        custom = CustomResource.of(crd)
        self._custom[custom.spec.resource] = custom
        return custom.spec

    @contextlib.contextmanager
    def without_schema(self, resource: kmock.resource) -> Iterator[None]:
        """While inside, the resource's objects are stored as written (see the module's docstring)."""
        self._unchecked[resource] = self._unchecked.get(resource, 0) + 1
        try:
            yield
        finally:
            self._unchecked[resource] -= 1

    def __call__(self, write: Write) -> None:
        custom = self._custom.get(write.resource)
        if custom is not None and self._unchecked.get(write.resource):
            custom = None
        if custom is not None:
            self._decode(write, custom)
            default(write.new, custom.schema)
            prune_nulls(write.new, custom.schema)
        else:
            options = write.options
            options.warnings += builtin_fields.decode(
                write.resource, write.kind, write.new, options.field_validation, patch=options.patch)
        if custom is None and write.resource in _BUILT_IN_DEFAULTS:
            try:
                _BUILT_IN_DEFAULTS[write.resource](write.new)
            except QuantityError as exc:
                raise cannot_decode(write.kind, str(write.resource.version), str(exc),
                                    patch=write.options.patch) from exc  # fmt: skip
        if write.old is None:
            self._check_namespace(write)
        errors: list[Violation] = list(owner_reference_errors(write.new))
        if custom is not None:
            errors += violations(write.new, custom.schema, write.old)
        if errors:
            raise invalid_fields(write.resource, write.kind, write.name, errors)
        if write.resource == SERVICES:
            taken = [(svc.get("spec") or {}).get("clusterIP") for _, svc in self.reader.live_in(SERVICES)]
            defaults.allocate_service_ips(write.new, write.old, [ip for ip in taken if ip])

    def _decode(self, write: Write, custom: CustomResource) -> None:
        directive = write.options.field_validation or "Warn"
        unknown = [f'unknown field "{path_text(path)}"' for path in unknown_fields(write.new, custom.schema)]
        if unknown and directive == "Strict":
            raise cannot_decode(
                write.kind,
                str(write.resource.version),
                f"strict decoding error: {', '.join(unknown)}",
                patch=write.options.patch,
            )
        if directive == "Warn":
            write.options.warnings += unknown
        prune_unknown(write.new, custom.schema)

    def _check_namespace(self, write: Write) -> None:
        namespace = write.new["metadata"].get("namespace")
        if not namespace or self.catalog.info(NAMESPACES) is None:
            return
        found = self.reader.current((NAMESPACES, None, namespace))
        if found is None:
            raise not_found(NAMESPACES, namespace)
        if found["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{qualified(write.resource)} "{write.name}" is forbidden: '
                           f"unable to create new content in namespace {namespace} because it is being "
                           "terminated")  # fmt: skip


def owner_reference_errors(obj: Mapping[str, Any]) -> Iterator[Violation]:
    """``ValidateOwnerReferences``: each reference complete, and at most one controller."""
    refs = (obj.get("metadata") or {}).get("ownerReferences")
    if not isinstance(refs, list):
        return
    path = ("metadata", "ownerReferences")
    controller = ""
    for ref in [r for r in refs if isinstance(r, dict)]:
        version = str(ref.get("apiVersion") or "").rpartition("/")[2]
        for field, empty in (("apiVersion", not version), ("kind", not ref.get("kind")),
                             ("name", not ref.get("name")), ("uid", not ref.get("uid"))):  # fmt: skip
            if empty:
                what = "version" if field == "apiVersion" else field
                yield Violation(
                    (*path, field),
                    "FieldValueInvalid",
                    go_value(ref.get(field, "")),
                    f"{what} must not be empty",
                    "",
                )
        if ref.get("controller") is True:
            name = f"{ref.get('kind')}/{ref.get('name')}"
            if controller:
                yield Violation(
                    path,
                    "FieldValueInvalid",
                    go_value(refs),
                    "Only one reference can have Controller set to true. "
                    f'Found "true" in references for {controller} and {name}',
                    "",
                )
            else:
                controller = name
