"""The checks of a CRD's schema, in the API server's words: the OpenAPI schema (jsonschema), the
duplicate keys of ``x-kubernetes-list-type: map`` lists and the ``x-kubernetes-validations`` CEL
rules, each error a :class:`Violation`. qwenops_testing.crd_schema puts them together (with
pruning, defaulting and ratcheting) as the API server does; see its docstring.

Draft 4 is OpenAPI 3.0's dialect (boolean ``exclusiveMinimum``); ``pattern`` uses RE2 like Go
does. cel-python lacks the Kubernetes CEL libraries; the functions the rules use from them, the
list library's ``isSorted()`` and the optional ``hasValue()`` of an ``optionalOldSelf`` rule's
``oldSelf``, are implemented here. ``matches()`` in cel-python already uses RE2
(google-re2), as Kubernetes does. Formats (``date-time``) are not checked.
"""

from __future__ import annotations

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
# Schema errors after which the API server does not run the CEL rules (apiextensions-apiserver
# strategy.go hasBlockingErr: TypeInvalid, NotSupported, Required, TooLong, TooMany).
BLOCKING = frozenset({"type", "enum", "required", "maxLength", "maxItems", "maxProperties"})
Path = tuple[str | int, ...]

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
    return json.dumps(value, separators=(",", ":"), default=str)


def path_text(parts: Path, *, root: str = "<root>") -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or root


# --- the OpenAPI schema ----------------------------------------------------------------------

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, 80, 80


def shown(instance: Any) -> str:
    """A value as an error message quotes it: bounded, as deep or as long as it is."""
    return _SHOWN.repr(instance)


@functools.cache
def _re2(pattern: str) -> Any:
    return re2.compile(pattern)  # compiled once: a map may hold 100000 values to match


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _re2(pattern).search(instance):
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
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (dict, "object"), (list, "array")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return "null"


def schema_violation(error: ValidationError) -> Violation:
    """A jsonschema error in the API server's words (kube-openapi's, through apiextensions')."""
    path: Path = tuple(error.absolute_path)
    field, rule, want, value = path_text(path), error.validator, error.validator_value, error.instance
    body = f"{field} in body"
    summary, blocking = _summary(error), rule in BLOCKING
    if rule == "type":
        actual = _json_type(value)
        return Violation(
            path,
            "FieldValueTypeInvalid",
            go_value(actual),
            f"{body} must be of type {want}: {go_value(actual)}",
            summary,
            True,
        )
    if rule == "enum":
        allowed = ", ".join(go_value(each) for each in want)
        return Violation(
            path, "FieldValueNotSupported", go_value(value), f"supported values: {allowed}", summary, True
        )
    if rule == "required":
        return Violation(path, "FieldValueRequired", "", "", summary, True)
    if rule == "maxLength":
        return Violation(path, "FieldValueTooLong", "", f"may not be more than {want} bytes", summary, True)
    if rule in ("maxItems", "maxProperties"):
        return Violation(
            path, "FieldValueTooMany", str(len(value)), f"must have at most {want} items", summary, True
        )
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


def duplicate_keys(value: Any, schema: Mapping[str, Any], path: Path) -> Iterator[Violation]:
    """`x-kubernetes-list-type: map`: two items with the same keys are a `Duplicate value`."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if isinstance(properties.get(key), Mapping):
                yield from duplicate_keys(item, properties[key], (*path, key))
    elif isinstance(value, list) and "items" in schema:
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema["x-kubernetes-list-map-keys"]
            seen: set[tuple[Any, ...]] = set()
            for index, item in enumerate(value):
                key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else (item,)
                if key in seen:
                    go_map = ", ".join(f'"{k}":"{v}"' for k, v in zip(keys, key, strict=True))
                    shown_map = f"map[string]interface {{}}{{{go_map}}}"
                    yield Violation(
                        (*path, index), "FieldValueDuplicate", shown_map, "", f"Duplicate value: {shown_map}"
                    )
                seen.add(key)
        for index, item in enumerate(value):
            yield from duplicate_keys(item, schema["items"], (*path, index))


# --- CEL rules --------------------------------------------------------------------------------


def _is_sorted(items: celtypes.ListType) -> celtypes.BoolType | CELEvalError:
    """Kubernetes' list library: `<list>.isSorted()`, true if the elements ascend (ties allowed)."""
    values: list[Any] = list(items)
    try:
        return celtypes.BoolType(all(a <= b for a, b in pairwise(values)))
    except TypeError as exc:
        return CELEvalError("no such overload: isSorted", exc.__class__, exc.args)


ABSENT: Any = object()
"""No old value: the object is being created (or the node is new)."""


class OptionalValue:
    """CEL's `optional_type`, which `oldSelf` is in a rule with `optionalOldSelf: true`."""

    def __init__(self, value: Any = ABSENT) -> None:
        self.value = value


def _has_value(optional: Any) -> celtypes.BoolType | CELEvalError:
    """`<optional>.hasValue()`: whether an old value exists (an update, not a create)."""
    if not isinstance(optional, OptionalValue):
        return CELEvalError("no such overload: hasValue", TypeError, ())
    return celtypes.BoolType(optional.value is not ABSENT)


KUBERNETES_FUNCTIONS: dict[str, Any] = {"isSorted": _is_sorted, "hasValue": _has_value}
"""The Kubernetes CEL extensions the CRD's rules use that cel-python lacks; nothing more."""


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule), functions=KUBERNETES_FUNCTIONS)


def compile_rule(rule: str) -> None:
    """Raise celpy.CELParseError if `rule` does not compile (a test helper)."""
    _program(rule)


def rule_violations(
    value: Any, schema: Mapping[str, Any], path: Path, old: Any = ABSENT
) -> Iterator[Violation]:
    """The CEL rules' errors; a transition rule (one reading `oldSelf`) runs only on an update
    (`old` given), unless `optionalOldSelf` makes `oldSelf` an optional that has no value on a
    create. Old values are matched by key only (a list's items get none)."""
    if value is None:
        return
    for rule in schema.get(CEL, []):
        activation = {"self": to_cel(value, schema)}
        if "oldSelf" in rule["rule"]:
            if rule.get("optionalOldSelf"):
                activation["oldSelf"] = OptionalValue(old if old is ABSENT else to_cel(old, schema))
            elif old is ABSENT:
                continue
            else:
                activation["oldSelf"] = to_cel(old, schema)
        result: Any
        try:
            result = _program(rule["rule"]).evaluate(activation)
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
                before = old.get(key, ABSENT) if isinstance(old, Mapping) else ABSENT
                yield from rule_violations(item, sub, (*path, key), before)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from rule_violations(item, schema["items"], (*path, index))


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
