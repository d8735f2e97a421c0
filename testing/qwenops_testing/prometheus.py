"""A real Prometheus server for tests and the demo: Debian's `prometheus` binary on loopback.

    from qwenops_testing.prometheus import Target, prometheus_running, revision_labels

    async with prometheus_running(tmp_path, scrape_interval="1s") as prometheus:
        prometheus.set_targets([
            Target("127.0.0.1:8001", revision_labels("llm", "chat", "7d9f4c")),  # a stable pod
            Target("127.0.0.1:8002", revision_labels("llm", "chat", "a1b2c3")),  # a canary pod
        ])
        await prometheus.wait_for_targets(2)
        value = await prometheus.value('sum(up{qwenops_io_revision="a1b2c3"})')
        ...  # point the operator's spec.rollout.analysis.prometheus.url at prometheus.url

Targets carry the series labels a PodMonitor's `labelmap` of the pods' labels
would give them (`namespace`, `qwenops_io_deployment`, `qwenops_io_revision`;
see :func:`revision_labels`). They are given either up front
(``targets=``, written as ``static_configs``) or at any time with
:meth:`PrometheusServer.set_targets` (a ``file_sd_configs`` file Prometheus
watches, so simulated pods can come and go while it runs, as pods would).

Timing: Prometheus applies target changes (at start, and after `set_targets`)
at most every 5 s (its scrape manager's fixed reload tick), so a new target is
scraped 1-6 s after it appears; `wait_for_targets` waits for that. Register
every pod a test needs up front, or budget 6 s per change. `increase()` over a
short history extrapolates to the query instant (up to one scrape interval's
worth); to compare counts exactly, query at the last sample's timestamp
(`max(timestamp(metric))`, then `prom.read_revision(..., at=...)`).

The server runs in its own temporary directory (config, TSDB, log), with
scrapes every `scrape_interval` (sub-second works: ``"500ms"``). `stop()` and
`start()` again keep the port and the data, for "Prometheus went away and came
back" tests. Everything is async so that simulators served by the test's own
event loop keep answering scrapes while the test waits.

Without a `prometheus` binary on PATH (or in ``$QWENOPS_PROMETHEUS``), tests
are skipped, or fail where ``$QWENOPS_REQUIRE_PROMETHEUS`` is set (CI sets it:
there, the real-Prometheus tests must never pass vacuously). Either way the
message says what to do: install Debian's prometheus package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from qwenops_testing.ports import free_port

INSTALL = "install Debian's prometheus package (apt-get install prometheus)"
REQUIRE_ENV = "QWENOPS_REQUIRE_PROMETHEUS"
BINARY_ENV = "QWENOPS_PROMETHEUS"
JOB = "qwenops-pods"


def find_prometheus() -> str | None:
    """The binary to run: `$QWENOPS_PROMETHEUS`, else `prometheus` on PATH; None if neither."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("prometheus")


def require_prometheus() -> str:
    """The binary's path, or skip the test (fail under `$QWENOPS_REQUIRE_PROMETHEUS`) saying what
    to install."""
    binary = find_prometheus()
    if binary is not None:
        return binary
    message = f"no prometheus binary on PATH: {INSTALL}, or point ${BINARY_ENV} at one"
    if os.environ.get(REQUIRE_ENV, "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message} (${REQUIRE_ENV} is set: this run must exercise a real Prometheus)")
    pytest.skip(message)


def revision_labels(namespace: str, deployment: str, revision: str) -> dict[str, str]:
    """The target labels a PodMonitor's labelmap gives a pod of `deployment` at `revision`."""
    return {"namespace": namespace, "qwenops_io_deployment": deployment, "qwenops_io_revision": revision}


