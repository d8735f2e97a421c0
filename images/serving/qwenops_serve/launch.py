"""`serve`: start vLLM on the verified local snapshot, in place of this process.

vLLM gets the snapshot directory, never the repo id, with the Hub switched off (`HF_HUB_OFFLINE=1`,
`TRANSFORMERS_OFFLINE=1`), so it loads exactly the bytes `verify` hashed. `os.execvpe` replaces this
process: vLLM is PID 1's child as the kubelet started it and gets SIGTERM directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from .failures import NotVerified
from .layout import CacheLayout
from .manifest import VerifiedMarker, missing_files, read_marker
from .output import plural
from .redact import TOKEN_VARIABLES

LAUNCHERS = ("cli", "module", "sim")
LAUNCHER_ENV = "QWENOPS_VLLM_LAUNCHER"
DEFAULT_LAUNCHER = "cli"
API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
SIMULATOR_PACKAGE = "vllm_sim"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def resolve_launcher(flag: str | None, environ: Mapping[str, str]) -> str:
    """`--launcher`, else `QWENOPS_VLLM_LAUNCHER`, else `cli`."""
    launcher = flag or environ.get(LAUNCHER_ENV, "").strip() or DEFAULT_LAUNCHER
    if launcher not in LAUNCHERS:
        raise ValueError(f"{LAUNCHER_ENV}={launcher!r}: the launcher is one of {', '.join(LAUNCHERS)}")
    return launcher


def simulator_module(package: str | None = __package__) -> str:
    """`vllm_sim`, the simulator beside this package: top-level in the image (`qwenops_serve` ->
    `vllm_sim`), `images.serving.vllm_sim` in the repository (`images.serving.qwenops_serve`)."""
    parent = (package or "").rpartition(".")[0]
    return f"{parent}.{SIMULATOR_PACKAGE}" if parent else SIMULATOR_PACKAGE


def vllm_argv(
    launcher: str, model_dir: str, vllm_args: Sequence[str], python: str | None = None
) -> list[str]:
    """The command that serves `model_dir`.

    `cli`: `vllm serve DIR ARGS...`, vLLM's documented entry point. `module`: `PYTHON -m
    vllm.entrypoints.openai.api_server --model DIR ARGS...`, for builds whose `vllm` command is broken
    (vLLM's CPU image). `sim`: `PYTHON -m vllm_sim --model DIR ARGS...`, the simulator in place of vLLM
    (images/serving/Dockerfile.sim, for clusters without GPUs); it takes vLLM's flags, and its own
    (`--rps`, `--error-rate` ...) from the same arguments.
    """
    if launcher == "cli":
        return ["vllm", "serve", model_dir, *vllm_args]
    if launcher == "module":
        return [python or sys.executable, "-m", API_SERVER_MODULE, "--model", model_dir, *vllm_args]
    if launcher == "sim":
        return [python or sys.executable, "-m", simulator_module(), "--model", model_dir, *vllm_args]
    raise ValueError(f"unknown launcher {launcher!r}")


def serving_env(environ: Mapping[str, str]) -> dict[str, str]:
    """vLLM's environment: offline, and without the token (nothing may fetch anything any more)."""
    env = {key: value for key, value in environ.items() if key not in TOKEN_VARIABLES}
    env.update(OFFLINE_ENV)
    return env


def check_verified(layout: CacheLayout) -> VerifiedMarker:
    """The verified marker of exactly repo@commit, with every file it lists still there at its size."""
    what = f"{layout.repo}@{layout.commit}"
    try:
        marker = read_marker(layout)
    except ValueError as exc:
        raise NotVerified(f"{what}: the verified marker is unreadable ({exc}); verify again") from exc
    if marker is None:
        raise NotVerified(f"{what} has not been verified in this cache; the verify step must succeed first")
    missing = missing_files(layout, marker.files)
    if missing:
        raise NotVerified(
            f"{what}: {missing[0]} is gone or changed since it was verified "
            f"({plural(len(missing), 'file')}); verify again"
        )
    return marker


def exec_vllm(argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Replace this process with vLLM (returns only by raising OSError, e.g. no `vllm` on PATH)."""
    os.execvpe(argv[0], list(argv), dict(env))
