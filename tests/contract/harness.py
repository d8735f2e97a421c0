"""The contract test's stage: a real vLLM and the simulator side by side, the same traffic, one Prometheus.

`launch_vllm` is the one place that says how the real vLLM starts; everything else treats it as a
process that serves the OpenAI API on a port. The simulator gets the same vLLM flags (it takes them and
ignores the ones it has no use for) plus its own. `run_stage` builds the tiny model, starts the three
processes, sends every `CALLS` request to both servers twice (with a scrape between, so that
`increase()` sees the second round) plus `LOAD_ROUNDS` more generations, and hands the answers over.

No path of the machine is written into the repository: every file lives under pytest's temporary
directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.prometheus import (
    BINARY_ENV,
    INSTALL,
    PrometheusServer,
    Target,
    find_prometheus,
    free_port,
    revision_labels,
)

REPO = Path(__file__).resolve().parents[2]
BUILDER = Path(__file__).with_name("build_tiny_qwen.py")
PYTHON_ENV = "QWENOPS_CONTRACT_PYTHON"
REQUIRE_ENV = "QWENOPS_REQUIRE_CONTRACT"
SERVED_MODEL = "tiny-qwen"
MAX_MODEL_LEN = 512
NAMESPACE, DEPLOYMENT = "llm", "chat"
REAL_REVISION, SIM_REVISION = "vllm-real", "vllm-sim"
SIM_LOAD_SECONDS = 2.0
SCRAPE_INTERVAL = "1s"
VLLM_READY_TIMEOUT = 420.0  # a cold start on a 2-core CI runner, imports included
LOAD_ROUNDS = 6


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def required() -> bool:
    """`$QWENOPS_REQUIRE_CONTRACT` is set: a missing interpreter or Prometheus fails instead of skipping."""
    return _flag(REQUIRE_ENV)


def contract_python() -> str | None:
    """The contract environment's interpreter (`$QWENOPS_CONTRACT_PYTHON`, made absolute but not resolved:
    a venv's python is a symlink out of the venv), None when unset."""
    python = os.environ.get(PYTHON_ENV)
    return str(Path(python).absolute()) if python else None


def interpreter_problem() -> str | None:
    """Why the contract interpreter cannot be used, or None."""
    python = contract_python()
    if python is None:
        return (
            f"${PYTHON_ENV} is not set: this suite runs a real vLLM (CPU) from its own environment; "
            "run `make contract`"
        )
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return f"${PYTHON_ENV}={python} is not an executable file; run `make contract` to create it"
    return None


def unavailable(problem: str) -> None:
    """Skip with `problem`, or fail under `$QWENOPS_REQUIRE_CONTRACT`."""
    if required():
        pytest.fail(f"{problem} (${REQUIRE_ENV} is set: the contract must run)")
    pytest.skip(problem)


# -- launching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]


def launch_vllm(python: str, model_dir: Path, *, port: int) -> Launch:
    """How the real vLLM is started: the one function to change to start it another way.

    vLLM's own OpenAI server module (the `vllm` console script of the CPU build is broken), on loopback,
    eager mode (no compilation: the start takes seconds, not minutes), a 1 GiB KV cache, and the engine
    core in the server's process (`VLLM_ENABLE_V1_MULTIPROCESSING=0` saves one interpreter start, about
    7 s; what the server exports and answers does not depend on it). Nothing is downloaded.
    """
    argv = [
        python, "-m", "vllm.entrypoints.openai.api_server",
        *vllm_flags(model_dir, port=port),
        "--enforce-eager",
    ]  # fmt: skip
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return Launch(argv, env)


