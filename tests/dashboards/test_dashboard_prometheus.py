"""Every query of the dashboard, asked of a real Prometheus scraping vLLM simulators and the operator's metrics.

Two simulated vLLM pods of one QwenDeployment, a stable revision and a canary answering 30 % of
its requests with 500, and the operator's own /metrics (its real metric objects, served from this
process), all scraped every second by Debian's `prometheus`. Each panel's query, with the
dashboard's variables filled in as Grafana would, must return series, and the numbers must be the
ones the simulators and the operator were set to. Where the simulator can choose, the two pods
expose their vLLM names differently (`vllm:` kept, and escaped to `vllm_`), as real scrapes do.
The chart's alerting rules (its PrometheusRule) are loaded too, and judge the operator's metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from images.serving.vllm_sim import SimConfig, run_simulator
from qwenops.analysis.answers import ProbeResult
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import CanaryRevision, Phase, QwenDeploymentStatus, StableRevision
from qwenops.io import metrics
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import JOB, PrometheusServer, Target, prometheus_running, revision_labels
from tests.chart import alerts
from tests.dashboards import promql
from tests.dashboards.test_dashboard import DASHBOARD, queries, variable_selectors, variable_values

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

NS, NAME = "llm", "dashboard-check"
STABLE, CANARY = "7d9f4c21ab", "a1b2c3d4e5"
RPS = 20.0
SLOS = {
    "maxErrorRate": 0.01,
    "p95LatencySeconds": 2.5,
    "p95TimeToFirstTokenSeconds": 1,
    "p95InterTokenLatencySeconds": 0.1,
    "p95QueueTimeSeconds": 0.5,
}
SPEC = QwenDeploymentSpec.model_validate(
    {
        "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen3-8b"},
        "rollout": {"steps": [{"weight": 10}], "analysis": {"slos": SLOS}},
    }
)
ROLLOUT = QwenDeploymentStatus(
    stable=StableRevision(revision=STABLE, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool),
    canary=CanaryRevision(revision=CANARY, model=SPEC.model, engine=SPEC.engine, node_pool=SPEC.node_pool),
)
"""What the operator's status says runs (the tracks the panels by track join on), and the SLOs declared."""
T = TypeVar("T")


def exposition(kind: str) -> dict[str, Any]:
    """The simulator's `exposition` setting, where this simulator has one."""
    known = {field.name for field in dataclasses.fields(SimConfig)}
    return {"exposition": kind} if "exposition" in known else {}


async def serve_operator_metrics() -> tuple[web.AppRunner, int]:
    async def exposition_handler(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", exposition_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrometheusServer]:
    tmp_path = tmp_path_factory.mktemp("dashboard")
    runner, port = await serve_operator_metrics()
    try:
        async with (
            run_simulator(
                model_name="qwen3-8b", revision=STABLE, seed=1, rps=RPS, sleep=False, **exposition("text")
            ) as stable,
            run_simulator(
                model_name="qwen3-8b",
                revision=CANARY,
                seed=2,
                rps=RPS,
                sleep=False,
                error_rate=0.3,
                latency_seconds=4.0,
                ttft_seconds=0.3,
                **exposition("negotiate"),
            ) as canary,
            prometheus_running(
                tmp_path / "prometheus",
                targets=[
                    Target(stable.url.removeprefix("http://"), revision_labels(NS, NAME, STABLE)),
                    Target(canary.url.removeprefix("http://"), revision_labels(NS, NAME, CANARY)),
                    # The operator's own series keep their namespace and name (honorLabels).
                    Target(f"127.0.0.1:{port}"),
                ],
                scrape_interval="1s",
            ) as server,
        ):
            metrics.record_state(NS, NAME, Phase.PROGRESSING, 10)
            metrics.record_rollout(NS, NAME, ROLLOUT, SPEC.rollout.analysis)
            metrics.RECONCILE_SECONDS.observe(0.04)
            metrics.RECONCILE_ERRORS.labels("api").inc()
            metrics.record_probe(NS, NAME, "canary", ProbeResult("hello", "Passed"))
            metrics.record_probe(NS, NAME, "stable", ProbeResult("hello", "Passed"))
            await server.wait_for_targets(3)
            await server.wait_for_scrapes(3)
            # A rollback after the first scrapes: its series is born at 1, as in the operator.
            metrics.ROLLBACKS.labels(NS, NAME, "SLOBreached").inc()
            metrics.BREACH_TO_ROLLBACK.observe(14.0)
            metrics.RECONCILE_ERRORS.labels("api").inc()
            metrics.record_state(NS, NAME, Phase.ROLLED_BACK, 0)
            # Within a budget: the stable back on 6 pods of 2 GPUs, a removed canary pod leaving,
            # and one pod of the revision before kept warm by a bake.
            metrics.record_gpus(NS, NAME, {"stable": 12, "warm": 2, "leaving": 2}, 2)
            leaked = ProbeResult("hello", "Failed", "specialToken", "<|im_end|> in the text", "Hi<|im_end|>")
            metrics.record_probe(NS, NAME, "canary", leaked)
            metrics.record_probe(NS, NAME, "stable", ProbeResult("hello", "Passed"))
            await server.wait_for_scrapes(3)
            yield server
    finally:
        metrics.forget(NS, NAME)
        metrics.ROLLBACKS.remove(NS, NAME, "SLOBreached")
        metrics.RECONCILE_ERRORS.remove("api")
        await runner.cleanup()


def values() -> dict[str, str]:
    return variable_values() | {
        "namespace": NS,
        "deployment": NAME,
        "revision": f"{STABLE}|{CANARY}",
        "__rate_interval": "5s",  # Grafana: at least 4 scrape intervals
        "__range": "1h",
    }


def by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in result}


