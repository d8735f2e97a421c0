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

from .answers import shape
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
_MAX_INPUT_CHARS = 200
VALIDATION_ERROR = "Bad Request"  # the `type` of vLLM's answer to a body FastAPI cannot validate
SYSTEM_FINGERPRINT: str | None = None  # vLLM writes `vllm-<version>-<hash>`; clients must not rely on it


@dataclass(frozen=True)
class Timing:
    """The latencies drawn for one request."""

    e2e: float
    ttft: float


def _json(body: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """JSON as vLLM's FastAPI writes it: compact, `Content-Type: application/json` without a charset."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    """vLLM's ErrorResponse: `{"error": {"message", "type", "param", "code"}}`."""
    return _json({"error": {"message": message, "type": kind, "param": param, "code": status}}, status=status)


def _summarized(value: object) -> object:
    """A validation error's `input` as vLLM shows it: containers described, long text cut."""
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"<{type(value).__name__} of {len(value)} items>"
    text = str(value)
    return text if len(text) <= _MAX_INPUT_CHARS else text[:_MAX_INPUT_CHARS] + "...[truncated]"


def _invalid(kind: str, loc: str, msg: str, value: object, **ctx: str) -> web.Response:
    """A request that fails FastAPI's validation of the body (before vLLM looks at it): `400` with the
    type `Bad Request` (not `BadRequestError`), the pydantic error in the message and its `loc` as the
    `param` (`body`, `body.messages`, `body.<offset>` for bad JSON), as vLLM's validation handler writes it.
    """
    error: dict[str, object] = {"type": kind, "loc": loc, "msg": msg, "input": _summarized(value)}
    if ctx:
        error["ctx"] = ctx
    return _error(400, f"1 validation error:\n  {error}", VALIDATION_ERROR, loc)


def _count_tokens(text: str) -> int:
    """About four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)


def _prompt_tokens(prompt: object) -> int | None:
    """Tokens of a completions `prompt` (a string, a list of strings, a token list or a list of them);
    0 for an empty list, None for anything else."""
    if isinstance(prompt, str):
        return _count_tokens(prompt)
    if isinstance(prompt, list):
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return len(prompt)
        counts = [_prompt_tokens(p) for p in prompt]
        if all(c is not None for c in counts):
            return sum(c for c in counts if c is not None)
    return None


def _chat_tokens(messages: list[dict[str, Any]]) -> int:
    text: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            text.append(content)
        elif isinstance(content, list):
            text.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return _count_tokens(" ".join(text)) + 4 * len(messages)  # the chat template's tokens


@web.middleware
async def _fastapi_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unknown path or method answered as FastAPI does: `{"detail": "Not Found"}` (404) and
    `{"detail": "Method Not Allowed"}` (405, with `Allow`), in JSON."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _json({"detail": "Not Found"}, status=404)
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        return _json({"detail": "Method Not Allowed"}, status=405, headers={"Allow": allow})


class _RefusedError(Exception):
    """A request vLLM would refuse, with the answer it would give."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or _RefusedError with vLLM's answer (checked as FastAPI and vLLM do)."""
    media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        message = "1 validation error:\n  Unsupported Media Type: Only 'application/json' is allowed"
        raise _RefusedError(_error(400, message, VALIDATION_ERROR))
    raw = await request.read()
    if not raw.strip():
        raise _RefusedError(_invalid("missing", "body", "Field required", None))
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        invalid = _invalid("json_invalid", f"body.{exc.pos}", "JSON decode error", {}, error=exc.msg)
        raise _RefusedError(invalid) from None
    except ValueError:  # bytes that are not UTF-8
        invalid = _invalid("json_invalid", "body.0", "JSON decode error", {}, error="Invalid UTF-8")
        raise _RefusedError(invalid) from None
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise _RefusedError(_invalid("model_attributes_type", "body", msg, body))
    return body


def _int_field(body: Mapping[str, Any], name: str) -> int | None:
    """An optional integer field, converted as pydantic's lax mode does (`"2"`, `2.0` and `true` are
    integers); anything else fails FastAPI's validation with pydantic's error."""
    value = body.get(name)
    if value is None:
        return None
    loc = f"body.{name}"
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        msg = "Input should be a valid integer, got a number with a fractional part"
        raise _RefusedError(_invalid("int_from_float", loc, msg, value))
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            msg = "Input should be a valid integer, unable to parse string as an integer"
            raise _RefusedError(_invalid("int_parsing", loc, msg, value)) from None
    raise _RefusedError(_invalid("int_type", loc, "Input should be a valid integer", value))


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat request's `messages`, validated as FastAPI does (present, a list of role-carrying objects)."""
    if "messages" not in body:
        raise _RefusedError(_invalid("missing", "body.messages", "Field required", body))
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _RefusedError(_invalid("list_type", "body.messages", "Input should be a valid list", messages))
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _RefusedError(_invalid("missing", f"body.messages.{index}.role", "Field required", message))
    return messages


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
        self,
        accept: str = "",
        accept_encoding: str = "",
        names: list[str] | None = None,
        *,
        negotiate: bool = False,
    ) -> tuple[bytes, dict[str, str]]:
        """The /metrics body and headers for these request headers (see SimConfig.exposition).

        `negotiate` answers as prometheus-client's `make_asgi_app` does whatever the exposition setting:
        vLLM mounts one under `/metrics` for every longer path (`/metrics/`), behind the text route.
        """
        registry = self.registry.restricted_registry(names) if names else self.registry
        if self._config.exposition == "text" and not negotiate:
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
        app = web.Application(middlewares=[self._account, _fastapi_errors], client_max_size=16 * 1024 * 1024)
        # FastAPI's GET routes answer HEAD with 405; the /metrics mount answers any method.
        app.router.add_get("/health", self._health, allow_head=False)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/metrics{tail:.+}", self._metrics_mount)
        app.router.add_get(MODELS, self._models, allow_head=False)
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
        return self._scrape(request, negotiate=False)

    async def _metrics_mount(self, request: web.Request) -> web.Response:
        return self._scrape(request, negotiate=True)

    def _scrape(self, request: web.Request, *, negotiate: bool) -> web.Response:
        accept, encoding = request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", "")
        names = request.query.getall("name[]", [])
        body, headers = self.render_metrics(accept, encoding, names, negotiate=negotiate)
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
                    "id": f"modelperm-{uuid.uuid4().hex[:16]}",
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
        return _json({"object": "list", "data": [card]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def _generate(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        if not self.loaded:
            return self._not_loaded()
        try:
            body = await _json_body(request)
            parsed = self._parse(body, chat=chat)
        except _RefusedError as refused:
            return refused.response
        model, prompt_tokens, max_tokens, n = parsed
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
            created=int(time.time()), id=f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:16]}",
        )  # fmt: skip
        self._in_flight += 1
        finished = reason
        try:
            if stream:
                return await self._stream(request, answer, timing, include_usage=include_usage)
            if cfg.sleep and timing.e2e > 0:
                await asyncio.sleep(timing.e2e)
            whole = answer.body()
            if chat:
                whole = shape(whole, body, cfg.answer_fault)
            return _json(whole, headers={REVISION_HEADER: self.revision})
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

    def _parse(self, body: Mapping[str, Any], *, chat: bool) -> tuple[str, int, int | None, int]:
        """(model, prompt tokens, max_tokens, n) of a generation request, or _RefusedError as vLLM refuses it:
        first FastAPI's validation of the body (`Bad Request`), then the model (`404 NotFoundError`),
        then vLLM's own checks (`BadRequestError`, naming the parameter)."""
        messages = _messages(body) if chat else []
        prompt = body.get("prompt")
        prompt_tokens = None if chat or prompt is None else _prompt_tokens(prompt)
        if not chat and prompt is not None and prompt_tokens is None:
            msg = "Input should be a valid string"
            raise _RefusedError(_invalid("string_type", "body.prompt", msg, prompt))
        names = ("max_completion_tokens", "max_tokens") if chat else ("max_tokens",)
        limits = [(name, _int_field(body, name)) for name in names]
        n = _int_field(body, "n")
        model = body.get("model") or self.model_name
        if model != self.model_name:
            message = f"The model `{model}` does not exist. Valid aliases: {self.model_name}."
            raise _RefusedError(_error(404, message, "NotFoundError", "model"))
        if chat and not messages:
            message = "Cannot apply chat template to an empty conversation. Provide at least one message."
            raise _RefusedError(_error(400, message, "BadRequestError"))
        if not chat and not prompt_tokens:
            message = "Either prompt or prompt_embeds must be provided and non-empty. (parameter=prompt)"
            raise _RefusedError(_error(400, message, "BadRequestError", "prompt"))
        name, max_tokens = next(((k, v) for k, v in limits if v is not None), (names[-1], None))
        if max_tokens is not None and max_tokens < 1:
            message = f"{name} must be at least 1, got {max_tokens}. (parameter={name}, value={max_tokens})"
            raise _RefusedError(_error(400, message, "BadRequestError", name))
        if max_tokens is not None and max_tokens > self.max_model_len:
            message = (
                f"{name}={max_tokens} cannot be greater than max_model_len={self.max_model_len}. "
                f"Please request fewer output tokens. (parameter={name}, value={max_tokens})"
            )
            raise _RefusedError(_error(400, message, "BadRequestError", name))
        if n is not None and n < 1:
            raise _RefusedError(_error(400, f"n must be at least 1, got {n}.", "BadRequestError"))
        if not chat and max_tokens is None:
            max_tokens = 16  # the completions API's default
        return model, _chat_tokens(messages) if chat else prompt_tokens or 0, max_tokens, n or 1

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
            await response.write(f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode())

        if answer.chat:
            for index in range(answer.n):
                await send(answer.role_chunk(index))
        if sleep and timing.ttft > 0:
            await asyncio.sleep(timing.ttft)
        for position in range(answer.tokens):
            if position and sleep and gap > 0:
                await asyncio.sleep(gap)
            piece = answer.piece(position)
            last = position == answer.tokens - 1
            for index in range(answer.n):
                reason = answer.reason if last else None
                await send(answer.chunk(index, piece, reason, usage_follows=include_usage))
        if answer.tokens == 1 and sleep and gap > 0:
            await asyncio.sleep(gap)
        if include_usage:
            await send(answer.usage_chunk())
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

    def usage(self, *, stream: bool = False) -> dict[str, Any]:
        completion = self.tokens * self.n
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + completion,
            "completion_tokens": completion,
        }
        if not stream:
            usage.update(prompt_tokens_details=None, completion_tokens_details=None)
        return usage

    def envelope(self) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def role_chunk(self, index: int) -> dict[str, Any]:
        """A chat stream's first chunk of each choice: the role, no content yet."""
        choice = {"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                  "finish_reason": None}  # fmt: skip
        return {**self.envelope(), "choices": [choice], "prompt_token_ids": None, "prompt_text": None}

    def chunk(
        self, index: int, piece: str, finish_reason: str | None, *, usage_follows: bool
    ) -> dict[str, Any]:
        """One token of one choice; the last one carries the finish reason (and the system fingerprint,
        unless a usage chunk follows)."""
        choice: dict[str, Any] = {"index": index}
        if self.chat:
            choice.update(delta={"content": piece}, logprobs=None, finish_reason=finish_reason)
            if finish_reason is not None:
                choice["stop_reason"] = None
            choice["token_ids"] = None
        else:
            choice.update(text=piece, logprobs=None, finish_reason=finish_reason, stop_reason=None,
                          prompt_token_ids=None, token_ids=None)  # fmt: skip
        chunk = {**self.envelope(), "choices": [choice]}
        if finish_reason is not None and not usage_follows:
            chunk["system_fingerprint"] = SYSTEM_FINGERPRINT
        return chunk

    def usage_chunk(self) -> dict[str, Any]:
        return {**self.envelope(), "choices": [], "usage": self.usage(stream=True),
                "system_fingerprint": SYSTEM_FINGERPRINT}  # fmt: skip

    def body(self) -> dict[str, Any]:
        """The whole answer, with the keys vLLM 0.32 writes (null where the simulator has nothing)."""
        text = self.text()
        choices: list[dict[str, Any]]
        if self.chat:
            message: dict[str, Any] = {
                "role": "assistant", "content": text, "refusal": None, "annotations": None,
                "audio": None, "function_call": None, "reasoning": None,
            }  # fmt: skip
            choices = [
                {"index": i, "message": dict(message), "logprobs": None, "finish_reason": self.reason,
                 "stop_reason": None, "token_ids": None, "routed_experts": None}
                for i in range(self.n)
            ]  # fmt: skip
            extra: dict[str, Any] = {"prompt_logprobs": None, "prompt_token_ids": None, "prompt_text": None}
            kind = "chat.completion"
        else:
            choices = [
                {"index": i, "text": text, "logprobs": None, "finish_reason": self.reason,
                 "stop_reason": None, "token_ids": None, "prompt_logprobs": None,
                 "prompt_token_ids": None, "routed_experts": None}
                for i in range(self.n)
            ]  # fmt: skip
            extra = {}
            kind = "text_completion"
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "service_tier": None,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "usage": self.usage(),
            **extra,
            "kv_transfer_params": None,
            "ec_transfer_params": None,
            "metrics": None,
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
