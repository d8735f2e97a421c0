"""The `spec` of a QwenDeployment, as pydantic models.

These models are the one source of truth for the API: the CRD in `crds/` is
generated from them (`make crds`). Every rule a user can break is written
twice on purpose: as a pydantic validator (what the operator enforces, even on
objects stored under an older CRD) and as an OpenAPI keyword or a CEL rule in
`json_schema_extra` (what `kubectl apply` refuses). The corpus under
`tests/manifests/` checks that both refuse the same manifests.
"""

import re
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from qwenops.durations import DURATION_PATTERN
from qwenops.errors import InvalidSpecError
from qwenops.naming import MAX_NAME_LENGTH

CEL = "x-kubernetes-validations"

COMMIT_PATTERN = r"^[0-9a-f]{40}$"
HF_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
SERVED_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HTTP_URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"

MANAGED_ARGS = (
    "--model",
    "--served-model-name",
    "--revision",
    "--tensor-parallel-size",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--host",
    "--port",
    "--disable-log-stats",
)
"""Flags the operator sets itself (or must never set): refused in `engine.extraArgs`."""

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]
Commit = Annotated[str, StringConstraints(max_length=40)]


class Model(BaseModel):
    """The base of every API object: camelCase in YAML, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_NAME_PATTERN = r"^[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,254}$"


class FileDigest(Model):
    """One file of the checkpoint and the sha256 it must have."""

    name: Annotated[str, StringConstraints(pattern=FILE_NAME_PATTERN, max_length=255)] = Field(
        description="Path of the file in the repo, e.g. model-00001-of-00004.safetensors.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "!self.matches('(^|/)[.]{1,2}(/|$)') && !self.contains('//') "
                    "&& !self.endsWith('/')",
                    "message": "spec.model.files[].name must be a relative path inside the repo",
                }
            ]
        },
    )
    sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] = Field(
        description="Lowercase hex sha256 of the file's bytes (the Hub's LFS digest)."
    )

    @field_validator("name")
    @classmethod
    def _inside_repo(cls, value: str) -> str:
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError(f"{value!r} is not a relative path inside the repo")
        return value


class ModelCache(Model):
    claim_name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] = Field(
        description="A PersistentVolumeClaim shared by the pods (ReadWriteMany), so a model downloaded "
        "once starts from a warm cache."
    )


class SecretKeyRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = "token"


class ModelRef(Model):
    """Which checkpoint to serve, pinned to one commit of its Hugging Face repo."""

    name: Annotated[str, StringConstraints(pattern=HF_REPO_PATTERN, max_length=193)] = Field(
        description="Hugging Face repo id, e.g. Qwen/Qwen3-8B."
    )
    revision: Commit = Field(
        description="Full 40-hex commit of the repo: a pin, never a branch, tag or short SHA.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.matches('^[0-9a-f]{40}$')",
                    "message": "spec.model.revision must be a full 40-hex commit "
                    "(a branch, tag or short SHA is not a pin)",
                }
            ]
        },
    )
    served_model_name: Annotated[str, StringConstraints(pattern=SERVED_NAME_PATTERN, max_length=128)] = Field(
        description="The name clients ask for; stays the same across versions."
    )
    files: list[FileDigest] = Field(
        default_factory=list,
        max_length=1024,
        description="Expected sha256 of files of the checkpoint. The pods verify every file against "
        "the Hub's own digests anyway; these pin them further, so a repo rewritten upstream is refused.",
        # A map list: the API server itself refuses two entries with one name.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    size: Quantity | None = Field(
        default=None,
        description="Size of the weights (e.g. 16Gi). Sets how long pods may take to download, verify "
        "and load them; when absent it is estimated from the parameter count in the repo name.",
    )
    cache: ModelCache | None = Field(
        default=None,
        description="Where pods keep the weights. Absent: an emptyDir, so every new pod downloads them.",
    )
    hub_endpoint: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)] | None = Field(
        default=None,
        description="Where the download step fetches from: a Hugging Face Hub mirror for clusters without "
        "internet access. Absent: the operator's default (QWENOPS_HF_ENDPOINT), else huggingface.co.",
    )
    token_secret: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key holding a Hugging Face token, for gated or private repos. Only the "
        "download init container sees it.",
    )

    @field_validator("files")
    @classmethod
    def _each_file_once(cls, files: list[FileDigest]) -> list[FileDigest]:
        names = [f.name for f in files]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"names {', '.join(twice)} more than once")
        return files

    @field_validator("revision")
    @classmethod
    def _revision_is_a_commit(cls, value: str) -> str:
        if not re.fullmatch(COMMIT_PATTERN, value):
            raise ValueError(
                f"{value!r} is not a full 40-hex commit; a branch, tag or short SHA is not a pin"
            )
        return value


class Engine(Model):
    """vLLM settings."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None, description="Serving image; defaults to the operator's configured serving image."
    )
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    max_model_len: int | None = Field(default=None, ge=1, le=10_000_000)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    extra_args: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=64,
        description="More vLLM flags. The operator's own flags and --disable-log-stats are refused.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.all(a, !["
                    + ", ".join(f"'{flag}'" for flag in MANAGED_ARGS)
                    + "].exists(f, a == f || a.startsWith(f + '=')))",
                    "message": "spec.engine.extraArgs must not set "
                    + ", ".join(MANAGED_ARGS)
                    + " (the operator sets them from the spec, and --disable-log-stats "
                    "removes the metrics the canary analysis reads)",
                }
            ]
        },
    )

    @field_validator("extra_args")
    @classmethod
    def _no_managed_args(cls, args: list[str]) -> list[str]:
        for arg in args:
            flag = arg.split("=", 1)[0]
            if flag in MANAGED_ARGS:
                raise ValueError(
                    f"{arg!r} is not allowed: the operator sets {flag} itself"
                    if flag != "--disable-log-stats"
                    else "--disable-log-stats is not allowed: it removes the vllm:* metrics "
                    "the canary analysis reads"
                )
        return args


