"""images/operator/Dockerfile: a pinned base, a numeric non-root user, `qwenops` as the entrypoint,
and the chart running it as that user."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chart.fetch_helm import REPO
from tests.chart.helm import Manifest, one, operator_container

DOCKERFILE = REPO / "images" / "operator" / "Dockerfile"
IGNORE = REPO / "images" / "operator" / "Dockerfile.dockerignore"
# python:<major>.<minor>.<patch>-slim-<Debian codename>, or any image pinned by digest
PINNED = re.compile(r"^python:3\.11\.\d+-slim-(bookworm|trixie)$|@sha256:[0-9a-f]{64}$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [args for kw, args in self.instructions if kw == keyword]
        return found[-1] if found else None


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile, with global ARG defaults substituted into FROM."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2] or "", m[0]), words[0])
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def test_the_header_says_the_build_context_is_the_repository_root() -> None:
    header = DOCKERFILE.read_text().split("\nFROM", 1)[0]
    assert "Build context: the repository's root" in header
    assert "docker build -f images/operator/Dockerfile" in header


def test_every_base_is_pinned_to_an_exact_version() -> None:
    stages = parse(DOCKERFILE.read_text())
    assert stages
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue
        assert PINNED.search(stage.base), f"{stage.base}: not an exact python:3.11.N-slim-<debian> tag"
        assert ":latest" not in stage.base and "$" not in stage.base


def test_the_final_stage_runs_qwenops_as_a_numeric_non_root_user() -> None:
    final = parse(DOCKERFILE.read_text())[-1]
    user = final.last("USER")
    assert user is not None, "no USER: the image would run as root"
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER {user}: a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) > 0), f"USER {user}: a numeric non-root gid"
    entrypoint = final.last("ENTRYPOINT")
    assert entrypoint is not None and json.loads(entrypoint) == ["qwenops"], "exec form, no shell"
    cmd = final.last("CMD")
    assert cmd is not None and json.loads(cmd) == ["run", "-A"]


def test_only_the_runtime_dependencies_are_installed() -> None:
    text = DOCKERFILE.read_text()
    installs = re.findall(r"pip install[^\n&]*", text)
    assert installs, "the project is installed with pip"
    assert not [line for line in installs if "[" in line or "-e " in line], installs


def test_the_ignore_file_sends_only_what_is_copied() -> None:
    patterns = [
        line.strip() for line in IGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is left out first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in parse(DOCKERFILE.read_text()):
        for keyword, rest in stage.instructions:
            if keyword != "COPY" or "--from=" in rest:
                continue
            sources = [w for w in rest.split() if not w.startswith("--")][:-1]
            for source in sources:
                assert source.rstrip("/") in allowed, f"COPY {source}: left out by {IGNORE.name}"
                assert (REPO / source).exists(), source


def test_the_chart_runs_the_image_user(render: Callable[[str], list[Manifest]]) -> None:
    user = parse(DOCKERFILE.read_text())[-1].last("USER") or ""
    uid, _, gid = user.partition(":")
    objects = render("defaults")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    container = operator_container(objects)
    assert container["securityContext"].get("runAsUser", pod["securityContext"]["runAsUser"]) == int(uid)
    if gid:
        assert pod["securityContext"]["runAsGroup"] == int(gid)