def vllm_flags(model_dir: Path, *, port: int) -> list[str]:
    """The vLLM server flags both servers get (the simulator takes vLLM's flags)."""
    return [
        "--model", str(model_dir),
        "--served-model-name", SERVED_MODEL,
        "--max-model-len", str(MAX_MODEL_LEN),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip


def launch_simulator(model_dir: Path, *, port: int) -> Launch:
    """The simulator as an image would run it, with vLLM's flags, from this (the project's) interpreter."""
    argv = [
        sys.executable, "-m", "images.serving.vllm_sim",
        *vllm_flags(model_dir, port=port),
        "--enforce-eager",  # a vLLM flag the simulator ignores, as the operator's arguments would be
        "--revision", SIM_REVISION,
        "--seed", "1",
        "--latency-seconds", "0.05",
        "--ttft-seconds", "0.01",
        "--load-seconds", str(SIM_LOAD_SECONDS),
    ]  # fmt: skip
    return Launch(argv, {})


class Process:
    """A server subprocess in its own process group, its output in `log`."""

    def __init__(self, name: str, launch: Launch, log: Path, url: str) -> None:
        self.name = name
        self.launch = launch
        self.log = log
        self.url = url
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0

    async def start(self) -> None:
        env = {**os.environ, **self.launch.env}
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.launch.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the group: vLLM's engine runs in children
        try:
            await asyncio.wait_for(process.wait(), timeout=timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def build_model(python: str, output: Path) -> float:
    """Write the tiny checkpoint with the contract interpreter; returns the seconds it took."""
    started = time.monotonic()
    build = await asyncio.create_subprocess_exec(
        python, str(BUILDER), str(output),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=REPO,
    )  # fmt: skip
    out, _ = await build.communicate()
    if build.returncode != 0:
        raise RuntimeError(f"{BUILDER.name} failed ({build.returncode}):\n{out.decode(errors='replace')}")
    return time.monotonic() - started


# -- observing ------------------------------------------------------------------------------------


async def observe_health(session: aiohttp.ClientSession, url: str) -> str:
    """One GET /health, described: `200 content-type=- body=b''`, or how the connection failed."""
    try:
        async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=2)) as answer:
            body = await answer.read()
            return f"{answer.status} content-type={answer.headers.get('Content-Type', '-')} body={body!r}"
    except aiohttp.ClientConnectorError:
        return "connection refused"
    except TimeoutError:
        return "no answer within 2 s"
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}"


async def wait_healthy(
    session: aiohttp.ClientSession, server: Process, timeout: float
) -> tuple[list[str], float]:
    """Poll /health until 200; returns what it answered on the way (consecutive repeats folded) and the
    seconds from the process start to the first 200."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        observed = await observe_health(session, server.url)
        if not seen or seen[-1] != observed:
            seen.append(observed)
        if observed.startswith("200 "):
            return seen, time.monotonic() - server.started
        if server.exited is not None:
            raise RuntimeError(f"{server.name} exited with {server.exited}:\n{server.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: no 200 on /health within {timeout:g}s:\n{server.tail()}")
        await asyncio.sleep(0.2)


# -- traffic ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the contract sends to both servers."""

    name: str
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"


CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MESSAGES = [{"role": "user", "content": "Say hello."}]

CALLS: tuple[Call, ...] = (
    Call("models", "GET", "/v1/models"),
    Call("completion", "POST", COMPLETIONS, {"model": SERVED_MODEL, "prompt": "Say hello", "max_tokens": 4}),
    Call("chat", "POST", CHAT, {"model": SERVED_MODEL, "messages": MESSAGES, "max_tokens": 4}),
    Call(
        "completion_stream", "POST", COMPLETIONS,
        {"model": SERVED_MODEL, "prompt": "Say hello", "max_tokens": 3, "stream": True},
    ),
    Call(
        "chat_stream", "POST", CHAT,
        {"model": SERVED_MODEL, "messages": MESSAGES, "max_tokens": 3, "stream": True,
         "stream_options": {"include_usage": True}},
    ),
    Call("unknown_model", "POST", CHAT, {"model": "no-such-model", "messages": MESSAGES, "max_tokens": 2}),
    Call("malformed_json", "POST", COMPLETIONS, raw=b'{"model": "tiny-qwen", "prompt": '),
    Call("not_an_object", "POST", COMPLETIONS, [1, 2]),
    Call("missing_messages", "POST", CHAT, {"model": SERVED_MODEL}),
    Call("messages_not_a_list", "POST", CHAT, {"model": SERVED_MODEL, "messages": "hello"}),
    Call("empty_messages", "POST", CHAT, {"model": SERVED_MODEL, "messages": []}),
    Call("missing_prompt", "POST", COMPLETIONS, {"model": SERVED_MODEL, "max_tokens": 2}),
    Call("prompt_not_text", "POST", COMPLETIONS, {"model": SERVED_MODEL, "prompt": {"text": "hi"}}),
    Call("zero_max_tokens", "POST", COMPLETIONS, {"model": SERVED_MODEL, "prompt": "hi", "max_tokens": 0}),
    Call(
        "max_tokens_over_max_model_len", "POST", COMPLETIONS,
        {"model": SERVED_MODEL, "prompt": "hi", "max_tokens": MAX_MODEL_LEN + 1},
    ),
    Call("zero_n", "POST", COMPLETIONS, {"model": SERVED_MODEL, "prompt": "hi", "max_tokens": 2, "n": 0}),
    Call("max_tokens_as_text", "POST", COMPLETIONS, {"model": SERVED_MODEL, "prompt": "hi", "max_tokens": "2"}),
    Call(
        "text_plain_body", "POST", COMPLETIONS,
        raw=b'{"model": "tiny-qwen", "prompt": "hi", "max_tokens": 2}', content_type="text/plain",
    ),
    Call("unknown_path", "GET", "/v1/no-such-path"),
    Call("wrong_method", "GET", COMPLETIONS),
    Call("head_health", "HEAD", "/health"),
)  # fmt: skip
CALLS_BY_NAME = {call.name: call for call in CALLS}
LOAD: tuple[Call, ...] = (CALLS_BY_NAME["completion"], CALLS_BY_NAME["chat"])


