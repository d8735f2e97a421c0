"""Answer-quality probes: the spec, each check of one answer, the probe SLOs, and the HTTP client
against the simulator answering well and badly."""

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from images.serving.vllm_sim import ConfigError, SimConfig, run_simulator
from images.serving.vllm_sim.answers import FAULTS
from qwenops.analysis.answers import (
    ANSWER_CHECKS,
    EXCERPT_CHARS,
    Answer,
    Context,
    ProbeResult,
    judge_answer,
    request_body,
)
from qwenops.analysis.probe_checks import ProbeRun, probe_checks
from qwenops.analysis.queries import Measurement, Reading
from qwenops.analysis.verdict import assess
from qwenops.api.errors import InvalidSpecError
from qwenops.api.probes import MAX_FAILURE_RATE_VS_STABLE, MIN_PASS_RATE, Probe, Probes
from qwenops.api.slos import QUERIES, REQUESTS
from qwenops.api.spec import Analysis, parse_spec
from qwenops.controller.config import OperatorConfig
from qwenops.io.probes import MAX_BODY_BYTES, send_probes

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city", "days"],
}
CHAT = Probe.model_validate({"name": "hello", "messages": [{"role": "user", "content": "Say hello."}]})
JSON = Probe.model_validate(
    {"name": "json", "messages": [{"role": "user", "content": "Weather?"}], "jsonSchema": json.dumps(WEATHER)}
)
TOOL = Probe.model_validate(
    {
        "name": "tool",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"name": "get_weather", "parameters": json.dumps(WEATHER)}],
    }
)
MATCH = Probe.model_validate(
    {"name": "capital", "messages": [{"role": "user", "content": "Capital of France?"}], "match": "(?i)paris"}
)


def answer(
    content: str | None = "Hello!", *, status: int = 200, reason: str = "stop", **message: Any
) -> Answer:
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": content, **message}, "finish_reason": reason}
        ]
    }
    return Answer(status=status, body=body)


def call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "1", "type": "function", "function": {"name": name, "arguments": arguments}}


GOOD_ARGS = json.dumps({"city": "Paris", "days": 2})


@pytest.mark.parametrize(
    ("probe", "got", "context", "check", "why"),
    [
        (CHAT, answer(), Context(), None, None),
        (CHAT, answer(status=500), Context(), "status", "HTTP 500"),
        (
            TOOL,
            Answer(status=400, body={"error": {"message": 'tool_choice="auto" requires --enable-auto-tool-choice'}}),
            Context(),
            "status",
            'HTTP 400: tool_choice="auto" requires --enable-auto-tool-choice',
        ),
        (CHAT, Answer(status=200, body=None), Context(), "status", "no choices"),
        (CHAT, Answer(status=200, body={"choices": []}), Context(), "status", "no choices"),
        (CHAT, answer(""), Context(), "content", "empty content"),
        (CHAT, answer("   "), Context(), "content", "empty content"),
        (CHAT, answer(None), Context(), "content", "empty content"),
        (CHAT, answer("Hello<|im_end|>"), Context(), "specialToken", "<|im_end|>"),
        (CHAT, answer("<|im_start|>assistant"), Context(), "specialToken", "<|im_start|>"),
        (CHAT, answer("Hi<|endoftext|>"), Context(), "specialToken", "<|endoftext|>"),
        (CHAT, answer("<think>hmm</think>Hi"), Context(reasoning_parser=True), "specialToken", "<think>"),
        (CHAT, answer("<think>hmm</think>Hi"), Context(), None, None),  # no parser: thinking is the text
        (CHAT, answer("Hello", reason="length"), Context(), "finishReason", "maxTokens (256)"),
        (JSON, answer(GOOD_ARGS), Context(), None, None),
        (JSON, answer('{"city": "Par'), Context(), "json", "not JSON"),
        (JSON, answer('{"city": "Paris"}'), Context(), "json", "schema at the top: required"),
        (JSON, answer('{"city": "Paris", "days": 0}'), Context(), "json", "schema at days: minimum"),
        (JSON, answer("[" * 900 + "]" * 900), Context(), "json", None),  # deep, but never a crash
        (
            TOOL,
            answer(None, tool_calls=[call("get_weather", GOOD_ARGS)], reason="tool_calls"),
            Context(),
            None,
            None,
        ),
        (TOOL, answer("It is sunny."), Context(), "toolCall", "no tool call"),
        (
            TOOL,
            answer(None, tool_calls=[call("get_weather", GOOD_ARGS[:12])]),
            Context(),
            "toolCall",
            "do not parse",
        ),
        (
            TOOL,
            answer(None, tool_calls=[call("get_weather", '{"city": 3}')]),
            Context(),
            "toolCall",
            "schema",
        ),
        (
            TOOL,
            answer(None, tool_calls=[call("rm_rf", GOOD_ARGS)]),
            Context(),
            "toolCall",
            "unknown tool 'rm_rf'",
        ),
        (
            TOOL,
            answer(None, tool_calls=[call("get_weather", GOOD_ARGS + "<|im_end|>")]),
            Context(),
            "specialToken",
            "<|im_end|>",
        ),
        (MATCH, answer("It is Paris."), Context(), None, None),
        (MATCH, answer("It is Lyon."), Context(), "match", "no match"),
    ],
)
def test_each_check_of_an_answer(
    probe: Probe, got: Answer, context: Context, check: str | None, why: str | None
) -> None:
    result = judge_answer(probe, got, context)
    assert result.check == check, result
    assert result.result == ("Passed" if check is None else "Failed")
    if why is not None:
        assert why in result.detail


