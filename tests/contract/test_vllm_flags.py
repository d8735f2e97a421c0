"""`engine.extraArgs` against vLLM's own `vllm serve` parser (the contract interpreter's vLLM 0.32).

The operator passes the spec's `extraArgs` after its own flags, and argparse lets a later flag win,
so a flag the operator sets must be refused in every spelling vLLM reads as that flag. vLLM's
FlexibleArgumentParser turns `_` into `-` and `--flag.key v` into `--flag '{"key": v}'` before
argparse, and argparse's `allow_abbrev` (on) takes any unambiguous prefix (`--served-mod`).

Here every prefix of every option string that sets one of the operator's destinations is parsed, in
every spelling (`--p v`, `--p=v`, `--p_x v`, `--flag.key v`), after the arguments a pod really gets;
each one that changes such a destination must be refused by the models and by the CRD
(`tests.schema_check.admit`). Conversely no other option of vLLM's may be refused, every alias of
a managed destination must be on the spec's list, and the valid corpus' extraArgs must parse and
leave the managed destinations alone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops.api.errors import InvalidSpecError
from qwenops.api.rules import EXTRA_ARG_RULES, VLLM_MANAGED_FLAGS, VLLM_MANAGED_SHORT_FLAGS
from qwenops.api.spec import parse_spec
from qwenops.render.defaults import with_image
from qwenops.render.desired import vllm_args
from tests.contract.harness import contract_python, interpreter_problem, unavailable
from tests.schema_check import admit

pytestmark = pytest.mark.contract

PROBE = Path(__file__).with_name("vllm_flag_probe.py")
VALID = Path(__file__).resolve().parents[1] / "manifests" / "valid"
MODEL_DIR = "/models/snapshot"
PIN = {"name": "Qwen/Qwen3-8B", "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5", "servedModelName": "qwen3-8b"}
MANAGED_DESTS = {
    "model", "served_model_name", "revision", "tensor_parallel_size", "max_model_len",
    "gpu_memory_utilization", "host", "port", "uds", "config", "hf_token", "disable_log_stats",
}  # fmt: skip
"""What the operator sets, or what must stay unset (a config file, a Unix socket, a token, no stats)."""
VALUES = {
    "model": "other/model", "served_model_name": "smuggled", "revision": "main", "tensor_parallel_size": "2",
    "max_model_len": "5", "gpu_memory_utilization": "0.5", "host": "203.0.113.9", "port": "9999",
    "uds": "/tmp/smuggled.sock", "hf_token": "hf_smuggled",
}  # fmt: skip


def base_args() -> list[str]:
    spec = with_image(parse_spec("chat", {"model": PIN}), "serving:test")
    return [MODEL_DIR, *vllm_args(spec)]


def probe(cases: list[list[str]], workdir: Path) -> dict[str, Any]:
    problem = interpreter_problem()
    if problem is not None:
        unavailable(problem)
    python = contract_python()
    assert python is not None
    request, answer = workdir / "request.json", workdir / "answer.json"
    request.write_text(json.dumps({"base": base_args(), "dests": sorted(MANAGED_DESTS), "cases": cases}))
    run = subprocess.run(
        [python, str(PROBE), str(request), str(answer)], capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(answer.read_text())
    return result


def spellings(option: str, takes_value: bool, value: str) -> list[list[str]]:
    """Every prefix of `option` as vLLM could read it: alone or with its value, with `=`, with `_`."""
    dashes = "--" if option.startswith("--") else "-"
    name = option[len(dashes) :]
    cases: list[list[str]] = []
    for end in range(1, len(name) + 1):
        prefix = dashes + name[:end]
        variants = [prefix] if dashes == "-" else [prefix, "--" + name[:end].replace("-", "_")]
        for written in variants:
            cases += [[written, value], [f"{written}={value}"]] if takes_value else [[written]]
    if dashes == "--" and takes_value:
        cases.append([f"{option}.key", value])
    return cases


def refused_by_the_models(args: list[str]) -> bool:
    try:
        parse_spec("chat", {"model": PIN, "engine": {"extraArgs": args}})
    except InvalidSpecError as exc:
        return any(problem.startswith("spec.engine.extraArgs") for problem in exc.problems)
    return False


def refused_by_the_crd(args: list[str]) -> bool:
    manifest = {
        "apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment", "metadata": {"name": "chat"},
        "spec": {"model": PIN, "engine": {"extraArgs": args}},
    }  # fmt: skip
    return any(error.startswith("spec.engine.extraArgs") for error in admit(manifest))


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("flags")
    config = workdir / "smuggled.yaml"  # what --config would read: a flag the operator never passes
    config.write_text("disable-log-stats: true\n")
    first = probe([], workdir)
    cases: list[list[str]] = []
    for option, (dest, takes_value) in sorted(first["options"].items()):
        if dest in MANAGED_DESTS:
            value = str(config) if dest == "config" else VALUES.get(dest, "")
            cases += spellings(option, takes_value, value)
    valid = [
        yaml.safe_load(path.read_text())["spec"].get("engine", {}).get("extraArgs", [])
        for path in sorted(VALID.glob("*.yaml"))
    ]
    answer = probe(cases + valid, workdir)
    answer["cases"] = cases
    answer["valid"] = list(zip(valid, answer["results"][len(cases) :], strict=True))
    answer["results"] = answer["results"][: len(cases)]
    return answer


def smuggled(parsed: dict[str, Any]) -> list[list[str]]:
    baseline = parsed["baseline"]
    return [
        case
        for case, result in zip(parsed["cases"], parsed["results"], strict=True)
        if result is not None and result != baseline
    ]


def test_the_operators_own_arguments_set_what_the_spec_says(parsed: dict[str, Any]) -> None:
    baseline = parsed["baseline"]
    assert baseline is not None, "vLLM refuses the arguments the operator renders"
    assert baseline["served_model_name"] == repr(["qwen3-8b"])
    assert baseline["port"] == "8000" and baseline["host"] == repr("0.0.0.0")
    assert baseline["disable_log_stats"] == "False" and baseline["hf_token"] == "None"


def test_vllm_reads_abbreviations_underscores_and_aliases(parsed: dict[str, Any]) -> None:
    """Why the spec refuses more than the exact flags: each of these reaches a managed destination."""
    assert parsed["allow_abbrev"] is True
    found = smuggled(parsed)
    for case in (["--served-mod", "smuggled"], ["--served_model_name", "smuggled"], ["-t", "2"],
                 ["--disable-log-s"], ["--max-model=5"], ["--served-model-name.key", "smuggled"]):  # fmt: skip
        assert case in found, f"vLLM no longer reads {case} as a managed flag"


def test_every_spelling_that_reaches_a_managed_flag_is_refused_by_both(parsed: dict[str, Any]) -> None:
    found = smuggled(parsed)
    assert len(found) > 100
    missed_by_models = [case for case in found if not refused_by_the_models(case)]
    missed_by_crd = [case for case in found if not refused_by_the_crd(case)]
    assert missed_by_models == []
    assert missed_by_crd == []


def test_every_alias_of_a_managed_destination_is_on_the_list(parsed: dict[str, Any]) -> None:
    listed = {f"--{flag}" for flag in VLLM_MANAGED_FLAGS} | {f"-{flag}" for flag in VLLM_MANAGED_SHORT_FLAGS}
    managed = {option for option, (dest, _) in parsed["options"].items() if dest in MANAGED_DESTS}
    assert managed <= listed


def test_no_other_vllm_option_is_refused(parsed: dict[str, Any]) -> None:
    others = sorted(option for option, (dest, _) in parsed["options"].items() if dest not in MANAGED_DESTS)
    assert len(others) > 100
    refused = [option for option in others if any(rule.refuses(option) for rule in EXTRA_ARG_RULES)]
    assert refused == []


def test_the_valid_corpus_extra_args_parse_and_leave_managed_flags_alone(parsed: dict[str, Any]) -> None:
    assert parsed["valid"]
    for args, result in parsed["valid"]:
        assert result is not None, f"vLLM refuses {args}"
        assert result == parsed["baseline"], args
