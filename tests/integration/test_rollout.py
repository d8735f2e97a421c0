"""Canary rollouts end to end: the real operator, the emulated API, a real Prometheus server
scraping simulated vLLM pods (one simulator per revision, labelled as a PodMonitor labels pods)."""

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from images.serving.vllm_sim import Simulator, run_simulator
from qwenops_testing.cluster import DEPLOYMENTS, QWDS, Client, deployments_of, event_reasons, status_of
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import PrometheusServer, Target, prometheus_running, revision_labels

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
STABLE_COMMIT, CANARY_COMMIT = "a" * 40, "c" * 40
SLOS = {"maxErrorRate": 0.05, "p95LatencySeconds": 2.0}


def manifest(commit: str, prometheus_url: str, **analysis: Any) -> dict[str, Any]:
    return qwen_deployment(
        commit,
        replicas=2,
        steps=[{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}],
        analysis={
            "prometheus": {"url": prometheus_url},
            "interval": "2s",
            "window": "10s",
            "minRequests": 20,
            "failureLimit": 2,
            "slos": SLOS,
            **analysis,
        },
    )


def revision(commit: str) -> str:
    return expected_revision(manifest(commit, "http://x"))


@dataclass
class Stack:
    emulator: KubeEmulator
    client: Client
    operator: Operator
    prometheus: PrometheusServer
    stable: Simulator
    canary: Simulator

    def status(self) -> dict[str, Any]:
        return status_of(self.emulator, NS, NAME)

    async def start_rollout(self, **analysis: Any) -> None:
        """Serve the stable revision, then ask for the canary one."""
        await self.client.apply_qwd(manifest(STABLE_COMMIT, self.prometheus.url, **analysis))
        await eventually(lambda: self.status().get("phase") == "Healthy", "stable Healthy", self.operator)
        await self.client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": CANARY_COMMIT}}})

    async def settled(self, phase: str, timeout: float = 60) -> dict[str, Any]:
        await eventually(lambda: self.status().get("phase") == phase, phase, self.operator, timeout=timeout)
        return self.status()


def target(simulator: Simulator, commit: str) -> Target:
    return Target(simulator.url.removeprefix("http://"), revision_labels(NS, NAME, revision(commit)))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with (
        run_emulator(deployments_become_available=True) as emulator,
        run_simulator(
            model_name="qwen", revision=revision(STABLE_COMMIT), seed=1, rps=20, sleep=False
        ) as stable,
        run_simulator(
            model_name="qwen", revision=revision(CANARY_COMMIT), seed=2, rps=20, sleep=False
        ) as canary,
        prometheus_running(
            tmp_path / "prometheus",
            targets=[target(stable, STABLE_COMMIT), target(canary, CANARY_COMMIT)],
            scrape_interval="1s",
        ) as prometheus,
        aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
    ):
        emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
        await prometheus.wait_for_targets(2)
        operator = Operator(emulator.url, tmp_path, resync_seconds=1, metrics_port=free_port())
        await operator.start()
        try:
            yield Stack(emulator, Client(session), operator, prometheus, stable, canary)
        finally:
            await operator.stop()


def operator_metric(operator: Operator, name: str) -> float:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).read().decode()
    )
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_a_healthy_canary_goes_through_every_step_and_is_promoted(stack: Stack) -> None:
    await stack.start_rollout()
    seen_weights: set[int] = set()

    def promoted() -> bool:
        status = stack.status()
        if status.get("canary"):
            seen_weights.add(status["canary"]["weight"])
        return (status.get("stable") or {}).get("revision") == revision(CANARY_COMMIT)

    await eventually(promoted, "the canary promoted", stack.operator, timeout=90)
    status = stack.status()
    assert status["phase"] == "Healthy"
    assert {33, 50} <= seen_weights, seen_weights  # 1 pod beside 2, then 2 beside 2
    assert status["analysis"]["verdict"] == "Passed"
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert set(deployments_of(stack.emulator, NS, NAME)) == {revision(CANARY_COMMIT)}
    await eventually(
        lambda: "Promoted" in event_reasons(stack.emulator, NAME), "Promoted event", stack.operator
    )