def test_every_check_is_named_once_and_in_the_metrics_labels() -> None:
    names = [name for name, _ in ANSWER_CHECKS]
    assert len(set(names)) == len(names)
    assert names[0] == "status"


def test_no_answer_is_an_error_and_a_failure_shows_only_the_first_characters() -> None:
    assert judge_answer(CHAT, Answer(error="no answer in 5s"), Context()).result == "Error"
    secret = "my card number is 4111 1111 1111 1111 and my address is " + "x" * 500 + "<|im_end|>"
    result = judge_answer(CHAT, answer(secret), Context())
    assert result.check == "specialToken"
    line = result.describe()
    assert (
        secret[:EXCERPT_CHARS] in line
        and secret[: EXCERPT_CHARS + 1] not in line
        and "xxxxx" * 20 not in line
    )


def test_the_request_is_openai_shaped_at_temperature_zero() -> None:
    body = request_body(TOOL)
    assert body["temperature"] == 0 and body["max_tokens"] == 256 and "model" not in body
    assert body["tools"] == [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    assert body["tool_choice"] == "auto"
    schema = request_body(JSON)["response_format"]
    assert schema == {"type": "json_schema", "json_schema": {"name": "json", "schema": WEATHER}}


def test_reasoning_parser_is_read_from_the_engine_flags() -> None:
    assert Context.of(["--reasoning-parser", "qwen3"]).reasoning_parser
    assert Context.of(["--reasoning-parser=deepseek_r1"]).reasoning_parser
    assert not Context.of(["--enable-auto-tool-choice"]).reasoning_parser


def spec(probes: Any) -> dict[str, Any]:
    return {
        "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
        "rollout": {"analysis": {"probes": probes}},
    }


def with_schema(text: str) -> dict[str, Any]:
    return {"prompts": [{**JSON.model_dump(by_alias=True, exclude_none=True), "jsonSchema": text}]}


@pytest.mark.parametrize(
    ("probes", "problem"),
    [
        ({"prompts": []}, "at least 1 item"),
        ({"prompts": [CHAT.model_dump(by_alias=True, exclude_none=True)] * 2}, "names must be unique"),
        (
            {
                "prompts": [
                    {
                        **JSON.model_dump(by_alias=True, exclude_none=True),
                        "tools": [{"name": "f", "parameters": "{}"}],
                    }
                ]
            },
            "not both",
        ),
        (
            {"prompts": [{**MATCH.model_dump(by_alias=True, exclude_none=True), "match": "(unclosed"}]},
            "not a regular expression",
        ),
        (with_schema('{"type": "nonsense"}'), "not a JSON Schema"),
        (with_schema("{'type': 1}"), "is not JSON"),
        (with_schema("[1]"), "must be a JSON object"),
        (with_schema('{"a":' * 40 + "1" + "}" * 40), "at most 32 levels"),
        (with_schema("[" * 9000 + "]" * 9000), "at most 16384"),
        (
            {"prompts": [CHAT.model_dump(by_alias=True, exclude_none=True)], "minPassRate": 0},
            "greater than 0",
        ),
    ],
)
def test_the_spec_refuses_bad_probes(probes: Any, problem: str) -> None:
    with pytest.raises(InvalidSpecError) as refused:
        parse_spec("chat", spec(probes))
    assert problem in str(refused.value.problems), refused.value.problems


def passed(name: str = "p") -> ProbeResult:
    return ProbeResult(name, "Passed")


def failed(name: str = "p") -> ProbeResult:
    return ProbeResult(name, "Failed", "specialToken", "<|im_end|> in the text", "Hello<|im_end|>")


NO_ANSWER = ProbeResult("p", "Error", detail="no answer in 30s")


@pytest.mark.parametrize(
    ("settings", "canary", "stable", "outcomes"),
    [
        ({}, [passed(), passed()], [passed()], ["Passed"]),
        ({}, [passed(), failed()], [passed()], ["Failed"]),  # at 1, one failure is a breach
        ({}, [NO_ANSWER, NO_ANSWER], [passed()], ["Error"]),
        ({}, [NO_ANSWER, passed()], [passed()], ["Passed"]),  # no answer counts for nothing
        ({"minPassRate": 0.5}, [passed(), failed()], [passed()], ["Passed"]),  # within chance
        ({"minPassRate": 0.5}, [failed()] * 10, [passed()], ["Failed"]),
        ({"maxFailureRateVsStable": 1}, [failed()] * 10, [passed()] * 10, ["Failed", "Failed"]),
        (
            {"maxFailureRateVsStable": 2},
            [failed()] * 10,
            [passed()] * 10,
            ["Failed", "Passed"],
        ),  # (2/3)^10 > 1%
        (
            {"maxFailureRateVsStable": 2, "minPassRate": 0.5},
            [failed()] * 10,
            [failed()] * 10,
            ["Failed", "Passed"],
        ),
        ({"maxFailureRateVsStable": 2}, [passed()], [NO_ANSWER], ["Passed", "Skipped"]),
        ({"maxFailureRateVsStable": 2}, [NO_ANSWER], [passed()], ["Error", "Error"]),
    ],
)
def test_the_probe_slos(
    settings: dict[str, Any], canary: list[ProbeResult], stable: list[ProbeResult], outcomes: list[str]
) -> None:
    probes = Probes.model_validate({"prompts": [CHAT.model_dump(by_alias=True)], **settings})
    checks = probe_checks(probes, ProbeRun(tuple(canary), tuple(stable)), confidence=0.99)
    assert [c.outcome for c in checks] == outcomes, [c.detail for c in checks]
    assert [c.slo for c in checks] == [MIN_PASS_RATE, MAX_FAILURE_RATE_VS_STABLE][: len(outcomes)]


def test_a_failed_probe_fails_the_verdict_whatever_the_traffic_and_names_the_check() -> None:
    analysis = Analysis.model_validate(
        {"minRequests": 100, "probes": {"prompts": [CHAT.model_dump(by_alias=True)]}}
    )
    quiet = Reading({q: Measurement(query="q", value=3 if q is REQUESTS else 0) for q in QUERIES})
    verdict = assess(analysis, quiet, quiet, ProbeRun((failed("hello"),), (passed("hello"),)))
    assert verdict.outcome == "Failed"
    (breach,) = verdict.failed
    assert "probes.minPassRate" in breach.describe() and "specialToken" in breach.describe()
    assert "query:" not in breach.describe()
    held = assess(analysis, quiet, quiet, ProbeRun((passed("hello"),), (passed("hello"),)))
    assert held.outcome == "Inconclusive"  # the probes passed, but too few requests to judge the rest
    status = verdict.as_status(__import__("datetime").datetime(2026, 1, 1))
    assert [(c.slo, c.outcome, c.value) for c in status.checks] == [("probes.minPassRate", "Failed", 0.0)]


@pytest.mark.parametrize(
    ("fault", "probe", "check"),
    [
        ("none", CHAT, None),
        ("none", JSON, None),
        ("none", TOOL, None),
        ("leaked-token", CHAT, "specialToken"),
        ("truncated-tool-call", TOOL, "toolCall"),
        ("invalid-json", JSON, "json"),
        ("empty-content", CHAT, "content"),
        ("length", CHAT, "finishReason"),
    ],
)
async def test_the_simulator_answers_badly_on_demand_and_the_checks_see_it(
    fault: str, probe: Probe, check: str | None
) -> None:
    assert fault in FAULTS
    async with run_simulator(model_name="qwen", sleep=False, answer_fault=fault) as sim:
        (got,) = await send_probes(sim.url, [probe], timeout=5)
    assert got.status == 200
    assert judge_answer(probe, got, Context()).check == check


def test_the_simulator_refuses_an_unknown_fault() -> None:
    with pytest.raises(ConfigError, match="answer_fault must be one of none, leaked-token"):
        SimConfig().updated({"answer_fault": "gibberish"})


async def test_a_probe_to_nothing_is_no_answer() -> None:
    (got,) = await send_probes("http://127.0.0.1:9", [CHAT], timeout=2)
    assert got.error is not None and judge_answer(CHAT, got, Context()).result == "Error"


@pytest.fixture
async def odd_server() -> Any:
    """A server answering each path its own odd way: slowly, not JSON, too much."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>502 Bad Gateway</html>", status=502)

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * (MAX_BODY_BYTES + 10), content_type="application/json")

    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")

    app = web.Application()
    for name, handler in (("slow", slow), ("text", text), ("huge", huge), ("deep", deep)):
        app.router.add_post(f"/{name}/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_client_bounds_time_and_size_and_never_raises(odd_server: str) -> None:
    (slow,) = await send_probes(f"{odd_server}/slow", [CHAT], timeout=0.3)
    assert slow.error == "no answer in 0.3s"
    (text,) = await send_probes(f"{odd_server}/text", [CHAT], timeout=5)
    assert (text.status, text.body) == (502, None)
    assert judge_answer(CHAT, text, Context()).detail == "HTTP 502"
    (huge,) = await send_probes(f"{odd_server}/huge", [CHAT], timeout=5)
    assert (huge.status, huge.body) == (200, None)
    assert judge_answer(CHAT, huge, Context()).check == "status"
    (deep,) = await send_probes(f"{odd_server}/deep", [CHAT], timeout=5)
    assert (deep.status, deep.body) == (200, None)


def test_a_probe_url_template_with_an_unknown_placeholder_stops_the_operator_at_start() -> None:
    assert OperatorConfig().probe_url == "http://{service}.{namespace}.svc:{port}"
    assert OperatorConfig(probe_url="http://127.0.0.1:9000/{namespace}/{service}").probe_url.endswith("{service}")
    with pytest.raises(ValueError, match="QWENOPS_PROBE_URL"):
        OperatorConfig(probe_url="http://{svc}.{namespace}:{port}")
