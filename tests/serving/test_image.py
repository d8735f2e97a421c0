"""The serving image as far as it can be checked without Docker: its Dockerfile, build context and
entrypoint, and `qwenops_serve` running as the top-level package it is in the image."""

from __future__ import annotations

import ast
import functools
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from images.serving.qwenops_serve.launch import LAUNCHER_ENV, LAUNCHERS
from qwenops.render.desired import SERVING_UID

from .conftest import REPO_ROOT

CONTEXT = REPO_ROOT / "images" / "serving"
DOCKERFILES = {"vllm": CONTEXT / "Dockerfile", "sim": CONTEXT / "Dockerfile.sim"}
"""The vLLM image, and the simulator's image for clusters with no GPU (the e2e suite on kind)."""
BASE_IMAGE = "vllm/vllm-openai:v0.32.0"
"""The vLLM the project's contract test runs on CPU."""
OPERATOR_DOCKERFILE = REPO_ROOT / "images" / "operator" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "a continuation line ends the file"
    return found


@functools.cache
def directives(image: str) -> list[tuple[str, str]]:
    return instructions(DOCKERFILES[image].read_text())


def last(image: str, keyword: str) -> str:
    values = [rest for key, rest in directives(image) if key == keyword]
    assert values, f"no {keyword}"
    return values[-1]


