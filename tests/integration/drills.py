"""The stage of the fault drills (test_drills.py): the emulated API with fault injection, a
Prometheus stand-in, operators that can be killed, restarted or run side by side, and a
timeline of every change to the QwenDeployment and its Deployments, checked for the rollout's
invariants whatever the faults did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from qwenops_testing.cluster import DEPLOYMENTS, QWDS, Client, deployments_of, event_reasons, status_of
from qwenops_testing.emulator import KubeEmulator, kubeconfig, run_emulator
from qwenops_testing.faults import EXEMPT_HEADER, ApiFaults
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.prometheus_stand_in import PrometheusStandIn, prometheus_stand_in

NS, NAME = "llm", "chat"
STABLE_COMMIT, CANARY_COMMIT = "a" * 40, "c" * 40
REPLICAS = 3
STEPS = ({"weight": 25, "pause": "1s"}, {"weight": 40, "pause": "1s"})
CANARY_WEIGHTS = (25, 40)  # 1 pod beside 3, then 2 beside 3; promotion scales the canary to 3
REPO = Path(__file__).resolve().parents[2]
LEASES = "coordination.k8s.io/v1/leases"
LEASE = "qwenops"
ELECTION_ENV = {
    "QWENOPS_LEASE_NAMESPACE": NS,
    "QWENOPS_LEASE_NAME": LEASE,
    "QWENOPS_LEASE_DURATION_SECONDS": "3",
    "QWENOPS_LEASE_RENEW_DEADLINE_SECONDS": "2",
    "QWENOPS_LEASE_RETRY_SECONDS": "0.5",
}
"""Leader election as the chart runs it, with a Lease of 3 s (a drill's failover in seconds)."""


def manifest(
    commit: str,
    prometheus_url: str,
    name: str = NAME,
    *,
    replicas: int = REPLICAS,
    steps: Sequence[Mapping[str, Any]] = STEPS,
    rollout: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A drill's QwenDeployment, its canary read every 500 ms."""
    return qwen_deployment(
        commit,
        namespace=NS,
        name=name,
        replicas=replicas,
        steps=steps,
        rollout=rollout,
        analysis={
            "prometheus": {"url": prometheus_url},
            "interval": "500ms",
            "window": "10s",
            "minRequests": 20,
            "failureLimit": 2,
            "slos": {"maxErrorRate": 0.05, "p95LatencySeconds": 2.0},
        },
    )


def revision(commit: str) -> str:
    return expected_revision(manifest(commit, "http://unused"))


STABLE, CANARY = revision(STABLE_COMMIT), revision(CANARY_COMMIT)


# -- operators ------------------------------------------------------------------------------------


class DrillOperator(Operator):
    """An operator with an identity: its own log, and a kubeconfig user whose bearer token is that
    identity, so that the emulator's request log says which operator sent each request."""

    def __init__(
        self,
        url: object,
        workdir: Path,
        identity: str = "operator",
        *,
        env: Mapping[str, str] | None = None,
        elected: bool = False,
    ) -> None:
        super().__init__(url, workdir / identity, resync_seconds=1, cwd=REPO)
        self.identity = identity
        self.extra_env = {**(ELECTION_ENV if elected else {}), "POD_NAME": identity, **(env or {})}
        self.elected = elected
        config = kubeconfig(str(url))
        config["users"][0]["user"] = {"token": identity}
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        """`--standalone` (acting at once), or elected: `qwenops run -A`, as the chart runs it."""
        return super().command() if not self.elected else [sys.executable, "-m", "qwenops.cli", "run", "-A"]

    def signal(self, signum: int) -> None:
        """SIGSTOP, SIGCONT: a pod frozen (its node partitioned, a long GC pause), then thawed."""
        assert self.process is not None and self.process.returncode is None
        self.process.send_signal(signum)

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.extra_env}

    def logged(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")


def identity_of(headers: Mapping[str, str]) -> str | None:
    """The bearer token a DrillOperator sent (its identity)."""
    for key, value in headers.items():
        if key.lower() == "authorization" and value.startswith("Bearer "):
            return value.removeprefix("Bearer ")
    return None


@dataclass(frozen=True)
class Write:
    index: int
    identity: str | None
    method: str
    path: str
    body: Any


def writes_by(emulator: KubeEmulator, since: int = 0, *, include_leases: bool = False) -> list[Write]:
    """Every write (POST/PUT/PATCH/DELETE) from request `since` on, with the identity that sent it;
    the leader election's Lease writes left out unless asked for."""
    found = []
    for request in list(emulator)[since:]:
        method = str(request.method.value)
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        path = request.url.path
        if not include_leases and "/leases" in path:
            continue
        found.append(Write(request.id, identity_of(request.headers), method, path, request.data))
    return found


# -- the timeline ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    rv: int
    type: str
    kind: str
    name: str
    obj: dict[str, Any]


@dataclass
class Timeline:
    """Every change to QwenDeployments and Deployments, in resourceVersion order, from watches the
    test holds itself (exempt from faults, resumed from the last resourceVersion when cut)."""

    session: aiohttp.ClientSession
    changes: dict[tuple[int, str], Change] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for kind, path in (("QwenDeployment", f"/apis/{QWDS}"), ("Deployment", f"/apis/{DEPLOYMENTS}")):
            self.tasks.append(asyncio.create_task(self._follow(kind, path)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def ordered(self, kind: str | None = None) -> list[Change]:
        return sorted(
            (c for c in self.changes.values() if kind is None or c.kind == kind), key=lambda c: c.rv
        )

    async def _follow(self, kind: str, path: str) -> None:
        since = ""
        while True:
            try:
                params = {"watch": "true", "resourceVersion": since}
                async with self.session.get(
                    path, params=params, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
                ) as answer:
                    async for line in answer.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            since = ""
                            break
                        rv = int(obj["metadata"]["resourceVersion"])
                        self.changes[rv, kind] = Change(rv, event["type"], kind, obj["metadata"]["name"], obj)
                        since = str(rv)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.05)


def violations(
    timeline: Timeline,
    *,
    stable: str = STABLE,
    canary: str = CANARY,
    name: str = NAME,
    children: bool = True,
) -> list[str]:
    """What went wrong at any moment of the rollout, not only at its end:

    * the canary's step (and then its promotion) never goes backwards, and a step's pause,
      once started, is never started again;
    * no revision is recorded Promoted (or RolledBack) twice in status.history;
    * (`children`) the stable revision's Deployment keeps all its replicas while a canary runs,
      and is deleted only once the canary's Deployment is at full size with every replica ready;
      the canary's Deployment never shrinks but to 0 (a rollback); a deleted Deployment is
      never created again.
    """
    problems: list[str] = []
    progress: tuple[int, int] | None = None
    started: dict[int, str] = {}
    for change in timeline.ordered("QwenDeployment"):
        if change.name != name:
            continue
        status = change.obj.get("status") or {}
        running = status.get("canary") or {}
        if running.get("revision") == canary:
            now = (int(bool(running.get("promoting"))), int(running.get("step", 0)))
            if progress is not None and now < progress:
                problems.append(
                    f"rv {change.rv}: canary went back from (promoting, step) {progress} to {now}"
                )
            progress = now
            at = running.get("stepStartedAt")
            if at and not running.get("promoting") and started.setdefault(now[1], at) != at:
                problems.append(
                    f"rv {change.rv}: step {now[1]} started again at {at}, first at {started[now[1]]}"
                )
        outcomes = [(h["revision"], h["outcome"]) for h in status.get("history") or []]
        for entry in set(outcomes):
            if outcomes.count(entry) > 1:
                problems.append(f"rv {change.rv}: history records {entry} {outcomes.count(entry)} times")

    if not children:
        return problems
    stable_name, canary_name = f"{name}-{stable}", f"{name}-{canary}"
    canary_now: dict[str, Any] | None = None
    gone: set[str] = set()
    for change in timeline.ordered("Deployment"):
        if change.name in gone and change.type == "ADDED":
            problems.append(f"rv {change.rv}: Deployment {change.name} created again after its deletion")
        if change.type == "DELETED":
            gone.add(change.name)
        if change.name == canary_name and change.type != "DELETED":
            before = (canary_now or {}).get("spec", {}).get("replicas", 0)
            after = change.obj["spec"].get("replicas", 0)
            if 0 < after < before:
                problems.append(f"rv {change.rv}: canary Deployment shrank from {before} to {after} replicas")
        if change.name == canary_name:
            canary_now = None if change.type == "DELETED" else change.obj
        if change.name != stable_name:
            continue
        if change.type == "DELETED":
            spec = (canary_now or {}).get("spec") or {}
            ready = ((canary_now or {}).get("status") or {}).get("readyReplicas", 0)
            if spec.get("replicas", 0) < REPLICAS or ready < REPLICAS:
                problems.append(
                    f"rv {change.rv}: stable Deployment deleted while the canary had "
                    f"{ready}/{spec.get('replicas', 0)} ready"
                )
        elif (replicas := change.obj["spec"].get("replicas")) != REPLICAS:
            problems.append(f"rv {change.rv}: stable Deployment at {replicas} replicas, not {REPLICAS}")
    return problems


# -- the stage ------------------------------------------------------------------------------------


@dataclass
class Drill:
    emulator: KubeEmulator
    client: Client
    prometheus: PrometheusStandIn
    faults: ApiFaults
    timeline: Timeline
    workdir: Path
    operators: list[DrillOperator] = field(default_factory=list)

    @property
    def operator(self) -> DrillOperator:
        return self.operators[0]

    async def start_operator(
        self,
        identity: str = "operator",
        *,
        env: Mapping[str, str] | None = None,
        elected: bool = False,
    ) -> DrillOperator:
        operator = DrillOperator(self.emulator.url, self.workdir, identity, env=env, elected=elected)
        await operator.start()
        self.operators.append(operator)
        return operator

    def status(self, name: str = NAME) -> dict[str, Any]:
        return status_of(self.emulator, NS, name)

    def canary(self) -> dict[str, Any]:
        running: dict[str, Any] = self.status().get("canary") or {}
        return running

    def condition(self, type_: str) -> dict[str, Any]:
        found: dict[str, Any] = next(
            (c for c in self.status().get("conditions") or [] if c["type"] == type_), {}
        )
        return found

    async def until(self, check: Callable[[], object], what: str, timeout: float = 45) -> Any:
        return await eventually(check, what, self.operators[-1] if self.operators else None, timeout=timeout)

    async def serve_stable(self) -> None:
        await self.client.apply_qwd(manifest(STABLE_COMMIT, self.prometheus.url))
        await self.until(lambda: self.status().get("phase") == "Healthy", "the stable revision Healthy")

    async def start_canary(self) -> None:
        await self.client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": CANARY_COMMIT}}})

    async def promoted(self, timeout: float = 45) -> dict[str, Any]:
        def done() -> bool:
            status = self.status()
            return (
                (status.get("stable") or {}).get("revision") == CANARY
                and status.get("phase") == "Healthy"
                and set(deployments_of(self.emulator, NS, NAME)) == {CANARY}
            )

        await self.until(done, "the canary promoted", timeout)
        return self.status()

    async def rolled_back(self, timeout: float = 45) -> dict[str, Any]:
        def done() -> bool:
            status = self.status()
            scaled = deployments_of(self.emulator, NS, NAME).get(CANARY, {}).get("spec", {}).get("replicas")
            return status.get("phase") == "RolledBack" and scaled == 0

        await self.until(done, "the canary rolled back and scaled to 0", timeout)
        return self.status()

    def events(self, name: str = NAME) -> list[str]:
        return event_reasons(self.emulator, name)

    def generation_observed(self, name: str = NAME) -> bool:
        obj = self.emulator.get_object(QWDS, NS, name) or {}
        return bool(obj) and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get(
            "generation"
        )

    def lease_holder(self) -> str:
        """The Lease's `holderIdentity` ("" when none): an operator's identity and a random suffix."""
        lease = self.emulator.get_object(LEASES, NS, LEASE) or {}
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def logs(self) -> str:
        return "\n".join(f"--- {op.identity} ---\n{op.tail(40)}" for op in self.operators)


@contextlib.asynccontextmanager
async def drill_stage(workdir: Path) -> AsyncIterator[Drill]:
    """The emulated API (Deployments become available), fault injection installed, a Prometheus
    stand-in answering healthy values, the timeline recording; no operator yet."""
    async with (
        run_emulator(deployments_become_available=True) as emulator,
        prometheus_stand_in() as prometheus,
        aiohttp.ClientSession(str(emulator.url).rstrip("/"), headers={EXEMPT_HEADER: "client"}) as session,
    ):
        emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
        faults = ApiFaults.install(emulator)
        timeline = Timeline(session)
        timeline.start()
        drill = Drill(emulator, Client(session), prometheus, faults, timeline, workdir)
        try:
            yield drill
        finally:
            faults.clear()
            for operator in drill.operators:
                await operator.stop(kill=True)
            await timeline.stop()
