"""``labelSelector`` and ``fieldSelector``, parsed once per request and matched against objects.

Label selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/;
field selectors: ``metadata.name`` and ``metadata.namespace`` on every resource, and the field labels
a 1.35 API server adds for a few kinds (:data:`FIELD_LABELS`: an Event's ``involvedObject.*``,
``reason``, ``type``...; a pod's ``spec.nodeName`` and ``status.phase``); an absent field matches
``""``, as the server's field sets say.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import kmock

_LABEL_KEY = r"(?:[a-z0-9A-Z.\-]+/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SELECTOR_TERM = re.compile(
    rf"""\s*(?:
        !\s*(?P<absent>{_LABEL_KEY})
      | (?P<eq_key>{_LABEL_KEY})\s*(?P<eq_op>==|=|!=)\s*(?P<eq_value>{_LABEL_VALUE})
      | (?P<set_key>{_LABEL_KEY})\s+(?P<set_op>in|notin)\s*\((?P<set_values>[^()]*)\)
      | (?P<present>{_LABEL_KEY})
    )\s*""",
    re.VERBOSE,
)
_FIELD_TERM = re.compile(r"\s*(?P<field>[A-Za-z.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*")
_METADATA_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_EVENT_FIELDS = frozenset({
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
})  # fmt: skip
FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "events"): _EVENT_FIELDS,
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                             "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                             "status.podIP", "status.nominatedNodeName"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "namespaces"): frozenset({"status.phase"}),
}
"""The field labels beyond ``metadata.name``/``metadata.namespace``, by (group, plural)."""
# The field labels whose value is not at their own path in the object (`source` of a core Event).
_FIELD_PATHS = {"source": "source.component"}


@dataclasses.dataclass(frozen=True)
class Selector:
    labels: tuple[tuple[str, str, frozenset[str]], ...] = ()  # (key, op, values)
    fields: tuple[tuple[str, str, str], ...] = ()  # (field, op, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        labels: Mapping[str, str] = meta.get("labels") or {}
        for key, op, values in self.labels:
            present = key in labels
            value = labels.get(key)
            ok = (
                present if op == "exists" else
                not present if op == "!exists" else
                present and value in values if op == "in" else
                not present or value not in values  # "notin" and "!=" both match absent keys
            )  # fmt: skip
            if not ok:
                return False
        for field, op, expected in self.fields:
            actual = field_value(obj, field)
            if (actual == expected) != (op == "="):
                return False
        return True

    def one_label(self) -> tuple[str, str] | None:
        """A label and the one value every match has (the first such term), if there is one."""
        return next(
            ((key, next(iter(values))) for key, op, values in self.labels if op == "in" and len(values) == 1),
            None,
        )


def field_value(obj: Mapping[str, Any], label: str) -> str:
    """The value of a field label in an object, as the server's field set spells it."""
    value: Any = obj
    for part in _FIELD_PATHS.get(label, label).split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def parse_selector(
    label_selector: str = "", field_selector: str = "", resource: kmock.resource | None = None
) -> Selector:
    """Parse ``labelSelector``/``fieldSelector`` query values (the field labels `resource` supports);
    ValueError when malformed."""
    supported = _METADATA_FIELDS
    if resource is not None:
        supported |= FIELD_LABELS.get((str(resource.group), str(resource.plural)), frozenset())
    labels: list[tuple[str, str, frozenset[str]]] = []
    for term in _split_terms(label_selector):
        match = _SELECTOR_TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"unable to parse requirement: {term!r}")
        if match["absent"]:
            labels.append((match["absent"], "!exists", frozenset()))
        elif match["present"]:
            labels.append((match["present"], "exists", frozenset()))
        elif match["eq_key"]:
            op = "!=" if match["eq_op"] == "!=" else "in"
            labels.append((match["eq_key"], op, frozenset({match["eq_value"]})))
        else:
            values = frozenset(v.strip() for v in match["set_values"].split(",") if v.strip())
            labels.append((match["set_key"], match["set_op"], values))
    fields: list[tuple[str, str, str]] = []
    for term in _split_terms(field_selector):
        match = _FIELD_TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"invalid field selector: {term!r}")
        if match["field"] not in supported:
            raise ValueError(f"field label not supported: {match['field']}")
        op = "!=" if match["op"] == "!=" else "="
        fields.append((match["field"], op, match["value"]))
    return Selector(tuple(labels), tuple(fields))


def _split_terms(selector: str) -> list[str]:
    """Split on the commas outside parentheses; blank selectors have no terms."""
    terms: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    return [term for term in terms if term.strip()]


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a list or watch request asks for: a resource, maybe one namespace or name, a selector."""

    resource: kmock.resource
    namespace: str | None = None
    name: str | None = None
    selector: Selector = Selector()

    def sees(self, resource: kmock.resource, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return (
            resource == self.resource
            and (self.namespace is None or meta.get("namespace") == self.namespace)
            and (self.name is None or meta.get("name") == self.name)
            and self.selector.matches(obj)
        )
