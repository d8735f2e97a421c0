"""Rollouts within a GPU budget: the real operator against the emulated cluster's scheduler and kubelets.

For each pool (exactly `replicas x gpusPerReplica` GPUs, 2 spare, and R spare) and each budget (surge 0 /
unavailable 1, surge 0 / unavailable 2, surge 1 / unavailable 0, and none), starts the emulated API
with that many one-GPU nodes, pods that load their model in `--load` seconds, and the real operator
(a subprocess); serves revision A on R replicas, then changes the model's revision and measures,
from the change to the old revision's last pod gone, replaying the emulator's change log instant
by instant:

* the rollout's wall time (or that it did not finish within `--timeout`: pods waiting for GPUs);
* the peak of GPUs requested (every pod not finished: Pending and terminating ones too);
* the minimum of ready serving pods (the canary's pods count once ready, as the Service sends to them);
* the GPU-seconds the pods asked for.

Then, with a budget, on a pool of `replicas + maxSurge` GPUs, a breach at step 2 (an abort once
step 2's weight is in effect): the time to weight 0 (phase RolledBack) and the time until the
stable serves on R ready pods again.

Prints a markdown table. Loopback only.

    python bench/budget.py [--replicas 8] [--spare 2 8] [--load 2] [--timeout 45]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from qwenops_testing.cluster import Client, status_of
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.gpu_timeline import Moment, replay
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually, operator_running

NS, NAME = "llm", "chat"
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
STEPS = [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "2s"}]
BUDGETS: list[tuple[str, dict[str, Any] | None]] = [
    ("surge 0 / unavailable 1", {"maxSurge": 0, "maxUnavailable": 1}),
    ("surge 0 / unavailable 2", {"maxSurge": 0, "maxUnavailable": 2}),
    ("surge 1 / unavailable 0", {"maxSurge": 1, "maxUnavailable": 0}),
    ("no budget", None),
]


def manifest(commit: str, replicas: int, budget: dict[str, Any] | None, **rollout: Any) -> dict[str, Any]:
    """The QwenDeployment at `commit`; `rollout` adds fields to spec.rollout (e.g. bake)."""
    if budget is not None:
        rollout["budget"] = budget
    return qwen_deployment(commit, namespace=NS, name=NAME, replicas=replicas, steps=STEPS, rollout=rollout)


def prepare(emulator: KubeEmulator, gpus: int, load: float) -> None:
    """The namespace, `gpus` one-GPU nodes, and kubelets that load a model in `load` seconds."""
    emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
    emulator.pod_timing.start_seconds = 0.2
    emulator.pod_timing.load_seconds = load
    emulator.pod_timing.shutdown_seconds = 0.5
    emulator.add_nodes(gpus, gpus=1)


def serving(emulator: KubeEmulator, revision: str) -> Callable[[], bool]:
    def check() -> bool:
        status = status_of(emulator, NS, NAME)
        return status.get("phase") == "Healthy" and (status.get("stable") or {}).get("revision") == revision

    return check


def gpu_seconds(moments: list[Moment], start: float, end: float) -> float:
    total, last_at, last = 0.0, start, 0
    for moment in moments:
        if moment.at <= start:
            last = moment.requested
            continue
        if moment.at > end:
            break
        total += last * (moment.at - last_at)
        last_at, last = moment.at, moment.requested
    return total + last * (end - last_at)


async def one(
    args: argparse.Namespace, gpus: int, budget: dict[str, Any] | None, *, breach: bool
) -> dict[str, str]:
    replicas = args.replicas
    with tempfile.TemporaryDirectory(prefix="qwenops-bench-") as workdir:
        async with run_emulator(deployments_become_available=True) as emulator:
            prepare(emulator, gpus, args.load)
            async with (
                aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
                operator_running(emulator.url, Path(workdir)) as operator,
            ):
                client = Client(session)
                a = manifest(COMMIT_A, replicas, budget)
                await client.apply_qwd(a)
                await eventually(serving(emulator, expected_revision(a)), "A serving", operator, timeout=120)
                b = manifest(COMMIT_B, replicas, budget)
                began = time.monotonic()
                await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})
                if breach:
                    return await _breach(emulator, client, operator, began, replicas)
                return await _rollout(emulator, operator, args, began, expected_revision(b), replicas)


async def _rollout(
    emulator: KubeEmulator,
    operator: Operator,
    args: argparse.Namespace,
    began: float,
    new: str,
    replicas: int,
) -> dict[str, str]:
    def done() -> list[Moment]:
        """The timeline, once the new revision alone asks for GPUs, on R ready pods."""
        moments = replay(emulator, NS, NAME)
        last = moments[-1]
        return moments if last.requested == last.ready.get(new, 0) == replicas else []

    try:
        await eventually(serving(emulator, new), "B promoted", operator, timeout=args.timeout)
        moments = await eventually(done, "the old revision's pods gone", operator, timeout=args.timeout)
        old_gone = moments[-1].at
        wall = f"{old_gone - began:.1f} s"
    except AssertionError:
        moments = replay(emulator, NS, NAME)
        old_gone = time.monotonic()
        message = status_of(emulator, NS, NAME).get("message", "")
        stuck = " (pods Unschedulable)" if "Unschedulable" in message else ""
        wall = f"not within {args.timeout:.0f} s{stuck}"
    during = [m for m in moments if began <= m.at <= old_gone]
    return {
        "wall": wall,
        "peak": str(max(m.requested for m in during)),
        "min ready": str(min(sum(m.ready.values()) for m in during)),
        "gpu-s": f"{gpu_seconds(moments, began, old_gone):.0f}",
    }


async def _breach(
    emulator: KubeEmulator, client: Client, operator: Operator, began: float, replicas: int
) -> dict[str, str]:
    def at_step_2() -> bool:
        canary = status_of(emulator, NS, NAME).get("canary") or {}
        return canary.get("step") == 1 and canary.get("stepStartedAt") is not None

    await eventually(at_step_2, "step 2 in effect", operator, timeout=120)
    breached = time.monotonic()
    await client.patch_qwd(NS, NAME, {"metadata": {"annotations": {"qwenops.io/abort": "breach"}}})
    await eventually(
        lambda: status_of(emulator, NS, NAME).get("phase") == "RolledBack", "RolledBack", operator
    )
    weight_zero = time.monotonic() - breached
    await eventually(lambda: "capacity" not in status_of(emulator, NS, NAME), "whole again", operator, 120)
    moments = replay(emulator, NS, NAME)
    stable = expected_revision(manifest(COMMIT_A, replicas, None))
    whole = next(m.at for m in moments if m.at > breached and m.ready.get(stable, 0) == replicas)
    return {"to weight 0": f"{weight_zero:.1f} s", "to full stable": f"{whole - breached:.1f} s"}


async def main(args: argparse.Namespace) -> None:
    pools = [("full", args.replicas)] + [(f"+{n} spare", args.replicas + n) for n in args.spare]
    print(f"R = {args.replicas}, steps 25/50 (2s pauses), model load {args.load:g} s a pod\n")
    print("| pool | budget | wall time | peak GPUs requested | min ready serving | GPU-seconds |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for pool, gpus in pools:
        for label, budget in BUDGETS:
            row = await one(args, gpus, budget, breach=False)
            cells = [f"{pool} ({gpus})", label, row["wall"], row["peak"], row["min ready"], row["gpu-s"]]
            print("| " + " | ".join(cells) + " |")
            sys.stdout.flush()
    print("\n| breach at step 2 (pool: replicas + maxSurge) | time to weight 0 | time to full stable |")
    print("| --- | ---: | ---: |")
    for label, budget in BUDGETS[:3]:
        assert budget is not None
        row = await one(args, args.replicas + int(budget["maxSurge"]), budget, breach=True)
        print(f"| {label} | {row['to weight 0']} | {row['to full stable']} |")
        sys.stdout.flush()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--spare", type=int, nargs="*", default=[2, 8], help="spare GPUs of each other pool")
    parser.add_argument("--load", type=float, default=2.0, help="seconds a pod loads its model")
    parser.add_argument("--timeout", type=float, default=45.0, help="give a rollout up after this")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
