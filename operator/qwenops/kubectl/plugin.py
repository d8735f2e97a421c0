"""`kubectl qwen`: look at a QwenDeployment's rollout, and promote, abort, retry or undo it.

A kubectl plugin (the console script `kubectl-qwen`). It reads and writes through
`qwenops.io.kube` with the kubeconfig kubectl would use; what it prints comes from
the pure screens beside it (`status`, `list`, `history`, `requests`). A request is an
annotation (`qwenops.io/<verb>`) set to a fresh value by a merge patch of
`metadata.annotations` alone, never `spec`; the operator acts on each new value
once and records it in `status.handled.<verb>`, which is what the plugin waits for.
This module holds the arguments; the commands are in `commands` and `waiting`, the
watch in `watch`, what every command shares (the exit codes) in `target`.
"""

import argparse
import os
import sys
from importlib import metadata

from qwenops.io import kube, kube_errors
from qwenops.kubectl.commands import VERBS, cmd_history, cmd_list, cmd_request, cmd_status
from qwenops.kubectl.output import FORMATS
from qwenops.kubectl.target import (
    DEFAULT_REQUEST_TIMEOUT,
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Target,
    one_line,
    request_timeout,
)
from qwenops.kubectl.waiting import cmd_wait, wanted

EPILOG = (
    "Exit codes: 0 ok, 1 error or refused (wait: timed out), 2 usage, 3 not found, "
    "4 the operator did not act in time, 5 wait: the rollout ended where the condition can never be met."
)


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
    parser.add_argument(
        "--request-timeout",
        type=request_timeout,
        default=argparse.SUPPRESS,
        metavar="DURATION",
        help=f"how long one API request may take: 0 (no limit), 30s, 1m (default {DEFAULT_REQUEST_TIMEOUT})",
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _wait_timeout(text: str) -> float | None:
    """`wait --timeout`: as kubectl's, a duration (`30s`, `10m`) or seconds; 0 waits forever (None)."""
    return request_timeout(text)


def _version() -> str:
    """The installed qwenops' version (kubectl qwen and the operator ship in one package)."""
    try:
        return metadata.version("qwenops")
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def _output_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, default=None, help=what)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kubectl qwen",
        description="Look at a QwenDeployment's rollout; promote, abort, retry or undo it; wait for it.",
        epilog=EPILOG,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _connection_options(top)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="the rollout at a glance: revisions, step, SLO readings")
    status.add_argument("name", metavar="NAME")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until Ctrl-C, through API outages")
    status.add_argument(
        "--interval", type=_positive, default=2.0, help="seconds between reads with --watch (default 2)"
    )
    _output_option(status, "json|yaml: the QwenDeployment as the API returns it; wide: the message in "
                   "full and the history")  # fmt: skip
    _connection_options(status)
    listing = commands.add_parser(
        "list", help="every QwenDeployment of the namespace (-A: of all), one a row"
    )
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="of every namespace, with a NAMESPACE column"
    )
    _output_option(listing, "json|yaml: the QwenDeployments as a List; wide: the step and models, "
                   "the message uncut")  # fmt: skip
    _connection_options(listing)
    listing.set_defaults(name="")
    history = commands.add_parser(
        "history", help="promoted, rolled-back and replaced revisions, newest first"
    )
    history.add_argument("name", metavar="NAME")
    history.add_argument(
        "--wide", action="store_true", help="reasons in full, with each breached SLO's query"
    )
    _connection_options(history)
    wait = commands.add_parser(
        "wait", help="wait until a condition is met (for CI jobs)", epilog=EPILOG,
        description="Wait until the QwenDeployment meets --for: condition=TYPE[=STATUS] "
        "(condition=Available), jsonpath='{.path}'[=VALUE] (jsonpath='{.status.phase}'=Healthy), "
        "phase=PHASE, or promoted (the latest spec serves all traffic). phase= and promoted count "
        "only once the operator observed the latest spec.",
    )  # fmt: skip
    wait.add_argument("name", metavar="NAME")
    wait.add_argument(
        "--for", dest="wait_for", type=wanted, required=True, metavar="CONDITION",
        help="condition=Available, jsonpath='{.status.phase}'=Healthy, phase=Healthy or promoted",
    )  # fmt: skip
    wait.add_argument(
        "--timeout", type=_wait_timeout, default=30.0, metavar="DURATION",
        help="how long to wait: 30s, 10m; 0 waits forever (default 30s)",
    )  # fmt: skip
    _connection_options(wait)
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


COMMANDS = {
    "status": cmd_status,
    "list": cmd_list,
    "history": cmd_history,
    "wait": cmd_wait,
    **dict.fromkeys(VERBS, cmd_request),
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    timeout = getattr(args, "request_timeout", request_timeout(DEFAULT_REQUEST_TIMEOUT))
    try:
        try:
            client, context_namespace = kube.Kube.from_kubeconfig(
                getattr(args, "kubeconfig", None), getattr(args, "context", None), timeout=timeout
            )
        except kube_errors.KubeError as exc:
            raise CommandError(EXIT_ERROR, one_line(exc)) from exc
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
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