class Toleration(Model):
    key: Annotated[str, StringConstraints(max_length=316)] | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: Annotated[str, StringConstraints(max_length=63)] | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class NodePool(Model):
    """Where the GPUs are."""

    node_selector: dict[
        Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)],
        Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)],
    ] = Field(default_factory=dict, max_length=32)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    affinity: dict[str, Any] | None = Field(
        default=None, description="A core/v1 Affinity, passed to the pods as it is."
    )
    gpus_per_replica: int = Field(default=1, ge=1, le=64)
    gpu_resource: Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)] = Field(
        default="nvidia.com/gpu", description="The extended resource that counts GPUs."
    )


class Step(Model):
    """One canary step: hold `weight` percent of traffic for `pause` (absent: until promoted)."""

    weight: int = Field(ge=1, le=99)
    pause: Duration | None = None


class HTTPRouteRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]


class TrafficRouting(Model):
    """Default `{}`: replica ratio behind one Service. `httpRoute`: exact weights on a Gateway API route."""

    http_route: HTTPRouteRef | None = None


class PrometheusRef(Model):
    url: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)]


class SLOs(Model):
    max_error_rate: float | None = Field(default=None, gt=0, le=1)
    max_error_rate_vs_stable: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="The canary's error ratio may be at most this many times the stable's (e.g. 2); "
        "checked only when the stable revision served at least minRequests in the window.",
    )
    p95_latency_seconds: float | None = Field(default=None, gt=0)
    p95_time_to_first_token_seconds: float | None = Field(default=None, gt=0)


PROM_LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
PromLabel = Annotated[str, StringConstraints(pattern=PROM_LABEL_PATTERN, max_length=128)]


class SeriesLabels(Model):
    """Names of the series labels that carry the pods' identity (a PodMonitor's labelmap of pod labels)."""

    namespace: PromLabel = "namespace"
    deployment: PromLabel = Field(
        default="qwenops_io_deployment",
        description="Series label copied from the pod label qwenops.io/deployment.",
    )
    revision: PromLabel = Field(
        default="qwenops_io_revision",
        description="Series label copied from the pod label qwenops.io/revision.",
    )


# An unanchored pattern (OpenAPI patterns search), not a CEL rule: the API server answers
# "spec.rollout.analysis.queries.errors ... should match '\{selector\}'".
_SELECTOR_RULE: dict[str, Any] = {"pattern": r"\{selector\}"}


PromQLTemplate = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class QueryTemplates(Model):
    """PromQL overrides. `{selector}` becomes one revision's label matchers, without braces
    (`namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="a1b2c3"`), `{window}`
    the analysis window (`2m`); no other braces are touched. `requests` and `errors` must
    return counts over the window (one series or a scalar), the p95s seconds."""

    requests: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    errors: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    p95_latency: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    p95_time_to_first_token: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)

    @field_validator("requests", "errors", "p95_latency", "p95_time_to_first_token")
    @classmethod
    def _has_selector(cls, value: str | None) -> str | None:
        if value is not None and "{selector}" not in value:
            raise ValueError("must contain {selector}, the label matchers of one revision")
        return value


