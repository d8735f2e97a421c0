"""The `spec` of a QwenDeployment, as pydantic models, and `parse_spec`, which reads one.

These models are the one source of truth for the API: the CRD in `crds/` is generated from
them (`make crds`). `spec.model` is `checkpoint.py`'s, `spec.engine` `engine.py`'s,
`spec.nodePool` `placement.py`'s; the rules they keep are `rules.py`'s, the SLOs and queries of
`spec.rollout.analysis` the registry's (`slos.py`). `parse_spec` validates what a person asked
for (`base.asked`), and strictly: `"3"` is not a number and `true` not an integer, as the API
server's schema says.
"""

from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qwenops.api.bake import Bake, bake_problem
from qwenops.api.base import ASKED, Model, asked, with_fields
from qwenops.api.budget import RolloutBudget
from qwenops.api.checkpoint import ModelRef
from qwenops.api.engine import Engine
from qwenops.api.errors import InvalidSpecError
from qwenops.api.naming import MAX_NAME_LENGTH
from qwenops.api.placement import NodePool
from qwenops.api.pods import GPU_IN_RESOURCES, PodSettings
from qwenops.api.probes import Probes
from qwenops.api.rules import (
    BOUNDED_DURATION_PATTERN,
    CEL,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    HTTP_URL_PATTERN,
    NAME_RULE,
    PROM_LABEL_PATTERN,
    SELECTOR_RULES,
    TRACK_SUFFIX_RULE,
    URL_RULES,
    Invariant,
    cel_invariants,
    cel_rules,
    check,
    check_invariants,
)
from qwenops.api.slos import QUERIES, SLO, SLOS, Query
from qwenops.api.traffic import InferencePoolRouting

Duration = Annotated[str, StringConstraints(pattern=BOUNDED_DURATION_PATTERN, max_length=32)]


class Step(Model):
    """One canary step: hold `weight` percent of traffic for `pause` (absent: until promoted)."""

    weight: int = Field(ge=1, le=99)
    """Percent of traffic the canary gets during this step (1 to 99)."""
    pause: Duration | None = None
    """How long to hold this step (a duration: 30s, 5m, 1h30m) while its analysis passes; absent:
    until a person promotes (kubectl qwen promote)."""


class HTTPRouteRef(Model):
    """A Gateway API HTTPRoute in this namespace whose backendRefs carry the canary's exact weight;
    the operator writes the weights of its rule pointing at this QwenDeployment's track Services."""

    name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
    """The HTTPRoute's name."""


ROUTING_INVARIANTS: tuple[Invariant["TrafficRouting"], ...] = (
    Invariant(
        "may set one of httpRoute and inferencePool, not both",
        cel="!(has(self.httpRoute) && has(self.inferencePool))",
        holds=lambda routing: routing.http_route is None or routing.inference_pool is None,
    ),
)


class TrafficRouting(Model):
    """Default `{}`: replica ratio behind one Service. `httpRoute`: exact weights on a Gateway API route.
    `inferencePool`: exact weights across one InferencePool per revision."""

    model_config = ConfigDict(
        json_schema_extra=cel_invariants("spec.rollout.trafficRouting", ROUTING_INVARIANTS)
    )

    http_route: HTTPRouteRef | None = None
    inference_pool: InferencePoolRouting | None = Field(
        default=None,
        description="Exact weights on an HTTPRoute's backendRefs of kind InferencePool (Gateway API "
        "Inference Extension): the operator keeps one InferencePool per revision.",
    )

    @model_validator(mode="after")
    def _one_router(self) -> "TrafficRouting":
        return check_invariants(self, ROUTING_INVARIANTS)


class SecretRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] = Field(
        description="The Secret's name, in the QwenDeployment's namespace."
    )


class PrometheusRef(Model):
    """The Prometheus the canary's SLOs are read from. Absent: the operator's default
    (QWENOPS_PROMETHEUS_URL) when SLOs are declared."""

    url: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)] = Field(
        description="Prometheus' base URL: no credentials, query or fragment, not a link-local address.",
        json_schema_extra=cel_rules("spec.rollout.analysis.prometheus.url", URL_RULES),
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        description="A Secret in this namespace with Prometheus' credentials: keys `token` (a bearer "
        "token), `ca.crt` (CA bundle, PEM), `headers` (`Name: value` lines, e.g. `X-Scope-OrgID`), each "
        "optional. The operator reads it only where its chart grants `get` on this name "
        "(`prometheus.secretNames`); else the reading is an Error saying so.",
    )

    @field_validator("url")
    @classmethod
    def _url_is_a_plain_base_url(cls, value: str, info: ValidationInfo) -> str:
        # Not the operator's own default (QWENOPS_PROMETHEUS_URL), which its installer chose.
        return check(value, URL_RULES) if asked(info) else value


