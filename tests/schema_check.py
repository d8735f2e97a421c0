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

cel-python lacks the Kubernetes CEL libraries; the one function the rules use
from them, the list library's `isSorted()`, is implemented here. `matches()` in
cel-python already uses RE2 (google-re2), as Kubernetes does.
"""

from __future__ import annotations

import copy
import functools
import reprlib
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

import celpy
import re2  # type: ignore[import-untyped, unused-ignore]
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from jsonschema import Draft4Validator, validators  # type: ignore[import-untyped, unused-ignore]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]

from qwenops.api.crd import build_crd

CEL = "x-kubernetes-validations"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
# Schema errors after which the API server does not run the CEL rules (apiextensions-apiserver
# strategy.go hasBlockingErr: TypeInvalid, NotSupported, Required, TooLong, TooMany).
_BLOCKING = frozenset({"type", "enum", "required", "maxLength", "maxItems", "maxProperties"})


def admit(
    manifest: Mapping[str, Any], crd: Mapping[str, Any] | None = None, *, old: Mapping[str, Any] | None = None
) -> list[str]:
    """Errors the API server would answer `kubectl apply` of `manifest` with; [] if admitted.

    With `old` (the object as stored), an update of it: transition rules see it as `oldSelf`.
    """
    crd = _generated_crd() if crd is None else crd
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]

    errors = _identity_errors(manifest, crd, version["name"])
    if errors:
        return errors
    errors = list(_unknown_fields(manifest, schema, ""))
    if errors:
        return errors
    errors = list(_unreadable_numbers(manifest))
    if errors:
        return errors
    obj = stored(manifest, crd)

    schema_errors = sorted(openapi_validator(schema).iter_errors(obj), key=lambda e: _path(e.absolute_path))
    errors = [f"{_path(e.absolute_path)}: {_message(e)}" for e in schema_errors]
    errors += list(_duplicate_keys(obj, schema, ()))
    if any(e.validator in _BLOCKING for e in schema_errors):
        return [*errors, NOT_CHECKED]
    return errors + list(_rule_errors(obj, schema, (), _ABSENT if old is None else old))


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


# --- 1. strict field validation ------------------------------------------------------------


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


def _unknown_fields(value: Any, schema: Mapping[str, Any], path: str) -> Iterator[str]:
    """Fields the schema does not declare, as `--validate=strict` reports them."""
    if isinstance(value, dict) and schema.get("type") == "object":
        if schema.get(PRESERVE) or "properties" not in schema:
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                for key, item in value.items():
                    yield from _unknown_fields(item, extra, f"{path}.{key}".lstrip("."))
            return  # free-form (preserve-unknown-fields), a map, or metadata
        for key, item in value.items():
            child = f"{path}.{key}".lstrip(".")
            if key in schema["properties"]:
                yield from _unknown_fields(item, schema["properties"][key], child)
            else:
                yield f"{child}: unknown field (not declared in the schema)"
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _unknown_fields(item, schema["items"], f"{path}[{index}]")


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
            yield f"{_path(path)}: Invalid value: {_shown(value)}: a number beyond 64 bits"


# --- 2. defaulting and null pruning ---------------------------------------------------------


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


# --- 3. OpenAPI schema -----------------------------------------------------------------------


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


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 80, 80


def _shown(instance: Any) -> str:
    """A value as an error message quotes it: bounded, as deep or as long as it is."""
    return _SHOWN.repr(instance)


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re2.search(pattern, instance):
        yield ValidationError(f"{_shown(instance)} does not match {pattern!r}")


def _type(validator: Any, types: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """jsonschema's `type`, quoting the value bounded (its own repr() recurses without limit)."""
    wanted = types if isinstance(types, list) else [types]
    if not any(validator.is_type(instance, kind) for kind in wanted):
        yield ValidationError(f"{_shown(instance)} is not of type {', '.join(repr(kind) for kind in wanted)}")


