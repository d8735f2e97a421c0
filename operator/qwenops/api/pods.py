"""The model pods as a cluster admin places them: `spec.pod`, the settings of their pod template
that are neither the model, the engine nor the node pool.

Every field here is pod-affecting: a change starts a new revision, rolled out as a canary like any
other change of the pods (`render.defaults.pod_affecting`). Two things stay the operator's:

* the GPU resource (`spec.nodePool.gpuResource`), which it requests and limits from
  `spec.nodePool.gpusPerReplica`; `resources` naming it is refused (`GPU_IN_RESOURCES`, on the
  spec, where both are in sight);
* the label keys it selects pods by and the annotations it sets, refused in `labels` and
  `annotations`: a user's `qwenops.io/revision` would take pods out of their Services.
"""

from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from qwenops.api.base import Model, asked
from qwenops.api.naming import (
    GROUP,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_VERSION,
)
from qwenops.api.rules import (
    CEL,
    DNS_SUBDOMAIN_PATTERN,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
    Invariant,
    Rule,
    cel_rules,
    check,
)

QUANTITY = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2}|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
"""A Kubernetes resource quantity (`500m`, `8`, `64Gi`, `1.5`), never negative; written as a string."""

OPERATOR_LABELS = (
    LABEL_NAME, LABEL_INSTANCE, LABEL_VERSION, LABEL_COMPONENT, LABEL_PART_OF, LABEL_MANAGED_BY,
)  # fmt: skip
"""The app.kubernetes.io labels the operator sets on every pod (`render.desired`)."""

_OWN_DOMAIN = r"^([^/]*\.)?" + GROUP.replace(".", r"\.") + "/"

LABEL_KEY_RULES = (
    Rule("must be a label key (prefix/name, a name of at most 63 characters)", unless=LABEL_KEY_PATTERN),
    Rule(
        f"must not use the operator's own label keys ({GROUP}/*, "
        + ", ".join(OPERATOR_LABELS)
        + "): its Services and Deployments select the pods by them",
        refuse=_OWN_DOMAIN + "|^(" + "|".join(key.replace(".", r"\.") for key in OPERATOR_LABELS) + ")$",
    ),
)
ANNOTATION_KEY_RULES = (
    Rule("must be a qualified name (prefix/name, a name of at most 63 characters)", unless=LABEL_KEY_PATTERN),
    Rule(
        f"must not use the operator's own annotation keys ({GROUP}/*, prometheus.io/scrape, "
        "prometheus.io/port, prometheus.io/path): the operator sets them on every pod",
        refuse=_OWN_DOMAIN + r"|^prometheus\.io/(scrape|port|path)$",
    ),
)
LABEL_VALUE_RULES = (Rule("must be a label value (at most 63 characters)", unless=LABEL_VALUE_PATTERN),)

LABELS_CEL: dict[str, Any] = {
    CEL: [
        *cel_rules("spec.pod.labels", LABEL_KEY_RULES, each=True)[CEL],
        *[
            {"rule": f"self.all(k, {rule.cel('self[k]')})", "message": f"spec.pod.labels: {rule.message}"}
            for rule in LABEL_VALUE_RULES
        ],
    ]
}
"""The rules on `spec.pod.labels`: on each key, then on each value."""

GPU_IN_RESOURCES: Invariant[Any] = Invariant(
    "must not name spec.nodePool.gpuResource (nvidia.com/gpu unless set): the operator requests and "
    "limits it from spec.nodePool.gpusPerReplica, and a second value would contradict that",
    cel="!has(self.pod) || !has(self.pod.resources) || ("
    "(!has(self.pod.resources.requests) || !(self.nodePool.gpuResource in self.pod.resources.requests)) && "
    "(!has(self.pod.resources.limits) || !(self.nodePool.gpuResource in self.pod.resources.limits)))",
    holds=lambda spec: spec.node_pool.gpu_resource not in spec.pod.resources.names(),
)
"""On the spec (the resources and the node pool's GPU resource), named `spec.pod.resources`."""

ResourceName = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=253)]
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY, max_length=32)]
LabelKey = Annotated[str, StringConstraints(max_length=317)]
DnsSubdomain = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]


class Resources(Model):
    """CPU, memory and other resources of the model container (vllm), besides its GPUs. Quantities
    are strings ("8", "500m", "64Gi"). Absent: none, and the scheduler places the pods by GPUs alone."""

    requests: dict[ResourceName, Quantity] = Field(default_factory=dict, max_length=16)
    """What the scheduler reserves for the container, e.g. {cpu: "8", memory: 64Gi}."""
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict, max_length=16)
    """The most the container may use, e.g. {memory: 96Gi}; a limit without a request is also its
    request (Kubernetes' rule)."""

    def names(self) -> set[str]:
        return {*self.requests, *self.limits}


class SecretRef(Model):
    """A Secret holding registry credentials."""

    name: DnsSubdomain
    """A Secret of type kubernetes.io/dockerconfigjson in this namespace."""


class PodSettings(Model):
    """The model pods' settings a cluster admin sets: resources, image pull secrets, runtime and
    priority class, labels and annotations. A change starts a new revision (a canary), as any
    change of the pods does."""

    resources: Resources = Field(default_factory=Resources)
    image_pull_secrets: list[SecretRef] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """Secrets the kubelet pulls the serving image with (the pods' imagePullSecrets)."""
    runtime_class_name: DnsSubdomain | None = None
    """The pods' RuntimeClass, e.g. nvidia where the GPU runtime is not the node's default."""
    priority_class_name: DnsSubdomain | None = None
    """The pods' PriorityClass: how they rank when the scheduler must preempt."""
    labels: dict[LabelKey, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict,
        max_length=32,
        description="More labels on the pods (not on the Deployments). The operator's own keys "
        f"({GROUP}/*, app.kubernetes.io/name, instance, version, component, part-of, managed-by) "
        "are refused.",
        json_schema_extra=LABELS_CEL,
    )
    annotations: dict[LabelKey, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=32,
        description=f"More annotations on the pods. The operator's own ({GROUP}/*, prometheus.io/scrape, "
        "port and path) are refused.",
        json_schema_extra=cel_rules("spec.pod.annotations", ANNOTATION_KEY_RULES, each=True),
    )

    @field_validator("labels")
    @classmethod
    def _labels_are_the_users(cls, labels: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if asked(info):
            for key, value in labels.items():
                _checked(key, LABEL_KEY_RULES, "key")
                _checked(value, LABEL_VALUE_RULES, f"{key!r}")
        return labels

    @field_validator("annotations")
    @classmethod
    def _annotations_are_the_users(cls, annotations: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if asked(info):
            for key in annotations:
                _checked(key, ANNOTATION_KEY_RULES, "key")
        return annotations

    def is_empty(self) -> bool:
        return self == PodSettings()


def _checked(value: str, rules: tuple[Rule, ...], what: str) -> None:
    try:
        check(value, rules)
    except ValueError as exc:
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise ValueError(f"{what} {shown!r} {exc}" if what == "key" else f"value of {what} {exc}") from None
