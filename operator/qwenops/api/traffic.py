"""`spec.rollout.trafficRouting.inferencePool`: canary weights across two Gateway API Inference
Extension InferencePools (`inference.networking.k8s.io/v1`), one per revision.

The HTTPRoute is the user's; the operator keeps one InferencePool per revision, named
`<name>-<revision>`, and the weights of the route's backendRefs that name them. Each pool needs an
endpoint picker: one already running behind a Service (`service`), or one the operator runs per
revision (`run`) as a Deployment `<name>-<revision>-epp` behind a Service `<name>-<revision>`.
"""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from qwenops.api.base import Model, asked
from qwenops.api.rules import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    IMAGE_RULES,
    Invariant,
    cel_invariants,
    cel_rules,
    check,
    check_invariants,
)

DEFAULT_PICKER_PORT = 9002
"""The endpoint picker's ext-proc gRPC port, the one the Inference Extension's picker listens on."""

PICKER_ENV_POOL_NAME = "POOL_NAME"
PICKER_ENV_POOL_NAMESPACE = "POOL_NAMESPACE"
DEFAULT_PICKER_ARGS = (
    f"--pool-name=$({PICKER_ENV_POOL_NAME})",
    f"--pool-namespace=$({PICKER_ENV_POOL_NAMESPACE})",
)
"""Kubernetes expands `$(VAR)` in args from the container's env, which names the revision's pool."""

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
Port = Annotated[int, Field(ge=1, le=65535)]


class RouteRef(Model):
    name: DnsLabel = Field(description="The HTTPRoute's name, in the QwenDeployment's namespace.")


class PickerService(Model):
    """An endpoint picker already running, behind a Service every revision's pool names."""

    name: DnsLabel = Field(description="The picker's Service, in the QwenDeployment's namespace.")
    port: Port = Field(default=DEFAULT_PICKER_PORT, description="The Service port of the picker's gRPC.")


class PickerRun(Model):
    """An endpoint picker the operator runs for each revision: a Deployment and a Service."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The endpoint picker's image.",
        json_schema_extra=cel_rules("spec.rollout.trafficRouting.inferencePool.endpointPicker.run.image",
                                    IMAGE_RULES),
    )  # fmt: skip
    args: list[Annotated[str, StringConstraints(min_length=1, max_length=1024)]] = Field(
        default_factory=lambda: list(DEFAULT_PICKER_ARGS),
        max_length=64,
        description="The picker's arguments, one an item (no shell reads them); `$(POOL_NAME)` and "
        "`$(POOL_NAMESPACE)` become the revision's pool and its namespace. Default: "
        + " ".join(DEFAULT_PICKER_ARGS),
    )
    port: Port = Field(default=DEFAULT_PICKER_PORT, description="The port the picker serves gRPC on.")
    service_account_name: (
        Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] | None
    ) = Field(
        default=None,
        description="The picker pods' ServiceAccount: one allowed to read the pool and its pods.",
    )

    @field_validator("image")
    @classmethod
    def _image_is_a_reference(cls, value: str, info: ValidationInfo) -> str:
        return check(value, IMAGE_RULES) if asked(info) else value


PICKER_INVARIANTS: tuple[Invariant["EndpointPicker"], ...] = (
    Invariant(
        "must set exactly one of service and run",
        cel="has(self.service) != has(self.run)",
        holds=lambda picker: (picker.service is None) != (picker.run is None),
    ),
)


class EndpointPicker(Model):
    """The endpoint picker each revision's InferencePool names (`endpointPickerRef`)."""

    model_config = ConfigDict(
        json_schema_extra=cel_invariants("spec.rollout.trafficRouting.inferencePool.endpointPicker",
                                         PICKER_INVARIANTS)
    )  # fmt: skip

    service: PickerService | None = Field(default=None, description="An existing picker's Service.")
    run: PickerRun | None = Field(default=None, description="A picker the operator runs per revision.")
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        default="FailClose",
        description="What the gateway does when the picker does not answer: drop the request "
        "(FailClose) or send it to a pod of its own choosing (FailOpen).",
    )

    @model_validator(mode="after")
    def _one_picker(self) -> "EndpointPicker":
        return check_invariants(self, PICKER_INVARIANTS)


class InferencePoolRouting(Model):
    """Exact weights on an HTTPRoute's backendRefs of kind InferencePool, one pool per revision."""

    http_route: RouteRef = Field(
        description="The HTTPRoute whose rules name the pools: a backendRef of kind InferencePool "
        "named `<name>` (or a revision's pool `<name>-<revision>`) marks a rule as the operator's."
    )
    endpoint_picker: EndpointPicker = Field(description="The endpoint picker of each revision's pool.")