class _SLOs(Model):
    """Thresholds the canary must meet in every reading; an SLO left out is not judged."""

    # A threshold field per SLO of the registry (SLOS), added below.

    def threshold(self, slo: SLO) -> float | None:
        """The threshold the spec declares for `slo`; None: not declared."""
        value: float | None = getattr(self, slo.field)
        return value


PromLabel = Annotated[str, StringConstraints(pattern=PROM_LABEL_PATTERN, max_length=128)]


class SeriesLabels(Model):
    """Names of the series labels that carry the pods' identity (a PodMonitor's labelmap of pod labels)."""

    namespace: PromLabel = "namespace"
    """Series label holding the pod's namespace."""
    deployment: PromLabel = Field(
        default="qwenops_io_deployment",
        description="Series label copied from the pod label qwenops.io/deployment.",
    )
    revision: PromLabel = Field(
        default="qwenops_io_revision",
        description="Series label copied from the pod label qwenops.io/revision.",
    )


PromQLTemplate = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class _QueryTemplates(Model):
    """PromQL overrides. `{selector}` becomes one revision's label matchers, without braces
    (`namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="a1b2c3"`), `{window}`
    the analysis window (`2m`); no other braces are touched. `requests` and `errors` must
    return counts over the window (one series or a scalar), the p95s seconds."""

    # A field per query of the registry (QUERIES), added below.

    def template(self, query: Query) -> str | None:
        """The spec's PromQL for `query`; None: the registry's default."""
        value: str | None = getattr(self, query.field)
        return value

    @field_validator("*")
    @classmethod
    def _has_selector(cls, value: str | None) -> str | None:
        return value if value is None else check(value, SELECTOR_RULES)


if TYPE_CHECKING:
    SLOs = _SLOs
    QueryTemplates = _QueryTemplates
else:
    SLOs = with_fields(
        _SLOs,
        {
            slo.field: (
                float | None,
                Field(default=None, gt=0, le=slo.maximum, description=slo.description),
            )
            for slo in SLOS
        },
        doc=_SLOs.__doc__,
    )
    QueryTemplates = with_fields(
        _QueryTemplates,
        # Searched, as an OpenAPI pattern: the API server answers "... should match '\{selector\}'".
        {
            query.field: (
                PromQLTemplate | None,
                Field(
                    default=None,
                    description=f"PromQL replacing the default {query.template}",
                    json_schema_extra=SELECTOR_RULES[0].openapi(),
                ),
            )
            for query in QUERIES
        },
        doc=_QueryTemplates.__doc__,
    )


class Analysis(Model):
    """How the canary is judged: its SLOs, read from Prometheus at each interval of a step."""

    prometheus: PrometheusRef | None = None
    interval: Duration = "30s"
    """How often the canary's SLOs are read during a step (a duration; default 30s)."""
    window: Duration = "2m"
    """The range each reading looks back over (PromQL's [window]; default 2m)."""
    min_requests: int = Field(default=100, ge=0, le=1_000_000_000)
    """A reading with fewer canary requests in the window is inconclusive, not judged (default 100)."""
    failure_limit: int = Field(default=2, ge=1, le=100)
    """Consecutive failed readings that roll the canary back (default 2)."""
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
    probes: Probes | None = Field(
        default=None,
        description="Answer-quality probes: prompts sent to the canary and the stable at each reading, "
        "their answers checked (docs/rollouts.md, Answer-quality probes).",
    )


