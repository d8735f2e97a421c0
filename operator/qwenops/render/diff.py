"""Comparing desired objects with stored ones, and the patches between them."""

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

Action = Literal["create", "update", "unchanged", "conflict"]

EXACT_MAPS = frozenset({"selector", "matchLabels", "nodeSelector", "limits", "requests"})
"""Maps where an extra key changes meaning (what pods a Service selects, where pods may run)."""

QUANTITY_MAPS = frozenset({"limits", "requests"})
"""Maps of resource quantities, which the API server stores in canonical form ("0.5" as "500m")."""

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?")
_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    **{f"{p}i": Decimal(1024**n) for n, p in enumerate("KMGTPE", start=1)},
}  # fmt: skip


def quantity(text: object) -> Decimal | None:
    """The value of a Kubernetes quantity (`500m`, `1.5Gi`, `1e3`); None when `text` is none."""
    found = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        return None
    number, suffix = found.group(1), found.group(2) or ""
    try:
        if len(suffix) > 1 and suffix[0] in "eE":  # an exponent, not the suffix E (exa)
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIXES[suffix]
    except (ArithmeticError, ValueError):  # InvalidOperation, Overflow (1e999999999)
        return None


def is_derivative(desired: Any, live: Any, *, exact: bool = False) -> bool:
    """True when `live` holds every field `desired` sets, with the same value.

    Fields `desired` leaves out (server defaults, status, other managers' labels)
    are ignored; lists must match element by element, since a missing or extra
    container, arg or port is a real difference. The rule of Kubernetes'
    `equality.Semantic.DeepDerivative`, except that the maps named in
    EXACT_MAPS must hold no extra key.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping) or (exact and live.keys() != desired.keys()):
            return False
        return all(key in live and _derivative_at(key, value, live[key]) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_derivative(d, lv) for d, lv in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return bool(desired == live)


def _derivative_at(key: str, desired: Any, live: Any) -> bool:
    """`is_derivative` of the values at `key`, a map of quantities compared by value."""
    if key in QUANTITY_MAPS and isinstance(desired, Mapping) and isinstance(live, Mapping):
        return live.keys() == desired.keys() and all(_same_quantity(desired[k], live[k]) for k in desired)
    return is_derivative(desired, live, exact=key in EXACT_MAPS)


def _same_quantity(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    value = quantity(desired)
    return value is not None and value == quantity(live)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns `old` into `new` (empty when they are equal)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    return patch


def drift_patch(
    desired: Mapping[str, Any], live: Mapping[str, Any], *, exact: bool = False
) -> dict[str, Any]:
    """The smallest merge patch after which `live` is again a derivative of `desired`."""
    patch: dict[str, Any] = {}
    if exact:
        for key in live.keys() - desired.keys():
            patch[key] = None
    for key, value in desired.items():
        before = live.get(key)
        nested_exact = key in EXACT_MAPS
        if key in live and _derivative_at(key, value, before):
            continue
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = drift_patch(value, before, exact=nested_exact)
            if nested:
                patch[key] = nested
        elif key not in live or not is_derivative(value, before, exact=nested_exact):
            patch[key] = value
    return patch


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference marked `controller: true`, if any (Kubernetes allows at most one)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((ref for ref in refs if isinstance(ref, Mapping) and ref.get("controller") is True), None)


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether `obj`'s controller is the object with `uid`: the only proof a child is that object's.

    A name, a label, or an ownerReference without `controller: true` proves nothing: another
    controller's object may carry any of them.
    """
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid


def ensure_action(
    desired: Mapping[str, Any], live: Mapping[str, Any] | None
) -> tuple[Action, dict[str, Any] | None]:
    """What making `live` as `desired` says takes: a create, a drift patch, nothing, or nothing
    because the name is taken (`conflict`): `live` is not controlled by `desired`'s controller.

    An object the desired controller controls keeps its other ownerReferences: they are not
    compared, so no patch replaces the list.
    """
    if live is None:
        return "create", None
    ref = controller_of(desired)
    if ref is not None and not controlled_by(live, str(ref.get("uid"))):
        return "conflict", None
    if ref is not None:
        desired = {
            **desired,
            "metadata": {k: v for k, v in desired["metadata"].items() if k != "ownerReferences"},
        }
    if is_derivative(desired, live):
        return "unchanged", None
    return "update", drift_patch(desired, live)
