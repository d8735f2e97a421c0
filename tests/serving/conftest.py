"""Fixtures for the serving image's entrypoint: a fake Hub and a pod's worth of `qwenops-serve` runs.

The end-to-end tests run `python -m images.serving.qwenops_serve` as a subprocess from the repository
root, as the image runs `python3 -m qwenops_serve`, so exit codes, stderr and the termination log are
the real ones. Nothing reaches the real Hub: `HF_ENDPOINT` points at `FakeHub`, `HF_HOME` at a
temporary folder, and the environment's Hugging Face variables are dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from images.serving.qwenops_serve.layout import CacheLayout

from .hub import FakeHub, HubFile, tiny_qwen

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_ID = "qwenops-test/tiny-qwen"
COMMIT = "5d1a7c0f3e9b2a4c6d8e0f1a3b5c7d9e1f2a4b6c"
TOKEN = "hf_" + "QwenOpsTestToken0123456789abcdefgh"
_DROPPED_ENV = ("HF_", "HUGGING_FACE_", "TRANSFORMERS_", "QWENOPS_")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    termination: str | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def reason_line(self) -> str:
        """The termination message's first line (`<Reason>: <message>`)."""
        assert self.termination is not None, f"no termination message; stderr:\n{self.stderr}"
        return self.termination.splitlines()[0]


class Pod:
    """One model cache, and `qwenops-serve` runs against it; each run gets a fresh termination log."""

    def __init__(self, tmp_path: Path, hub: FakeHub) -> None:
        self.tmp = tmp_path
        self.hub = hub
        self.cache = tmp_path / "models"
        self.runs = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
        env.update(
            HF_HOME=str(tmp_path / "hf-home"),
            HF_ENDPOINT=hub.url,
            HF_HUB_DISABLE_TELEMETRY="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.env = env

    @property
    def layout(self) -> CacheLayout:
        return CacheLayout(self.cache.resolve(), REPO_ID, COMMIT)

    def argv(self, command: str, *args: str, revision: str = COMMIT, model: str = REPO_ID) -> list[str]:
        self.runs += 1
        self.termination_log = self.tmp / f"termination-log-{self.runs}"
        return [
            sys.executable, "-m", "images.serving.qwenops_serve", command,
            "--model", model, "--revision", revision, "--cache-dir", str(self.cache),
            "--termination-log", str(self.termination_log), *args,
        ]  # fmt: skip

    def environment(self, env: dict[str, str] | None) -> dict[str, str]:
        return {**self.env, **(env or {})}

    def run(
        self,
        command: str,
        *args: str,
        revision: str = COMMIT,
        model: str = REPO_ID,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Run:
        done = subprocess.run(
            self.argv(command, *args, revision=revision, model=model),
            cwd=REPO_ROOT,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        termination = self.termination_log.read_text() if self.termination_log.exists() else None
        return Run(done.returncode, done.stdout, done.stderr, termination)

    def start(self, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(command, *args),
            cwd=REPO_ROOT,
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def download(self, *args: str, revision: str = COMMIT, env: dict[str, str] | None = None) -> Run:
        return self.run("download", *args, revision=revision, env=env)

    def verify(self, *args: str, revision: str = COMMIT, env: dict[str, str] | None = None) -> Run:
        return self.run("verify", *args, revision=revision, env=env)


def wait_for(condition: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def make_hub() -> Iterator[Callable[..., FakeHub]]:
    hubs: list[FakeHub] = []

    def make(files: Sequence[HubFile] | None = None) -> FakeHub:
        hub = FakeHub(REPO_ID, COMMIT, tiny_qwen() if files is None else files)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def hub(make_hub: Callable[..., FakeHub]) -> FakeHub:
    return make_hub()


@pytest.fixture
def pod(tmp_path: Path, hub: FakeHub) -> Pod:
    return Pod(tmp_path, hub)


@pytest.fixture(scope="package")
def prepared_caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny repo downloaded, and downloaded then verified, once for these tests (each copies one)."""
    hub = FakeHub(REPO_ID, COMMIT, tiny_qwen())
    try:
        caches = {}
        for name, steps in {"downloaded": ["download"], "verified": ["download", "verify"]}.items():
            pod = Pod(tmp_path_factory.mktemp(name), hub)
            for step in steps:
                run = pod.run(step)
                assert run.returncode == 0, run.stderr
            caches[name] = pod.cache
        return caches
    finally:
        hub.close()


def _copy_cache(source: Path, pod: Pod) -> Pod:
    shutil.copytree(source, pod.cache, symlinks=True)
    return pod


@pytest.fixture
def downloaded(pod: Pod, prepared_caches: dict[str, Path]) -> Pod:
    """A pod whose cache holds a complete download (no verified marker)."""
    return _copy_cache(prepared_caches["downloaded"], pod)


@pytest.fixture
def verified(pod: Pod, prepared_caches: dict[str, Path]) -> Pod:
    """A pod whose cache holds a verified download."""
    return _copy_cache(prepared_caches["verified"], pod)
