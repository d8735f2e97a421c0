"""Answer-quality probes end to end: the real operator, the emulated API, a real Prometheus, and a
simulator per revision behind its own Service. A canary whose errors and latency are normal but
whose answers are bad is rolled back naming the probe check; a healthy one is promoted."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from images.serving.vllm_sim import run_simulator
from qwenops_testing.cluster import EVENTS, Client, event_reasons
from qwenops_testing.emulator import run_emulator
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import prometheus_running
from qwenops_testing.services import ServiceProxy, service_proxy
from tests.integration.test_rollout import (
    CANARY_COMMIT,
    NAME,
    NS,
    STABLE_COMMIT,
    Stack,
    operator_metric,
    revision,
    target,
)

pytestmark = pytest.mark.integration

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
PROBES = {
    "timeout": "5s",
    "prompts": [
        {"name": "hello", "messages": [{"role": "user", "content": "Say hello."}], "maxTokens": 64},
        {
            "name": "weather-tool",
            "messages": [{"role": "user", "content": "What is the weather in Paris for 2 days?"}],
            "maxTokens": 128,
            "tools": [{"name": "get_weather", "parameters": json.dumps(WEATHER)}],
        },
    ],
}


@pytest.fixture
async def probed(tmp_path: Path) -> AsyncIterator[tuple[Stack, ServiceProxy]]:
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
        service_proxy() as services,
        aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
    ):
        emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
        services.route(NS, f"{NAME}-stable", stable.url)
        services.route(NS, f"{NAME}-canary", canary.url)
        await prometheus.wait_for_targets(2)
        operator = Operator(
            emulator.url, tmp_path, resync_seconds=1, metrics_port=free_port(),
            env={"QWENOPS_PROBE_URL": services.probe_url},
        )  # fmt: skip
        await operator.start()
        try:
            yield Stack(emulator, Client(session), operator, prometheus, stable, canary), services
        finally:
            await operator.stop()


@pytest.mark.parametrize(
    ("fault", "check", "probe"),
    [("leaked-token", "specialToken", "hello"), ("truncated-tool-call", "toolCall", "weather-tool")],
)
async def test_a_canary_answering_badly_is_rolled_back_naming_the_probe_check(
    probed: tuple[Stack, ServiceProxy], fault: str, check: str, probe: str
) -> None:
    stack, _ = probed
    stack.canary.configure(answer_fault=fault)  # errors and latency as the stable's
    await stack.start_rollout(probes=PROBES)
    status = await stack.settled("RolledBack")
    assert status["rejectedRevision"] == revision(CANARY_COMMIT)
    (entry,) = status["history"]
    assert entry["outcome"] == "RolledBack"
    assert "probes.minPassRate" in entry["reason"] and f"{probe}: {check}" in entry["reason"], entry
    checks = {c["slo"]: c["outcome"] for c in status["analysis"]["checks"]}
    assert checks["probes.minPassRate"] == "Failed"
    assert checks["maxErrorRate"] != "Failed" and checks["p95LatencySeconds"] != "Failed", checks
    await eventually(
        lambda: "RolledBack" in event_reasons(stack.emulator, NAME), "RolledBack event", stack.operator
    )
    (event,) = [e for e in stack.emulator.list_objects(EVENTS) if e.get("reason") == "RolledBack"]
    assert "probes.minPassRate" in event["message"] and f"{probe}: {check}" in event["message"], event
    canary_failures = (
        f'qwenops_probe_answers_total{{name="{NAME}",namespace="{NS}",result="{check}",track="canary"}}'
    )
    assert operator_metric(stack.operator, canary_failures) >= 1
    assert operator_metric(stack.operator, canary_failures.replace('track="canary"', 'track="stable"')) == 0
    log = stack.operator.log.read_text()
    assert f"{probe}: {check}" in log
    assert "answers like the stable one until" not in log  # an answer is logged by its first characters only


async def test_a_canary_answering_well_is_promoted_after_its_probes_passed(
    probed: tuple[Stack, ServiceProxy],
) -> None:
    stack, services = probed
    await stack.start_rollout(probes=PROBES)

    def promoted() -> bool:
        return (stack.status().get("stable") or {}).get("revision") == revision(CANARY_COMMIT)

    await eventually(promoted, "the canary promoted", stack.operator, timeout=90)
    status = stack.status()
    assert status["phase"] == "Healthy" and [h["outcome"] for h in status["history"]] == ["Promoted"]
    assert {"slo": "probes.minPassRate", "outcome": "Passed", "value": 1.0, "threshold": 1.0} in status[
        "analysis"
    ]["checks"]
    sent: set[Any] = {(service, path) for _, service, path in services.requests}
    assert sent == {(f"{NAME}-canary", "/v1/chat/completions"), (f"{NAME}-stable", "/v1/chat/completions")}
    passed = f'qwenops_probe_answers_total{{name="{NAME}",namespace="{NS}",result="passed",track="canary"}}'
    assert operator_metric(stack.operator, passed) >= 2
