"""A CRD's structural schema as the API server applies it to a custom resource: pure functions.

The emulated API's admission (emulator/admission.py) and the offline stand-in that checks the
manifest corpus (tests/schema_check.py) both use these, so that the two cannot disagree:

* unknown fields (:func:`unknown_fields`) and their pruning (:func:`prune_unknown`); an object
  with no ``properties`` (``metadata``, a map) is not looked into but through
  ``additionalProperties``;
* structural defaulting (:func:`default`) and the pruning of nulls (:func:`prune_nulls`);
* the OpenAPI schema, the duplicate keys of ``x-kubernetes-list-type: map`` lists, and every
  ``x-kubernetes-validations`` rule at its node with ``self`` bound to that node's value,
  evaluated with cel-python (qwenops_testing.crd_rules), and on an update with ``oldSelf`` bound
  to the old value (``optionalOldSelf`` rules see an optional, empty on a create); as the API
  server does, the rules are skipped after a wrong type, a value outside an enum, a missing
  required field or a value over a size limit (:func:`violations`);
* validation ratcheting (Kubernetes 1.33+): on an update, an error at a value the update did not
  change is not reported. A value inside a list counts as changed when the list did.

Each error is a :class:`Violation`: the field, the cause's reason and the words of the API
server (``spec.replicas: Invalid value: "string": spec.replicas in body must be of type
integer: "string"``), and `summary`, the shorter words of jsonschema that tests/schema_check.py
reports.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from qwenops_testing.crd_rules import (
    ABSENT,
    KUBERNETES_FUNCTIONS,
    Path,
    Violation,
    compile_rule,
    duplicate_keys,
    go_value,
    openapi_validator,
    path_text,
    rule_violations,
    schema_violation,
    shown,
    to_cel,
)

__all__ = [
    "KUBERNETES_FUNCTIONS",
    "NOT_CHECKED",
    "Violation",
    "compile_rule",
    "copy_json",
    "default",
    "go_value",
    "openapi_validator",
    "path_text",
    "prune_nulls",
    "prune_unknown",
    "shown",
    "to_cel",
    "unknown_fields",
    "violations",
]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
_MISSING = object()


# --- unknown fields, defaulting and pruning -------------------------------------------------


def unknown_fields(value: Any, schema: Mapping[str, Any], path: Path = ()) -> Iterator[Path]:
    """The fields the schema does not declare, as `--validate=strict` reports them."""
    if isinstance(value, dict) and schema.get("type") == "object":
        if schema.get(PRESERVE) or "properties" not in schema:
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                for key, item in value.items():
                    yield from unknown_fields(item, extra, (*path, key))
            return  # free-form (preserve-unknown-fields), a map, or metadata
        for key, item in value.items():
            if key in schema["properties"]:
                yield from unknown_fields(item, schema["properties"][key], (*path, key))
            else:
                yield (*path, key)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], (*path, index))


def prune_unknown(value: Any, schema: Mapping[str, Any]) -> list[Path]:
    """Drop the fields :func:`unknown_fields` finds, in place; the paths dropped."""
    dropped = list(unknown_fields(value, schema))
    for path in dropped:
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
    return dropped


def default(value: Any, schema: Mapping[str, Any]) -> None:
    """Structural defaulting, in place: apiextensions-apiserver's `defaulting.Default`.

    An absent (or non-nullable null) property with a `default` gets a copy of it;
    then every present value is defaulted in turn, so `engine: {}` defaulted onto
    the spec receives `tensorParallelSize: 1` too.
    """
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for key, prop in properties.items():
            if "default" in prop and (key not in value or _non_nullable_null(value[key], prop)):
                value[key] = copy.deepcopy(prop["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                default(item, properties[key])
            elif isinstance(extra, Mapping):
                if "default" in extra and _non_nullable_null(item, extra):
                    value[key] = copy.deepcopy(extra["default"])
                default(value[key], extra)
    elif isinstance(value, list) and "items" in schema:
        items = schema["items"]
        for index, item in enumerate(value):
            if "default" in items and _non_nullable_null(item, items):
                value[index] = copy.deepcopy(items["default"])
            default(value[index], items)


def prune_nulls(value: Any, schema: Mapping[str, Any]) -> None:
    """Drop nulls of non-nullable properties without default, as the API server does."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for key in [k for k, v in value.items() if k in properties and v is None]:
            if not properties[key].get("nullable"):
                del value[key]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra)
            if isinstance(sub, Mapping):
                prune_nulls(item, sub)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            prune_nulls(item, schema["items"])


def _non_nullable_null(value: Any, schema: Mapping[str, Any]) -> bool:
    return value is None and not schema.get("nullable")


def copy_json(value: Any) -> Any:
    """`copy.deepcopy` of a JSON value without recursion: a hostile object may nest thousands deep
    (the API server's JSON decoder takes 10000 levels; Python's recursion stops near 1000)."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        for key, item in source.items() if isinstance(source, dict) else enumerate(source):
            child = ({} if isinstance(item, dict) else []) if isinstance(item, dict | list) else item
            if isinstance(item, dict | list):
                stack.append((item, child))
            if isinstance(target, dict):
                target[key] = child
            else:
                target.append(child)
    return root


# --- all of it ---------------------------------------------------------------------------------


def violations(obj: Any, schema: Mapping[str, Any], old: Any = None) -> list[Violation]:
    """Every error of `obj` (defaulted and pruned already) against `schema`, in the API server's
    order: the schema's, then the rules' unless a blocking error stopped them (then a last
    ``<nil>`` violation says so). With `old` (an update), errors at unchanged values are dropped."""
    errors = openapi_validator(schema).iter_errors(obj)
    errors = sorted(errors, key=lambda e: path_text(tuple(e.absolute_path)))
    found = [schema_violation(error) for error in errors]
    found += list(duplicate_keys(obj, schema, ()))
    found = _ratcheted(found, obj, old)
    if any(v.blocking for v in found):
        return [*found, Violation((), "FieldValueInvalid", "null", NOT_CHECKED, NOT_CHECKED)]
    rules = rule_violations(obj, schema, (), ABSENT if old is None else old)
    return found + _ratcheted(list(rules), obj, old)


def _ratcheted(found: list[Violation], new: Any, old: Any) -> list[Violation]:
    if old is None:
        return found
    kept = []
    for violation in found:
        # A missing field is judged by the object that should hold it.
        where = violation.path[:-1] if violation.reason == "FieldValueRequired" else violation.path
        if _value_at(new, where) != _value_at(old, where):
            kept.append(violation)
    return kept


def _value_at(obj: Any, path: Path) -> Any:
    """The value at `path`, or the whole list holding it: a list's items are not correlated."""
    for part in path:
        if isinstance(part, int):
            return obj
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj
