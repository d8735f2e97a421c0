"""Many QwenDeployments against the emulated API: time to converge, memory, API requests per object.

For each count N: starts the emulated API (qwenops_testing.emulator; Deployments become
available and get their pods) and the real operator (`qwenops run -A
--standalone`, a subprocess), creates N QwenDeployments at once, spread over a
few namespaces (no analysis, no Prometheus), and measures

* the time until every one is Healthy on its revision with `status.observedGeneration` current;
* the API requests the operator sent from the creation until that moment plus a settling
  period (`--settle`: the passes that come after the last object turned Healthy count too),
  per QwenDeployment: passes (reconciles: each reads its QwenDeployment once), reads
  (GET, LIST, WATCH) and writes (POST, PUT, PATCH, DELETE), without and with Events;
* the operator's peak RSS (VmHWM) and CPU time;
* then, in steady state (from one resync period later on, for a window of 2 resync
  periods by default): writes per minute (should be 0), reads per minute per
  QwenDeployment, and the CPU of the operator and of the emulated API;
* then one rollout wave: every object's model revision changes at once (no steps),
  timed until every one serves the new revision alone, and counted like the creation.

Prints a markdown table, the command line and the machine's load. Loopback only.

    python bench/scale.py [--counts 100 1000] [--namespaces 4] [--resync 30] [--window 60] [--no-rollout]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock

from qwenops_testing.cluster import QWDS
from qwenops_testing.emulator import KubeEmulator, RecordedRequest, run_emulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
READS = ("GET", "LIST", "WATCH")
WATCHED = (QWDS, "apps/v1/deployments", "v1/pods")
QWD_RESOURCE = kmock.resource(QWDS)
Key = tuple[str, str]


def manifest(namespace: str, name: str, commit: str = COMMIT_A) -> dict[str, Any]:
    return qwen_deployment(commit, namespace=namespace, name=name, replicas=2)


def objects(count: int, namespaces: int) -> list[Key]:
    """(namespace, name) of each QwenDeployment, round-robin over the namespaces."""
    return [(f"team-{index % namespaces}", f"qwen-{index:04d}") for index in range(count)]


def verb(request: RecordedRequest) -> str:
    """GET, LIST or WATCH for a read; the HTTP method for a write."""
    if request.method != "GET":
        return request.method
    if request.query.get("watch") in ("true", "1"):
        return "WATCH"
    return "LIST" if request.name is None else "GET"


@dataclass
class Counts:
    """The operator's requests in one phase."""

    passes: int = 0
    reads: int = 0
    writes: int = 0
    events: int = 0
    by_kind: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)

    @classmethod
    def of(cls, requests: Iterable[RecordedRequest]) -> Counts:
        counts = cls()
        for request in requests:
            kind = verb(request)
            subresource = f"/{request.subresource}" if request.subresource else ""
            counts.by_kind[kind, f"{request.resource}{subresource}"] += 1
            if kind == "GET" and request.resource == QWDS and not request.subresource:
                counts.passes += 1
            if kind in READS:
                counts.reads += 1
            elif request.is_event:
                counts.events += 1
            else:
                counts.writes += 1
        return counts


@dataclass
class Phase:
    """A burst of work: until every object is healthy, then settling."""

    seconds: float = 0.0
    counts: Counts = field(default_factory=Counts)
    since: int = 0
    """Index of its first request."""
    operator_cpu: float = 0.0
    api_cpu: float = 0.0


@dataclass
class Row:
    count: int
    converge: Phase = field(default_factory=Phase)
    rollout: Phase | None = None
    peak_rss_mib: float = 0.0
    steady_rss_mib: float = 0.0
    steady: Counts = field(default_factory=Counts)
    steady_seconds: float = 0.0
    steady_cpu: float = 0.0
    steady_api_cpu: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)


