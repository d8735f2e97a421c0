"""The way back during a bake: the real operator against the emulated cluster's scheduler and kubelets.

For each pool and budget (a pool of exactly `replicas` one-GPU nodes with surge 0 / unavailable 1,
and one of 2 spare GPUs with the same budget and with surge 1 / unavailable 0), each way back and
each `warmReplicas` (1: warm, 0: without warm pods): serves revision A on R replicas with
`spec.rollout.bake` declared, changes the model's revision, waits until B is promoted and the bake
is steady (B on its serving replicas, A's warm pods ready), then

* a breach: an abort of the new stable (`qwenops.io/abort`), the rollback a conclusive SLO breach
  makes, from the instant it is decided (as `budget.py`'s breach at step 2);
* an undo: a person's `qwenops.io/undo`;

and measures, replaying the emulator's change log (pods, the `<name>` Service's selector, the
QwenDeployment's status) instant by instant from the abort's or the undo's patch:

* the time until all traffic is on the previous revision: no ready pod of B that is not on its way
  out is selected by the `<name>` Service, and at least one ready pod of A is;
* the time until A serves on R ready pods again, and the fewest ready pods the Service selected
  meanwhile;
* the peak of GPUs requested from the bake's start (phase Baking) until then.

Prints a markdown table: the median of `--runs` runs, their range in brackets. Loopback only.

    python bench/bake.py [--replicas 8] [--load 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from budget import COMMIT_A, COMMIT_B, NAME, NS, manifest, prepare, serving

from qwenops_testing.cluster import Client
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.manifests import expected_revision
from qwenops_testing.operator import Operator, eventually, operator_running
from qwenops_testing.service_timeline import Instant, replay

BAKE = "10m"
"""Longer than any run: the bake is under way when the breach or the undo comes."""
POOLS: list[tuple[int, dict[str, int]]] = [
    (0, {"maxSurge": 0, "maxUnavailable": 1}),
    (2, {"maxSurge": 0, "maxUnavailable": 1}),
    (2, {"maxSurge": 1, "maxUnavailable": 0}),
]
WAYS = {"breach": {"qwenops.io/abort": "breach"}, "undo": {"qwenops.io/undo": "bench"}}


async def one(
    args: argparse.Namespace, spare: int, budget: dict[str, int], way: str, warm: int
) -> dict[str, float]:
    """One run: the seconds to all traffic on A and to A whole, the fewest ready pods serving
    meanwhile, and the peak of GPUs requested."""
    replicas = args.replicas
    bake = {"bake": {"duration": BAKE, "warmReplicas": warm}}
    a, b = manifest(COMMIT_A, replicas, budget, **bake), manifest(COMMIT_B, replicas, budget, **bake)
    old, new = expected_revision(a), expected_revision(b)
    new_serving = replicas - max(0, warm - budget["maxSurge"])
    with tempfile.TemporaryDirectory(prefix="qwenops-bench-") as workdir:
        async with run_emulator(deployments_become_available=True) as emulator:
            prepare(emulator, replicas + spare, args.load)
            async with (
                aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
                operator_running(emulator.url, Path(workdir)) as operator,
            ):
                client = Client(session)
                await client.apply_qwd(a)
                await eventually(serving(emulator, old), "A serving", operator, timeout=120)
                await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": COMMIT_B}}})

                def steady() -> bool:
                    last = replay(emulator, NS, NAME)[-1]
                    return (
                        last.baking
                        and last.requested == new_serving + warm
                        and last.ready.get(new, 0) == new_serving
                        and last.ready.get(old, 0) == warm
                    )

                await eventually(steady, "B baking, A's warm pods ready", operator, timeout=args.timeout)
                began = time.monotonic()
                await client.patch_qwd(NS, NAME, {"metadata": {"annotations": WAYS[way]}})
                return await _measure(emulator, operator, args, began, old, new)


async def _measure(
    emulator: KubeEmulator, operator: Operator, args: argparse.Namespace, began: float, old: str, new: str
) -> dict[str, float]:
    replicas = args.replicas

    def whole() -> list[Instant]:
        """The timeline, once A alone asks for GPUs, on R ready pods."""
        instants = replay(emulator, NS, NAME)
        last = instants[-1]
        return instants if last.at > began and last.requested == last.ready.get(old, 0) == replicas else []

    instants = await eventually(whole, "A whole again", operator, timeout=args.timeout)
    after = [i for i in instants if i.at >= began]
    moved = next(i.at for i in after if not i.selected.get(new) and i.selected.get(old))
    full = next(i.at for i in after if i.ready.get(old, 0) == replicas)
    baked = next(i.at for i in instants if i.baking)
    peak = max(i.requested for i in instants if baked <= i.at <= full)
    least = min(sum(i.selected.values()) for i in after if i.at <= full)
    return {"traffic": moved - began, "whole": full - began, "least": float(least), "peak": float(peak)}


def cell(values: list[float], unit: str = " s", digits: int = 1) -> str:
    median = f"{statistics.median(values):.{digits}f}{unit}"
    if len(values) == 1 or min(values) == max(values):
        return median
    return f"{median} ({min(values):.{digits}f} to {max(values):.{digits}f})"


async def main(args: argparse.Namespace) -> None:
    print(f"R = {args.replicas}, bake {BAKE}, model load {args.load:g} s a pod, {args.runs} runs a row\n")
    print(
        "| pool | budget | way back | warmReplicas | to all traffic on the previous revision "
        "| to its full capacity | min ready serving | peak GPUs requested |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for spare, budget in POOLS:
        gpus = args.replicas + spare
        pool = f"full ({gpus})" if spare == 0 else f"+{spare} spare ({gpus})"
        label = f"surge {budget['maxSurge']} / unavailable {budget['maxUnavailable']}"
        for way in WAYS:
            for warm in (1, 0):
                runs = [await one(args, spare, budget, way, warm) for _ in range(args.runs)]
                cells = [
                    pool, label, way, str(warm),
                    cell([r["traffic"] for r in runs]), cell([r["whole"] for r in runs]),
                    cell([r["least"] for r in runs], unit="", digits=0),
                    cell([r["peak"] for r in runs], unit="", digits=0),
                ]  # fmt: skip
                print("| " + " | ".join(cells) + " |")
                sys.stdout.flush()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--load", type=float, default=2.0, help="seconds a pod loads its model")
    parser.add_argument("--runs", type=int, default=3, help="runs of each row")
    parser.add_argument("--timeout", type=float, default=90.0, help="give a phase up after this")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
