"""Simulated vLLM pods for the demo: what kubelets and vLLM would do on a GPU pool.

The emulated API creates a Deployment's pods (qwenops_testing.emulator); here each pod
gets a running vLLM simulator (images/serving/vllm_sim) that serves synthetic
traffic, a Prometheus target carrying the pod's labels, and container statuses
that walk through download, verify and load before it is ready. A model commit
listed in `error_rates` answers that share of requests with 500s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from images.serving.vllm_sim import run_simulator
from qwenops_testing.emulator import DEPLOYMENTS, KubeEmulator
from qwenops_testing.prometheus import PrometheusServer, Target, revision_labels

PODS = "v1/pods"
STAGES = (("download", 1.5), ("verify", 1.0), ("vllm", 1.5))
"""Seconds each container takes before the next one starts; then the pod is ready."""


def _pod_status(stage: int) -> dict[str, Any]:
    """Container statuses with the first `stage` steps done and the next one running."""
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    done = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    waiting = {"waiting": {"reason": "PodInitializing"}}

    def state(index: int) -> dict[str, Any]:
        return done if index < stage else running if index == stage else waiting

    return {
        "phase": "Pending" if stage < 2 else "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "initContainerStatuses": [
            {"name": "download", "state": state(0), "ready": False},
            {"name": "verify", "state": state(1), "ready": False},
        ],
        "containerStatuses": [{"name": "vllm", "state": running if stage >= 2 else waiting, "ready": False}],
    }


def _commit_of(pod: Mapping[str, Any]) -> str:
    args: list[str] = pod["spec"]["initContainers"][0]["args"]
    return args[args.index("--revision") + 1]


@dataclass
class PodFarm:
    """Keeps one simulator per live pod and the Deployments' readiness in step with them."""

    emulator: KubeEmulator
    prometheus: PrometheusServer
    error_rates: Mapping[str, float] = field(default_factory=dict)
    _sims: dict[tuple[str, str], tuple[contextlib.AsyncExitStack, Target]] = field(default_factory=dict)
    _born: dict[tuple[str, str], float] = field(default_factory=dict)

    async def _start(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        labels = meta["labels"]
        stack = contextlib.AsyncExitStack()
        sim = await stack.enter_async_context(
            run_simulator(
                model_name="qwen3-8b",
                revision=labels["qwenops.io/revision"],
                rps=25,
                sleep=False,
                error_rate=self.error_rates.get(_commit_of(pod), 0.002),
            )
        )
        address = str(sim.url).removeprefix("http://").rstrip("/")
        target = Target(address, revision_labels(meta["namespace"], labels["qwenops.io/deployment"],
                                                 labels["qwenops.io/revision"]))  # fmt: skip
        self._sims[meta["namespace"], meta["name"]] = (stack, target)

    async def step(self, now: float) -> None:
        pods = {
            (p["metadata"]["namespace"], p["metadata"]["name"]): p
            for p in self.emulator.list_objects(PODS)
            if not p["metadata"].get("deletionTimestamp")
        }
        changed = False
        for key in [k for k in self._sims if k not in pods]:
            stack, _ = self._sims.pop(key)
            await stack.aclose()
            changed = True
        for key, pod in pods.items():
            if key not in self._sims:
                await self._start(pod)
                changed = True
        if changed:
            self.prometheus.set_targets(target for _, target in self._sims.values())
        for deployment in self.emulator.list_objects(DEPLOYMENTS):
            meta = deployment["metadata"]
            born = self._born.setdefault((meta["namespace"], meta["name"]), now)
            elapsed, stage = now - born, 0
            for _, seconds in STAGES:
                if elapsed < seconds:
                    break
                elapsed -= seconds
                stage += 1
            ready = stage >= len(STAGES)
            self.emulator.set_pod_status(
                meta["namespace"], meta["name"], None if ready else _pod_status(stage)
            )
            self.emulator.set_deployment_ready(meta["namespace"], meta["name"], ready)

    async def close(self) -> None:
        for stack, _ in self._sims.values():
            await stack.aclose()
        self._sims.clear()


@contextlib.asynccontextmanager
async def pods_running(
    emulator: KubeEmulator, prometheus: PrometheusServer, error_rates: Mapping[str, float]
) -> AsyncIterator[PodFarm]:
    """Run the farm every 0.2 s for the length of the block."""
    farm = PodFarm(emulator, prometheus, error_rates)
    loop = asyncio.get_running_loop()

    async def tick() -> None:
        while True:
            await farm.step(loop.time())
            await asyncio.sleep(0.2)

    task = asyncio.create_task(tick())
    try:
        yield farm
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await farm.close()