async def test_watches_expired_mid_rollout_change_nothing_the_operator_decides(stack: Stack) -> None:
    """etcd compacts past every open watch mid-step: kopf gets 410 Gone, lists again, and the
    rollout goes on exactly as the one above (every step, one promotion, each event once)."""
    await stack.start_rollout()
    seen_weights: set[int] = set()

    def in_a_step() -> bool:
        canary = stack.status().get("canary") or {}
        if "weight" in canary:
            seen_weights.add(canary["weight"])
        return "stepStartedAt" in canary

    await eventually(in_a_step, "a step started", stack.operator)
    since = stack.emulator.request_count
    stack.emulator.compact(expire_watches=True)

    def listed_again() -> bool:
        return any(r.method == "GET" and r.resource == QWDS and r.name is None and r.query.get("watch") != "true"
                   for r in stack.emulator.request_log(since))  # fmt: skip

    await eventually(listed_again, "kopf listing QwenDeployments again after the 410", stack.operator)

    def promoted() -> bool:
        in_a_step()
        return (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT)

    await eventually(promoted, "the canary promoted", stack.operator, timeout=90)
    status = stack.status()
    assert status["phase"] == "Healthy" and status["analysis"]["verdict"] == "Passed"
    assert {33, 50} <= seen_weights, seen_weights
    assert [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert set(deployments_of(stack.emulator, NS, NAME)) == {revision(CANARY_COMMIT)}
    await eventually(
        lambda: "Promoted" in event_reasons(stack.emulator, NAME), "Promoted event", stack.operator
    )
    reasons = event_reasons(stack.emulator, NAME)
    assert (reasons.count("RolloutStarted"), reasons.count("StepStarted"), reasons.count("Promoted")) == (1, 2, 1)


@pytest.mark.parametrize(
    ("breach", "slo"),
    [({"error_rate": 0.5}, "maxErrorRate"), ({"latency_seconds": 6.0}, "p95LatencySeconds")],
    ids=["error-rate", "latency"],
)
async def test_an_slo_breach_rolls_back(stack: Stack, breach: dict[str, Any], slo: str) -> None:
    stack.canary.configure(**breach)
    await stack.start_rollout()
    status = await stack.settled("RolledBack")
    canary_rev = revision(CANARY_COMMIT)
    assert status["stable"]["revision"] == revision(STABLE_COMMIT)
    assert status["rejectedRevision"] == canary_rev and "canary" not in status
    assert deployments_of(stack.emulator, NS, NAME)[canary_rev]["spec"]["replicas"] == 0
    (entry,) = status["history"]
    assert entry["outcome"] == "RolledBack" and slo in entry["reason"] and "query:" in entry["reason"]
    await eventually(
        lambda: "RolledBack" in event_reasons(stack.emulator, NAME), "RolledBack event", stack.operator
    )
    assert (
        operator_metric(
            stack.operator, 'qwenops_rollbacks_total{name="chat",namespace="llm",reason="SLOBreached"}'
        )
        == 1
    )
    await asyncio.sleep(3)  # and it stays rolled back: the revision is not tried again
    assert stack.status()["phase"] == "RolledBack"
    assert [h["outcome"] for h in stack.status()["history"]] == ["RolledBack"]


async def test_a_newer_revision_mid_step_replaces_the_canary_and_the_history_says_so(stack: Stack) -> None:
    await stack.start_rollout()
    await eventually(
        lambda: (stack.status().get("canary") or {}).get("stepStartedAt"), "a step", stack.operator
    )
    third = revision("e" * 40)
    await stack.client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "e" * 40}}})
    await eventually(
        lambda: (stack.status().get("canary") or {}).get("revision") == third,
        "the newer canary",
        stack.operator,
    )
    (entry,) = stack.status()["history"]
    assert (entry["revision"], entry["outcome"], entry["replacedBy"]) == (
        revision(CANARY_COMMIT), "Replaced", third
    )  # fmt: skip
    assert entry["reason"].startswith("at step "), entry
    assert revision(CANARY_COMMIT) not in deployments_of(stack.emulator, NS, NAME)
    await eventually(
        lambda: "CanaryReplaced" in event_reasons(stack.emulator, NAME),
        "CanaryReplaced event",
        stack.operator,
    )


async def test_low_traffic_holds_without_rolling_back(stack: Stack) -> None:
    stack.canary.configure(rps=0.5, error_rate=0.5)  # bad, but too little traffic to judge
    await asyncio.sleep(12)  # until the 10s window holds none of the fixture's earlier busy traffic
    await stack.start_rollout()

    def inconclusive() -> bool:
        conditions = {c["type"]: c for c in stack.status().get("conditions", [])}
        held = conditions.get("AnalysisInconclusive", {})
        return held.get("status") == "True"

    await eventually(inconclusive, "AnalysisInconclusive", stack.operator, timeout=60)
    await asyncio.sleep(6)  # several intervals and pauses: it holds
    status = stack.status()
    assert status["phase"] == "Progressing" and status["canary"]["step"] == 0
    assert status["analysis"]["verdict"] == "Inconclusive"
    stack.canary.configure(rps=20, error_rate=0.0)
    await eventually(
        lambda: (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT),
        "promoted once traffic is enough",
        stack.operator,
        timeout=90,
    )


