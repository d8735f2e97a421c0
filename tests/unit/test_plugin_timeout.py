"""`kubectl qwen --request-timeout`: an API server that accepts the connection and never answers.

A real TCP server on loopback accepts every connection and sends nothing; the plugin
runs as on call runs it (a subprocess) and must give up within its timeout, in one line.
"""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwenops.kubectl.target import request_timeout
from qwenops_testing.emulator import write_kubeconfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hung_server() -> Iterator[str]:
    """The URL of a server that accepts connections and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            accepted.append(connection)  # held open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def plugin(kubeconfig: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "qwenops.kubectl.plugin", "--kubeconfig", str(kubeconfig), *args],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    return run, time.monotonic() - started


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_hung_api_server_ends_the_command_within_the_request_timeout(
    hung_server: str, tmp_path: Path, where: str
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", hung_server, namespace="llm")
    flag = ("--request-timeout", "2s")
    args = (*flag, "status", "chat") if where == "before" else ("status", "chat", *flag)

    run, elapsed = plugin(kubeconfig, *args)

    assert run.returncode == 1, run.stderr
    assert elapsed < 15, f"took {elapsed:.1f}s for a 2s timeout"  # not 4 tries of 30s each
    assert run.stderr == "error: cannot reach the API server: no answer within 2s\n"
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", None), ("30s", 30.0), ("1m", 60.0), ("5", 5.0), ("1m30s", 90.0), ("500ms", 0.5)],
)
def test_request_timeout_reads_as_kubectl_reads_it(text: str, seconds: float | None) -> None:
    assert request_timeout(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "1x", ""])
def test_a_request_timeout_kubectl_would_refuse_is_a_usage_error(text: str, tmp_path: Path) -> None:
    run, _ = plugin(tmp_path / "none", "--request-timeout", text, "status", "chat")
    assert run.returncode == 2
    assert "--request-timeout" in run.stderr


def test_wait_ends_at_its_timeout_though_the_api_server_never_answers(
    hung_server: str, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", hung_server, namespace="llm")

    run, elapsed = plugin(kubeconfig, "wait", "chat", "--for=promoted", "--timeout", "2s")  # requests: 30s

    assert run.returncode == 1, run.stderr
    assert elapsed < 15, f"took {elapsed:.1f}s for a 2s timeout"
    assert run.stderr.startswith(
        "error: timed out waiting for the condition on qwendeployments/chat "
        "(last error: cannot reach the API server: no answer within "
    )
    assert len(run.stderr.splitlines()) == 1