@dataclass(frozen=True)
class Exchange:
    """What a server answered to one Call."""

    call: Call
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """A server-sent event stream's `data:` payloads, JSON-decoded except the final `[DONE]`."""
        payloads = [
            line.removeprefix("data: ")
            for line in self.body.decode().splitlines()
            if line.startswith("data: ")
        ]
        return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


async def send(session: aiohttp.ClientSession, url: str, call: Call) -> Exchange:
    data = (
        call.raw if call.raw is not None else (None if call.body is None else json.dumps(call.body).encode())
    )
    headers = {"Content-Type": call.content_type} if data is not None else {}
    async with session.request(call.method, f"{url}{call.path}", data=data, headers=headers) as answer:
        body = await answer.read()
        return Exchange(call, answer.status, dict(answer.headers), body)


async def send_all(session: aiohttp.ClientSession, url: str, calls: tuple[Call, ...]) -> dict[str, Exchange]:
    """Send `calls` one after the other; the answers by call name."""
    return {call.name: await send(session, url, call) for call in calls}


# -- the stage ------------------------------------------------------------------------------------


@dataclass
class Side:
    """One of the two servers: how it started, what it answered."""

    name: str
    revision: str
    process: Process
    health_before: list[str] = field(default_factory=list)
    exchanges: dict[str, Exchange] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


@dataclass
class Stage:
    real: Side
    sim: Side
    prometheus: PrometheusServer
    session: aiohttp.ClientSession
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.real, self.sim

    async def get(self, side: Side, path: str, headers: Mapping[str, str] | None = None) -> Exchange:
        """GET `path` from one server now."""
        async with self.session.get(f"{side.url}{path}", headers=dict(headers or {})) as answer:
            body = await answer.read()
            return Exchange(Call(path, "GET", path), answer.status, dict(answer.headers), body)


def prometheus_binary() -> str:
    binary = find_prometheus()
    if binary is None:
        unavailable(f"no prometheus binary on PATH: {INSTALL}, or point ${BINARY_ENV} at one")
    assert binary is not None
    return binary


@contextlib.asynccontextmanager
async def run_stage(workdir: Path, python: str) -> AsyncIterator[Stage]:
    """Build the model, start vLLM, the simulator and Prometheus, send the traffic; stop all on exit."""
    began = time.monotonic()
    model_dir = workdir / "tiny-qwen"
    real_port, sim_port = free_port(), free_port()
    real = Side("vLLM", REAL_REVISION, Process(
        "vLLM", launch_vllm(python, model_dir, port=real_port), workdir / "vllm.log",
        f"http://127.0.0.1:{real_port}",
    ))  # fmt: skip
    sim = Side("simulator", SIM_REVISION, Process(
        "simulator", launch_simulator(model_dir, port=sim_port), workdir / "simulator.log",
        f"http://127.0.0.1:{sim_port}",
    ))  # fmt: skip
    prometheus = PrometheusServer(
        workdir / "prometheus",
        binary=prometheus_binary(),
        targets=[
            Target(real.address, revision_labels(NAMESPACE, DEPLOYMENT, REAL_REVISION)),
            Target(sim.address, revision_labels(NAMESPACE, DEPLOYMENT, SIM_REVISION)),
        ],
        scrape_interval=SCRAPE_INTERVAL,
    )
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        stage = Stage(real, sim, prometheus, session)
        try:
            # The model first (the simulator reads nothing from it, but takes its path as `root`).
            stage.timings["model build"] = await build_model(python, model_dir)
            await real.process.start()
            await sim.process.start()
            real_health = asyncio.create_task(wait_healthy(session, real.process, VLLM_READY_TIMEOUT))
            sim.health_before, _ = await wait_healthy(session, sim.process, 60)
            await prometheus.start()
            real.health_before, stage.timings["vLLM start to /health 200"] = await real_health
            await prometheus.wait_for_targets(2, timeout=30)
            started = time.monotonic()
            # Round one creates every series; round two (and the load) is what increase() sees.
            for side in stage.sides:
                side.exchanges = await send_all(session, side.url, CALLS)
            await prometheus.wait_for_scrapes(2)
            for side in stage.sides:
                side.exchanges = await send_all(session, side.url, CALLS)
                for _ in range(LOAD_ROUNDS):
                    await send_all(session, side.url, LOAD)
            await prometheus.wait_for_scrapes(2)
            stage.timings["traffic and scrapes"] = time.monotonic() - started
            stage.timings["stage ready"] = time.monotonic() - began
            yield stage
        finally:
            await prometheus.stop()
            await sim.process.stop()
            await real.process.stop()
