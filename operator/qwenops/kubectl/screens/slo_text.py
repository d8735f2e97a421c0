"""The SLOs a spec declares, in the order a screen shows them, and how their thresholds and readings read."""

import math
from collections.abc import Callable, Mapping
from typing import Any

from qwenops.api.probes import MAX_FAILURE_RATE_VS_STABLE, MIN_PASS_RATE
from qwenops.api.slos import SLO, SLOS, Unit
from qwenops.kubectl.screens.read import field, number_at


def _percent(value: float) -> str:
    text = f"{value * 100:.3g}"
    if "e" in text:
        text = f"{value * 100:.4f}".rstrip("0").rstrip(".")
    return text + "%"


def _seconds(value: float) -> str:
    if math.isinf(value):
        return "above the top bucket"
    if value < 1:
        return f"{value * 1000:.3g}ms"
    return f"{value:.3g}s"


def _multiple(value: float) -> str:
    return f"{value:.2f}x"


_SHOWN: dict[Unit, Callable[[float], str]] = {"ratio": _percent, "seconds": _seconds, "multiple": _multiple}

ROWS = sorted(SLOS, key=lambda slo: slo.judged_by == "errorRateVsStable")
"""Every SLO a spec may declare, in the order a status shows them: the one against the stable last."""


def declared_slos(spec: Any) -> list[tuple[SLO, float]]:
    """The SLOs the spec declares, with their thresholds."""
    slos = field(spec, "rollout", "analysis", "slos")
    return [(slo, value) for slo in ROWS if (value := number_at(slos, slo.key)) is not None]


def threshold_text(slo: SLO, threshold: float) -> str:
    if slo.unit == "ratio":
        return _percent(threshold)
    return f"{threshold:g}" + ("s" if slo.unit == "seconds" else "x")


def reading_text(slo: SLO, value: float) -> str:
    """A reading of `slo` in its unit: `0.246%`, `420ms`, `3.1s`, `1.23x`."""
    return _SHOWN[slo.unit](value)


def declared_probe_checks(spec: Any) -> list[tuple[str, str, str, Callable[[float], str]]]:
    """The probe SLOs the spec declares: (check name, label, threshold as shown, how a reading reads)."""
    probes = field(spec, "rollout", "analysis", "probes")
    if not isinstance(probes, Mapping):
        return []
    minimum = number_at(probes, "minPassRate")
    rows: list[tuple[str, str, str, Callable[[float], str]]] = [
        (MIN_PASS_RATE, "probe pass rate", ">= " + _percent(1.0 if minimum is None else minimum), _percent)
    ]
    if (factor := number_at(probes, "maxFailureRateVsStable")) is not None:
        rows.append((MAX_FAILURE_RATE_VS_STABLE, "probe failures vs stable", f"<= {factor:g}x", _multiple))
    return rows
