"""Where the pods run: `spec.nodePool`, its tolerations, and core/v1 Affinity as the API server reads it."""

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    GetPydanticSchema,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from qwenops.api.base import Model, asked
from qwenops.api.rules import (
    GPU_RESOURCE_RULES,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
    TOLERATION_KEY_RULES,
    TOLERATION_VALUE_RULES,
    Invariant,
    cel_invariants,
    cel_rules,
    check,
    check_invariants,
)

TOLERATION_INVARIANTS: tuple[Invariant["Toleration"], ...] = (
    Invariant(
        "with an empty key must have operator Exists (it tolerates every taint)",
        cel="(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        holds=lambda toleration: bool(toleration.key) or toleration.operator == "Exists",
    ),
    Invariant(
        "with operator Exists must have no value",
        cel="!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        holds=lambda toleration: toleration.operator != "Exists" or not toleration.value,
    ),
    Invariant(
        "with tolerationSeconds must have effect NoExecute",
        cel="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        holds=lambda toleration: toleration.toleration_seconds is None or toleration.effect == "NoExecute",
    ),
)
"""The API server's checks of a pod's toleration: they refuse the spec, not the Deployment."""


class Toleration(Model):
    """A core/v1 Toleration the pods get, e.g. for the GPU nodes' taint."""

    model_config = ConfigDict(
        json_schema_extra=cel_invariants("spec.nodePool.tolerations[]", TOLERATION_INVARIANTS)
    )

    key: Annotated[str, StringConstraints(max_length=316)] | None = Field(
        default=None, json_schema_extra=cel_rules("spec.nodePool.tolerations[].key", TOLERATION_KEY_RULES)
    )
    """The taint key tolerated; empty with operator Exists: every taint."""
    operator: Literal["Exists", "Equal"] | None = None
    """Equal (the default) matches key and value; Exists any value."""
    value: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, json_schema_extra=cel_rules("spec.nodePool.tolerations[].value", TOLERATION_VALUE_RULES)
    )
    """The taint value tolerated, with operator Equal."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect tolerated; empty: every effect."""
    toleration_seconds: int | None = None
    """With effect NoExecute: seconds a pod stays bound after the taint appears; absent: forever."""

    @field_validator("key")
    @classmethod
    def _key_is_a_label_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, TOLERATION_KEY_RULES) if value is not None and asked(info) else value

    @field_validator("value")
    @classmethod
    def _value_is_a_label_value(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, TOLERATION_VALUE_RULES) if value is not None and asked(info) else value

    @model_validator(mode="after")
    def _as_kubernetes_validates_it(self, info: ValidationInfo) -> "Toleration":
        return check_invariants(self, TOLERATION_INVARIANTS, "a toleration") if asked(info) else self


# --- core/v1 Affinity, as the API server reads it: structured, so nothing nests without bound ---


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(Model):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class NodeSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(Model):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topology_key: str
    match_label_keys: list[str] | None = None
    mismatch_label_keys: list[str] | None = None


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    """podAffinity and podAntiAffinity alike."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


_AFFINITY = TypeAdapter(Affinity)


def _affinity_json_schema(_: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    return handler(Affinity.__pydantic_core_schema__)


AffinityObject = Annotated[dict[str, Any], GetPydanticSchema(get_pydantic_json_schema=_affinity_json_schema)]
"""A core/v1 Affinity kept as the dict it was written as (the pods get it as it is); the CRD has
its structure, and `parse_spec` checks it (a free-form object would take any nesting, and a few
thousand levels stop every JSON reader of the object, the operator's included)."""


class NodePool(Model):
    """Where the GPUs are."""

    node_selector: dict[
        Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)],
        Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)],
    ] = Field(default_factory=dict, max_length=32)
    """Node labels the pods must match (the pods' nodeSelector)."""
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    """Tolerations the pods get (e.g. of the GPU nodes' taint)."""
    affinity: AffinityObject | None = Field(
        default=None, description="A core/v1 Affinity, passed to the pods as it is."
    )
    gpus_per_replica: int = Field(default=1, ge=1, le=64)
    """GPUs each pod requests and limits (default 1), of gpuResource."""
    gpu_resource: Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)] = Field(
        default="nvidia.com/gpu",
        description="The extended resource that counts GPUs.",
        json_schema_extra=cel_rules("spec.nodePool.gpuResource", GPU_RESOURCE_RULES),
    )

    @field_validator("affinity")
    @classmethod
    def _affinity_is_a_core_affinity(cls, value: dict[str, Any] | None, info: ValidationInfo) -> Any:
        if value is None or not asked(info):
            return value
        try:
            _AFFINITY.validate_python(value, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ValueError(f"{where}: {first['msg']}{more}") from None
        return value

    @field_validator("gpu_resource")
    @classmethod
    def _gpu_resource_is_extended(cls, value: str, info: ValidationInfo) -> str:
        return check(value, GPU_RESOURCE_RULES) if asked(info) else value