def _enum(validator: Any, enums: list[Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not any(type(each) is type(instance) and each == instance for each in enums):
        yield ValidationError(f"{_shown(instance)} is not one of {enums!r}")


def _required_value(
    validator: Any, required: list[str], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """Name the missing field itself (`spec.model.revision: Required value`), as Kubernetes does."""
    if validator.is_type(instance, "object"):
        for name in required:
            if name not in instance:
                yield ValidationError("Required value", path=[name])


_OpenAPIValidator = validators.extend(
    Draft4Validator, {"pattern": _re2_pattern, "required": _required_value, "type": _type, "enum": _enum}
)


def openapi_validator(schema: Mapping[str, Any]) -> Any:
    return _OpenAPIValidator(_draft4(schema))


def _draft4(node: Any) -> Any:
    """OpenAPI 3.0 -> Draft 4: only `nullable` needs translating (to a `null` type)."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: _draft4(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def _message(error: ValidationError) -> str:
    """jsonschema's message, but without echoing a whole list or map that is too big."""
    if error.validator in ("maxItems", "maxProperties"):
        return f"Too many: {len(error.instance)}: must have at most {error.validator_value} items"
    if error.validator == "maxLength":
        return f"Too long: may not be more than {error.validator_value} characters"
    return str(error.message)


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "<root>"


# --- 4. CEL rules ----------------------------------------------------------------------------


def _is_sorted(items: celtypes.ListType) -> celtypes.BoolType | CELEvalError:
    """Kubernetes' list library: `<list>.isSorted()`, true if the elements ascend (ties allowed)."""
    values: list[Any] = list(items)
    try:
        return celtypes.BoolType(all(a <= b for a, b in pairwise(values)))
    except TypeError as exc:
        return CELEvalError("no such overload: isSorted", exc.__class__, exc.args)


_ABSENT = object()
"""No old value: the object is being created (or the node is new)."""


class OptionalValue:
    """CEL's `optional_type`, which `oldSelf` is in a rule with `optionalOldSelf: true`."""

    def __init__(self, value: Any = _ABSENT) -> None:
        self.value = value


def _has_value(optional: Any) -> celtypes.BoolType | CELEvalError:
    """`<optional>.hasValue()`: whether an old value exists (an update, not a create)."""
    if not isinstance(optional, OptionalValue):
        return CELEvalError("no such overload: hasValue", TypeError, ())
    return celtypes.BoolType(optional.value is not _ABSENT)


KUBERNETES_FUNCTIONS: dict[str, Any] = {"isSorted": _is_sorted, "hasValue": _has_value}
"""The Kubernetes CEL extensions the CRD's rules use that cel-python lacks; nothing more."""


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule), functions=KUBERNETES_FUNCTIONS)


def compile_rule(rule: str) -> None:
    """Raise celpy.CELParseError if `rule` does not compile (a test helper)."""
    _program(rule)


def _duplicate_keys(value: Any, schema: Mapping[str, Any], path: tuple[str | int, ...]) -> Iterator[str]:
    """`x-kubernetes-list-type: map`: two items with the same keys are a `Duplicate value`."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if isinstance(properties.get(key), Mapping):
                yield from _duplicate_keys(item, properties[key], (*path, key))
    elif isinstance(value, list) and "items" in schema:
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema["x-kubernetes-list-map-keys"]
            seen: set[tuple[Any, ...]] = set()
            for index, item in enumerate(value):
                key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else (item,)
                if key in seen:
                    shown = ", ".join(f'"{k}":"{v}"' for k, v in zip(keys, key, strict=True))
                    yield f"{_path((*path, index))}: Duplicate value: map[string]interface {{}}{{{shown}}}"
                seen.add(key)
        for index, item in enumerate(value):
            yield from _duplicate_keys(item, schema["items"], (*path, index))


def _rule_errors(
    value: Any, schema: Mapping[str, Any], path: tuple[str | int, ...], old: Any = _ABSENT
) -> Iterator[str]:
    """The CEL rules' errors; a transition rule (one reading `oldSelf`) runs only on an update,
    unless `optionalOldSelf` makes `oldSelf` an optional that has no value on a create. Old values
    are matched by key only, and ratcheting (an unchanged value's errors forgiven) is left out."""
    if value is None:
        return
    for rule in schema.get(CEL, []):
        activation = {"self": to_cel(value, schema)}
        if "oldSelf" in rule["rule"]:
            if rule.get("optionalOldSelf"):
                activation["oldSelf"] = OptionalValue(old if old is _ABSENT else to_cel(old, schema))
            elif old is _ABSENT:
                continue
            else:
                activation["oldSelf"] = to_cel(old, schema)
        result: Any
        try:
            result = _program(rule["rule"]).evaluate(activation)
        except CELEvalError as exc:
            result = exc
        where = _path(path)
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        if isinstance(result, CELEvalError):
            yield f"{where}: Invalid value: {message} (evaluation error: {result.args[0]})"
        elif result != celtypes.BoolType(True):
            yield f"{where}: Invalid value: {message}"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra)
            if isinstance(sub, Mapping):
                before = old.get(key, _ABSENT) if isinstance(old, Mapping) else _ABSENT
                yield from _rule_errors(item, sub, (*path, key), before)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _rule_errors(item, schema["items"], (*path, index))


def to_cel(value: Any, schema: Mapping[str, Any]) -> Any:
    """A JSON value as Kubernetes hands it to CEL: typed by the schema (a `number` is a double).

    `format: date-time` / `duration` strings would be timestamps / durations in
    Kubernetes; no rule reads one, so they stay strings here.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return celtypes.MapType(
            {
                celtypes.StringType(key): to_cel(item, properties.get(key, extra) or {})
                for key, item in value.items()
            }
        )
    if isinstance(value, list):
        return celtypes.ListType([to_cel(item, schema.get("items", {})) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float) and schema.get("type") == "number":
        return celtypes.DoubleType(value)
    return json_to_cel(value)
