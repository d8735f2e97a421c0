"""What every `kubectl qwen` command talks to: a QwenDeployment (or a namespace's), errors and exit codes.

Exit codes: 0 ok, 1 an API or other error (and a refused request; `wait`: timed out),
2 usage, 3 the QwenDeployment does not exist, 4 the operator did not act in time,
5 `wait`: the rollout ended where the condition can never be met.
"""

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.io import kube, kube_errors
from qwenops.kubectl.screens.status import render_not_found

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_TIMEOUT, EXIT_NEVER = 0, 1, 2, 3, 4, 5
"""EXIT_USAGE is argparse's own."""

DEFAULT_REQUEST_TIMEOUT = "30s"
"""kubectl waits forever by default; on call, an API server that does not answer is said in 30s."""

T = TypeVar("T")


class CommandError(Exception):
    """Ends the command with this exit code and one line on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Client(kube.KubeClient, Protocol):
    """What the plugin asks of the API: the operator's client, and listing a kind in every namespace."""

    timeout: float | None
    """Seconds one request may take (None: no limit); `wait` lowers it to what is left of its own."""

    async def list_all(self, resource: kube.Resource, namespace: str | None) -> list[kube.Manifest]: ...


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def one_line(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, kube_errors.KubeError):
        text = exc.message if exc.status == 0 else f"{exc.message} (HTTP {exc.status})"
    elif isinstance(reason, Exception):  # the HTTP client's connection errors: the cause says it all
        text = f"cannot reach the API server: {reason}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def request_timeout(text: str) -> float | None:
    """kubectl's `--request-timeout`: `0` waits forever (None), a bare number is seconds, else `30s`, `1m`."""
    try:
        seconds = float(text) if text.isdigit() else parse_duration(text).total_seconds()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a timeout: write it like 0 (none), 30s, 1m or 1m30s"
        ) from None
    return seconds or None


class Target:
    """One QwenDeployment, by namespace and name, read and annotated through `client`."""

    def __init__(self, client: Client, namespace: str, name: str) -> None:
        self.client = client
        self.namespace, self.name = namespace, name

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    def read(self) -> dict[str, Any] | None:
        try:
            return run(self.client.get(kube.QWENDEPLOYMENTS, self.namespace, self.name))
        except kube_errors.KubeError as exc:
            if exc.status == 0:  # not reached: what was asked adds nothing
                raise CommandError(EXIT_ERROR, one_line(exc)) from exc
            raise CommandError(EXIT_ERROR, f"cannot read {naming.KIND} {self}: {one_line(exc)}") from exc

    def require(self) -> dict[str, Any]:
        found = self.read()
        if found is None:
            raise CommandError(EXIT_NOT_FOUND, render_not_found(self.namespace, self.name))
        return found

    def annotate(self, key: str, value: str) -> dict[str, Any]:
        """A merge patch of this one annotation: the spec and every other field stay as they are."""
        body = {"metadata": {"annotations": {key: value}}}
        try:
            return run(self.client.patch(kube.QWENDEPLOYMENTS, self.namespace, self.name, body))
        except kube_errors.KubeError as exc:
            if exc.not_found:
                raise CommandError(EXIT_NOT_FOUND, render_not_found(self.namespace, self.name)) from exc
            raise CommandError(EXIT_ERROR, f"cannot annotate {naming.KIND} {self}: {one_line(exc)}") from exc

    def list(self, every_namespace: bool) -> list[dict[str, Any]]:
        """The QwenDeployments of this namespace, or of every namespace."""
        where = None if every_namespace else self.namespace
        try:
            return run(self.client.list_all(kube.QWENDEPLOYMENTS, where))
        except kube_errors.KubeError as exc:
            if exc.status == 0:
                raise CommandError(EXIT_ERROR, one_line(exc)) from exc
            raise CommandError(EXIT_ERROR, f"cannot list {naming.PLURAL}: {one_line(exc)}") from exc