async def test_every_query_answers_with_the_numbers_it_was_set_to(prometheus: PrometheusServer) -> None:
    answers: dict[str, list[dict[str, Any]]] = {}
    for where, expr in queries():
        answers[where] = await prometheus.query(promql.substitute(expr, values()))
        assert answers[where], f"{where} returned nothing"

    def only(title: str, ref: str = "A") -> list[dict[str, Any]]:
        panel = next(p for p in DASHBOARD["panels"] if p["title"] == title)
        return answers[f"panel {panel['id']} {title!r} {ref}"]

    assert by(only("Phase"), "phase") == {"RolledBack": 1.0}
    probes = {(s["metric"]["track"], s["metric"]["result"]) for s in only("Probe answers by track and result")}
    assert probes == {("canary", "passed"), ("stable", "passed"), ("canary", "specialToken")}
    assert by(only("Canary weight"), "name") == {NAME: 0.0}
    # Every reason's series starts at 0 (qwenops.io.metrics), so the first rollback counts.
    assert by(only("Rollbacks in range"), "reason") == {
        "SLOBreached": 1.0, "Aborted": 0.0, "ProgressDeadlineExceeded": 0.0, "VerificationFailed": 0.0
    }

    rates = by(only("Request rate by revision"), "qwenops_io_revision")
    assert set(rates) == {STABLE, CANARY}
    assert all(RPS / 2 < rate < RPS * 2 for rate in rates.values()), rates
    ratios = by(only("Error rate by revision"), "qwenops_io_revision")
    assert set(ratios) == {CANARY}, "the stable answered no 5xx: no ratio, no series"
    assert 0.15 < ratios[CANARY] < 0.45, ratios
    # The SLO lines are the spec's declarations, as the operator exports them.
    assert by(only("Error rate by revision", "B"), "") == {"": SLOS["maxErrorRate"]}
    assert by(only("p95 latency by revision", "B"), "") == {"": SLOS["p95LatencySeconds"]}

    latency = by(only("p95 latency by revision"), "qwenops_io_revision")
    assert set(latency) == {STABLE, CANARY}
    assert latency[STABLE] < 1.0 < 2.5 < latency[CANARY] <= 5.0, latency
    first_token = by(only("p95 time to first token by revision"), "qwenops_io_revision")
    assert first_token[STABLE] < 0.1 < 0.25 <= first_token[CANARY] <= 0.5, first_token

    # vLLM's own panels, by track: each revision's series joined to the track the operator names.
    generated = by(only("Tokens per second by track"), "track")
    assert set(generated) == {"stable", "canary"} and all(v > 0 for v in generated.values()), generated
    assert set(by(only("Tokens per second by track", "B"), "track")) == {"stable", "canary"}
    inter_token = by(only("Inter-token latency by track", "B"), "track")
    assert set(inter_token) == {"stable", "canary"}, inter_token
    assert all(0 < v < 10 for v in inter_token.values()), inter_token
    running = by(only("Requests running and waiting by track"), "track")
    assert set(running) == {"stable", "canary"}, running
    assert running["canary"] > running["stable"], "Little's law: the slower canary holds more requests"
    assert set(by(only("Requests running and waiting by track", "B"), "track")) == {"stable", "canary"}
    kv_cache = by(only("KV-cache usage by track"), "track")
    assert set(kv_cache) == {"stable", "canary"} and all(0 <= v <= 1 for v in kv_cache.values()), kv_cache
    gpus = by(only("GPUs requested by track"), "track")
    assert gpus == {"stable": 12.0, "canary": 0.0, "warm": 2.0, "leaving": 2.0}
    assert by(only("Capacity dip: serving replicas missing"), "") == {"": 2.0}

    quantiles = only("Breach to rollback, p50 / p95 (every QwenDeployment)")
    assert all(10 <= float(series["value"][1]) <= 15 for series in quantiles), quantiles
    buckets = by(only("Breach to rollback (every QwenDeployment)"), "le")
    assert buckets["15.0"] >= 1 and buckets["10.0"] == 0, buckets


