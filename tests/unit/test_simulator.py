"""The vLLM simulator (images/serving/vllm_sim), over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from images.serving.vllm_sim import (
    CHAT,
    COMPLETIONS,
    E2E_REQUEST_LATENCY,
    METRIC_NAMES,
    METRICS,
    METRICS_BY_NAME,
    REVISION_HEADER,
    RUNTIME_METRIC_NAMES,
    SERIES_NAMES,
    TIME_TO_FIRST_TOKEN,
    Simulator,
    escaped,
    run_simulator,
)
from images.serving.vllm_sim.server import TICK_SECONDS

REPO = Path(__file__).resolve().parents[2]
MODEL = "qwen3-8b"
# What Prometheus 2.x (Debian's 2.42 among them) sends when it scrapes.
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
UTF8_ACCEPT = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;q=0.1"
CHAT_BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with run_simulator(model_name=MODEL, revision="rev-a", seed=1, sleep=False) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def scrape(http: aiohttp.ClientSession, sim: Simulator, accept: str = "") -> tuple[str, str]:
    async with http.get(f"{sim.url}/metrics", headers={"Accept": accept}) as response:
        assert response.status == 200
        return await response.text(), response.headers["Content-Type"]


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 when there is none)."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_health_answers_503_until_the_model_has_loaded(http: aiohttp.ClientSession) -> None:
    async with run_simulator(model_name=MODEL, load_seconds=0.4) as sim:
        started = time.monotonic()
        async with http.get(f"{sim.url}/health") as response:
            assert response.status == 503
        status, body = await post(http, f"{sim.url}{CHAT}", CHAT_BODY)
        assert status == 503
        assert body["error"]["code"] == 503
        while True:
            async with http.get(f"{sim.url}/health") as response:
                if response.status == 200:
                    assert await response.read() == b""
                    break
            assert time.monotonic() - started < 3
            await asyncio.sleep(0.05)
        assert time.monotonic() - started >= 0.35
        text, _ = await scrape(http, sim)
        assert value(text, "http_requests_total") == 0  # a loading vLLM has no server to count them

        sim.configure(healthy=False)
        async with http.get(f"{sim.url}/health") as response:
            assert response.status == 503
        sim.configure(healthy=True, load_seconds=5)  # a new load, starting now
        async with http.get(f"{sim.url}/health") as response:
            assert response.status == 503


async def test_models_lists_the_served_model_as_vllm_does(http: aiohttp.ClientSession) -> None:
    async with run_simulator(model_name=MODEL, model_root="Qwen/Qwen3-8B", max_model_len=40960) as sim:
        status, body = await get(http, f"{sim.url}/v1/models")
    assert status == 200
    assert body["object"] == "list"
    (card,) = body["data"]
    assert {k: card[k] for k in ("id", "object", "owned_by", "root", "parent", "max_model_len")} == {
        "id": MODEL,
        "object": "model",
        "owned_by": "vllm",
        "root": "Qwen/Qwen3-8B",
        "parent": None,
        "max_model_len": 40960,
    }
    assert isinstance(card["created"], int)


async def test_chat_and_completions_answer_in_openai_shape(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{sim.url}{CHAT}", json=CHAT_BODY) as response:
        assert response.status == 200
        assert response.headers[REVISION_HEADER] == "rev-a"
        chat = await response.json()
    assert chat["object"] == "chat.completion"
    assert chat["id"].startswith("chatcmpl-")
    assert chat["model"] == MODEL
    (choice,) = chat["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    usage = chat["usage"]
    assert usage["completion_tokens"] == sim.config.output_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    status, completion = await post(
        http, f"{sim.url}{COMPLETIONS}", {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 4}
    )
    assert status == 200
    assert completion["object"] == "text_completion"
    assert completion["id"].startswith("cmpl-")
    (choice,) = completion["choices"]
    assert len(choice["text"].split()) == 4
    assert choice["finish_reason"] == "length"
    assert completion["usage"]["completion_tokens"] == 4

    status, body = await post(http, f"{sim.url}{CHAT}", {"model": MODEL, "messages": "nope"})
    assert status == 400
    # FastAPI's validation refuses it before vLLM sees it: type "Bad Request", param the pydantic loc.
    assert (body["error"]["type"], body["error"]["param"]) == ("Bad Request", "body.messages")

    text, _ = await scrape(http, sim)
    labels = {"model_name": MODEL, "engine": "0"}
    assert value(text, "vllm:request_success_total", finished_reason="stop", **labels) == 1
    assert value(text, "vllm:request_success_total", finished_reason="length", **labels) == 1
    assert value(text, "vllm:generation_tokens_total", **labels) == sim.config.output_tokens + 4
    assert value(text, "vllm:prompt_tokens_total", **labels) == usage["prompt_tokens"] + 4
    assert value(text, "http_requests_total", handler=CHAT, method="POST", status="2xx") == 1
    assert value(text, "http_requests_total", handler=CHAT, method="POST", status="4xx") == 1
    assert value(text, "http_requests_total", handler=COMPLETIONS, method="POST", status="2xx") == 1
    # vLLM's Instrumentator leaves /metrics and /health out.
    assert value(text, "http_requests_total", handler="/metrics") == 0


async def test_chat_streams_a_chunk_a_token_then_done(sim: Simulator, http: aiohttp.ClientSession) -> None:
    body = {**CHAT_BODY, "stream": True, "max_tokens": 3, "stream_options": {"include_usage": True}}
    async with http.post(f"{sim.url}{CHAT}", json=body) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in (await response.text()).splitlines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert len(pieces) == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


async def test_unknown_model_is_a_404_in_vllm_error_shape(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, f"{sim.url}{CHAT}", {**CHAT_BODY, "model": "llama"})
    assert status == 404
    assert body == {
        "error": {
            "message": f"The model `llama` does not exist. Valid aliases: {MODEL}.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }
    }
    text, _ = await scrape(http, sim)
    assert value(text, "http_requests_total", handler=CHAT, method="POST", status="4xx") == 1


REFUSED = [
    # (path, body, raw body, Content-Type) -> (status, error.type, error.param), as vLLM 0.32 answers
    # (tests/contract checks these against a real one).
    (COMPLETIONS, None, b'{"prompt": ', "application/json", (400, "Bad Request", "body.11")),
    (COMPLETIONS, [1, 2], None, "application/json", (400, "Bad Request", "body")),
    (COMPLETIONS, None, b"", "application/json", (400, "Bad Request", "body")),
    (COMPLETIONS, {"prompt": "hi"}, None, "text/plain", (400, "Bad Request", None)),
    (COMPLETIONS, {"prompt": {"text": "hi"}}, None, "application/json", (400, "Bad Request", "body.prompt")),
    (COMPLETIONS, {"prompt": "hi", "max_tokens": "two"}, None, "application/json",
     (400, "Bad Request", "body.max_tokens")),
    (COMPLETIONS, {"prompt": "hi", "max_tokens": 2.5}, None, "application/json",
     (400, "Bad Request", "body.max_tokens")),
    (COMPLETIONS, {"max_tokens": 2}, None, "application/json", (400, "BadRequestError", "prompt")),
    (COMPLETIONS, {"prompt": [], "max_tokens": 2}, None, "application/json", (400, "BadRequestError", "prompt")),
    (COMPLETIONS, {"prompt": "hi", "max_tokens": 0}, None, "application/json",
     (400, "BadRequestError", "max_tokens")),
    (COMPLETIONS, {"prompt": "hi", "max_tokens": 40000}, None, "application/json",
     (400, "BadRequestError", "max_tokens")),
    (COMPLETIONS, {"prompt": "hi", "n": 0}, None, "application/json", (400, "BadRequestError", None)),
    (CHAT, {"model": MODEL}, None, "application/json", (400, "Bad Request", "body.messages")),
    (CHAT, {"messages": [{"content": "hi"}]}, None, "application/json",
     (400, "Bad Request", "body.messages.0.role")),
    (CHAT, {"messages": []}, None, "application/json", (400, "BadRequestError", None)),
    (CHAT, {"model": "llama", "messages": []}, None, "application/json", (404, "NotFoundError", "model")),
    (CHAT, {"model": "llama", "messages": "hi"}, None, "application/json",
     (400, "Bad Request", "body.messages")),  # FastAPI's validation comes before the model check
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "raw", "content_type", "expected"), REFUSED)
async def test_refused_requests_answer_as_vllm_does(
    sim: Simulator,
    http: aiohttp.ClientSession,
    path: str,
    body: Any,
    raw: bytes | None,
    content_type: str,
    expected: tuple[int, str, str | None],
) -> None:
    data = raw if raw is not None else json.dumps(body).encode()
    async with http.post(f"{sim.url}{path}", data=data, headers={"Content-Type": content_type}) as response:
        assert response.headers["Content-Type"] == "application/json"
        answer = await response.json()
        status = response.status
    error = answer["error"]
    assert (status, error["type"], error["param"]) == expected, error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == status
    text, _ = await scrape(http, sim)
    assert value(text, "http_requests_total", handler=path, method="POST", status="4xx") == 1
    assert value(text, "vllm:request_success_total") == 0


async def test_integer_fields_are_read_as_pydantic_reads_them(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """vLLM's request models are lax pydantic: `"2"`, `2.0` and `true` are integers."""
    for max_tokens in ("2", 2.0):
        status, body = await post(http, f"{sim.url}{COMPLETIONS}", {"prompt": "hi", "max_tokens": max_tokens})
        assert status == 200, body
        assert body["usage"]["completion_tokens"] == 2


