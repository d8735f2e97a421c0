"""`qwenops-serve serve`: only a verified snapshot, then vLLM in place of the process, offline."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from images.serving.qwenops_serve.launch import (
    API_SERVER_MODULE,
    LAUNCHER_ENV,
    resolve_launcher,
    serving_env,
    simulator_module,
    vllm_argv,
)

from .conftest import COMMIT, REPO_ID, REPO_ROOT, TOKEN, Pod
from .hub import FakeHub

VLLM_ARGS = ["--served-model-name", "qwen3-8b", "--tensor-parallel-size", "1", "--port", "8000"]
# Prints what it was started with, as JSON on stdout: the argv and the variables that matter.
REPORT = (
    "import json, os, sys; print(json.dumps({'argv': sys.argv, 'env': {k: os.environ.get(k) for k in "
    "('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_TOKEN')}}))"
)


@pytest.fixture
def fake_vllm(tmp_path: Path) -> dict[str, str]:
    """A `vllm` command on PATH and a `vllm.entrypoints.openai.api_server` module on PYTHONPATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    command = bin_dir / "vllm"
    command.write_text(f"#!{sys.executable}\n{REPORT}\n")
    command.chmod(0o755)
    module = tmp_path / "site" / Path(*API_SERVER_MODULE.split("."))
    module.parent.mkdir(parents=True)
    for folder in [module.parent, *module.parent.parents][:3]:
        (folder / "__init__.py").touch()
    module.with_suffix(".py").write_text(REPORT + "\n")
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(tmp_path / "site")}


def test_download_verify_serve(pod: Pod, hub: FakeHub, fake_vllm: dict[str, str]) -> None:
    """The pod's three containers, in order, on one cache."""
    assert pod.download().returncode == 0
    assert pod.verify().returncode == 0
    hub.clear()

    run = pod.run("serve", "--", *VLLM_ARGS, env=fake_vllm)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["argv"][1:] == ["serve", str(pod.layout.snapshot_dir), *VLLM_ARGS]
    assert hub.requests() == []
    assert (pod.layout.snapshot_dir / "config.json").read_bytes() == hub.file("config.json").data


def test_serve_execs_vllm_on_the_verified_snapshot(verified: Pod, fake_vllm: dict[str, str]) -> None:
    run = verified.run("serve", "--", *VLLM_ARGS, env={**fake_vllm, "HF_TOKEN": TOKEN})

    assert run.returncode == 0, run.stderr
    started = json.loads(run.stdout)
    snapshot = str(verified.layout.snapshot_dir)
    assert started["argv"][1:] == ["serve", snapshot, *VLLM_ARGS]
    assert started["env"] == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_TOKEN": None}
    assert f"serve: exec {shlex.join(['vllm', 'serve', snapshot, *VLLM_ARGS])}" in run.stderr.splitlines()
    assert TOKEN not in run.output


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_can_run_vllms_api_server_module(verified: Pod, fake_vllm: dict[str, str], how: str) -> None:
    args = ["--launcher", "module"] if how == "flag" else []
    env = {**fake_vllm, **({LAUNCHER_ENV: "module"} if how == "env" else {})}

    run = verified.run("serve", *args, "--", *VLLM_ARGS, env=env)

    assert run.returncode == 0, run.stderr
    started = json.loads(run.stdout)
    snapshot = str(verified.layout.snapshot_dir)
    assert started["argv"][1:] == ["--model", snapshot, *VLLM_ARGS]
    assert f"-m {API_SERVER_MODULE} --model {snapshot} " in run.stderr


@pytest.mark.parametrize("layout", ["repository", "image"])
def test_serve_can_run_the_simulator_on_the_snapshot(verified: Pod, layout: str, tmp_path: Path) -> None:
    """`--launcher sim` execs the real simulator beside the package: `images.serving.vllm_sim` from the
    repository, top-level `vllm_sim` where the image puts both packages on PYTHONPATH."""
    argv = verified.argv("serve", "--launcher", "sim", "--", "--served-model-name", "qwen-sim",
                         "--tensor-parallel-size", "1", "--host", "127.0.0.1", "--port", "0", "--rps", "5")  # fmt: skip
    env = verified.environment(None)
    cwd = REPO_ROOT
    if layout == "image":
        argv[2] = "qwenops_serve"
        env["PYTHONPATH"] = str(REPO_ROOT / "images" / "serving")
        cwd = tmp_path  # nowhere `images` could be imported from
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as answer:
            (card,) = json.load(answer)["data"]
        assert card["id"] == "qwen-sim"
        assert card["root"] == str(verified.layout.snapshot_dir)
        with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    module = "vllm_sim" if layout == "image" else "images.serving.vllm_sim"
    assert f"-m {module} --model {verified.layout.snapshot_dir} --served-model-name qwen-sim" in stderr
    assert "vllm_sim: ignoring --tensor-parallel-size 1" in stderr


