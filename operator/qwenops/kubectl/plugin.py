"""`kubectl qwen`: look at a QwenDeployment's rollout, and promote, abort, retry or undo it.

A kubectl plugin (the console script `kubectl-qwen`). It reads and writes through
`qwenops.io.kube` with the kubeconfig kubectl would use; what it prints comes from
the pure screens beside it (`status`, `history`, `requests`). A request is an
annotation (`qwenops.io/<verb>`) set to a fresh value by a merge patch of
`metadata.annotations` alone, never `spec`; the operator acts on each new value
once and records it in `status.handled.<verb>`, which is what the plugin waits for.

Exit codes: 0 ok, 1 an API or other error (and a refused request), 2 usage,
3 the QwenDeployment does not exist, 4 the operator did not act in time.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, TextIO, TypeVar

from qwenops.api import naming
from qwenops.io import kube
from qwenops.kubectl.screens.history import render_history
from qwenops.kubectl.screens.read import field
from qwenops.kubectl.screens.requests import describe_request, refusal, summary
from qwenops.kubectl.screens.status import render_not_found, render_status
from qwenops.kubectl.screens.style import UNICODE_MARKS, Style

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT = 0, 1, 2, 3, 4
"""EXIT_USAGE is argparse's own."""

VERBS = {
    "promote": (naming.ANNOTATION_PROMOTE, "end the canary's current step now (its pause and analysis)"),
    "abort": (naming.ANNOTATION_ABORT, "roll the canary back to the stable revision"),
    "retry": (naming.ANNOTATION_RETRY, "start a rolled-back revision again as a canary"),
    "undo": (naming.ANNOTATION_UNDO, "serve the previous revision until the spec changes"),
}


T = TypeVar("T")


