"""Resource quantities (k8s.io/apimachinery ``resource.Quantity``): read as the API server reads
them, and written back in the canonical form it stores and answers with.

A quantity keeps the kind of suffix it was written with: decimal SI (``m``, ``k``, ``M``, ``G``,
...), binary SI (``Ki``, ``Mi``, ``Gi``, ...) or a decimal exponent (``e3``). Canonical means the
largest suffix of that kind that leaves an integer: ``1000m`` is ``1``, ``0.5`` is ``500m``,
``1024Mi`` is ``1Gi``, ``1536Mi`` stays; a binary value that is no integer, or under 1024, is
written in decimal SI (``0.5Ki`` is ``512``). Values finer than a nano are rounded up to one; the
requests and limits of a container are rounded up to a milli (``SetDefaults_ResourceList``).
"""

from __future__ import annotations

import re
from decimal import ROUND_UP, Decimal, localcontext

PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)", re.DOTALL)
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}  # powers of 1024
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()}
_EXPONENT = re.compile(r"[eE]([-+]?[0-9]+)")
NANO, MILLI = -9, -3


class QuantityError(ValueError):
    """Not a quantity: the API server cannot decode the object at all (a 400, not a 422)."""

    def __init__(self) -> None:
        super().__init__(f"quantities must match the regular expression '{PATTERN}'")


def parse(text: object) -> tuple[Decimal, str]:
    """The value and the format (``DecimalSI``, ``BinarySI``, ``DecimalExponent``) of a quantity,
    a string or a JSON number as Kubernetes accepts it."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError()
    match = _NUMBER.fullmatch(str(text).strip())
    if match is None or not (match[2] or match[3]):
        raise QuantityError()
    sign, whole, fraction, suffix = match[1], match[2], match[3] or "", match[4]
    number = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    if suffix in _DECIMAL:
        value, kind = number.scaleb(_DECIMAL[suffix]), "DecimalSI"
    elif suffix in _BINARY:
        value, kind = number * Decimal(1024) ** _BINARY[suffix], "BinarySI"
    elif exponent := _EXPONENT.fullmatch(suffix):
        value, kind = number.scaleb(int(exponent[1])), "DecimalExponent"
    else:
        raise QuantityError()
    return _round_up(value, NANO), kind


def canonical(text: object, *, scale: int = NANO) -> str:
    """The quantity as the API server stores it; `scale` is the finest digit kept (rounded up)."""
    value, kind = parse(text)
    value = _round_up(value, scale)
    if value == 0:
        return "0"
    if kind == "BinarySI":
        if -1024 < value < 1024 or value != value.to_integral_value():
            kind = "DecimalSI"
        else:
            amount, power = int(value), 0
            while amount % 1024 == 0 and power < 6:
                amount, power = amount // 1024, power + 1
            return f"{amount}{_BINARY_SUFFIX.get(power, '')}"
    sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    shift = exponent % 3  # down to a multiple of 3: 1500 is 1500, not 1.5k
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if kind == "DecimalSI" and exponent in _DECIMAL_SUFFIX:
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def _round_up(value: Decimal, scale: int) -> Decimal:
    """`value` rounded away from zero to a multiple of 10**scale (Kubernetes' RoundUp)."""
    with localcontext() as context:
        context.prec = 100
        return value.quantize(Decimal(1).scaleb(scale), rounding=ROUND_UP)