async def test_prometheus_down_holds_and_the_rollout_recovers(stack: Stack) -> None:
    await stack.start_rollout()
    await eventually(
        lambda: (stack.status().get("canary") or {}).get("stepStartedAt"), "a step", stack.operator
    )
    await stack.prometheus.stop()
    await eventually(
        lambda: (stack.status().get("analysis") or {}).get("verdict") == "Error",
        "an Error reading",
        stack.operator,
    )
    await asyncio.sleep(6)
    status = stack.status()
    assert status["phase"] == "Progressing" and "rejectedRevision" not in status
    assert "Prometheus" in status["analysis"]["message"]
    await stack.prometheus.start()
    await eventually(
        lambda: (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT),
        "promoted after Prometheus came back",
        stack.operator,
        timeout=90,
    )


async def test_the_operator_killed_mid_step_resumes_at_the_same_step(stack: Stack) -> None:
    await stack.start_rollout()

    def in_step_two() -> bool:
        canary = stack.status().get("canary") or {}
        return canary.get("step") == 1 and "stepStartedAt" in canary

    await eventually(in_step_two, "step 2 started", stack.operator, timeout=60)
    await stack.operator.stop(kill=True)
    before = stack.status()["canary"]
    await asyncio.sleep(2)
    await stack.operator.start()
    await asyncio.sleep(1)
    after = stack.status().get("canary")
    if after is not None and not after.get("promoting"):  # still in the step it was killed in
        assert (after["step"], after.get("stepStartedAt")) == (before["step"], before["stepStartedAt"])
    await eventually(
        lambda: (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT),
        "promoted",
        stack.operator,
        timeout=90,
    )
    await asyncio.sleep(3)
    assert [h["outcome"] for h in stack.status()["history"]] == ["Promoted"]
    assert event_reasons(stack.emulator, NAME).count("Promoted") == 1
    assert event_reasons(stack.emulator, NAME).count("RolloutStarted") == 1
    # Each step started once, none again (an event queued at the moment of the kill may be lost: at most once).
    assert event_reasons(stack.emulator, NAME).count("StepStarted") <= 2
    assert not [d for d in stack.emulator.list_objects(DEPLOYMENTS) if d["spec"]["replicas"] == 0]


ROUTE_PATH = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes"


async def test_with_an_httproute_exact_weights_are_set_and_checked(stack: Stack) -> None:
    await stack.client.call("POST", ROUTE_PATH, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {"parentRefs": [{"name": "gateway"}],
                 "rules": [{"backendRefs": [{"name": f"{NAME}-stable", "port": 8000}]}]},
    })  # fmt: skip
    await stack.start_rollout()
    await stack.client.patch_qwd(
        NS, NAME, {"spec": {"rollout": {"trafficRouting": {"httpRoute": {"name": NAME}}}}}
    )
    weights: list[tuple[int, int]] = []

    def route_weights() -> bool:
        route = stack.emulator.get_object("gateway.networking.k8s.io/v1/httproutes", NS, NAME) or {}
        refs = {r["name"]: r.get("weight") for r in route["spec"]["rules"][0]["backendRefs"]}
        pair = (refs.get(f"{NAME}-stable"), refs.get(f"{NAME}-canary"))
        if pair not in weights and None not in pair:
            weights.append(pair)  # type: ignore[arg-type]
        return (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT) and pair == (
            100,
            0,
        )

    await eventually(
        route_weights, "promoted, the route back to the stable Service", stack.operator, timeout=90
    )
    assert (75, 25) in weights and (50, 50) in weights, weights
    # exact routing needs only the weight's share of pods: 1 of 2 at 25 %
    assert weights.index((75, 25)) < weights.index((50, 50))


async def test_a_route_that_does_not_carry_the_weights_holds_the_rollout(stack: Stack) -> None:
    await stack.start_rollout(**{})
    await stack.client.patch_qwd(
        NS, NAME, {"spec": {"rollout": {"trafficRouting": {"httpRoute": {"name": "missing"}}}}}
    )
    await eventually(
        lambda: "HTTPRoute missing not found" in stack.status().get("message", ""),
        "the hold",
        stack.operator,
        timeout=60,
    )
    await asyncio.sleep(8)  # longer than both pauses
    assert stack.status()["phase"] == "Progressing"
    assert (stack.status().get("stable") or {}).get("revision") == revision(STABLE_COMMIT)
