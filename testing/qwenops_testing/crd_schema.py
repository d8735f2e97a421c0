"""A CRD's structural schema as the API server applies it to a custom resource: pure functions.

The emulated API's admission (emulator/admission.py) and the offline stand-in that checks the
manifest corpus (tests/schema_check.py) both use these, so that the two cannot disagree:

* unknown fields (:func:`unknown_fields`) and their pruning (:func:`prune_unknown`); an object
  with no ``properties`` (``metadata``, a map) is not looked into but through
  ``additionalProperties``;
* structural defaulting (:func:`default`) and the pruning of nulls (:func:`prune_nulls`);
* the OpenAPI schema, checked with `jsonschema` (Draft 4 is OpenAPI 3.0's dialect: boolean
  ``exclusiveMinimum``; ``pattern`` uses RE2 like Go does), the duplicate keys of
  ``x-kubernetes-list-type: map`` lists, and every ``x-kubernetes-validations`` rule at its node
  with ``self`` bound to that node's value, evaluated with cel-python; as the API server does,
  the rules are skipped after a wrong type, a value outside an enum, a missing required field or
  a value over a size limit (:func:`violations`);
* validation ratcheting (Kubernetes 1.33+): on an update, an error at a value the update did not
  change is not reported. A value inside a list counts as changed when the list did.

Each error is a :class:`Violation`: the field, the cause's reason and the words of the API
server (``spec.replicas: Invalid value: "string": spec.replicas in body must be of type
integer: "string"``), and `summary`, the shorter words of jsonschema that tests/schema_check.py
reports. Formats (``date-time``) are not checked.

cel-python lacks the Kubernetes CEL libraries; the one function the rules use from them, the list
library's ``isSorted()``, is implemented here. ``matches()`` in cel-python already uses RE2
(google-re2), as Kubernetes does.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
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

CEL = "x-kubernetes-validations"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
# Schema errors after which the API server does not run the CEL rules (apiextensions-apiserver
# strategy.go hasBlockingErr: TypeInvalid, NotSupported, Required, TooLong, TooMany).
BLOCKING = frozenset({"type", "enum", "required", "maxLength", "maxItems", "maxProperties"})
Path = tuple[str | int, ...]
_MISSING = object()

# The API server's words for each cause's reason (k8s.io/apimachinery field.ErrorType).
_TYPE_WORDS = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueForbidden": "Forbidden",
}
_NO_VALUE_SHOWN = frozenset({"FieldValueRequired", "FieldValueTooLong", "FieldValueForbidden"})


@dataclasses.dataclass(frozen=True)
class Violation:
    """One error, as the API server's ``field.Error`` holds it."""

    path: Path
    reason: str  # the cause's reason: FieldValueInvalid, FieldValueRequired, ...
    shown: str  # the bad value as the API server quotes it (go_value), "" for none
    detail: str  # what the API server says after the value
    summary: str  # the same in jsonschema's shorter words (tests/schema_check.py's)
    blocking: bool = False  # the CEL rules are not run after it

    @property
    def field(self) -> str:
        """``spec.model.revision``; ``<nil>`` for the object itself, as the API server writes it."""
        return path_text(self.path, root="<nil>")

    @property
    def message(self) -> str:
        """``field.Error.ErrorBody``: ``Invalid value: 3: must be ...``, ``Required value``."""
        words = _TYPE_WORDS.get(self.reason, "Invalid value")
        text = words if self.reason in _NO_VALUE_SHOWN or not self.shown else f"{words}: {self.shown}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def go_value(value: Any) -> str:
    """A value as a field error quotes it: strings quoted, numbers bare, null, JSON otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def path_text(parts: Path, *, root: str = "<root>") -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or root


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


# --- the OpenAPI schema ----------------------------------------------------------------------

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 80, 80


def shown(instance: Any) -> str:
    """A value as an error message quotes it: bounded, as deep or as long as it is."""
    return _SHOWN.repr(instance)


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re2.search(pattern, instance):
        yield ValidationError(f"{shown(instance)} does not match {pattern!r}")


def _type(validator: Any, types: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """jsonschema's `type`, quoting the value bounded (its own repr() recurses without limit)."""
    wanted = types if isinstance(types, list) else [types]
    if not any(validator.is_type(instance, kind) for kind in wanted):
        yield ValidationError(f"{shown(instance)} is not of type {', '.join(repr(kind) for kind in wanted)}")


def _enum(validator: Any, enums: list[Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not any(type(each) is type(instance) and each == instance for each in enums):
        yield ValidationError(f"{shown(instance)} is not one of {enums!r}")


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


def _summary(error: ValidationError) -> str:
    """jsonschema's message, but without echoing a whole list or map that is too big."""
    if error.validator in ("maxItems", "maxProperties"):
        return f"Too many: {len(error.instance)}: must have at most {error.validator_value} items"
    if error.validator == "maxLength":
        return f"Too long: may not be more than {error.validator_value} characters"
    return str(error.message)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), "null")


