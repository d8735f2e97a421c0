"""Counters reset by a pod restart, read by the default queries from a REAL Prometheus.

A vLLM pod that restarts serves its counters from 0 again under the same labels. `increase()`
counts a drop as a reset (what came after it is added to what came before), so a reading over a
window holding a restart is neither a huge negative count nor a breach, and errors served
before the restart still count: the restart hides no breach either. The exporters are those of
test_prom_real.py, behind a pod whose process can restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import generate_latest

from qwenops.analysis.queries import build_queries
from qwenops.api.slos import ERRORS, MAX_ERROR_RATE, REQUESTS
from qwenops.api.spec import Analysis
from qwenops.io.prom import read_and_assess, read_revision
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import PrometheusServer, Target, prometheus_running, revision_labels
from tests.integration.test_prom_real import VllmMetrics, settle

pytestmark = pytest.mark.integration

HIDDEN, PHANTOM = "d4e5f6", "e5f6a7"
"""A canary whose errors came before its restart; one healthy throughout, restarted mid-window."""
WINDOW = "1m"
SPEC = Analysis.model_validate({"window": WINDOW, "minRequests": 100, "slos": {"maxErrorRate": 0.05}})


class RestartablePod:
    """One vLLM pod's metrics endpoint; `restart()` is its process starting again: every counter
    and histogram from 0, the same target and labels."""

    def __init__(self) -> None:
        self.metrics = VllmMetrics()
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        async def scrape(_request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.metrics.registry),
                                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})  # fmt: skip

        app = web.Application()
        app.router.add_get("/metrics", scrape)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def restart(self) -> None:
        self.metrics = VllmMetrics()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Stage:
    prometheus: PrometheusServer
    pods: dict[str, RestartablePod]


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    pods = {revision: RestartablePod() for revision in (HIDDEN, PHANTOM)}
    try:
        for pod in pods.values():
            await pod.start()
        targets = [Target(pod.address, revision_labels("llm", "chat", rev)) for rev, pod in pods.items()]
        async with prometheus_running(tmp_path, targets=targets, scrape_interval="1s") as prometheus:
            await prometheus.wait_for_targets(len(targets))
            await prometheus.wait_for_scrapes(2)  # the zero samples increase() starts from
            yield Stage(prometheus, pods)
    finally:
        for pod in pods.values():
            await pod.close()


async def restart(stage: Stage, revision: str) -> None:
    """Restart the pod and wait until Prometheus has scraped its counters back at 0."""
    stage.pods[revision].restart()
    await settle(stage.prometheus, revision, 0)


async def test_a_restart_mid_window_is_no_negative_count_and_hides_no_breach(stage: Stage) -> None:
    # Healthy throughout: 300 requests, 6 failed (2 %); restarted; 100 more, none failed.
    phantom = stage.pods[PHANTOM]
    phantom.metrics.serve("/v1/chat/completions", "2xx", 294, latency=0.9, ttft=0.2)
    phantom.metrics.serve("/v1/chat/completions", "5xx", 6, latency=0.9, ttft=0.2)
    # Breaching, then restarted: 300 requests, 60 failed (20 %); restarted; 100 more, none failed.
    hidden = stage.pods[HIDDEN]
    hidden.metrics.serve("/v1/chat/completions", "2xx", 240, latency=0.9, ttft=0.2)
    hidden.metrics.serve("/v1/chat/completions", "5xx", 60, latency=0.9, ttft=0.2)
    await settle(stage.prometheus, PHANTOM, 300)
    await settle(stage.prometheus, HIDDEN, 300)
    await restart(stage, PHANTOM)
    await restart(stage, HIDDEN)
    stage.pods[PHANTOM].metrics.serve("/v1/chat/completions", "2xx", 100, latency=0.9, ttft=0.2)
    stage.pods[HIDDEN].metrics.serve("/v1/chat/completions", "2xx", 100, latency=0.9, ttft=0.2)
    phantom_at = await settle(stage.prometheus, PHANTOM, 100)
    hidden_at = await settle(stage.prometheus, HIDDEN, 100)

    url = stage.prometheus.url
    read = await read_revision(
        url,
        build_queries(SPEC, namespace="llm", deployment="chat", revision=PHANTOM),
        timeout=5,
        at=phantom_at,
    )
    assert read.error is None, read
    # Before and after the restart, added: never 100 - 300 (the drop read as a decrease).
    assert read[REQUESTS].value == pytest.approx(400, rel=0.05), read
    assert read[ERRORS].value == pytest.approx(6, rel=0.05), read

    healthy = await read_and_assess(
        url, SPEC, namespace="llm", deployment="chat", canary=PHANTOM, stable=None, timeout=5, at=phantom_at
    )
    assert healthy.outcome == "Passed", healthy.message
    assert healthy.readings[MAX_ERROR_RATE] == pytest.approx(6 / 400, rel=0.05)

    breached = await read_and_assess(
        url, SPEC, namespace="llm", deployment="chat", canary=HIDDEN, stable=None, timeout=5, at=hidden_at
    )
    assert breached.outcome == "Failed", breached.message  # the errors before the restart still count
    assert breached.readings[MAX_ERROR_RATE] == pytest.approx(60 / 400, rel=0.05)