def env_values(image: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, rest in directives(image):
        if key == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                values[name] = value
    return values


def copy_sources(image: str) -> list[str]:
    sources = []
    for key, rest in directives(image):
        if key not in ("COPY", "ADD"):
            continue
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        flags = [w for w in words if w.startswith("--")]
        assert not any(f.startswith("--from") for f in flags), "a multi-stage COPY: extend this test"
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regex over a relative path."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out: the last matching rule wins, and
    a rule matching a folder applies to what is in it."""
    rules = [line.strip() for line in (CONTEXT / ".dockerignore").read_text().splitlines()]
    verdict = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for rule in rules:
        if not rule or rule.startswith("#"):
            continue
        keep = rule.startswith("!")
        pattern = _regex(posixpath.normpath(rule.lstrip("!").strip("/")))
        if any(pattern.fullmatch(p) for p in prefixes):
            verdict = not keep
    return verdict


def test_the_base_image_is_vllm_at_an_exact_version() -> None:
    froms = [rest for key, rest in directives("vllm") if key == "FROM"]
    assert len(froms) == 1
    image = froms[0].split()[0]
    assert image == BASE_IMAGE
    name, _, tag = image.partition(":")
    assert name == "vllm/vllm-openai"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), "an exact version tag, not latest nor a range"


def test_the_simulator_image_is_the_operators_exact_python() -> None:
    froms = [rest for key, rest in directives("sim") if key == "FROM"]
    assert len(froms) == 1
    image = froms[0].split()[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), "an exact Python on an exact Debian"
    operator_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", OPERATOR_DOCKERFILE.read_text(), re.MULTILINE)
    assert operator_base is not None and image == operator_base[1], "one Python for both images"


def test_the_simulator_image_pins_what_it_installs() -> None:
    installs = [rest for key, rest in directives("sim") if key == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    requirements = [w for w in shlex.split(installs[0].partition("pip install")[2]) if not w.startswith("-")]
    pins = dict(r.split("==") for r in requirements)
    assert sorted(pins) == ["aiohttp", "huggingface_hub", "prometheus-client"], requirements
    for name, version in pins.items():
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"{name} is not pinned to an exact version"


def test_the_simulator_image_serves_with_the_simulator() -> None:
    assert env_values("sim")[LAUNCHER_ENV] == "sim"
    assert "sim" in LAUNCHERS
    assert LAUNCHER_ENV not in env_values("vllm")


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_it_runs_as_a_numeric_non_root_user(image: str) -> None:
    user = last(image, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or gid.isdigit(), user
    assert uid == str(SERVING_UID) == "10001", "the user the operator's pods run as (render.SERVING_UID)"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_entrypoint_is_qwenops_serve(image: str) -> None:
    assert json.loads(last(image, "ENTRYPOINT")) == ["qwenops-serve"]
    wrapper = CONTEXT / "bin" / "qwenops-serve"
    assert wrapper.read_text().splitlines()[0] == "#!/bin/sh"
    assert wrapper.read_text().rstrip().endswith('exec python3 -m qwenops_serve "$@"')
    assert os.access(wrapper, os.X_OK)
    assert "COPY --chmod=0755 bin/qwenops-serve /usr/local/bin/qwenops-serve" in {
        f"{k} {r}" for k, r in directives(image)
    }


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_every_copy_source_is_in_the_build_context(image: str) -> None:
    sources = copy_sources(image)
    assert sources == ["qwenops_serve", "vllm_sim", "bin/qwenops-serve"]
    for source in sources:
        path = CONTEXT / source
        assert path.exists(), source
        files = list(path.rglob("*.py")) if path.is_dir() else [path]
        assert files, source
        for file in files:
            relative = file.relative_to(CONTEXT).as_posix()
            assert not ignored(relative), f"{relative} is left out by .dockerignore"
    assert ignored("qwenops_serve/__pycache__/cli.cpython-311.pyc")
    assert ignored("README.md") and ignored("Dockerfile") and ignored("Dockerfile.sim")
    # BuildKit reads <Dockerfile>.dockerignore beside a Dockerfile before the context's .dockerignore.
    assert not (CONTEXT / f"{DOCKERFILES[image].name}.dockerignore").exists()


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_environment_keeps_everything_local_and_writable(image: str) -> None:
    env = env_values(image)
    assert {k: env.get(k) for k in ("HF_HOME", "HF_HUB_DISABLE_TELEMETRY", "VLLM_NO_USAGE_STATS", "DO_NOT_TRACK",
                                    "HF_HUB_DISABLE_PROGRESS_BARS")} == {
        "HF_HOME": "/models", "HF_HUB_DISABLE_TELEMETRY": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }  # fmt: skip
    assert env["HOME"] == "/home/qwen"
    assert env["PYTHONPATH"].startswith("/opt/qwenops")
    if image == "vllm":
        assert env["XDG_CACHE_HOME"].startswith("/home/qwen/")


def _image_like_env() -> dict[str, str]:
    """The repository's images/serving as /opt/qwenops, and the interpreter as `python3`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON"))}
    env["PYTHONPATH"] = str(CONTEXT)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def test_the_wrapper_runs_the_top_level_package(tmp_path: Path) -> None:
    env = _image_like_env()
    help_run = subprocess.run(
        [str(CONTEXT / "bin" / "qwenops-serve"), "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert help_run.returncode == 0, help_run.stderr
    assert "download" in help_run.stdout and "verify" in help_run.stdout and "serve" in help_run.stdout
    log = tmp_path / "termination-log"
    refused = subprocess.run(
        [str(CONTEXT / "bin" / "qwenops-serve"), "download", "--model", "Qwen/Qwen3-8B", "--revision", "main",
         "--cache-dir", str(tmp_path / "models"), "--termination-log", str(log)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert log.read_text().startswith("InvalidRevision: ")
    imports = subprocess.run(
        [sys.executable, "-c", "import qwenops_serve.fetch, qwenops_serve.verify, qwenops_serve.launch"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imports.returncode == 0, imports.stderr


@pytest.mark.parametrize("module", sorted(p.name for p in (CONTEXT / "qwenops_serve").glob("*.py")))
def test_the_package_needs_only_the_standard_library_and_huggingface_hub(module: str) -> None:
    tree = ast.parse((CONTEXT / "qwenops_serve" / module).read_text())
    allowed = set(sys.stdlib_module_names) | {"huggingface_hub"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{module} imports {name}"
