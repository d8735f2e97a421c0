"""What `kubectl qwen` prints: a QwenDeployment as text for a person on call. Pure: no I/O, no clock.

Everything here reads the object as the API returns it (plain dicts, camelCase
keys) and tolerates what it does not know: a field a newer operator adds, a
spec the operator refused, a status not written yet. The time comes in as
`now`; colour (ANSI) and Unicode marks are switched on by the caller, which
knows whether it writes to a terminal.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qwenops.analysis.checks import without_queries
from qwenops.api.durations import parse_duration
from qwenops.api.naming import KIND
from qwenops.api.slos import SLO, SLOS, Unit
from qwenops.api.spec import Analysis
from qwenops.policy.undo import undo_destination

DEFAULTS = Analysis()
"""`spec.rollout.analysis` as the operator reads it when the spec leaves a setting out."""

# -- reading the object ----------------------------------------------------------------------------


def field(obj: Any, *path: str) -> Any:
    """`obj[path[0]][path[1]]...`, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _text(obj: Any, *path: str) -> str:
    value = field(obj, *path)
    return "" if value is None else str(value)


def _number(obj: Any, *path: str) -> float | None:
    value = field(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _items(obj: Any, *path: str) -> list[Mapping[str, Any]]:
    value = field(obj, *path)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _time(obj: Any, *path: str) -> datetime | None:
    value = field(obj, *path)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def short(commit: str) -> str:
    return commit[:7]


def model_text(model: Any) -> str:
    """`Qwen/Qwen3-8B@9c925d6`: the repo and the short commit."""
    name, commit = _text(model, "name"), _text(model, "revision")
    if not name:
        return "?"
    return f"{name}@{short(commit)}" if commit else name


# -- times -------------------------------------------------------------------------------------------


def human_duration(span: timedelta) -> str:
    """A span as kubectl prints ages: `45s`, `3m20s`, `12m`, `5h3m`, `20h`, `2d4h`, `9d`."""
    seconds = max(0, int(span.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def ago(then: datetime | None, now: datetime) -> str:
    """`3m ago`, `in 2m` for a time ahead of `now` (a skewed clock), `?` when unknown."""
    if then is None:
        return "?"
    if then > now + timedelta(seconds=1):
        return f"in {human_duration(then - now)}"
    return f"{human_duration(now - then)} ago"


def _span(seconds: float) -> str:
    """A precise span for budgets and pauses: `25m50s`, `2h34m`, `45s`."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


# -- style -------------------------------------------------------------------------------------------

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

PHASE_COLOURS = {
    "Healthy": "green",
    "Progressing": "yellow",
    "Paused": "yellow",
    "Degraded": "red",
    "RolledBack": "red",
    "Failed": "red",
}

_TROUBLE_STAGES = frozenset({"Unschedulable", "DownloadFailed", "Crashing", "VerificationFailed"})
_STAGE_ORDER = (
    "VerificationFailed",
    "Unschedulable",
    "Crashing",
    "DownloadFailed",
    "Pending",
    "Downloading",
    "Verifying",
    "Loading",
    "Ready",
)


UNICODE_MARKS = "\u2714\u2718\u2192\u2264\u2013"
"""✔ ✘ → ≤ and an en dash: what a terminal must be able to show for `Style(unicode=True)`."""


@dataclass(frozen=True)
class Style:
    """How to draw: ANSI colour, and Unicode marks (`✔ → ≤`) instead of ASCII ones (`ok -> <=`)."""

    color: bool = False
    unicode: bool = False

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    @property
    def done(self) -> str:
        return "✔" if self.unicode else "ok"

    @property
    def fail(self) -> str:
        return "✘" if self.unicode else "FAIL"

    @property
    def arrow(self) -> str:
        return "→" if self.unicode else "->"

    @property
    def at_most(self) -> str:
        return "≤" if self.unicode else "<="

    @property
    def none(self) -> str:
        return "\u2013" if self.unicode else "-"  # an en dash


_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def visible_len(text: str) -> int:
    return len(_ANSI_CODE.sub("", text))


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - visible_len(text))


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell (ANSI codes do not count); the last column is not padded."""
    if not rows:
        return []
    widths = [max(visible_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(_pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        for row in rows
    ]


def phase_text(phase: str, style: Style) -> str:
    return style.paint(phase or "Unknown", PHASE_COLOURS.get(phase, "yellow"), "bold")


_READING_DETAIL = re.compile(r"(; last reading [A-Za-z]+): .*$")


# -- SLOs --------------------------------------------------------------------------------------------


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
    return [(slo, value) for slo in ROWS if (value := _number(slos, slo.key)) is not None]


def threshold_text(slo: SLO, threshold: float) -> str:
    if slo.unit == "ratio":
        return _percent(threshold)
    return f"{threshold:g}" + ("s" if slo.unit == "seconds" else "x")


def _slo_row(slo: SLO, threshold: float, reading: Any, style: Style) -> list[str]:
    """[SLO, reading, threshold, result] for one declared SLO and the latest reading (maybe None)."""
    limit = f"{style.at_most} {threshold_text(slo, threshold)}"
    if reading is None:
        return [slo.label, style.none, limit, style.none]
    check = next((c for c in _items(reading, "checks") if c.get("slo") == slo.key), None)
    value = _number(check, "value") if check is not None else None
    shown = _SHOWN[slo.unit](value) if value is not None else style.none
    outcome = _text(check, "outcome") if check is not None else ""
    if outcome == "Failed":
        result = style.paint(style.fail, "red", "bold")
    elif outcome == "Passed":
        result = style.paint(style.done, "green")
    elif outcome == "Skipped":
        result, shown = style.paint("skipped", "dim"), style.none
    else:  # a held reading judges nothing
        result = style.paint("not judged", "dim")
    return [slo.label, shown, limit, result]


# -- the status screen -------------------------------------------------------------------------------

LABEL_WIDTH = 15


@dataclass(frozen=True)
class _Screen:
    obj: Mapping[str, Any]
    now: datetime
    style: Style

    @property
    def spec(self) -> Any:
        return self.obj.get("spec") or {}

    @property
    def status(self) -> Any:
        return self.obj.get("status") or {}

    @property
    def name(self) -> str:
        return _text(self.obj, "metadata", "name")

    def line(self, label: str, value: str, *, indent: int = 0) -> str:
        head = " " * indent + (label + ":" if label else "")
        return _pad(self.style.paint(head, "bold") if indent == 0 else head, LABEL_WIDTH) + value

    # sections -------------------------------------------------------------------------------------

    def header(self) -> list[str]:
        status, style = self.status, self.style
        phase = _text(status, "phase")
        lines = [
            self.line("Name", self.name),
            self.line("Namespace", _text(self.obj, "metadata", "namespace")),
            self.line("Phase", phase_text(phase, style)),
        ]
        message = _text(status, "message")
        if not status:
            message = "no status yet: the operator has not reconciled this object (is it running?)"
        if message:
            # The reading a message ends with is the Analysis section's, in full: keep its verdict only.
            message = _READING_DETAIL.sub(r"\1", without_queries(message))
            lines.append(self.line("Message", message))
        generation = _number(self.obj, "metadata", "generation")
        observed = _number(status, "observedGeneration")
        if status and generation is not None and (observed is None or observed < generation):
            seen = "no generation" if observed is None else f"generation {observed:g}"
            behind = f"{seen} of {generation:g}: the operator has not acted on the latest spec yet"
            lines.append(self.line("Observed", style.paint(behind, "yellow")))
        return lines

    def revisions(self) -> list[str]:
        status, style = self.status, self.style
        stable = field(status, "stable")
        lines = []
        if isinstance(stable, Mapping):
            lines.append(
                self.line(
                    "Stable",
                    f"{style.paint(_text(stable, 'revision'), 'cyan')}  {model_text(stable.get('model'))}",
                )
            )
        else:
            lines.append(self.line("Stable", "none yet"))
        override = field(status, "override")
        if isinstance(override, Mapping):
            lines.append(
                self.line(
                    "Override",
                    style.paint(
                        f"undo {ago(_time(override, 'at'), self.now)}: serving {_text(override, 'revision')} "
                        f"({model_text(override.get('model'))}) instead of the spec's "
                        f"{_text(override, 'specRevision')} until the spec changes",
                        "yellow",
                    ),
                )
            )
        previous = field(status, "previous")
        if isinstance(previous, Mapping) and not isinstance(field(status, "canary"), Mapping):
            lines.append(
                self.line(
                    "Previous",
                    f"{_text(previous, 'revision')}  "
                    f"{model_text(previous.get('model'))}  "
                    f"(kubectl qwen undo {self.name} goes back to it)",
                )
            )
        lines.extend(self.canary())
        return lines

    def canary(self) -> list[str]:
        status, style, now = self.status, self.style, self.now
        canary = field(status, "canary")
        if not isinstance(canary, Mapping):
            rejected = _text(status, "rejectedRevision")
            if rejected:
                return [
                    self.line(
                        "Canary",
                        style.paint(
                            f"none: revision {rejected} was rolled back and stays at 0 pods "
                            f"(kubectl qwen retry {self.name} tries it again)",
                            "red",
                        ),
                    )
                ]
            return [self.line("Canary", "none")]
        steps = _items(self.spec, "rollout", "steps")
        index = int(_number(canary, "step") or 0)
        promoting = field(canary, "promoting") is True
        started = _time(canary, "startedAt")
        lines = [
            self.line(
                "Canary",
                f"{style.paint(_text(canary, 'revision'), 'cyan')}  "
                f"{model_text(canary.get('model'))}  started {ago(started, now)}",
            ),
            self.line("Steps", self.progress(steps, len(steps) if promoting else index), indent=2),
        ]
        if promoting:
            lines.append(self.line("Step", "every step passed: scaling to full size to take over", indent=2))
            return lines
        if not steps:
            lines.append(self.line("Step", "no steps declared: promoted once its pods are ready", indent=2))
            return lines
        step = steps[min(index, len(steps) - 1)]
        declared = _number(step, "weight")
        lines.append(
            self.line(
                "Step",
                f"{index + 1}/{len(steps)}" + (f" ({declared:g}% declared)" if declared is not None else ""),
                indent=2,
            )
        )
        step_started = _time(canary, "stepStartedAt")
        if step_started is None:
            lines.append(self.line("Weight", "0%: waiting for the step's pods to be ready", indent=2))
        else:
            weight = _number(canary, "weight") or 0
            since = f"{weight:g}% of traffic since {ago(step_started, now)}"
            lines.append(self.line("Weight", since, indent=2))
        lines.append(self.line("Pause", self.pause(step, step_started), indent=2))
        return lines

    def progress(self, steps: list[Mapping[str, Any]], current: int) -> str:
        """`10% ✔ → [50%] → 100%`: the declared weights, those done marked, the current one bracketed."""
        style = self.style
        parts = []
        weights = [f"{w:g}%" if (w := _number(s, "weight")) is not None else "?" for s in steps] + ["100%"]
        for i, weight in enumerate(weights):
            if i < current:
                parts.append(f"{weight} {style.paint(style.done, 'green')}")
            elif i == current:
                parts.append(style.paint(f"[{weight}]", "bold"))
            else:
                parts.append(style.paint(weight, "dim"))
        return f" {style.arrow} ".join(parts)

    def pause(self, step: Mapping[str, Any], step_started: datetime | None) -> str:
        text = _text(step, "pause")
        if not text:
            waiting = f"none: paused until promoted (kubectl qwen promote {self.name})"
            return self.style.paint(waiting, "yellow")
        try:
            pause = parse_duration(text)
        except ValueError:
            return f"{text} (not a duration)"
        if step_started is None:
            return f"{text}, from when the step's pods are ready"
        left = pause - (self.now - step_started)
        if left.total_seconds() > 0:
            return f"{_span(left.total_seconds())} left of {text}"
        analysed = bool(declared_slos(self.spec)) or field(self.spec, "rollout", "analysis", "prometheus")
        return f"{text}, over" + (": waiting for a passing analysis reading" if analysed else "")

    def pods(self) -> list[str]:
        startup, style = field(self.status, "startup"), self.style
        if not isinstance(startup, Mapping):
            return [self.line("Pods", "no report yet")]
        stage = _text(startup, "stage") or "?"
        colour = "green" if stage == "Ready" else "red" if stage in _TROUBLE_STAGES else "yellow"
        since = ago(_time(startup, "since"), self.now)
        where = f"{style.paint(stage, colour, 'bold')}  revision {_text(startup, 'revision')}, since {since}"
        lines = [self.line("Pods", where)]
        pods = field(startup, "pods")
        if isinstance(pods, Mapping) and pods:
            order = {stage: i for i, stage in enumerate(_STAGE_ORDER)}
            ordered = sorted(pods.items(), key=lambda kv: order.get(kv[0], len(order)))
            counts = ", ".join(f"{n} {s}" for s, n in ordered)
            lines.append(self.line("Stages", counts, indent=2))
            message = _text(startup, "message")
            detail = message.removeprefix(counts).removeprefix(": ") if message != counts else ""
            if detail:
                lines.append(
                    self.line(
                        "Detail", style.paint(detail, "red") if stage in _TROUBLE_STAGES else detail, indent=2
                    )
                )
        deadline = _number(startup, "deadlineSeconds")
        if deadline is not None and stage != "Ready":
            budget = f"ready within {_span(deadline)} of the revision's start"
            canary = field(self.status, "canary")
            same = _text(canary, "revision") == _text(startup, "revision")
            started = _time(canary, "startedAt") if same else None
            if started is not None:
                left = started + timedelta(seconds=deadline) - self.now
                budget += f" ({_span(left.total_seconds())} left)" if left.total_seconds() > 0 else " (over)"
            if text := _text(startup, "budget"):
                budget += f": {text}"
            lines.append(self.line("Budget", budget, indent=2))
        return lines

    def analysis(self) -> list[str]:
        spec, status, style = self.spec, self.status, self.style
        settings = field(spec, "rollout", "analysis")
        slos = declared_slos(spec)
        if not slos:
            return [self.line("Analysis", "no SLO declared: each step is judged by its pause alone")]
        canary = field(status, "canary")
        rolled_back = _text(status, "phase") == "RolledBack"
        if not isinstance(canary, Mapping) and not rolled_back:
            declared = ", ".join(f"{slo.label} {style.at_most} {threshold_text(slo, v)}" for slo, v in slos)
            return [self.line("Analysis", f"idle: no canary ({declared})")]
        reading = field(status, "analysis")
        at = _time(reading, "at")
        started = _time(canary, "startedAt")
        if at is not None and started is not None and at < started:
            reading, at = None, None  # a reading of an earlier canary
        lines = []
        if not isinstance(reading, Mapping):
            interval = _text(settings, "interval") or DEFAULTS.interval
            window = _text(settings, "window") or DEFAULTS.window
            lines.append(
                self.line(
                    "Analysis",
                    f"no reading yet: every {interval} over {window} once the step's weight is in effect",
                )
            )
        else:
            verdict = _text(reading, "verdict") or "?"
            colour = {"Passed": "green", "Failed": "red"}.get(verdict, "yellow")
            when = ago(at, self.now)
            step_started = _time(canary, "stepStartedAt")
            if rolled_back and not isinstance(canary, Mapping):
                when += ", the reading at the rollback"
            elif step_started is not None and at is not None and at < step_started:
                when += ", taken at the previous step"
            lines.append(self.line("Analysis", f"{style.paint(verdict, colour, 'bold')}  {when}"))
            requests = _number(reading, "requests")
            minimum = _number(settings, "minRequests")
            minimum = DEFAULTS.min_requests if minimum is None else minimum
            window = _text(settings, "window") or DEFAULTS.window
            shown = style.none if requests is None else f"{requests:g}"
            judged = f"{shown} in {window} (at least {minimum:g} to judge)"
            lines.append(self.line("Requests", judged, indent=2))
            failures = _number(reading, "consecutiveFailures") or 0
            limit = _number(settings, "failureLimit") or DEFAULTS.failure_limit
            text = f"{failures:g}/{limit:g} consecutive failed readings (a rollback at {limit:g})"
            lines.append(self.line("Failures", style.paint(text, "red") if failures else text, indent=2))
            if verdict in ("Inconclusive", "Error") and (message := _text(reading, "message")):
                lines.append(self.line("Held", style.paint(message, "yellow"), indent=2))
        rows = [[style.paint(h, "dim") for h in ("SLO", "READING", "THRESHOLD", "RESULT")]]
        rows += [_slo_row(slo, threshold, reading, style) for slo, threshold in slos]
        lines.extend(table(rows, indent="  "))
        return lines

    def last_rollback(self) -> list[str]:
        entry = next(
            (e for e in reversed(_items(self.status, "history")) if e.get("outcome") == "RolledBack"), None
        )
        if entry is None:
            return [self.line("Last rollback", "none recorded")]
        head = (
            f"{_text(entry, 'revision')} ({model_text(entry.get('model'))}), "
            f"{ago(_time(entry, 'at'), self.now)}"
        )
        lines = [self.line("Last rollback", head)]
        if reason := _text(entry, "reason"):
            lines.append(self.line("Reason", without_queries(reason), indent=2))
        return lines

    def conditions(self) -> list[str]:
        abnormal = [c for c in _items(self.status, "conditions") if is_abnormal(c)]
        if not abnormal:
            return [self.line("Conditions", "none abnormal")]
        lines = []
        for i, c in enumerate(abnormal):
            text = f"{_text(c, 'type')}={_text(c, 'status')} ({_text(c, 'reason')}) " + ago(
                _time(c, "lastTransitionTime"), self.now
            )
            message = _text(c, "message")
            if message and message != _text(self.status, "message"):
                text += f": {without_queries(message)}"
            lines.append(self.line("Conditions" if i == 0 else "", self.style.paint(text, "red")))
        return lines


_GOOD_WHEN_TRUE = frozenset({"Available", "ModelReady"})
_BAD_WHEN_TRUE = frozenset(
    {"InvalidSpec", "SLOBreached", "AnalysisInconclusive", "Degraded", "SpecOverridden"}
)


def is_abnormal(condition: Mapping[str, Any]) -> bool:
    """A condition a person should look at: not Available, a model in trouble, an invalid spec, ..."""
    kind, status, reason = _text(condition, "type"), _text(condition, "status"), _text(condition, "reason")
    if kind == "ModelReady":
        return status != "True" and reason in _TROUBLE_STAGES
    if kind in _GOOD_WHEN_TRUE:
        return status != "True" and reason != "ScaledToZero"
    if kind in _BAD_WHEN_TRUE:
        return status == "True"
    return status == "Unknown"


def render_status(
    obj: Mapping[str, Any], now: datetime, *, color: bool = False, unicode: bool = False
) -> str:
    """The `kubectl qwen status` screen of one QwenDeployment (as the API returns it)."""
    screen = _Screen(obj, now, Style(color, unicode))
    sections = [
        screen.header(),
        [*screen.revisions(), *screen.pods()],
        screen.analysis(),
        [*screen.last_rollback(), *screen.conditions()],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def render_not_found(namespace: str, name: str) -> str:
    return f"{KIND} {namespace}/{name} not found"


# -- history -----------------------------------------------------------------------------------------

_OUTCOME_COLOURS = {"Promoted": "green", "RolledBack": "red", "Replaced": "dim"}


def render_history(
    obj: Mapping[str, Any], now: datetime, *, color: bool = False, unicode: bool = False, wide: bool = False
) -> str:
    """`kubectl qwen history`: status.history newest first; `*` marks the revision serving now."""
    style = Style(color, unicode)
    status = obj.get("status") or {}
    entries = list(reversed(_items(status, "history")))
    if not entries:
        namespace, name = _text(obj, "metadata", "namespace"), _text(obj, "metadata", "name")
        return f"no history yet for {namespace}/{name}\n"
    stable = _text(status, "stable", "revision")
    serving = next(
        (
            i
            for i, e in enumerate(entries)
            if e.get("outcome") == "Promoted" and _text(e, "revision") == stable
        ),
        None,
    )
    rows = [[style.paint(h, "dim") for h in ("", "REVISION", "MODEL", "OUTCOME", "WHEN", "REASON")]]
    for i, entry in enumerate(entries):
        outcome = _text(entry, "outcome")
        reason = _text(entry, "reason")
        rows.append(
            [
                "*" if i == serving else "",
                _text(entry, "revision"),
                model_text(entry.get("model")),
                style.paint(outcome, _OUTCOME_COLOURS.get(outcome, "yellow")),
                ago(_time(entry, "at"), now),
                reason if wide else without_queries(reason),
            ]
        )
    lines = table(rows)
    if serving is not None:
        lines.append("")
        lines.append("* serving now")
    return "\n".join(line.rstrip() for line in lines) + "\n"


# -- requests: whether promote / abort / retry / undo make sense now -------------------------------


def undo_target(status: Any) -> tuple[str, str] | None:
    """Where an undo goes back to, as (revision, model text); None when there is nowhere to go.

    The operator's own answer (`undo.undo_destination`), asked of the object as the API returns it.
    """

    def recorded(key: str) -> Mapping[str, Any] | None:
        found = field(status, key)
        return found if isinstance(found, Mapping) and _text(found, "revision") else None

    canary_running = isinstance(field(status, "canary"), Mapping)
    back_to = undo_destination(canary_running, recorded("stable"), recorded("previous"))
    return None if back_to is None else (_text(back_to, "revision"), model_text(back_to.get("model")))


def refusal(verb: str, obj: Mapping[str, Any]) -> str | None:
    """Why `verb` makes no sense for this object now (None: it does)."""
    status = obj.get("status") or {}
    name = _text(obj, "metadata", "name")
    phase = _text(status, "phase") or "unknown"
    canary = field(status, "canary")
    rejected = _text(status, "rejectedRevision")
    if verb in ("promote", "abort"):
        if not isinstance(canary, Mapping):
            hint = (
                f"; revision {rejected} was rolled back: `kubectl qwen retry {name}` tries it again"
                if (rejected and verb == "promote")
                else ""
            )
            return f"no canary is running (phase {phase}){hint}"
        if verb == "promote" and field(canary, "promoting") is True:
            return f"canary {_text(canary, 'revision')} is already being promoted (every step passed)"
        return None
    if verb == "retry":
        return None if rejected else f"nothing is rolled back (phase {phase})"
    if verb == "undo" and undo_target(status) is None:
        return "there is no earlier promoted revision to go back to"
    return None


def describe_request(verb: str, obj: Mapping[str, Any]) -> str:
    """What the request will do, in one line."""
    status = obj.get("status") or {}
    canary = field(status, "canary")
    revision = _text(canary, "revision")
    steps = _items(obj.get("spec"), "rollout", "steps")
    if verb == "promote" and isinstance(canary, Mapping):
        index = int(_number(canary, "step") or 0)
        last = index + 1 >= len(steps)
        ahead = "promote it to take over" if last else f"go on to step {index + 2}/{len(steps)}"
        return f"end step {index + 1}/{len(steps)} of canary {revision} now and {ahead}"
    if verb == "abort" and isinstance(canary, Mapping):
        return f"roll canary {revision} back to the stable revision {_text(status, 'stable', 'revision')}"
    if verb == "retry":
        return f"start rolled-back revision {_text(status, 'rejectedRevision')} again as a canary"
    if verb == "undo" and (target := undo_target(status)) is not None:
        drop = f"remove canary {revision} and " if isinstance(canary, Mapping) else ""
        return f"{drop}serve revision {target[0]} ({target[1]}) instead of the spec's until the spec changes"
    return f"{verb} (forced)"


def summary(obj: Mapping[str, Any], *, color: bool = False) -> str:
    """`phase: message`, one line, as a request's result."""
    status = obj.get("status") or {}
    return f"{phase_text(_text(status, 'phase'), Style(color))}: {without_queries(_text(status, 'message'))}"
