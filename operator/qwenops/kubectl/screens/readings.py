"""The status screen's analysis: the latest reading of the canary's SLOs, its verdict, and the SLO table."""

from collections.abc import Callable, Mapping
from typing import Any

from qwenops.api.slos import SLO
from qwenops.api.spec import Analysis
from qwenops.kubectl.screens.read import field, items_at, number_at, text_at, time_at
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.slo_text import (
    declared_probe_checks,
    declared_slos,
    reading_text,
    threshold_text,
)
from qwenops.kubectl.screens.style import Style, table
from qwenops.kubectl.screens.times import ago

DEFAULTS = Analysis()
"""`spec.rollout.analysis` as the operator reads it when the spec leaves a setting out."""


def analysis(screen: Screen) -> list[str]:
    """The reading this canary is judged by (or why there is none), then one row per declared SLO."""
    spec, status, style = screen.spec, screen.status, screen.style
    settings = field(spec, "rollout", "analysis")
    slos = declared_slos(spec)
    probes = declared_probe_checks(spec)
    if not slos and not probes:
        return [screen.line("Analysis", "no SLO declared: each step is judged by its pause alone")]
    canary = field(status, "canary")
    rolled_back = text_at(status, "phase") == "RolledBack"
    if not isinstance(canary, Mapping) and not rolled_back:
        declared = ", ".join(
            [f"{slo.label} {style.at_most} {threshold_text(slo, v)}" for slo, v in slos]
            + [f"{label} {limit}" for _, label, limit, _ in probes]
        )
        return [screen.line("Analysis", f"idle: no canary ({declared})")]
    reading = field(status, "analysis")
    at = time_at(reading, "at")
    started = time_at(canary, "startedAt")
    if at is not None and started is not None and at < started:
        reading, at = None, None  # a reading of an earlier canary
    lines = []
    if not isinstance(reading, Mapping):
        interval = text_at(settings, "interval") or DEFAULTS.interval
        window = text_at(settings, "window") or DEFAULTS.window
        lines.append(
            screen.line(
                "Analysis",
                f"no reading yet: every {interval} over {window} once the step's weight is in effect",
            )
        )
    else:
        verdict = text_at(reading, "verdict") or "?"
        colour = {"Passed": "green", "Failed": "red"}.get(verdict, "yellow")
        when = ago(at, screen.now)
        step_started = time_at(canary, "stepStartedAt")
        if rolled_back and not isinstance(canary, Mapping):
            when += ", the reading at the rollback"
        elif step_started is not None and at is not None and at < step_started:
            when += ", taken at the previous step"
        lines.append(screen.line("Analysis", f"{style.paint(verdict, colour, 'bold')}  {when}"))
        requests = number_at(reading, "requests")
        minimum = number_at(settings, "minRequests")
        minimum = DEFAULTS.min_requests if minimum is None else minimum
        window = text_at(settings, "window") or DEFAULTS.window
        shown = style.none if requests is None else f"{requests:g}"
        judged = f"{shown} in {window} (at least {minimum:g} to judge)"
        lines.append(screen.line("Requests", judged, indent=2))
        failures = number_at(reading, "consecutiveFailures") or 0
        limit = number_at(settings, "failureLimit") or DEFAULTS.failure_limit
        text = f"{failures:g}/{limit:g} consecutive failed readings (a rollback at {limit:g})"
        lines.append(screen.line("Failures", style.paint(text, "red") if failures else text, indent=2))
        if verdict in ("Inconclusive", "Error") and (message := text_at(reading, "message")):
            lines.append(screen.line("Held", style.paint(message, "yellow"), indent=2))
    rows = [[style.paint(h, "dim") for h in ("SLO", "READING", "THRESHOLD", "RESULT")]]
    rows += [_slo_row(slo, threshold, reading, style) for slo, threshold in slos]
    rows += [_row(key, label, limit, shown, reading, style) for key, label, limit, shown in probes]
    lines.extend(table(rows, indent="  "))
    return lines


def _slo_row(slo: SLO, threshold: float, reading: Any, style: Style) -> list[str]:
    """[SLO, reading, threshold, result] for one declared SLO and the latest reading (maybe None)."""
    limit = f"{style.at_most} {threshold_text(slo, threshold)}"
    return _row(slo.key, slo.label, limit, lambda value: reading_text(slo, value), reading, style)


def _row(
    key: str, label: str, limit: str, show: Callable[[float], str], reading: Any, style: Style
) -> list[str]:
    """[SLO, reading, threshold, result] for the check named `key` in the latest reading (maybe None)."""
    if reading is None:
        return [label, style.none, limit, style.none]
    check = next((c for c in items_at(reading, "checks") if c.get("slo") == key), None)
    value = number_at(check, "value") if check is not None else None
    shown = show(value) if value is not None else style.none
    outcome = text_at(check, "outcome") if check is not None else ""
    if outcome == "Failed":
        result = style.paint(style.fail, "red", "bold")
    elif outcome == "Passed":
        result = style.paint(style.done, "green")
    elif outcome == "Skipped":
        result, shown = style.paint("skipped", "dim"), style.none
    else:  # a held reading judges nothing
        result = style.paint("not judged", "dim")
    return [label, shown, limit, result]