def _schema_violation(error: ValidationError) -> Violation:
    """A jsonschema error in the API server's words (kube-openapi's, through apiextensions')."""
    path: Path = tuple(error.absolute_path)
    field, rule, want, value = path_text(path), error.validator, error.validator_value, error.instance
    body = f"{field} in body"
    summary, blocking = _summary(error), rule in BLOCKING
    if rule == "type":
        actual = _json_type(value)
        return Violation(path, "FieldValueTypeInvalid", go_value(actual),
                         f"{body} must be of type {want}: {go_value(actual)}", summary, True)
    if rule == "enum":
        allowed = ", ".join(go_value(each) for each in want)
        return Violation(path, "FieldValueNotSupported", go_value(value), f"supported values: {allowed}",
                         summary, True)
    if rule == "required":
        return Violation(path, "FieldValueRequired", "", "", summary, True)
    if rule == "maxLength":
        return Violation(path, "FieldValueTooLong", "", f"may not be more than {want} bytes", summary, True)
    if rule in ("maxItems", "maxProperties"):
        return Violation(path, "FieldValueTooMany", str(len(value)), f"must have at most {want} items",
                         summary, True)
    strictly = error.schema.get("exclusiveMinimum" if rule == "minimum" else "exclusiveMaximum")
    words = {
        "minimum": f"should be greater than {'' if strictly else 'or equal to '}{want}",
        "maximum": f"should be less than {'' if strictly else 'or equal to '}{want}",
        "pattern": f"should match '{want}'",
        "minLength": f"should be at least {want} chars long",
        "minItems": f"should have at least {want} items",
        "minProperties": f"should have at least {want} properties",
        "multipleOf": f"should be a multiple of {want}",
        "uniqueItems": "shouldn't contain duplicates",
    }.get(rule)
    detail = f"{body} {words}" if words else str(error.message)
    quoted = go_value(value if isinstance(value, str | int | float) else _json_type(value))
    return Violation(path, "FieldValueInvalid", quoted, detail, summary, blocking)


def _duplicate_keys(value: Any, schema: Mapping[str, Any], path: Path) -> Iterator[Violation]:
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
                    go_map = ", ".join(f'"{k}":"{v}"' for k, v in zip(keys, key, strict=True))
                    shown_map = f"map[string]interface {{}}{{{go_map}}}"
                    yield Violation((*path, index), "FieldValueDuplicate", shown_map, "",
                                    f"Duplicate value: {shown_map}")
                seen.add(key)
        for index, item in enumerate(value):
            yield from _duplicate_keys(item, schema["items"], (*path, index))


# --- CEL rules --------------------------------------------------------------------------------


def _is_sorted(items: celtypes.ListType) -> celtypes.BoolType | CELEvalError:
    """Kubernetes' list library: `<list>.isSorted()`, true if the elements ascend (ties allowed)."""
    values: list[Any] = list(items)
    try:
        return celtypes.BoolType(all(a <= b for a, b in pairwise(values)))
    except TypeError as exc:
        return CELEvalError("no such overload: isSorted", exc.__class__, exc.args)


KUBERNETES_FUNCTIONS: dict[str, Any] = {"isSorted": _is_sorted}
"""The Kubernetes CEL extensions the CRD's rules use that cel-python lacks; nothing more."""


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule), functions=KUBERNETES_FUNCTIONS)


def compile_rule(rule: str) -> None:
    """Raise celpy.CELParseError if `rule` does not compile (a test helper)."""
    _program(rule)


def _rule_violations(value: Any, schema: Mapping[str, Any], path: Path) -> Iterator[Violation]:
    if value is None:
        return
    for rule in schema.get(CEL, []):
        result: Any
        try:
            result = _program(rule["rule"]).evaluate({"self": to_cel(value, schema)})
        except CELEvalError as exc:
            result = exc
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        if isinstance(result, CELEvalError):
            message = f"{message} (evaluation error: {result.args[0]})"
        if isinstance(result, CELEvalError) or result != celtypes.BoolType(True):
            kind = go_value(schema.get("type", "object"))
            yield Violation(path, "FieldValueInvalid", kind, message, f"Invalid value: {message}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra)
            if isinstance(sub, Mapping):
                yield from _rule_violations(item, sub, (*path, key))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _rule_violations(item, schema["items"], (*path, index))


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


# --- all of it ---------------------------------------------------------------------------------


def violations(obj: Any, schema: Mapping[str, Any], old: Any = None) -> list[Violation]:
    """Every error of `obj` (defaulted and pruned already) against `schema`, in the API server's
    order: the schema's, then the rules' unless a blocking error stopped them (then a last
    ``<nil>`` violation says so). With `old` (an update), errors at unchanged values are dropped."""
    errors = sorted(openapi_validator(schema).iter_errors(obj), key=lambda e: path_text(tuple(e.absolute_path)))
    found = [_schema_violation(error) for error in errors]
    found += list(_duplicate_keys(obj, schema, ()))
    found = _ratcheted(found, obj, old)
    if any(v.blocking for v in found):
        return [*found, Violation((), "FieldValueInvalid", "null", NOT_CHECKED, NOT_CHECKED)]
    return found + _ratcheted(list(_rule_violations(obj, schema, ())), obj, old)


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