async def test_the_variables_list_what_was_scraped(prometheus: PrometheusServer) -> None:
    wanted = {"namespace": {NS}, "deployment": {NAME}, "revision": {STABLE, CANARY}}
    for name, selector in variable_selectors():
        label = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == name)["query"]
        label = label.removesuffix(")").rpartition(",")[2].strip()
        series = await prometheus.api("series", **{"match[]": promql.substitute(selector, values())})
        assert {each[label] for each in series} >= wanted[name], name


async def test_the_vllm_panels_find_both_spellings_of_the_names(prometheus: PrometheusServer) -> None:
    names = set(await prometheus.metric_names("vllm"))
    assert names, "no vLLM series scraped"
    if exposition("text"):
        assert "vllm:e2e_request_latency_seconds_bucket" in names
        assert "vllm_e2e_request_latency_seconds_bucket" in names
    answer = await prometheus.query(
        'count by (qwenops_io_revision) ({__name__=~"vllm[:_]e2e_request_latency_seconds_count",'
        f'namespace="{NS}"}})'
    )
    assert {series["metric"]["qwenops_io_revision"] for series in answer} == {STABLE, CANARY}
    assert not any(math.isnan(float(series["value"][1])) for series in answer)


async def test_the_charts_alerts_load_and_judge_the_operators_metrics(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    """The chart's PrometheusRule, rendered by the real helm for this scrape job, loads here; the
    rollback set up above fires QwenDeploymentRolledBack at once, a canary held at 25 % makes
    QwenDeploymentCanaryHeld pending, and nothing else fires while the operator's metrics answer."""
    selector = f'job="{JOB}"'
    groups = alerts.rendered_groups(alerts.helm_or_skip(tmp_path / "helm"), {"prometheusRule.selector": selector})
    held = "held-canary"
    rules_file = tmp_path / "qwenops-rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))
    config = yaml.safe_load(prometheus.config_file.read_text())
    metrics.record_state(NS, held, Phase.PROGRESSING, 25)
    try:
        prometheus.config_file.write_text(yaml.safe_dump({**config, "rule_files": [str(rules_file)]}))
        await prometheus.reload()

        async def alerts_now() -> dict[tuple[str, str, str], str]:
            found = (await prometheus.api("alerts"))["alerts"]
            return {
                (a["labels"]["alertname"], a["labels"].get("name", ""), a["labels"].get("reason", "")): a["state"]
                for a in found
            }

        wanted = {
            ("QwenDeploymentRolledBack", NAME, "SLOBreached"): "firing",
            ("QwenDeploymentCanaryHeld", held, ""): "pending",
        }
        seen = await until(alerts_now, lambda now: now == wanted, timeout=30)
        assert seen == wanted
        loaded = [rule for group in (await prometheus.api("rules"))["groups"] for rule in group["rules"]]
        assert sorted(rule["name"] for rule in loaded) == sorted(alerts.ALERTS)
        assert all(rule["health"] == "ok" for rule in loaded), loaded

        down = next(r["expr"] for r in alerts.rules(groups) if r["alert"] == "QwenOpsOperatorDown")
        assert await prometheus.query(down) == []
        assert len(await prometheus.query(down.replace(selector, 'job="no-such-job"'))) == 1
    finally:
        metrics.forget(NS, held)
        prometheus.config_file.write_text(yaml.safe_dump(config))
        await prometheus.reload()


async def until(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float
) -> T:
    """Read until `done` says yes, or the timeout passes; the last reading either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await read()
    while not done(value) and loop.time() < deadline:
        await asyncio.sleep(0.2)
        value = await read()
    return value
