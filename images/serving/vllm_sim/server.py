"""The simulator: an aiohttp server that answers like one vLLM pod (OpenAI API, /health, /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder, gzip_accepted

from .config import ConfigError, SimConfig
from .metrics import EXCLUDED_HANDLERS, Finished, VllmMetrics

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MODELS = "/v1/models"
REVISION_HEADER = "X-Vllm-Sim-Revision"
TICK_SECONDS = 0.1
MAX_NUM_SEQS = 256  # vLLM's default scheduler capacity, for a plausible vllm:kv_cache_usage_perc
_WORDS = ("The", "canary", "answers", "like", "the", "stable", "one", "until", "it", "does", "not.")
_DURATION = web.RequestKey("vllm_sim_duration", float)


@dataclass(frozen=True)
class Timing:
    """The latencies drawn for one request."""

    e2e: float
    ttft: float


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    """vLLM's ErrorResponse: `{"error": {"message", "type", "param", "code"}}`."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return web.json_response(body, status=status)


def _count_tokens(text: str) -> int:
    """About four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)


def _prompt_tokens(prompt: object) -> int | None:
    """Tokens of a completions `prompt`: a string, a list of strings, a token list or a list of them."""
    if isinstance(prompt, str):
        return _count_tokens(prompt)
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return len(prompt)
        counts = [_prompt_tokens(p) for p in prompt]
        if all(c is not None for c in counts):
            return sum(c for c in counts if c is not None)
    return None


def _chat_tokens(messages: object) -> int | None:
    if not isinstance(messages, list) or not messages:
        return None
    text: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return None
        content = message.get("content")
        if isinstance(content, str):
            text.append(content)
        elif isinstance(content, list):
            text.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return _count_tokens(" ".join(text)) + 4 * len(messages)  # the chat template's tokens


def _int_param(body: Mapping[str, Any], *names: str, default: int | None) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        return value
    return default


class Simulator:
    """One simulated vLLM server.

    Its metrics live in its own CollectorRegistry, so a test can run a stable and a canary side by side.
    Real HTTP requests and synthetic traffic (`rps`, `record_synthetic`) go through the same accounting.
    """

    def __init__(
        self,
        *,
        model_name: str = "qwen",
        revision: str = "unknown",
        model_root: str | None = None,
        max_model_len: int = 32768,
        seed: int | None = None,
        config: SimConfig | None = None,
        engine: str = "0",
        runtime_metrics: bool = True,
    ) -> None:
        self.model_name = model_name
        self.revision = revision
        self.model_root = model_root or model_name
        self.max_model_len = max_model_len
        self.seed = seed
        self.rng = random.Random(seed)
        self._config = config or SimConfig()
        self.registry = CollectorRegistry()
        self.metrics = VllmMetrics(
            self.registry,
            model_name=model_name,
            engine=engine,
            max_model_len=max_model_len,
            runtime_collectors=runtime_metrics,
        )
        self.metrics.track_running(self._running, lambda: min(1.0, self._running() / MAX_NUM_SEQS))
        self.created = int(time.time())
        self.url = ""
        self.real_requests = 0
        self.synthetic_requests = 0
        self._in_flight = 0
        self._started = time.monotonic()
        self._loaded_at = self._started + self._config.load_seconds
        self._runner: web.AppRunner | None = None
        self._traffic: asyncio.Task[None] | None = None
        self.app = self._make_app()

    # -- state and control -------------------------------------------------------------------------

    @property
    def config(self) -> SimConfig:
        return self._config

    @property
    def loaded(self) -> bool:
        return time.monotonic() >= self._loaded_at

    def configure(self, changes: Mapping[str, object] | None = None, /, **more: object) -> SimConfig:
        """Apply a partial change (as `PUT /sim/config`); raises ConfigError and changes nothing if bad."""
        merged = {**(changes or {}), **more}
        self._config = self._config.updated(merged)
        if "load_seconds" in merged:
            self._loaded_at = time.monotonic() + self._config.load_seconds
        return self._config

    def state(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_root": self.model_root,
            "revision": self.revision,
            "max_model_len": self.max_model_len,
            "seed": self.seed,
            "url": self.url,
            "loaded": self.loaded,
            "healthy": self.loaded and self._config.healthy,
            "in_flight": self._in_flight,
            "real_requests": self.real_requests,
            "synthetic_requests": self.synthetic_requests,
            "uptime_seconds": round(time.monotonic() - self._started, 3),
        }

    def _running(self) -> float:
        if not self.loaded:
            return float(self._in_flight)
        expected = self._config.rps * max(self._config.latency_seconds, self._config.ttft_seconds)
        return float(self._in_flight + round(expected))

    def draw_timing(self) -> Timing:
        cfg = self._config
        ttft = max(0.0, cfg.ttft_seconds + self.rng.uniform(-1, 1) * cfg.ttft_jitter_seconds)
        e2e = max(0.0, cfg.latency_seconds + self.rng.uniform(-1, 1) * cfg.latency_jitter_seconds)
        return Timing(e2e=max(e2e, ttft), ttft=ttft)

    def _fails(self) -> bool:
        return self.rng.random() < self._config.error_rate

    def record_synthetic(self, count: int = 1) -> int:
        """Record `count` chat requests into the metrics now, as if clients had sent them; returns count."""
        cfg = self._config
        for _ in range(count):
            self.synthetic_requests += 1
            request_size, response_size = 64 + 4 * cfg.prompt_tokens, 400 + 4 * cfg.output_tokens
            if self._fails():
                self.metrics.http(
                    handler=CHAT, method="POST", status=500, duration=0.005,
                    request_size=request_size, response_size=120,
                )  # fmt: skip
                continue
            timing = self.draw_timing()
            self.metrics.finished(
                Finished(
                    e2e=timing.e2e,
                    ttft=timing.ttft,
                    prompt_tokens=cfg.prompt_tokens,
                    generation_tokens=cfg.output_tokens,
                )
            )
            self.metrics.http(
                handler=CHAT, method="POST", status=200, duration=timing.e2e,
                request_size=request_size, response_size=response_size,
            )  # fmt: skip
        return count

    async def _traffic_loop(self) -> None:
        """Record `rps` synthetic requests a second; the fractional part carries over, so the count
        over any span is rps x span, give or take one."""
        last = time.monotonic()
        due = 0.0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            elapsed, last = now - last, now
            if self._config.rps <= 0 or not self.loaded:
                due = 0.0
                continue
            due += self._config.rps * elapsed
            count = int(due)
            due -= count
            self.record_synthetic(count)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port) and start the synthetic traffic; returns the URL."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        bound_port = int(bound[1])
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
        self.url = f"http://[{shown}]:{bound_port}" if ":" in shown else f"http://{shown}:{bound_port}"
        self._started = time.monotonic()
        self._loaded_at = self._started + self._config.load_seconds
        self._traffic = asyncio.create_task(self._traffic_loop(), name=f"vllm-sim-traffic-{bound_port}")
        return self.url

    async def stop(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traffic
            self._traffic = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- metrics exposition ----------------------------------------------------------------------

    def render_metrics(
        self, accept: str = "", accept_encoding: str = "", names: list[str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The /metrics body and headers for these request headers (see SimConfig.exposition)."""
        registry = self.registry.restricted_registry(names) if names else self.registry
        if self._config.exposition == "text":
            return generate_latest(registry), {"Content-Type": CONTENT_TYPE_LATEST}
        encoder, content_type = choose_encoder(accept)
        output = encoder(registry)
        headers = {"Content-Type": content_type}
        if gzip_accepted(accept_encoding):
            output = gzip.compress(output)
            headers["Content-Encoding"] = "gzip"
        return output, headers

    # -- HTTP ---------------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._account], client_max_size=16 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get(MODELS, self._models)
        app.router.add_post(COMPLETIONS, self._completions)
        app.router.add_post(CHAT, self._chat)
        app.router.add_get("/sim/config", self._get_config)
        app.router.add_put("/sim/config", self._put_config)
        app.router.add_patch("/sim/config", self._put_config)
        app.router.add_get("/sim/state", self._get_state)
        app.router.add_post("/sim/traffic", self._post_traffic)
        return app

    @staticmethod
    def _handler_label(request: web.Request) -> str | None:
        """The `handler` label, or None for paths vLLM's Instrumentator leaves out (and /sim/*)."""
        path = request.path
        if path.startswith("/sim/") or any(path == p or path.startswith(f"{p}/") for p in EXCLUDED_HANDLERS):
            return None
        resource = request.match_info.route.resource
        return "none" if resource is None else resource.canonical

    @web.middleware
    async def _account(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        label = self._handler_label(request)
        if label is None or not self.loaded:  # a loading vLLM has no server yet, so counts nothing
            return await handler(request)
        started = time.monotonic()
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.real_requests += 1
            duration = max(time.monotonic() - started, request.get(_DURATION, 0.0))
            self.metrics.http(
                handler=label,
                method=request.method,
                status=status,
                duration=duration,
                request_size=request.content_length or 0,
                response_size=(response.content_length or 0) if response is not None else 0,
            )

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.loaded and self._config.healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        names = request.query.getall("name[]", [])
        body, headers = self.render_metrics(
            request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", ""), names
        )
        return web.Response(body=body, headers=headers)

    def _not_loaded(self) -> web.Response:
        return _error(503, "The model is still loading.", "ServiceUnavailableError")

    async def _models(self, request: web.Request) -> web.Response:
        if not self.loaded:
            return self._not_loaded()
        card = {
            "id": self.model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": self.model_root,
            "parent": None,
            "max_model_len": self.max_model_len,
            "permission": [
                {
                    "id": f"modelperm-{uuid.uuid4().hex}",
                    "object": "model_permission",
                    "created": int(time.time()),
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ],
        }
        return web.json_response({"object": "list", "data": [card]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def _generate(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        if not self.loaded:
            return self._not_loaded()
        try:
            body = await request.json()
        except ValueError as exc:
            return _error(400, f"Invalid JSON body: {exc}", "BadRequestError")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "BadRequestError")
        model = body.get("model") or self.model_name
        if model != self.model_name:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        prompt_tokens = _chat_tokens(body.get("messages")) if chat else _prompt_tokens(body.get("prompt"))
        if prompt_tokens is None:
            field = "messages" if chat else "prompt"
            return _error(400, f"`{field}` is missing or malformed.", "BadRequestError", field)
        try:
            if chat:
                max_tokens = _int_param(body, "max_completion_tokens", "max_tokens", default=None)
            else:
                max_tokens = _int_param(body, "max_tokens", default=16)
            n = _int_param(body, "n", default=1) or 1
        except ConfigError as exc:
            return _error(400, str(exc), "BadRequestError")
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        if self._fails():
            return _error(500, "Simulated engine failure (error_rate).", "InternalServerError")

        cfg = self._config
        timing = self.draw_timing()
        generated = min(cfg.output_tokens, max_tokens) if max_tokens else cfg.output_tokens
        reason = "length" if max_tokens is not None and max_tokens < cfg.output_tokens else "stop"
        request[_DURATION] = timing.e2e
        answer = _Answer(
            chat=chat, model=model, n=n, tokens=generated, reason=reason, prompt_tokens=prompt_tokens,
            created=int(time.time()), id=f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
        )  # fmt: skip
        self._in_flight += 1
        finished = reason
        try:
            if stream:
                return await self._stream(request, answer, timing, include_usage=include_usage)
            if cfg.sleep and timing.e2e > 0:
                await asyncio.sleep(timing.e2e)
            return web.json_response(answer.body(), headers={REVISION_HEADER: self.revision})
        except asyncio.CancelledError:
            finished = "abort"  # the client went away
            raise
        finally:
            self._in_flight -= 1
            self.metrics.finished(
                Finished(
                    e2e=timing.e2e,
                    ttft=timing.ttft,
                    prompt_tokens=prompt_tokens,
                    generation_tokens=generated * n,
                    finished_reason=finished,
                    max_tokens=max_tokens,
                    n=n,
                )
            )

    async def _stream(
        self, request: web.Request, answer: _Answer, timing: Timing, *, include_usage: bool
    ) -> web.StreamResponse:
        """Server-sent events as vLLM streams them: a chunk a token, then `data: [DONE]`."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", REVISION_HEADER: self.revision}
        )
        await response.prepare(request)
        sleep = self._config.sleep
        gap = (timing.e2e - timing.ttft) / max(1, answer.tokens - 1)

        async def send(chunk: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if answer.chat:
            for index in range(answer.n):
                await send(answer.chunk(index, {"role": "assistant", "content": ""}, None))
        if sleep and timing.ttft > 0:
            await asyncio.sleep(timing.ttft)
        for position in range(answer.tokens):
            if position and sleep and gap > 0:
                await asyncio.sleep(gap)
            piece = answer.piece(position)
            last = position == answer.tokens - 1
            for index in range(answer.n):
                content: Any = {"content": piece} if answer.chat else piece
                await send(answer.chunk(index, content, answer.reason if last else None))
        if answer.tokens == 1 and sleep and gap > 0:
            await asyncio.sleep(gap)
        if include_usage:
            await send({**answer.envelope(), "choices": [], "usage": answer.usage()})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self._config.to_json())

    async def _put_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
        except ValueError as exc:
            return web.json_response({"error": f"invalid JSON: {exc}"}, status=400)
        if not isinstance(changes, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        try:
            config = self.configure(changes)
        except ConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config.to_json())

    async def _get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _post_traffic(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return web.json_response({"error": f"invalid JSON: {exc}"}, status=400)
        count = body.get("requests") if isinstance(body, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000:
            error = 'expected {"requests": N} with 0 <= N <= 1000000'
            return web.json_response({"error": error}, status=400)
        return web.json_response({"recorded": self.record_synthetic(count)})


@dataclass(frozen=True)
class _Answer:
    """What one generation request answers, in the OpenAI shapes vLLM uses."""

    chat: bool
    model: str
    n: int
    tokens: int
    reason: str
    prompt_tokens: int
    created: int
    id: str

    def piece(self, position: int) -> str:
        word = _WORDS[position % len(_WORDS)]
        return word if position == 0 else f" {word}"

    def text(self) -> str:
        return "".join(self.piece(i) for i in range(self.tokens))

    def usage(self) -> dict[str, Any]:
        completion = self.tokens * self.n
        return {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + completion,
            "completion_tokens": completion,
            "prompt_tokens_details": None,
        }

    def envelope(self) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def chunk(self, index: int, delta: Any, finish_reason: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": index}
        if self.chat:
            choice.update(delta=delta, logprobs=None, finish_reason=finish_reason)
        else:
            choice.update(text=delta, logprobs=None, finish_reason=finish_reason)
        if finish_reason is not None:
            choice["stop_reason"] = None
        return {**self.envelope(), "choices": [choice]}

    def body(self) -> dict[str, Any]:
        text = self.text()
        choices: list[dict[str, Any]]
        if self.chat:
            message: dict[str, Any] = {
                "role": "assistant", "content": text, "refusal": None, "annotations": None,
                "audio": None, "function_call": None, "tool_calls": [], "reasoning_content": None,
            }  # fmt: skip
            choices = [
                {"index": i, "message": dict(message), "logprobs": None,
                 "finish_reason": self.reason, "stop_reason": None}
                for i in range(self.n)
            ]  # fmt: skip
            kind = "chat.completion"
        else:
            choices = [
                {"index": i, "text": text, "logprobs": None, "finish_reason": self.reason,
                 "stop_reason": None, "prompt_logprobs": None}
                for i in range(self.n)
            ]  # fmt: skip
            kind = "text_completion"
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "service_tier": None,
            "system_fingerprint": None,
            "usage": self.usage(),
            "prompt_logprobs": None,
            "kv_transfer_params": None,
        }


@asynccontextmanager
async def run_simulator(
    *,
    model_name: str = "qwen",
    revision: str = "unknown",
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    model_root: str | None = None,
    max_model_len: int = 32768,
    config: SimConfig | None = None,
    **settings: object,
) -> AsyncIterator[Simulator]:
    """A running simulator for the length of the block; `settings` are SimConfig fields.

    async with run_simulator(model_name="qwen3-8b", revision="a1b2c3", error_rate=0.2, rps=20) as sim:
        ...  # sim.url, sim.configure(latency_seconds=12), sim.registry
    """
    simulator = Simulator(
        model_name=model_name,
        revision=revision,
        model_root=model_root,
        max_model_len=max_model_len,
        seed=seed,
        config=(config or SimConfig()).updated(settings),
    )
    await simulator.start(host, port)
    try:
        yield simulator
    finally:
        await simulator.stop()