def proc_status(pid: int, key: str) -> float:
    """A `kB` field of /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_cpu() -> float:
    """CPU time of this process: the emulated API (and the bench's own polling, a small part)."""
    times = os.times()
    return times.user + times.system


def healthy(emulator: KubeEmulator, key: Key, revision: str) -> bool:
    obj = emulator.peek_object(QWD_RESOURCE, *key) or {}
    status = obj.get("status") or {}
    return (
        status.get("phase") == "Healthy"
        and status.get("observedGeneration") == obj.get("metadata", {}).get("generation")
        and (status.get("stable") or {}).get("revision") == revision
        and not status.get("canary")
    )


async def until_all(emulator: KubeEmulator, keys: Sequence[Key], revision: str, args: argparse.Namespace,
                    pid: int) -> float:  # fmt: skip
    """Seconds until every object is healthy on `revision` at once (checked again as a whole)."""
    started = time.monotonic()
    pending = list(keys)
    tracer = None
    if args.trace:
        tracer = asyncio.create_task(progress(emulator, started, lambda: len(keys) - len(pending), pid))
    try:
        while True:
            pending[:] = [key for key in pending if not healthy(emulator, key, revision)]
            if not pending and all(healthy(emulator, key, revision) for key in keys):
                return time.monotonic() - started
            if not pending:
                pending[:] = keys
            if time.monotonic() - started > args.timeout:
                raise TimeoutError(f"{len(pending)} of {len(keys)} not on {revision} after {args.timeout}s")
            await asyncio.sleep(0.2)
    finally:
        if tracer is not None:
            tracer.cancel()


async def progress(emulator: KubeEmulator, started: float, done: Callable[[], int], pid: int) -> None:
    """Every 5 s: how many are done, requests per second meanwhile, the operator's RSS and CPU."""
    count, cpu, api = emulator.request_count, cpu_seconds(pid), api_cpu()
    while True:
        await asyncio.sleep(5)
        now_count, now_cpu, now_api = emulator.request_count, cpu_seconds(pid), api_cpu()
        print(
            f"  {time.monotonic() - started:6.1f} s: {done():5} done, "
            f"{(now_count - count) / 5:5.0f} requests/s, operator {proc_status(pid, 'VmRSS'):4.0f} MiB, "
            f"{(now_cpu - cpu) / 5 * 100:3.0f} % CPU, API {(now_api - api) / 5 * 100:3.0f} % CPU",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        count, cpu, api = now_count, now_cpu, now_api


async def watching(emulator: KubeEmulator, timeout: float = 60) -> None:
    """Wait until the operator watches QwenDeployments, Deployments and Pods."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(WATCHED) <= {r.resource for r in emulator.request_log() if verb(r) == "WATCH"}:
            await asyncio.sleep(1)
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the operator did not start watching")


async def phase(
    emulator: KubeEmulator, act: Callable[[], None], keys: Sequence[Key], revision: str, pid: int,
    args: argparse.Namespace,
) -> Phase:  # fmt: skip
    """`act`, then wait until every object is healthy on `revision`, then settle; count the requests."""
    since, cpu, api = emulator.request_count, cpu_seconds(pid), api_cpu()
    started = time.monotonic()
    act()
    await until_all(emulator, keys, revision, args, pid)
    seconds = time.monotonic() - started  # the writes of the bench itself included
    await asyncio.sleep(args.settle)
    counts = Counts.of(emulator.request_log(since))
    return Phase(seconds, counts, since, cpu_seconds(pid) - cpu, api_cpu() - api)


async def steady(emulator: KubeEmulator, row: Row, pid: int, args: argparse.Namespace) -> None:
    await asyncio.sleep(args.steady_after)  # whatever was still queued is done by then
    since, cpu, api = emulator.request_count, cpu_seconds(pid), api_cpu()
    # kopf posts Events in the background, some well after the settling period: they count
    # with the creation all the same.
    row.converge.counts.events = Counts.of(
        emulator.request_log(row.converge.since)[: since - row.converge.since]
    ).events
    started = time.monotonic()
    await asyncio.sleep(args.window)
    row.steady_seconds = time.monotonic() - started
    row.steady = Counts.of(emulator.request_log(since))
    row.steady_cpu = cpu_seconds(pid) - cpu
    row.steady_api_cpu = api_cpu() - api
    row.load = os.getloadavg()


def create_all(emulator: KubeEmulator, keys: Sequence[Key]) -> Callable[[], None]:
    def act() -> None:
        for key in keys:
            emulator.create_object(QWDS, manifest(*key))

    return act


def change_all(emulator: KubeEmulator, keys: Sequence[Key]) -> Callable[[], None]:
    """A new model revision for every object (the rollout has no steps: straight to promotion)."""

    def act() -> None:
        for key in keys:
            emulator.patch_object(QWDS, *key, {"spec": {"model": {"revision": COMMIT_B}}})

    return act


async def one_count(count: int, args: argparse.Namespace) -> Row:
    row = Row(count)
    keys = objects(count, args.namespaces)
    revision_a = expected_revision(manifest("x", "x", COMMIT_A))
    revision_b = expected_revision(manifest("x", "x", COMMIT_B))
    with tempfile.TemporaryDirectory(prefix="qwenops-scale-") as workdir:
        async with run_emulator(deployments_become_available=True) as emulator:
            emulator.latency = args.api_latency
            for index in range(args.namespaces):
                emulator.create_object("v1/namespaces", {"metadata": {"name": f"team-{index}"}})
            operator = Operator(emulator.url, Path(workdir), resync_seconds=args.resync)
            await operator.start()
            assert operator.process is not None
            pid = operator.process.pid
            try:
                await watching(emulator)
                create, change = create_all(emulator, keys), change_all(emulator, keys)
                row.converge = await phase(emulator, create, keys, revision_a, pid, args)
                say(f"N={count}: all Healthy in {row.converge.seconds:.1f} s")
                await steady(emulator, row, pid, args)
                row.steady_rss_mib = proc_status(pid, "VmRSS")
                say(f"N={count}: steady {row.steady_seconds:.0f} s, RSS {row.steady_rss_mib:.0f} MiB")
                if args.rollout:
                    row.rollout = await phase(emulator, change, keys, revision_b, pid, args)
                    say(f"N={count}: all promoted in {row.rollout.seconds:.1f} s")
                row.peak_rss_mib = proc_status(pid, "VmHWM")
            except TimeoutError:
                print(operator.tail(), file=sys.stderr)
                raise
            finally:
                await operator.stop()
                if args.keep_log:
                    Path(args.keep_log).write_bytes(operator.log.read_bytes())
    return row


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def per(value: float, count: int) -> str:
    return f"{value / count:.1f}"


def table(rows: Sequence[Row]) -> str:
    """One line per measure, one column per count."""
    measures = [
        "all Healthy", "passes / object", "reads / object", "writes / object",
        "writes / object with Events", "operator CPU", "API CPU", "operator peak RSS",
        "steady: operator RSS", "steady: writes / min", "steady: reads / min / object",
        "steady: operator CPU", "steady: API CPU",
        "rollout wave: all promoted", "rollout: passes / object", "rollout: requests / object",
        "rollout: operator CPU",
    ]  # fmt: skip
    columns = [cells(row) for row in rows]
    lines = [
        "| QwenDeployments | " + " | ".join(str(row.count) for row in rows) + " |",
        "| --- " + "| ---: " * len(rows) + "|",
    ]
    for index, measure in enumerate(measures):
        lines.append(f"| {measure} | " + " | ".join(column[index] for column in columns) + " |")
    return "\n".join(lines)


def cells(row: Row) -> list[str]:
    made, minutes = row.converge.counts, row.steady_seconds / 60
    rollout = ["-", "-", "-", "-"]
    if row.rollout is not None:
        done = row.rollout.counts
        rollout = [f"{row.rollout.seconds:.1f} s", per(done.passes, row.count),
                   per(done.reads + done.writes + done.events, row.count),
                   f"{row.rollout.operator_cpu:.0f} s"]  # fmt: skip
    return [
        f"{row.converge.seconds:.1f} s", per(made.passes, row.count),
        per(made.reads, row.count), per(made.writes, row.count), per(made.writes + made.events, row.count),
        f"{row.converge.operator_cpu:.0f} s", f"{row.converge.api_cpu:.0f} s", f"{row.peak_rss_mib:.0f} MiB",
        f"{row.steady_rss_mib:.0f} MiB", f"{(row.steady.writes + row.steady.events) / minutes:.1f}",
        f"{row.steady.reads / minutes / row.count:.1f}",
        f"{row.steady_cpu / row.steady_seconds * 100:.0f} %",
        f"{row.steady_api_cpu / row.steady_seconds * 100:.0f} %",
        *rollout,
    ]  # fmt: skip


def breakdown(rows: Sequence[Row]) -> str:
    """Requests per object by verb and resource, for each phase (with --breakdown)."""
    out = []
    for row in rows:
        phases = [("converge", row.converge.counts), ("steady", row.steady)]
        if row.rollout is not None:
            phases.append(("rollout", row.rollout.counts))
        for name, counts in phases:
            out.append(f"\nN={row.count}, {name}: requests per object")
            for (kind, resource), number in sorted(counts.by_kind.items(), key=lambda item: -item[1]):
                out.append(f"    {kind:6} {resource:45} {number / row.count:8.2f}")
    return "\n".join(out)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--namespaces", type=int, default=4)
    parser.add_argument("--resync", type=float, default=30.0, help="QWENOPS_RESYNC_SECONDS (default 30)")
    parser.add_argument("--window", type=float, help="steady-state window in seconds (default 2 resyncs)")
    parser.add_argument("--settle", type=float, default=10.0, help="counted after the last turned healthy")
    parser.add_argument("--steady-after", type=float, help="wait before it (default 1 resync)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase")
    parser.add_argument("--api-latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--no-rollout", dest="rollout", action="store_false")
    parser.add_argument("--breakdown", action="store_true", help="requests by verb and resource too")
    parser.add_argument("--trace", action="store_true", help="a progress line every 5 s")
    parser.add_argument("--keep-log", metavar="PATH", help="copy the operator's log there")
    parser.add_argument("--pythonpath", metavar="DIR", help="run the operator's code from DIR (A/B runs)")
    args = parser.parse_args(argv)
    if args.window is None:
        args.window = 2 * args.resync
    if args.steady_after is None:
        args.steady_after = args.resync
    return args


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.pythonpath:
        os.environ["PYTHONPATH"] = args.pythonpath  # the operator subprocess inherits it
    rows = [await one_count(count, args) for count in args.counts]
    print(table(rows))
    if args.breakdown:
        print(breakdown(rows))
    loads = ", ".join(f"N={row.count}: {row.load[0]:.2f} {row.load[1]:.2f} {row.load[2]:.2f}" for row in rows)
    print(
        f"\n`python bench/scale.py {shlex.join(sys.argv[1:])}`: {args.namespaces} namespaces, "
        f"resync {args.resync:g} s, settle {args.settle:g} s, steady window of {args.window:g} s "
        f"from {args.steady_after:g} s after it, API latency {args.api_latency * 1000:g} ms, "
        f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) at the end of each steady window: {loads}"
    )


if __name__ == "__main__":
    asyncio.run(main())
