"""The status screen's canary: its revision, its progress through the declared steps, its weight and pause."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qwenops.api.durations import parse_duration
from qwenops.kubectl.screens.read import field, items_at, model_text, number_at, text_at, time_at
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.slo_text import declared_slos
from qwenops.kubectl.screens.times import ago, span


def canary(screen: Screen) -> list[str]:
    """The canary and where it is; without one, a rolled-back revision that waits for a retry."""
    status, style, now = screen.status, screen.style, screen.now
    running = field(status, "canary")
    if not isinstance(running, Mapping):
        rejected = text_at(status, "rejectedRevision")
        if rejected:
            return [
                screen.line(
                    "Canary",
                    style.paint(
                        f"none: revision {rejected} was rolled back and stays at 0 pods "
                        f"({screen.command('retry')} tries it again)",
                        "red",
                    ),
                )
            ]
        return [screen.line("Canary", "none")]
    steps = items_at(screen.spec, "rollout", "steps")
    index = int(number_at(running, "step") or 0)
    promoting = field(running, "promoting") is True
    started = time_at(running, "startedAt")
    lines = [
        screen.line(
            "Canary",
            f"{style.paint(text_at(running, 'revision'), 'cyan')}  "
            f"{model_text(running.get('model'))}  started {ago(started, now)}",
        ),
        screen.line("Steps", progress(screen, steps, len(steps) if promoting else index), indent=2),
    ]
    if promoting:
        lines.append(screen.line("Step", "every step passed: scaling to full size to take over", indent=2))
        return lines
    if not steps:
        lines.append(screen.line("Step", "no steps declared: promoted once its pods are ready", indent=2))
        return lines
    step = steps[min(index, len(steps) - 1)]
    declared = number_at(step, "weight")
    lines.append(
        screen.line(
            "Step",
            f"{index + 1}/{len(steps)}" + (f" ({declared:g}% declared)" if declared is not None else ""),
            indent=2,
        )
    )
    step_started = time_at(running, "stepStartedAt")
    if step_started is None:
        lines.append(screen.line("Weight", "0%: waiting for the step's pods to be ready", indent=2))
    else:
        weight = number_at(running, "weight") or 0
        since = f"{weight:g}% of traffic since {ago(step_started, now)}"
        lines.append(screen.line("Weight", since, indent=2))
    lines.append(screen.line("Pause", pause(screen, step, step_started), indent=2))
    return lines


def progress(screen: Screen, steps: list[Mapping[str, Any]], current: int) -> str:
    """`10% ✔ → [50%] → 100%`: the declared weights, those done marked, the current one bracketed."""
    style = screen.style
    parts = []
    weights = [f"{w:g}%" if (w := number_at(s, "weight")) is not None else "?" for s in steps] + ["100%"]
    for i, weight in enumerate(weights):
        if i < current:
            parts.append(f"{weight} {style.paint(style.done, 'green')}")
        elif i == current:
            parts.append(style.paint(f"[{weight}]", "bold"))
        else:
            parts.append(style.paint(weight, "dim"))
    return f" {style.arrow} ".join(parts)


def pause(screen: Screen, step: Mapping[str, Any], step_started: datetime | None) -> str:
    """How much of the step's pause is left, or what the step waits for once it is over."""
    text = text_at(step, "pause")
    if not text:
        waiting = f"none: paused until promoted ({screen.command('promote')})"
        return screen.style.paint(waiting, "yellow")
    try:
        declared = parse_duration(text)
    except ValueError:
        return f"{text} (not a duration)"
    if step_started is None:
        return f"{text}, from when the step's pods are ready"
    left = declared - (screen.now - step_started)
    if left.total_seconds() > 0:
        return f"{span(left.total_seconds())} left of {text}"
    analysed = bool(declared_slos(screen.spec)) or field(screen.spec, "rollout", "analysis", "prometheus")
    return f"{text}, over" + (": waiting for a passing analysis reading" if analysed else "")