class Analysis(Model):
    prometheus: PrometheusRef | None = None
    interval: Duration = "30s"
    window: Duration = "2m"
    min_requests: int = Field(default=100, ge=0)
    failure_limit: int = Field(default=2, ge=1, le=100)
    slos: SLOs = Field(default_factory=SLOs)
    confidence: float = Field(
        default=0.99,
        ge=0.5,
        lt=1,
        description="An error-rate SLO fails only when a one-sided exact binomial test says the "
        "canary's error ratio exceeds it at this confidence.",
    )
    labels: SeriesLabels = Field(default_factory=SeriesLabels)
    queries: QueryTemplates = Field(default_factory=QueryTemplates)


class Rollout(Model):
    steps: list[Step] = Field(
        default_factory=list,
        max_length=20,
        description="Canary weights in order; after the last step the canary is promoted.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.map(s, s.weight).isSorted() && "
                    "self.all(a, self.exists_one(b, b.weight == a.weight))",
                    "message": "spec.rollout.steps weights must be strictly increasing",
                }
            ]
        },
    )
    traffic_routing: TrafficRouting = Field(default_factory=TrafficRouting)
    analysis: Analysis = Field(default_factory=Analysis)
    progress_deadline: Duration | None = Field(
        default=None,
        description="A canary whose pods are not all ready this long after it started is rolled back. "
        "Absent: derived from the model's size and whether the cache is warm (see status.startup).",
    )

    @field_validator("steps")
    @classmethod
    def _weights_increase(cls, steps: list[Step]) -> list[Step]:
        for before, after in pairwise(steps):
            if after.weight <= before.weight:
                raise ValueError(
                    f"weights must be strictly increasing, but {after.weight} follows {before.weight}"
                )
        return steps


class QwenDeploymentSpec(Model):
    model_config = ConfigDict(
        json_schema_extra={
            CEL: [
                {
                    # `tensorParallelSize < 1 ||`: the schema refuses 0 already; without it
                    # the rule would also fail to evaluate (modulo by zero) and say so.
                    "rule": "self.engine.tensorParallelSize < 1 || "
                    "self.nodePool.gpusPerReplica % self.engine.tensorParallelSize == 0",
                    "message": "spec.nodePool.gpusPerReplica must be a multiple of "
                    "spec.engine.tensorParallelSize",
                }
            ]
        }
    )

    model: ModelRef
    engine: Engine = Field(default_factory=Engine)
    node_pool: NodePool = Field(default_factory=NodePool)
    replicas: int = Field(default=1, ge=0, le=1000)
    rollout: Rollout = Field(default_factory=Rollout)
    revision_history_limit: int = Field(default=5, ge=0, le=100)

    @model_validator(mode="after")
    def _gpus_fit_tensor_parallelism(self) -> "QwenDeploymentSpec":
        gpus, tp = self.node_pool.gpus_per_replica, self.engine.tensor_parallel_size
        if gpus % tp:
            raise ValueError(
                f"nodePool.gpusPerReplica ({gpus}) must be a multiple of engine.tensorParallelSize ({tp})"
            )
        return self


NAME_RULES = [
    {
        "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
        "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters, so that "
        "`<name>-<revision>` "
        "stays a 63-character DNS label",
    },
    {
        "rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        "message": "metadata.name must be a DNS label starting with a letter "
        "(it names Services and Deployments)",
    },
]
"""Rules on the object's name, checked at the root of the CRD schema."""

NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def parse_spec(name: str, spec: Any) -> QwenDeploymentSpec:
    """Validate a stored object's name and spec; raise InvalidSpecError naming every bad field."""
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"metadata.name: {name!r} is longer than {MAX_NAME_LENGTH} characters")
    elif not re.fullmatch(NAME_PATTERN, name):
        problems.append(f"metadata.name: {name!r} is not a DNS label starting with a letter")
    try:
        parsed = QwenDeploymentSpec.model_validate(spec if spec is not None else {})
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
        parsed = None
    if problems or parsed is None:
        raise InvalidSpecError(problems)
    return parsed


def _describe(error: Any) -> str:
    path = ".".join(["spec", *(str(part) for part in error["loc"])])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}"