async def test_unknown_paths_and_methods_answer_as_fastapi_does(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sim.url}/v1/nothing") as response:
        assert (response.status, await response.read()) == (404, b'{"detail":"Not Found"}')
        assert response.headers["Content-Type"] == "application/json"
    async with http.get(f"{sim.url}{COMPLETIONS}") as response:
        assert (response.status, await response.read()) == (405, b'{"detail":"Method Not Allowed"}')
        assert response.headers["Allow"] == "POST"
    async with http.head(f"{sim.url}/health") as response:
        assert response.status == 405  # vLLM's /health is a GET route only
    text, _ = await scrape(http, sim)
    assert value(text, "http_requests_total", handler="none", method="GET", status="4xx") == 2


async def test_error_rate_one_makes_every_request_a_counted_5xx(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.put(f"{sim.url}/sim/config", json={"error_rate": 1}) as response:
        assert response.status == 200
    for _ in range(5):
        status, body = await post(http, f"{sim.url}{CHAT}", CHAT_BODY)
        assert status == 500
        assert body["error"]["type"] == "InternalServerError"
    text, _ = await scrape(http, sim)
    assert value(text, "http_requests_total", handler=CHAT, method="POST", status="5xx") == 5
    assert value(text, "http_requests_total", status="2xx") == 0
    # A failed request never finishes in the engine: vLLM's own counters do not see it.
    assert value(text, "vllm:request_success_total") == 0
    assert value(text, f"{E2E_REQUEST_LATENCY}_count") == 0


async def test_latency_histograms_move_as_configured(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.configure(latency_seconds=2.0, ttft_seconds=0.3)
    for _ in range(3):
        assert (await post(http, f"{sim.url}{CHAT}", CHAT_BODY))[0] == 200
    text, _ = await scrape(http, sim)
    e2e, ttft = E2E_REQUEST_LATENCY, TIME_TO_FIRST_TOKEN
    assert value(text, f"{e2e}_count") == 3
    assert value(text, f"{e2e}_sum") == pytest.approx(6.0)
    assert value(text, f"{e2e}_bucket", le="1.5") == 0
    assert value(text, f"{e2e}_bucket", le="2.0") == 3
    assert value(text, f"{ttft}_count") == 3
    assert value(text, f"{ttft}_sum") == pytest.approx(0.9)
    assert value(text, f"{ttft}_bucket", le="0.25") == 0
    assert value(text, f"{ttft}_bucket", le="0.5") == 3
    # The HTTP duration follows the simulated latency even though `sleep` is off.
    assert value(text, "http_request_duration_seconds_bucket", handler=CHAT, le="1.0") == 0
    assert value(text, "http_request_duration_seconds_count", handler=CHAT) == 3

    sim.configure(latency_seconds=12.0, latency_jitter_seconds=1.0)  # a p95 latency breach
    for _ in range(2):
        assert (await post(http, f"{sim.url}{CHAT}", CHAT_BODY))[0] == 200
    text, _ = await scrape(http, sim)
    assert value(text, f"{e2e}_bucket", le="10.0") == 3
    assert value(text, f"{e2e}_bucket", le="15.0") == 5
    assert 3 * 2.0 + 2 * 11.0 <= value(text, f"{e2e}_sum") <= 3 * 2.0 + 2 * 13.0


async def test_real_requests_wait_their_latency_when_sleep_is_on(http: aiohttp.ClientSession) -> None:
    async with run_simulator(model_name=MODEL, latency_seconds=0.3, ttft_seconds=0.1) as sim:
        started = time.monotonic()
        assert (await post(http, f"{sim.url}{CHAT}", CHAT_BODY))[0] == 200
        assert time.monotonic() - started >= 0.3


async def test_synthetic_rps_records_about_rps_requests_a_second(http: aiohttp.ClientSession) -> None:
    rps = 100.0
    async with run_simulator(model_name=MODEL, seed=3, rps=rps, error_rate=0.2) as sim:
        await asyncio.sleep(0.15)
        before, started = sim.synthetic_requests, time.monotonic()
        await asyncio.sleep(0.5)
        after, elapsed = sim.synthetic_requests, time.monotonic() - started
        text, _ = await scrape(http, sim)
    slack = 2 * rps * TICK_SECONDS + 2  # the window's two ends fall between ticks
    assert abs((after - before) - rps * elapsed) <= slack
    ok = value(text, "http_requests_total", handler=CHAT, method="POST", status="2xx")
    failed = value(text, "http_requests_total", handler=CHAT, method="POST", status="5xx")
    assert ok + failed >= after
    assert 0.05 < failed / (ok + failed) < 0.4
    assert value(text, f"{E2E_REQUEST_LATENCY}_count") == ok
    # vllm:num_requests_running follows Little's law: rps x latency.
    assert value(text, "vllm:num_requests_running") == round(rps * sim.config.latency_seconds)


async def test_sim_traffic_records_exactly_the_requests_asked(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.configure(error_rate=0.25)
    status, body = await post(http, f"{sim.url}/sim/traffic", {"requests": 40})
    assert (status, body) == (200, {"recorded": 40})
    text, _ = await scrape(http, sim)
    ok = value(text, "http_requests_total", handler=CHAT, status="2xx")
    failed = value(text, "http_requests_total", handler=CHAT, status="5xx")
    assert ok + failed == 40
    assert value(text, "vllm:request_success_total", finished_reason="stop") == ok
    assert (await post(http, f"{sim.url}/sim/traffic", {"requests": -1}))[0] == 400


def test_a_seed_makes_synthetic_traffic_repeatable() -> None:
    def failures(seed: int) -> tuple[float, float]:
        sim = Simulator(model_name=MODEL, seed=seed, runtime_metrics=False)
        sim.configure(error_rate=0.3, latency_jitter_seconds=0.4)
        sim.record_synthetic(200)
        text = generate_latest(sim.registry).decode()
        return value(text, "http_requests_total", status="5xx"), value(text, f"{E2E_REQUEST_LATENCY}_sum")

    assert failures(7) == failures(7)
    assert failures(7) != failures(8)
    assert 30 < failures(7)[0] < 90


async def test_text_metrics_carry_vllm_names_types_labels_and_buckets(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    assert (await post(http, f"{sim.url}{CHAT}", {**CHAT_BODY, "max_tokens": 8}))[0] == 200
    text, content_type = await scrape(http, sim)
    assert content_type == CONTENT_TYPE_LATEST  # `text/plain; version=1.0.0; charset=utf-8`, as vLLM 0.32
    families = {f.name: f for f in text_string_to_metric_families(text)}
    exposed = {name for name in families if not name.endswith("_created")}
    assert exposed == METRIC_NAMES | RUNTIME_METRIC_NAMES
    samples = {s.name for f in families.values() for s in f.samples if not s.name.endswith("_created")}
    assert samples >= SERIES_NAMES
    for spec in METRICS:
        family = families[spec.name]
        assert family.type == spec.kind, spec.name
        assert family.samples, spec.name
        label_names = {k for s in family.samples for k in s.labels} - {"le", "quantile"}
        assert label_names == set(spec.labels), spec.name
        if spec.kind == "histogram" and spec.buckets is not None:
            bounds = sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})
            assert bounds == [*spec.buckets, float("inf")], spec.name
    assert {s.labels["model_name"] for s in families[E2E_REQUEST_LATENCY].samples} == {MODEL}
    assert {s.labels["engine"] for s in families[E2E_REQUEST_LATENCY].samples} == {"0"}
    success = families["vllm:request_success"]
    assert {s.labels["finished_reason"] for s in success.samples} == {"stop", "length", "abort"}


async def test_openmetrics_accept_gets_underscored_sample_names(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """prometheus-client 0.26 under Prometheus 2.x's Accept: samples `vllm_...`, HELP/TYPE `vllm:...`."""
    sim.configure(exposition="negotiate")
    sim.record_synthetic(3)
    text, content_type = await scrape(http, sim, PROMETHEUS_2_ACCEPT)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert "escaping=underscores" in content_type
    assert text.endswith("# EOF\n")
    assert f"# TYPE {E2E_REQUEST_LATENCY} histogram" in text
    samples = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert not any(":" in name for name in samples)
    assert {escaped(name) for name in SERIES_NAMES} <= samples
    assert value(text, "vllm_e2e_request_latency_seconds_count") == 3
    assert value(text, "http_requests_total", handler=CHAT, status="2xx") == 3


async def test_utf8_openmetrics_accept_keeps_the_colons(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.configure(exposition="negotiate")
    sim.record_synthetic(2)
    text, content_type = await scrape(http, sim, UTF8_ACCEPT)
    assert "escaping=allow-utf-8" in content_type
    samples = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples >= SERIES_NAMES
    assert value(text, f"{E2E_REQUEST_LATENCY}_count") == 2


async def test_text_exposition_answers_text_whatever_the_accept(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """The default, as vLLM's `/metrics` (prometheus-fastapi-instrumentator's `expose()` route): always
    `generate_latest()`, colons kept, no gzip; `/metrics/` is vLLM's `make_asgi_app` mount, which negotiates."""
    assert sim.config.exposition == "text"
    sim.record_synthetic(1)
    async with http.get(
        f"{sim.url}/metrics", headers={"Accept": PROMETHEUS_2_ACCEPT, "Accept-Encoding": "gzip"}
    ) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        assert "Content-Encoding" not in response.headers
        text = await response.text()
    assert "# EOF" not in text
    assert value(text, f"{E2E_REQUEST_LATENCY}_count") == 1
    async with http.get(f"{sim.url}/metrics/", headers={"Accept": PROMETHEUS_2_ACCEPT}) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert value(await response.text(), "vllm_e2e_request_latency_seconds_count") == 1


async def test_sim_config_reads_and_validates_changes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.url}/sim/config") as response:
        config = await response.json()
    assert config["error_rate"] == 0
    assert set(config) >= {"error_rate", "latency_seconds", "ttft_seconds", "healthy", "load_seconds", "rps"}
    for bad in ({"error_rate": 1.5}, {"latency_seconds": -1}, {"healthy": "yes"}, {"colour": "red"}):
        async with http.put(f"{sim.url}/sim/config", json=bad) as response:
            assert response.status == 400, bad
            assert next(iter(bad)) in (await response.json())["error"]
    async with http.patch(
        f"{sim.url}/sim/config", json={"error_rate": 0.5, "latency_seconds": 3}
    ) as response:
        assert response.status == 200
        assert (await response.json())["latency_seconds"] == 3.0
    assert sim.config.error_rate == 0.5
    async with http.get(f"{sim.url}/sim/state") as response:
        state = await response.json()
    assert state["revision"] == "rev-a"
    assert state["loaded"] is True


async def test_two_simulators_keep_their_own_metrics(http: aiohttp.ClientSession) -> None:
    async with (
        run_simulator(model_name=MODEL, revision="stable", sleep=False) as stable,
        run_simulator(model_name=MODEL, revision="canary", sleep=False, error_rate=1) as canary,
    ):
        assert (await post(http, f"{stable.url}{CHAT}", CHAT_BODY))[0] == 200
        assert (await post(http, f"{canary.url}{CHAT}", CHAT_BODY))[0] == 500
        stable_text, _ = await scrape(http, stable)
        canary_text, _ = await scrape(http, canary)
    assert value(stable_text, "http_requests_total", status="2xx") == 1
    assert value(stable_text, "http_requests_total", status="5xx") == 0
    assert value(canary_text, "http_requests_total", status="5xx") == 1
    assert value(canary_text, "http_requests_total", status="2xx") == 0


async def test_command_line_prints_its_url_first_and_takes_vllm_flags(http: aiohttp.ClientSession) -> None:
    env = {**os.environ, "VLLM_SIM_CONFIG": json.dumps({"error_rate": 1})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "images.serving.vllm_sim", "--port", "0",
        "--model", "Qwen/Qwen3-8B", "--served-model-name", MODEL, "--revision", "abc",
        "--tensor-parallel-size", "1", "--reasoning-parser", "qwen3",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with http.get(f"{url}/v1/models") as response:
            card = (await response.json())["data"][0]
        assert (card["id"], card["root"]) == (MODEL, "Qwen/Qwen3-8B")
        assert (await post(http, f"{url}{CHAT}", CHAT_BODY))[0] == 500
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    assert process.stderr is not None
    assert b"ignoring --tensor-parallel-size 1 --reasoning-parser qwen3" in await process.stderr.read()


def test_metric_constants_describe_vllms_families() -> None:
    assert METRICS_BY_NAME[E2E_REQUEST_LATENCY].labels == ("model_name", "engine")
    assert METRICS_BY_NAME["vllm:request_success"].series == ("vllm:request_success_total",)
    assert METRICS_BY_NAME["http_requests"].series == ("http_requests_total",)
    assert METRICS_BY_NAME[E2E_REQUEST_LATENCY].buckets == (
        0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
        40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
    )  # fmt: skip
    assert escaped("vllm:e2e_request_latency_seconds_bucket") == "vllm_e2e_request_latency_seconds_bucket"