class CommandError(Exception):
    """Ends the command with this exit code and one line on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _one_line(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, kube.KubeError):
        text = exc.message if exc.status == 0 else f"{exc.message} (HTTP {exc.status})"
    elif isinstance(reason, Exception):  # the HTTP client's connection errors: the cause says it all
        text = f"cannot reach the API server: {reason}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


# -- talking to the API --------------------------------------------------------------------------------


class Target:
    """One QwenDeployment, by namespace and name, read and annotated through `client`."""

    def __init__(self, client: kube.KubeClient, namespace: str, name: str) -> None:
        self.client = client
        self.namespace, self.name = namespace, name

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    def read(self) -> dict[str, Any] | None:
        try:
            return _run(self.client.get(kube.QWENDEPLOYMENTS, self.namespace, self.name))
        except kube.KubeError as exc:
            if exc.status == 0:  # not reached: what was asked adds nothing
                raise CommandError(EXIT_ERROR, _one_line(exc)) from exc
            raise CommandError(EXIT_ERROR, f"cannot read {naming.KIND} {self}: {_one_line(exc)}") from exc

    def require(self) -> dict[str, Any]:
        found = self.read()
        if found is None:
            raise CommandError(EXIT_NOT_FOUND, render_not_found(self.namespace, self.name))
        return found

    def annotate(self, key: str, value: str) -> dict[str, Any]:
        """A merge patch of this one annotation: the spec and every other field stay as they are."""
        body = {"metadata": {"annotations": {key: value}}}
        try:
            return _run(self.client.patch(kube.QWENDEPLOYMENTS, self.namespace, self.name, body))
        except kube.KubeError as exc:
            if exc.not_found:
                raise CommandError(EXIT_NOT_FOUND, render_not_found(self.namespace, self.name)) from exc
            raise CommandError(EXIT_ERROR, f"cannot annotate {naming.KIND} {self}: {_one_line(exc)}") from exc


# -- commands -----------------------------------------------------------------------------------------


def _colour(stream: TextIO) -> tuple[bool, bool]:
    """(colour, unicode): colour on a terminal unless NO_COLOR is set; Unicode marks on a terminal."""
    tty = stream.isatty()
    try:
        UNICODE_MARKS.encode(stream.encoding or "ascii")
        encodable = True
    except (UnicodeEncodeError, LookupError):
        encodable = False
    return tty and not os.environ.get("NO_COLOR"), tty and encodable


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_status(target: Target, args: argparse.Namespace) -> int:
    color, unicode = _colour(sys.stdout)
    obj = target.require()
    if not args.watch:
        sys.stdout.write(render_status(obj, _now(), color=color, unicode=unicode))
        return EXIT_OK
    return _watch(target, obj, args.interval, tty=sys.stdout.isatty(), color=color, unicode=unicode)


def _watch(
    target: Target, obj: dict[str, Any] | None, interval: float, *, tty: bool, color: bool, unicode: bool
) -> int:
    """Redraw every `interval` seconds until Ctrl-C; piped, print a new block only when the object changed."""
    last_key: str | None = None
    last_error: str | None = None
    stopping = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        """The first Ctrl-C ends the watch after the current read; a second one at once.

        Raising from any point would race with `asyncio.run` inside each read, which
        takes the signal over while it runs only if the handler is Python's default one.
        """
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    if tty:
        sys.stdout.write("\x1b[H\x1b[2J")  # a clean screen to draw on
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        while not stopping.is_set():
            now = _now()
            text = (
                render_status(obj, now, color=color, unicode=unicode)
                if obj is not None
                else render_not_found(target.namespace, target.name) + "\n"
            )
            if tty:
                footer = f"every {interval:g}s, last read {now.astimezone():%H:%M:%S}; Ctrl-C to stop"
                if last_error:
                    footer = f"{last_error}\n{footer}"
                screen = text + "\n" + Style(color).paint(footer, "dim") + "\n"
                # Home, each line cleared to its end, then everything below: no flicker.
                sys.stdout.write("\x1b[H" + screen.replace("\n", "\x1b[K\n") + "\x1b[J")
                sys.stdout.flush()
            else:
                key = json.dumps(_change_key(obj), sort_keys=True)
                if key != last_key:
                    if last_key is not None:
                        sys.stdout.write("\n")
                    sys.stdout.write(f"--- {now:%Y-%m-%d %H:%M:%S} UTC\n{text}")
                    sys.stdout.flush()
                    last_key = key
            if stopping.wait(interval):
                break
            try:
                obj, last_error = target.read(), None
            except CommandError as failed:  # keep watching: the API may come back
                if not tty and failed.message != last_error:
                    print(f"error: {failed.message}", file=sys.stderr, flush=True)
                last_error = failed.message
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
    if tty:
        sys.stdout.write("\n")
    return EXIT_OK


def _change_key(obj: dict[str, Any] | None) -> Any:
    """What a piped watch compares: a new block when it changes (not when only the times age)."""
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    return {
        "spec": obj.get("spec"),
        "status": obj.get("status"),
        "generation": meta.get("generation"),
        "annotations": meta.get("annotations"),
    }


def cmd_history(target: Target, args: argparse.Namespace) -> int:
    color, unicode = _colour(sys.stdout)
    obj = target.require()
    sys.stdout.write(render_history(obj, _now(), color=color, unicode=unicode, wide=args.wide))
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
    color, _ = _colour(sys.stdout)
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


# -- arguments ----------------------------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser) -> None:
    """Accepted before or after the command (`kubectl qwen -n llm status chat`, `... status chat -n llm`)."""
    parser.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help="the namespace (default: the kubeconfig context's, else default)",
    )
    parser.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="the kubeconfig file to use")
    parser.add_argument("--context", default=argparse.SUPPRESS, help="the kubeconfig context to use")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _version() -> str:
    """The installed qwenops' version (kubectl qwen and the operator ship in one package)."""
    try:
        return metadata.version("qwenops")
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kubectl qwen",
        description="Look at a QwenDeployment's rollout; promote, abort, retry or undo it.",
        epilog="Exit codes: 0 ok, 1 error or refused, 2 usage, 3 not found, "
        "4 the operator did not act in time.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _connection_options(top)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="the rollout at a glance: revisions, step, SLO readings")
    status.add_argument("name", metavar="NAME")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until Ctrl-C")
    status.add_argument(
        "--interval", type=_positive, default=2.0, help="seconds between reads with --watch (default 2)"
    )
    _connection_options(status)
    history = commands.add_parser(
        "history", help="promoted, rolled-back and replaced revisions, newest first"
    )
    history.add_argument("name", metavar="NAME")
    history.add_argument(
        "--wide", action="store_true", help="reasons in full, with each breached SLO's query"
    )
    _connection_options(history)
    for verb, (annotation, what) in VERBS.items():
        request = commands.add_parser(verb, help=f"{what} (annotation {annotation})")
        request.add_argument("name", metavar="NAME")
        request.add_argument("--force", action="store_true", help="send it even when it makes no sense now")
        request.add_argument("--no-wait", action="store_true", help="do not wait for the operator to act")
        request.add_argument(
            "--timeout", type=_positive, default=30.0, help="seconds to wait for the operator (default 30)"
        )
        _connection_options(request)
    return top


COMMANDS = {"status": cmd_status, "history": cmd_history, **dict.fromkeys(VERBS, cmd_request)}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        try:
            client, context_namespace = kube.Kube.from_kubeconfig(
                getattr(args, "kubeconfig", None), getattr(args, "context", None)
            )
        except kube.KubeError as exc:
            raise CommandError(EXIT_ERROR, _one_line(exc)) from exc
        namespace = getattr(args, "namespace", None) or context_namespace or "default"
        return COMMANDS[args.command](Target(client, namespace, args.name), args)
    except CommandError as failed:
        print(f"error: {failed.message}", file=sys.stderr)
        return failed.code
    except BrokenPipeError:  # `kubectl qwen history chat | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit does not complain
        return EXIT_OK
    except Exception as exc:  # one line, never a traceback: the reader is on call
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
