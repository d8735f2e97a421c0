"""The status screen's top: the object and its phase, then its revisions (stable, override, previous)."""

import re
from collections.abc import Mapping

from qwenops.analysis.checks import without_queries
from qwenops.kubectl.screens.read import field, model_text, number_at, text_at, time_at
from qwenops.kubectl.screens.screen import Screen
from qwenops.kubectl.screens.style import phase_text
from qwenops.kubectl.screens.times import ago, human_duration

_READING_DETAIL = re.compile(r"(; last reading [A-Za-z]+): .*$")


def header(screen: Screen) -> list[str]:
    """Name, namespace, phase, the operator's message, and a spec it has not acted on yet."""
    status, style = screen.status, screen.style
    phase = text_at(status, "phase")
    lines = [
        screen.line("Name", screen.name),
        screen.line("Namespace", text_at(screen.obj, "metadata", "namespace")),
        screen.line("Phase", phase_text(phase, style)),
    ]
    message = text_at(status, "message")
    if not status:
        message = "no status yet: the operator has not reconciled this object (is it running?)"
    if message and not screen.wide:
        # The reading a message ends with is the Analysis section's, in full: keep its verdict only.
        message = _READING_DETAIL.sub(r"\1", without_queries(message))
    if message:
        lines.append(screen.line("Message", " ".join(message.split()) if screen.wide else message))
    generation = number_at(screen.obj, "metadata", "generation")
    observed = number_at(status, "observedGeneration")
    if status and generation is not None and (observed is None or observed < generation):
        seen = "no generation" if observed is None else f"generation {observed:g}"
        behind = f"{seen} of {generation:g}: the operator has not acted on the latest spec yet"
        lines.append(screen.line("Observed", style.paint(behind, "yellow")))
    return lines


def revisions(screen: Screen) -> list[str]:
    """The stable revision, an undo in effect, and the previous one an undo would go back to."""
    status, style = screen.status, screen.style
    stable = field(status, "stable")
    lines = []
    if isinstance(stable, Mapping):
        lines.append(
            screen.line(
                "Stable",
                f"{style.paint(text_at(stable, 'revision'), 'cyan')}  {model_text(stable.get('model'))}",
            )
        )
    else:
        lines.append(screen.line("Stable", "none yet"))
    override = field(status, "override")
    if isinstance(override, Mapping):
        undone = ago(time_at(override, "at"), screen.now)
        lines.append(
            screen.line(
                "Override",
                style.paint(
                    f"undo {undone}: serving {text_at(override, 'revision')} "
                    f"({model_text(override.get('model'))}) instead of the spec's "
                    f"{text_at(override, 'specRevision')} until the spec changes",
                    "yellow",
                ),
            )
        )
    bake = field(status, "bake")
    if isinstance(bake, Mapping):
        until = time_at(bake, "until")
        left = "ending"
        if until is not None and until > screen.now:
            left = f"{human_duration(until - screen.now)} left"
        lines.append(
            screen.line(
                "Bake",
                style.paint(
                    f"{left}: the analysis judges the stable; {text_at(bake, 'revision')} kept warm on "
                    f"{number_at(bake, 'warmReplicas') or 0:g} pod(s), the way back "
                    f"({screen.command('undo')}, or a breach)",
                    "yellow",
                ),
            )
        )
    previous = field(status, "previous")
    if isinstance(previous, Mapping) and not isinstance(field(status, "canary"), Mapping) and not bake:
        lines.append(
            screen.line(
                "Previous",
                f"{text_at(previous, 'revision')}  "
                f"{model_text(previous.get('model'))}  "
                f"({screen.command('undo')} goes back to it)",
            )
        )
    return lines
