"""`kubectl qwen`'s commands that look (`status`, `list`, `history`) and that ask (`promote`, ...)."""

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from qwenops.api import naming
from qwenops.kubectl.output import stdout, structured, structured_list
from qwenops.kubectl.screens.history import render_history
from qwenops.kubectl.screens.listing import render_list
from qwenops.kubectl.screens.read import field
from qwenops.kubectl.screens.requests import describe_request, refusal, summary
from qwenops.kubectl.screens.status import render_not_found, render_status
from qwenops.kubectl.target import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, EXIT_TIMEOUT, CommandError, Target
from qwenops.kubectl.watch import watch

VERBS = {
    "promote": (naming.ANNOTATION_PROMOTE, "end the canary's current step now (its pause and analysis)"),
    "abort": (naming.ANNOTATION_ABORT, "roll the canary back to the stable revision"),
    "retry": (naming.ANNOTATION_RETRY, "start a rolled-back revision again as a canary"),
    "undo": (naming.ANNOTATION_UNDO, "serve the previous revision until the spec changes"),
}


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_status(target: Target, args: argparse.Namespace) -> int:
    out = stdout()
    fmt: str | None = args.output
    obj = target.require()

    def render(obj: dict[str, Any], now: datetime) -> str:
        screen = render_status(obj, now, color=out.color, unicode=out.unicode, wide=fmt == "wide")
        if fmt != "wide":
            return screen
        return screen + "\n" + render_history(obj, now, color=out.color, unicode=out.unicode, wide=True)

    if args.watch:
        return watch(target, obj, args.interval, out, render, fmt)
    out.stream.write(render(obj, _now()) if fmt in (None, "wide") else structured(obj, fmt))
    return EXIT_OK


def cmd_list(target: Target, args: argparse.Namespace) -> int:
    out = stdout()
    items = target.list(args.all_namespaces)
    if args.output in ("json", "yaml"):
        out.stream.write(structured_list(items, args.output))
        return EXIT_OK
    if not items:
        where = "any namespace" if args.all_namespaces else f"{target.namespace} namespace"
        print(f"No resources found in {where}.", flush=True)
        return EXIT_OK
    wide = args.output == "wide"
    out.stream.write(
        render_list(
            items, _now(), namespaces=args.all_namespaces, width=out.width(), wide=wide, color=out.color
        )
    )
    return EXIT_OK


def cmd_history(target: Target, args: argparse.Namespace) -> int:
    out = stdout()
    obj = target.require()
    out.stream.write(render_history(obj, _now(), color=out.color, unicode=out.unicode, wide=args.wide))
    return EXIT_OK


def fresh_value(obj: dict[str, Any], verb: str) -> str:
    """An RFC 3339 time with microseconds, different from the annotation's and the handled value."""
    annotation = VERBS[verb][0]
    taken = {
        field(obj, "metadata", "annotations", annotation),
        field(obj, "status", "handled", verb),
    }
    while True:
        value = _now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if value not in taken:
            return value
        time.sleep(0.000_001)


def cmd_request(target: Target, args: argparse.Namespace) -> int:
    verb: str = args.command
    annotation = VERBS[verb][0]
    obj = target.require()
    refused = refusal(verb, obj)
    if refused is not None and not args.force:
        raise CommandError(
            EXIT_ERROR, f"refusing to {verb} {naming.KIND} {target}: {refused} (--force sends it anyway)"
        )
    value = fresh_value(obj, verb)
    target.annotate(annotation, value)
    print(f"{verb} requested for {naming.KIND} {target}: {describe_request(verb, obj)}")
    print(f"  annotation {annotation}={value}")
    if args.no_wait:
        return EXIT_OK
    return _await_ack(target, verb, value, args.timeout)


def _await_ack(target: Target, verb: str, value: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    color = stdout().color
    while True:
        obj = target.read()
        if obj is None:
            raise CommandError(EXIT_NOT_FOUND, render_not_found(target.namespace, target.name))
        if field(obj, "status", "handled", verb) == value:
            print(f"acted on by the operator: {summary(obj, color=color)}")
            if verb == "undo" and (override := field(obj, "status", "override")):
                print(f"  serving revision {field(override, 'revision')} until the spec changes")
            return EXIT_OK
        if time.monotonic() >= deadline:
            raise CommandError(
                EXIT_TIMEOUT,
                f"the operator did not act on {VERBS[verb][0]}={value} within {timeout:g}s "
                f"(status.handled.{verb} is {field(obj, 'status', 'handled', verb)!r}); "
                "is the operator running?",
            )
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
