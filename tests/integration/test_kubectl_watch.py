"""`kubectl qwen status --watch` at 3 a.m.: through an API outage, and in a small terminal.

The plugin runs as on call runs it (a subprocess) against the emulated API, reached
through a TCP link the test can cut (connections reset, the port refused, as an API
server going away) and restore on the same port. In a real pseudo-terminal of 80x20,
what the terminal shows is read back through pyte, a terminal emulator.
"""

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pyte
import pytest

from qwenops_testing.cluster import Client
from qwenops_testing.emulator import KubeEmulator, write_kubeconfig
from qwenops_testing.operator import eventually
from tests import status_fixtures as f
from tests.integration.test_kubectl_qwen import OBJECT_PATH, REPO, _env, store

pytestmark = pytest.mark.integration

NAME = f.NAME


class Link:
    """A TCP proxy to `upstream` on a port of its own, which `cut` closes (open connections reset,
    new ones refused) and `restore` opens again on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def link(emulator: KubeEmulator) -> AsyncIterator[Link]:
    port = int(str(emulator.url).rstrip("/").rsplit(":", 1)[1])
    proxy = Link(port)
    await proxy.restore()
    yield proxy
    if proxy.server is not None:
        await proxy.cut()


@pytest.fixture
def linked_kubeconfig(link: Link, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{link.port}", namespace=f.NS)


async def test_a_piped_watch_says_since_when_the_api_is_out_and_resumes_when_it_is_back(
    emulator: KubeEmulator, client: Client, link: Link, linked_kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops.kubectl.plugin", "status", NAME, "--watch", "--interval", "0.2",
        "--request-timeout", "2s",
        env=_env(linked_kubeconfig), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    out: list[str] = []
    err: list[str] = []

    async def collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
        while line := await stream.readline():
            lines.append(line.decode())

    readers = [
        asyncio.create_task(collect(process.stdout, out)),
        asyncio.create_task(collect(process.stderr, err)),
    ]
    try:
        await eventually(
            lambda: any(line.startswith("Conditions:") for line in out), "the first block", timeout=15
        )
        await link.cut()
        await eventually(lambda: err, "the outage said", timeout=15)
        assert err[0].startswith("error: cannot reach the API server: ")
        assert err[0].rstrip().endswith("; still watching")
        assert " (since " in err[0]
        await client.patch(f"{OBJECT_PATH}/status", {"status": {"phase": "Paused", "message": "paused now"}})
        await link.restore()
        await eventually(lambda: any("answers again" in line for line in err), "the API back", timeout=15)
        await eventually(
            lambda: any("Phase:         Paused" in line for line in out), "the change seen", timeout=15
        )
        assert process.returncode is None  # still watching
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 15)
        await asyncio.gather(*readers)
    assert process.returncode == 0, "".join(err)
    assert len(err) == 2, err  # the outage once, however many reads failed; and its end
    assert err[1].startswith("the API server answers again (unreachable since ")


class Terminal:
    """A pseudo-terminal of `columns` x `lines` running the plugin, shown through pyte."""

    def __init__(self, columns: int, lines: int) -> None:
        self.screen = pyte.HistoryScreen(columns, lines, history=1000)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        os.set_blocking(self.master, False)

    def feed(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while data := os.read(self.master, 65536):
                self.raw += data
                self.stream.feed(data)

    def rows(self) -> list[str]:
        self.feed()
        return [row.rstrip() for row in self.screen.display]

    def redraws(self) -> int:
        self.feed()
        return self.raw.count(b"Ctrl-C to stop")  # the footer, written once a redraw

    async def until_exit(self, process: asyncio.subprocess.Process) -> None:
        """Wait for `process` to end, reading what it writes meanwhile (a full pty would block it)."""
        for _ in range(150):
            self.feed()
            if process.returncode is not None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.1)
        raise AssertionError("the watch did not end on Ctrl-C")

    def scrolled_off(self) -> int:
        return len(self.screen.history.top)


async def test_the_watch_fits_80x20_in_place_and_shows_an_outage_at_the_bottom(
    emulator: KubeEmulator, client: Client, link: Link, linked_kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())  # 26 lines, some wider than 80
    terminal = Terminal(80, 20)
    env = {**_env(linked_kubeconfig), "TERM": "xterm-256color", "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops.kubectl.plugin", "status", NAME, "--watch", "--interval", "0.2",
        "--request-timeout", "2s",
        env=env, cwd=REPO, stdin=terminal.slave, stdout=terminal.slave, stderr=terminal.slave,
    )  # fmt: skip
    try:
        await eventually(lambda: terminal.redraws() >= 4, "four redraws", timeout=15)
        rows = terminal.rows()
        assert rows[0] == "Name:          chat"
        assert rows[2] == "Phase:         Progressing"
        assert rows[3].startswith("Message:       step 2/3 at 50%")
        assert rows[-1].startswith("every 0.2s, last read ")
        assert any(
            row.startswith("... ") and row.endswith("more lines: a taller terminal shows them")
            for row in rows
        )
        assert terminal.scrolled_off() == 0, "a redraw scrolled the screen"
        assert b"\x1b[?1049h" in terminal.raw  # the alternate screen: nothing left in the scrollback

        await link.cut()
        await eventually(
            lambda: any(r.startswith("API server unreachable since ") for r in terminal.rows()), "the outage shown",
            timeout=15,
        )  # fmt: skip
        rows = terminal.rows()
        assert rows[0] == "Name:          chat"
        assert rows[-1].startswith("showing the read of ")
        await link.restore()
        await eventually(
            lambda: terminal.rows()[-1].startswith("every 0.2s, last read "), "the watch resumed", timeout=15
        )
        assert terminal.scrolled_off() == 0
    finally:
        process.send_signal(signal.SIGINT)
        await terminal.until_exit(process)
        terminal.feed()
        os.close(terminal.master)
        os.close(terminal.slave)
    assert process.returncode == 0
    assert b"\x1b[?1049l" in terminal.raw
