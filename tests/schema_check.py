"""An offline stand-in for the API server's admission of a QwenDeployment.

`admit(manifest)` does, in the API server's order, what `kubectl apply
--validate=strict` of a custom resource goes through, using the generated CRD:

1. strict field validation: a field the structural schema does not declare is
   refused (the API server would otherwise prune it silently);
2. structural defaulting, recursively, and pruning of `null`s the schema does not
   allow (`nullable` is never set: a null means "absent");
3. the OpenAPI schema, checked with `jsonschema` (Draft 4 is OpenAPI 3.0's
   dialect: boolean `exclusiveMinimum`; `pattern` uses RE2 like Go does);
4. every `x-kubernetes-validations` rule at its node, with `self` bound to that
   node's value, evaluated with cel-python; as the API server does, the rules are
   skipped when step 3 found a wrong type, a value outside an enum, a missing
   required field or a value over a size limit.

It returns error strings, each naming the field: `spec.model.revision: ...` for
schema errors, the rule's message (which names the field) for CEL rules.

Steps 2 to 4 are the test kit's (`qwenops_testing.crd_schema`), which the emulated API's
admission uses too: this module adds what `kubectl apply` of a file meets before them, and
words the errors as the corpus names them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from qwenops.api.crd import build_crd
from qwenops_testing.crd_schema import (
    KUBERNETES_FUNCTIONS,
    NOT_CHECKED,
    compile_rule,
    copy_json,
    default,
    openapi_validator,
    path_text,
    prune_nulls,
    shown,
    to_cel,
    unknown_fields,
    violations,
)

__all__ = ["KUBERNETES_FUNCTIONS", "admit", "compile_rule", "openapi_validator", "stored", "to_cel"]


def admit(
    manifest: Mapping[str, Any], crd: Mapping[str, Any] | None = None, *, old: Mapping[str, Any] | None = None
) -> list[str]:
    """Errors the API server would answer `kubectl apply` of `manifest` with; [] if admitted.

    With `old` (the object as stored), an update of it: transition rules see it as `oldSelf`, and
    errors at values the update leaves unchanged are forgiven (ratcheting).
    """
    crd = _generated_crd() if crd is None else crd
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]

    errors = _identity_errors(manifest, crd, version["name"])
    if errors:
        return errors
    errors = [f"{path_text(path)}: unknown field (not declared in the schema)"
              for path in unknown_fields(manifest, schema)]  # fmt: skip
    if errors:
        return errors
    errors = list(_unreadable_numbers(manifest))
    if errors:
        return errors
    found = violations(stored(manifest, crd), schema, old)
    return [NOT_CHECKED if v.summary == NOT_CHECKED else f"{path_text(v.path)}: {v.summary}" for v in found]


def stored(manifest: Mapping[str, Any], crd: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The object as the API server would store it: defaulted, with disallowed nulls pruned.

    This, not the manifest as written, is what the operator later reads.
    """
    crd = _generated_crd() if crd is None else crd
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    obj: dict[str, Any] = copy_json(dict(manifest))
    default(obj, schema)
    prune_nulls(obj, schema)
    return obj


@functools.cache
def _generated_crd() -> dict[str, Any]:
    return build_crd()  # read-only here: nothing below mutates the schema


def _identity_errors(manifest: Mapping[str, Any], crd: Mapping[str, Any], version: str) -> list[str]:
    names = crd["spec"]["names"]
    errors = []
    if manifest.get("apiVersion") != f"{crd['spec']['group']}/{version}":
        errors.append(f"apiVersion: {manifest.get('apiVersion')!r} is not served by this CRD")
    if manifest.get("kind") != names["kind"]:
        errors.append(f"kind: {manifest.get('kind')!r} is not {names['kind']}")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        errors.append("metadata.name: Required value: name is required")
    return errors


def _unreadable_numbers(manifest: Mapping[str, Any]) -> Iterator[str]:
    """Integers beyond 64 bits: the API server reads them as floats (no longer integers, or out of
    range altogether) and refuses the object whatever its schema says."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(manifest, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((item, (*path, key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            yield f"{path_text(path)}: Invalid value: {shown(value)}: a number beyond 64 bits"