class Rollout(Model):
    """How a new revision replaces the stable one: canary steps, traffic routing, analysis."""

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
    budget: RolloutBudget | None = Field(
        default=None,
        description="Pods beyond spec.replicas a rollout may run, and serving replicas it may take "
        "away. Absent: the canary runs beside the whole stable revision (spare GPUs needed).",
    )
    bake: Bake | None = Field(
        default=None,
        description="After a promotion: how long the analysis goes on judging the new stable, with "
        "pods of the previous revision kept warm for a way back. Absent: the previous revision goes "
        "at the promotion.",
    )

    @field_validator("steps")
    @classmethod
    def _weights_increase(cls, steps: list[Step]) -> list[Step]:
        # The CRD's rule, with the weights that break it (CEL cannot name them).
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
                },
                {"rule": GPU_IN_RESOURCES.cel, "message": f"spec.pod.resources {GPU_IN_RESOURCES.message}"},
            ]
        }
    )

    model: ModelRef
    engine: Engine = Field(default_factory=Engine)
    node_pool: NodePool = Field(default_factory=NodePool)
    pod: PodSettings = Field(default_factory=PodSettings)
    replicas: int = Field(default=1, ge=0, le=1000)
    """Pods of the stable revision (default 1; 0 stops serving). During a canary step the stable
    keeps them and the canary gets the pods that carry the step's weight beside them. The scale
    subresource (an HPA, kubectl scale) writes it."""
    rollout: Rollout = Field(default_factory=Rollout)
    revision_history_limit: int = Field(default=5, ge=0, le=100)
    """Entries of status.history kept (default 5, at least 1 is kept)."""

    @model_validator(mode="after")
    def _gpus_fit_tensor_parallelism(self) -> "QwenDeploymentSpec":
        # The CRD's rule, with the numbers that break it (CEL cannot name them).
        gpus, tp = self.node_pool.gpus_per_replica, self.engine.tensor_parallel_size
        if gpus % tp:
            raise ValueError(
                f"nodePool.gpusPerReplica ({gpus}) must be a multiple of engine.tensorParallelSize ({tp})"
            )
        return self

    @model_validator(mode="after")
    def _gpus_are_the_node_pools(self) -> "QwenDeploymentSpec":
        # The CRD's rule, naming the resource.
        if not GPU_IN_RESOURCES.holds(self):
            gpu = self.node_pool.gpu_resource
            raise ValueError(f"pod.resources names {gpu}: it {GPU_IN_RESOURCES.message}")
        return self

    @model_validator(mode="after")
    def _bake_fits_the_budget(self) -> "QwenDeploymentSpec":
        # Percentages of replicas: the models check it, the operator refuses the spec with this.
        if (problem := bake_problem(self.rollout.bake, self.rollout.budget, self.replicas)) is not None:
            raise ValueError(problem)
        return self


NAME_RULES = [
    {
        "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
        "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters, so that "
        "`<name>-<revision>` "
        "stays a 63-character DNS label",
    },
    *cel_rules("metadata.name", [NAME_RULE], subject="self.metadata.name")[CEL],
    {
        # On create only: an object stored before the rule keeps its status writes and edits
        # (a root rule is checked on every write, the status subresource's too).
        "rule": f"oldSelf.hasValue() || {TRACK_SUFFIX_RULE.cel('self.metadata.name')}",
        "optionalOldSelf": True,
        "message": f"metadata.name {TRACK_SUFFIX_RULE.message}",
    },
]
"""Rules on the object's name, checked at the root of the CRD schema."""


def parse_spec(name: str, spec: Any) -> QwenDeploymentSpec:
    """Validate a stored object's name and spec; raise InvalidSpecError naming every bad field."""
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"metadata.name: {_shown(name)!r} is longer than {MAX_NAME_LENGTH} characters")
    elif NAME_RULE.refuses(name):
        problems.append(f"metadata.name: {name!r} {NAME_RULE.message}")
    elif TRACK_SUFFIX_RULE.refuses(name):
        problems.append(f"metadata.name: {name!r} {TRACK_SUFFIX_RULE.message}")
    try:
        parsed = QwenDeploymentSpec.model_validate(
            spec if spec is not None else {}, strict=True, context={ASKED: True}
        )
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
        parsed = None
    if problems or parsed is None:
        raise InvalidSpecError(problems)
    return parsed


def _describe(error: Any) -> str:
    path = ".".join(["spec", *(_shown(str(part)) for part in error["loc"])])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}"


def _shown(text: str, limit: int = 64) -> str:
    """A map key or name as a message shows it: a hostile one may be megabytes long."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
