"""`qwenops-serve download | verify | serve`: the serving image's three steps, one per container.

    qwenops-serve download --model REPO --revision COMMIT --cache-dir DIR [--file NAME=SHA256]...
                           [--progress-every SECONDS] [--termination-log PATH]
    qwenops-serve verify   --model REPO --revision COMMIT --cache-dir DIR [--file NAME=SHA256]...
                           [--termination-log PATH]
    qwenops-serve serve    --model REPO --revision COMMIT --cache-dir DIR [--launcher cli|module|sim]
                           [--termination-log PATH] -- VLLM_ARGS...

Exit codes: 0 done; 2 InvalidRevision or bad arguments; 3 VerificationFailed; 4 DownloadFailed (the
kubelet's retry may help); 5 NotVerified; 1 an unexpected error. On a failure the first line on
stderr and in the termination log is `<Reason>: <message>`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .failures import EXIT_BAD_ARGUMENTS, EXIT_INTERNAL_ERROR, EXIT_OK, StepError
from .launch import LAUNCHERS, check_verified, exec_vllm, resolve_launcher, serving_env, vllm_argv
from .layout import CacheLayout
from .manifest import warm_manifest
from .output import (
    DEFAULT_TERMINATION_LOG,
    human_size,
    log,
    plural,
    setup_logging,
    termination_line,
    write_termination_log,
)
from .pins import FilePin, check_repo_id, check_revision
from .redact import Redactor
from .verify import verify

PROG = "qwenops-serve"
DEFAULT_PROGRESS_EVERY = 10.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # The error first: the operator shows the first line of a failed container's log.
        self.exit(EXIT_BAD_ARGUMENTS, f"{self.prog}: error: {message}\n{self.format_usage()}")


def _repo_id(value: str) -> str:
    try:
        return check_repo_id(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _file_pin(value: str) -> FilePin:
    try:
        return FilePin.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def _common(parser: argparse.ArgumentParser, *, files: bool) -> None:
    parser.add_argument("--model", required=True, type=_repo_id, metavar="REPO", help="Hugging Face repo id")
    parser.add_argument(
        "--revision",
        required=True,
        metavar="COMMIT",
        help="the full 40-hex commit; a branch, a tag or a short SHA is refused",
    )
    parser.add_argument("--cache-dir", required=True, type=Path, metavar="DIR", help="the model cache")
    parser.add_argument(
        "--termination-log",
        type=Path,
        default=DEFAULT_TERMINATION_LOG,
        metavar="PATH",
        help="where the failure line goes for the kubelet (default: %(default)s; skipped if not writable)",
    )
    if files:
        parser.add_argument(
            "--file",
            dest="files",
            action="append",
            type=_file_pin,
            default=[],
            metavar="NAME=SHA256",
            help="a file's sha256 from the spec; wins over the Hub's metadata (repeatable)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Download, verify and serve one pinned Hugging Face checkpoint.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    download = commands.add_parser("download", help="fetch repo@commit into the cache (no request if cached)")
    _common(download, files=True)
    download.add_argument(
        "--progress-every",
        type=_seconds,
        default=DEFAULT_PROGRESS_EVERY,
        metavar="SECONDS",
        help="seconds between progress lines (default: %(default)s)",
    )
    check = commands.add_parser("verify", help="hash every file, offline; mark repo@commit verified")
    _common(check, files=True)
    serve = commands.add_parser("serve", help="exec vLLM on the verified snapshot (arguments after --)")
    _common(serve, files=False)
    serve.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default=None,
        help="`cli`: vllm serve DIR; `module`: python -m vllm.entrypoints.openai.api_server --model DIR; "
        "`sim`: python -m vllm_sim --model DIR, the simulator (default: $QWENOPS_VLLM_LAUNCHER, else cli)",
    )
    return parser


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one command, for errors that show its own usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found = action.choices.get(command)
            if isinstance(found, argparse.ArgumentParser):
                return found
    return parser


def split_vllm_args(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Ours before the first `--`, vLLM's after it (None when there is no `--`)."""
    args = list(argv)
    if "--" not in args:
        return args, None
    at = args.index("--")
    return args[:at], args[at + 1 :]


def _download(args: argparse.Namespace, layout: CacheLayout) -> None:
    log.info(f"{layout.repo}@{layout.commit} into {layout.cache_dir}")
    manifest = warm_manifest(layout, args.files)
    if manifest is not None:
        files = plural(len(manifest.files), "file")
        log.info(
            f"already in the cache: {files}, {human_size(manifest.total_bytes)} "
            f"(downloaded {manifest.downloaded_at}); no request sent"
        )
        return
    # Imported here, after main() set the environment: the library reads it once, on import.
    from . import fetch  # noqa: PLC0415

    fetch.download(layout, args.files, args.progress_every)


def _serve(args: argparse.Namespace, layout: CacheLayout, vllm_args: Sequence[str]) -> NoReturn:
    marker = check_verified(layout)
    argv = vllm_argv(args.launcher, str(layout.snapshot_dir), vllm_args)
    files = plural(len(marker.files), "file")
    log.info(
        f"{layout.repo}@{layout.commit}: {files} verified at {marker.verified_at}; "
        "starting vLLM offline on the local snapshot"
    )
    log.info(f"exec {shlex.join(argv)}")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        exec_vllm(argv, serving_env(os.environ))
    except OSError as exc:  # no `vllm` on PATH, say
        raise StepError(f"cannot start vLLM: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    ours, vllm_args = split_vllm_args(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(ours)
    command = command_parser(parser, args.command)
    if vllm_args is not None and args.command != "serve":
        command.error(f"only serve takes vLLM's arguments after --, not {args.command}")
    if args.command == "serve":
        try:
            args.launcher = resolve_launcher(args.launcher, os.environ)
        except ValueError as exc:
            command.error(str(exc))
    else:
        twice = sorted(name for name, n in Counter(pin.name for pin in args.files).items() if n > 1)
        if twice:
            command.error(f"--file names {twice[0]} more than once")

    # Before anything imports huggingface_hub, which reads these once.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if args.command != "download":
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    redactor = Redactor.from_env(os.environ)
    setup_logging(args.command, redactor)

    try:
        layout = CacheLayout(args.cache_dir.expanduser().resolve(), args.model, check_revision(args.revision))
        if args.command == "download":
            _download(args, layout)
        elif args.command == "verify":
            verify(layout, args.files)
        else:
            _serve(args, layout, vllm_args or [])
    except StepError as failure:
        return _fail(args.termination_log, failure.line(), failure.exit_code, redactor)
    except Exception as exc:
        log.exception("unexpected error")
        line = f"Error: {type(exc).__name__}: {exc}"
        return _fail(args.termination_log, line, EXIT_INTERNAL_ERROR, redactor)
    return EXIT_OK


def _fail(termination_log: Path, line: str, code: int, redactor: Redactor) -> int:
    text = termination_line(line, redactor)
    print(text, file=sys.stderr, flush=True)
    write_termination_log(termination_log, text)
    return code
