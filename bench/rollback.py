"""Breach onset to canary weight 0: the real operator, a real Prometheus, simulated vLLM pods.

Each run serves a stable revision, starts a canary, waits until the canary's
step has started and one reading passed, then, at a random point of the next
analysis interval, makes the canary fail (50 % of requests answer 500; 20
requests per second per revision; a 1 % error-rate SLO) and measures two times:
until the canary receives no more traffic, as read back from the API (no canary
pod ready and not terminating, so none left in the Service's ready endpoints;
with an HTTPRoute, also its backendRef at weight 0), which is what the users
feel; and until the status says so (phase RolledBack).
Prints a table; no network beyond loopback.

    python bench/rollback.py [--runs 10] [--scrape 5s] [--interval 5s] [--window 30s] [--failure-limit 2]
    python bench/rollback.py --runs 10 --grid 1s,2s,10s 5s,5s,30s 5s,15s,1m   # a row per setting
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from qwenops.api.durations import parse_duration
from qwenops_testing.cluster import Client, status_of
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.prometheus import Target, prometheus_running, revision_labels

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the simulator (images/serving/vllm_sim)

from images.serving.vllm_sim import run_simulator  # noqa: E402

NS, NAME = "llm", "chat"
STABLE_COMMIT, CANARY_COMMIT = "a" * 40, "c" * 40
RPS = 20
PODS, HTTPROUTES = "v1/pods", "gateway.networking.k8s.io/v1/httproutes"
REVISION_LABEL = "qwenops.io/revision"
TIMEOUT = 300


def phase_is(emulator: KubeEmulator, phase: str) -> Callable[[], bool]:
    return lambda: status_of(emulator, NS, NAME).get("phase") == phase


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def canary_in_traffic(emulator: KubeEmulator, canary_rev: str) -> bool:
    """Whether the canary can still be sent requests, as the API shows it: one of its pods ready
    and not terminating (an endpoint kube-proxy routes to while the stable has ready ones), and,
    where an HTTPRoute carries the weights, a canary backendRef above weight 0."""
    pods = [
        pod for pod in emulator.list_objects(PODS)
        if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) == canary_rev
        and pod["metadata"]["namespace"] == NS
    ]  # fmt: skip
    endpoints = any(_ready(pod) and not pod["metadata"].get("deletionTimestamp") for pod in pods)
    routes = [r for r in emulator.list_objects(HTTPROUTES) if r["metadata"]["namespace"] == NS]
    weights = [
        int(ref.get("weight", 1))
        for route in routes
        for rule in route.get("spec", {}).get("rules") or []
        for ref in rule.get("backendRefs") or []
        if str(ref.get("name", "")).endswith("-canary")
    ]
    return endpoints and (not weights or any(weights))


async def clocks(
    emulator: KubeEmulator, canary_rev: str, onset: float, operator: Operator
) -> tuple[float, float]:
    """Seconds from `onset` until the canary is out of traffic, and until the status says RolledBack."""
    off: float | None = None
    rolled_back: float | None = None
    while off is None or rolled_back is None:
        now = time.monotonic()
        if off is None and not canary_in_traffic(emulator, canary_rev):
            off = now - onset
        if rolled_back is None and phase_is(emulator, "RolledBack")():
            rolled_back = now - onset
        if now - onset > TIMEOUT:
            raise AssertionError(f"no rollback within {TIMEOUT}s\n{operator.tail()}")
        await asyncio.sleep(0.05)
    return off, rolled_back


def manifest(commit: str, url: str, args: argparse.Namespace) -> dict[str, object]:
    return qwen_deployment(
        commit,
        namespace=NS,
        name=NAME,
        replicas=2,
        steps=[{"weight": 50, "pause": "1h"}],
        analysis={
            "prometheus": {"url": url},
            "interval": args.interval,
            "window": args.window,
            "minRequests": 50,
            "failureLimit": args.failure_limit,
            "slos": {"maxErrorRate": 0.01},
        },
    )


def revision(commit: str, args: argparse.Namespace) -> str:
    return expected_revision(manifest(commit, "http://x", args))


async def one_run(args: argparse.Namespace, seed: int) -> tuple[float, float]:
    stable_rev, canary_rev = revision(STABLE_COMMIT, args), revision(CANARY_COMMIT, args)
    with tempfile.TemporaryDirectory(prefix="qwenops-bench-") as workdir:
        async with (
            run_emulator(deployments_become_available=True) as emulator,
            run_simulator(model_name="qwen", revision=stable_rev, seed=seed, rps=20, sleep=False) as stable,
            run_simulator(
                model_name="qwen", revision=canary_rev, seed=seed + 1, rps=20, sleep=False
            ) as canary,
            prometheus_running(
                Path(workdir) / "prometheus",
                targets=[
                    Target(stable.url.removeprefix("http://"), revision_labels(NS, NAME, stable_rev)),
                    Target(canary.url.removeprefix("http://"), revision_labels(NS, NAME, canary_rev)),
                ],
                scrape_interval=args.scrape,
            ) as prometheus,
            aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
        ):
            emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
            operator = Operator(emulator.url, Path(workdir), resync_seconds=30)
            await operator.start()
            try:
                client = Client(session)
                await client.apply_qwd(manifest(STABLE_COMMIT, prometheus.url, args))
                await eventually(
                    lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "stable", operator
                )
                await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": CANARY_COMMIT}}})

                def passed_once() -> bool:
                    status = status_of(emulator, NS, NAME)
                    return (status.get("analysis") or {}).get("verdict") == "Passed" and bool(
                        status.get("canary")
                    )

                await eventually(passed_once, "a passing reading", operator, timeout=120)
                assert canary_in_traffic(emulator, canary_rev), "the canary serves before the breach"
                # Onset at a random point of the reading cycle, as a real regression would come.
                cycle = parse_duration(args.interval).total_seconds()
                await asyncio.sleep(random.Random(seed).uniform(0, cycle))
                canary.configure(error_rate=0.5)
                return await clocks(emulator, canary_rev, time.monotonic(), operator)
            finally:
                await operator.stop()


def spread(times: list[float]) -> str:
    """min | median | p90 | max, as table cells."""
    times = sorted(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return f"{times[0]:.1f} s | {statistics.median(times):.1f} s | {p90:.1f} s | {times[-1]:.1f} s"


async def distribution(args: argparse.Namespace) -> str:
    """Run `args.runs` breaches at one setting; the table row of their two clocks."""
    off, said = [], []
    for run in range(args.runs):
        traffic, status = await one_run(args, seed=run * 2)
        off.append(traffic)
        said.append(status)
        print(
            f"scrape {args.scrape} interval {args.interval} window {args.window}, run {run + 1:>2}: "
            f"breach onset to no canary traffic in {traffic:5.1f} s, to status RolledBack in {status:5.1f} s",
            flush=True,
        )
    return (
        f"| {args.scrape} | {args.interval} | {args.window} | {args.failure_limit} | {len(off)} "
        f"| {spread(off)} | {spread(said)} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scrape", default="5s")
    parser.add_argument("--interval", default="5s")
    parser.add_argument("--window", default="30s")
    parser.add_argument("--failure-limit", type=int, default=2)
    parser.add_argument(
        "--grid", nargs="*", default=[], metavar="SCRAPE,INTERVAL,WINDOW", help="several settings, a row each"
    )
    args = parser.parse_args()
    settings = [tuple(item.split(",")) for item in args.grid] or [(args.scrape, args.interval, args.window)]
    rows = []
    for scrape, interval, window in settings:
        one = argparse.Namespace(**{**vars(args), "scrape": scrape, "interval": interval, "window": window})
        rows.append(await distribution(one))
    print()
    print(
        "| scrape | interval | window | failureLimit | runs "
        "| no traffic: min | median | p90 | max | RolledBack: min | median | p90 | max |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
