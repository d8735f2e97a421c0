"""The status screen's pods: where the newest revision's pods are on their way to serving, and its budget."""

from collections.abc import Mapping
from datetime import timedelta

from qwenops.kubectl.screens.read import field, number_at, text_at, time_at
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.style import TROUBLE_STAGES
from qwenops.kubectl.screens.times import ago, span

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
"""The order a stage breakdown lists pods in: trouble first, then on their way, then ready."""


def pods(screen: Screen) -> list[str]:
    """`status.startup`: the stage, each stage's pods and why, and the time left of the startup budget."""
    startup, style = field(screen.status, "startup"), screen.style
    if not isinstance(startup, Mapping):
        return [screen.line("Pods", "no report yet"), *capacity(screen)]
    stage = text_at(startup, "stage") or "?"
    colour = "green" if stage == "Ready" else "red" if stage in TROUBLE_STAGES else "yellow"
    since = ago(time_at(startup, "since"), screen.now)
    where = f"{style.paint(stage, colour, 'bold')}  revision {text_at(startup, 'revision')}, since {since}"
    lines = [screen.line("Pods", where)]
    counted = field(startup, "pods")
    if isinstance(counted, Mapping) and counted:
        order = {stage: i for i, stage in enumerate(_STAGE_ORDER)}
        ordered = sorted(counted.items(), key=lambda kv: order.get(kv[0], len(order)))
        counts = ", ".join(f"{n} {s}" for s, n in ordered)
        lines.append(screen.line("Stages", counts, indent=2))
        message = text_at(startup, "message")
        detail = message.removeprefix(counts).removeprefix(": ") if message != counts else ""
        if detail:
            lines.append(
                screen.line(
                    "Detail", style.paint(detail, "red") if stage in TROUBLE_STAGES else detail, indent=2
                )
            )
    deadline = number_at(startup, "deadlineSeconds")
    if deadline is not None and stage != "Ready":
        budget = f"ready within {span(deadline)} of the revision's start"
        canary = field(screen.status, "canary")
        same = text_at(canary, "revision") == text_at(startup, "revision")
        started = time_at(canary, "startedAt") if same else None
        if started is not None:
            left = started + timedelta(seconds=deadline) - screen.now
            budget += f" ({span(left.total_seconds())} left)" if left.total_seconds() > 0 else " (over)"
        if text := text_at(startup, "budget"):
            budget += f": {text}"
        lines.append(screen.line("Budget", budget, indent=2))
    return [*lines, *capacity(screen)]


def capacity(screen: Screen) -> list[str]:
    """`status.capacity`: serving replicas missing within the rollout's budget, and since when."""
    missing = field(screen.status, "capacity")
    if not isinstance(missing, Mapping):
        return []
    said = f"{text_at(missing, 'message')}, since {ago(time_at(missing, 'since'), screen.now)}"
    return [screen.line("Capacity", screen.style.paint(said, "yellow"))]