@dataclass(frozen=True)
class Target:
    """A scrape target (`host:port`, `/metrics`) and the labels attached to its series."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


class PrometheusNotReadyError(RuntimeError):
    pass


class PrometheusServer:
    """One `prometheus` process on 127.0.0.1; see the module's docstring."""

    def __init__(
        self,
        workdir: Path,
        *,
        binary: str,
        targets: Sequence[Target] = (),
        scrape_interval: str = "1s",
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.binary = binary
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_interval = scrape_interval
        self.config_file = workdir / "prometheus.yml"
        self.targets_file = workdir / "targets.json"
        self.data = workdir / "data"
        self.log = workdir / "prometheus.log"
        self.process: asyncio.subprocess.Process | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.set_targets([])
        self.write_config(targets, extra_scrape_configs)

    # -- configuration ---------------------------------------------------------------------------

    def write_config(
        self, targets: Sequence[Target] = (), extra_scrape_configs: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """(Re)write the config file; a running server needs `reload()` to see it."""
        job: dict[str, Any] = {
            "job_name": JOB,
            "scrape_interval": self.scrape_interval,
            "scrape_timeout": self.scrape_interval,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [t.address], "labels": dict(t.labels)} for t in targets],
            "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
        }
        config = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": [job, *[dict(extra) for extra in extra_scrape_configs]],
        }
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace the file-discovered targets (atomically); Prometheus scrapes them within ~6 s."""
        groups = [{"targets": [t.address], "labels": dict(t.labels)} for t in targets]
        scratch = self.targets_file.with_suffix(".tmp")
        scratch.write_text(json.dumps(groups, indent=1), encoding="utf-8")
        scratch.replace(self.targets_file)

    # -- the process -----------------------------------------------------------------------------

    async def start(self, *, timeout: float = 30.0) -> None:
        """Start the process (again) on the same port and data directory, and wait until ready."""
        if self.process is not None and self.process.returncode is None:
            return
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                self.binary,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=self.workdir,
                start_new_session=True,
            )
        await self.wait_ready(timeout=timeout)

    async def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        """Stop the process (SIGTERM, or SIGKILL with `kill`); the data directory stays."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_ready(self, *, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process is not None and self.process.returncode is not None:
                    raise PrometheusNotReadyError(
                        f"prometheus exited with {self.process.returncode}:\n{self.tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(
                        f"{self.url}/-/ready", timeout=aiohttp.ClientTimeout(total=2)
                    ) as answer:
                        if answer.status == 200:
                            return
                if loop.time() > deadline:
                    raise PrometheusNotReadyError(f"prometheus not ready within {timeout:g}s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def reload(self) -> None:
        """Make the running server re-read its config file (`POST /-/reload`)."""
        async with aiohttp.ClientSession() as session, session.post(f"{self.url}/-/reload") as answer:
            if answer.status != 200:
                raise RuntimeError(f"reload failed: HTTP {answer.status}: {await answer.text()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    # -- asking it -------------------------------------------------------------------------------

    async def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>`; the `data` of a successful answer, else RuntimeError."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/api/v1/{path}", params=params) as answer,
        ):
            body = await answer.json(content_type=None)
        if body.get("status") != "success":
            raise RuntimeError(f"/api/v1/{path}: {body}")
        return body["data"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant vector query's series (`metric`, `value`)."""
        data = await self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def value(self, promql: str) -> float | None:
        """The single value of an instant query; None if it returns no series."""
        result = await self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise RuntimeError(f"{promql} returned {len(result)} series")
        return float(result[0]["value"][1])

    async def targets(self) -> list[dict[str, Any]]:
        data = await self.api("targets", state="active")
        active: list[dict[str, Any]] = data["activeTargets"]
        return active

    async def wait_for_targets(self, count: int, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until `count` targets are up (each scraped successfully at least once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            active = await self.targets()
            up = [target for target in active if target.get("health") == "up"]
            if len(up) >= count:
                return up
            if loop.time() > deadline:
                states = [(t.get("scrapeUrl"), t.get("health"), t.get("lastError")) for t in active]
                raise TimeoutError(f"{len(up)}/{count} targets up after {timeout:g}s: {states}")
            await asyncio.sleep(0.2)

    async def wait_for_scrapes(self, scrapes: int = 2) -> None:
        """Sleep through `scrapes` more scrape intervals (so fresh values are stored)."""
        await asyncio.sleep(scrapes * _seconds(self.scrape_interval) + 0.2)

    async def metric_names(self, prefix: str = "") -> list[str]:
        """Names Prometheus stored, those starting with `prefix`."""
        names: list[str] = await self.api("label/__name__/values")
        return [name for name in names if name.startswith(prefix)]


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * units[unit]
    raise ValueError(f"use a simple duration like 500ms, 1s or 5s, not {duration!r}")


@contextlib.asynccontextmanager
async def prometheus_running(
    workdir: Path,
    *,
    targets: Sequence[Target] = (),
    scrape_interval: str = "1s",
    extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
) -> AsyncIterator[PrometheusServer]:
    """A started, ready Prometheus in `workdir`, stopped on exit; skips the test without a binary."""
    _seconds(scrape_interval)
    server = PrometheusServer(
        workdir,
        binary=require_prometheus(),
        targets=targets,
        scrape_interval=scrape_interval,
        extra_scrape_configs=extra_scrape_configs,
    )
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