def test_serve_without_a_verified_marker_is_refused(downloaded: Pod, fake_vllm: dict[str, str]) -> None:
    run = downloaded.run("serve", "--", *VLLM_ARGS, env=fake_vllm)

    assert run.returncode == 5
    assert run.reason_line == (
        f"NotVerified: {REPO_ID}@{COMMIT} has not been verified in this cache; the verify step must succeed first"
    )
    assert run.stdout == ""


def test_serve_refuses_a_file_changed_since_verification(verified: Pod, fake_vllm: dict[str, str]) -> None:
    blob = verified.layout.pointer("config.json").resolve()
    blob.write_bytes(blob.read_bytes()[:-1])

    run = verified.run("serve", "--", *VLLM_ARGS, env=fake_vllm)

    assert run.returncode == 5
    assert run.reason_line.startswith(f"NotVerified: {REPO_ID}@{COMMIT}: config.json is gone or changed since")
    assert run.stdout == ""


def test_serve_refuses_a_marker_of_another_commit(verified: Pod, fake_vllm: dict[str, str]) -> None:
    run = verified.run("serve", "--", *VLLM_ARGS, revision="e" * 40, env=fake_vllm)

    assert run.returncode == 5
    assert run.reason_line.startswith(f"NotVerified: {REPO_ID}@{'e' * 40} has not been verified")


def test_serve_without_vllm_says_so(verified: Pod) -> None:
    run = verified.run("serve", "--", *VLLM_ARGS, env={"PATH": "/nonexistent"})

    assert run.returncode == 1
    assert run.reason_line.startswith("Error: cannot start vLLM: [Errno 2] No such file or directory")


def test_an_unknown_launcher_is_a_bad_argument(verified: Pod) -> None:
    run = verified.run("serve", "--", *VLLM_ARGS, env={LAUNCHER_ENV: "docker"})

    assert run.returncode == 2
    assert run.stderr.startswith(f"qwenops-serve serve: error: {LAUNCHER_ENV}='docker'")


# -- the pure parts ----------------------------------------------------------------------------------


def test_vllm_argv_for_each_launcher() -> None:
    assert vllm_argv("cli", "/models/snap", ["--port", "8000"]) == ["vllm", "serve", "/models/snap", "--port", "8000"]
    assert vllm_argv("module", "/models/snap", ["--port", "8000"], python="/usr/bin/python3") == [
        "/usr/bin/python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "/models/snap", "--port", "8000",
    ]  # fmt: skip
    assert vllm_argv("module", "/m", [])[0] == sys.executable
    assert vllm_argv("sim", "/models/snap", ["--rps", "20"], python="/usr/bin/python3") == [
        "/usr/bin/python3", "-m", "images.serving.vllm_sim", "--model", "/models/snap", "--rps", "20",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown launcher"):
        vllm_argv("docker", "/m", [])


def test_the_simulator_is_the_package_beside_qwenops_serve() -> None:
    assert simulator_module("qwenops_serve") == "vllm_sim"  # the image: both top-level
    assert simulator_module("images.serving.qwenops_serve") == "images.serving.vllm_sim"  # the repository
    assert simulator_module() == "images.serving.vllm_sim"


def test_the_launcher_comes_from_the_flag_then_the_environment() -> None:
    assert resolve_launcher(None, {}) == "cli"
    assert resolve_launcher(None, {LAUNCHER_ENV: "module"}) == "module"
    assert resolve_launcher("cli", {LAUNCHER_ENV: "module"}) == "cli"
    assert resolve_launcher(None, {LAUNCHER_ENV: "sim"}) == "sim"
    assert resolve_launcher(None, {LAUNCHER_ENV: " "}) == "cli"
    with pytest.raises(ValueError, match="one of cli, module, sim"):
        resolve_launcher(None, {LAUNCHER_ENV: "vllm"})


def test_vllm_runs_offline_and_without_the_token() -> None:
    env = serving_env({"PATH": "/bin", "HF_TOKEN": TOKEN, "HUGGING_FACE_HUB_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0"})

    assert env == {"PATH": "/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
