"""`spec.rollout.budget`: how far a rollout may stray from `replicas`, in pods (so in GPUs).

`maxSurge` pods beyond `replicas` may run at once, and `maxUnavailable` serving replicas may be
taken away, each a count or a percentage of `replicas` as a Deployment's are (a surge rounds up,
an unavailability down). Absent, a canary runs beside the whole stable revision, as it always did.
"""

import math
import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from qwenops.api.base import Model
from qwenops.api.rules import CEL, Invariant, cel_invariants, check_invariants

PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
MAX_PODS = 1000


def _int_or_percent(path: str) -> dict[str, Any]:
    """The CRD's schema of a count of pods or a percentage of `replicas`, as a Deployment's
    maxSurge and maxUnavailable; `path` names the field in the message."""
    return {
        "x-kubernetes-int-or-string": True,
        "maxLength": 4,
        CEL: [
            {
                "rule": f"type(self) == int ? self >= 0 && self <= {MAX_PODS} "
                f": self.matches('{PERCENT_PATTERN}')",
                "message": f"{path} must be a count from 0 to {MAX_PODS} or a percentage such as '25%'",
            }
        ],
    }


Surge = Annotated[int | str, WithJsonSchema(_int_or_percent("spec.rollout.budget.maxSurge"))]
Unavailable = Annotated[int | str, WithJsonSchema(_int_or_percent("spec.rollout.budget.maxUnavailable"))]


def _zero(value: int | str) -> bool:
    return value in (0, "0%")


NOT_BOTH_ZERO = Invariant["RolloutBudget"](
    message="maxSurge and maxUnavailable cannot both be 0: a rollout could then neither add a pod "
    "beside the stable's nor take one of them away, and no canary pod could ever start",
    cel="!(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",
    holds=lambda budget: not (_zero(budget.max_surge) and _zero(budget.max_unavailable)),
)


class RolloutBudget(Model):
    """Pods beyond `replicas` a rollout may run (surge), and serving replicas it may take away."""

    model_config = ConfigDict(json_schema_extra=cel_invariants("spec.rollout.budget", [NOT_BOTH_ZERO]))

    max_surge: Surge = Field(
        default=0,
        description="Pods (so GPUs) a rollout may run beyond spec.replicas: a count, or a percentage "
        "of spec.replicas rounded up. 0: the canary's pods replace the stable's.",
    )
    max_unavailable: Unavailable = Field(
        default=1,
        description="Ready serving replicas a rollout may take away below spec.replicas: a count, or "
        "a percentage of spec.replicas rounded down.",
    )

    @field_validator("max_surge", "max_unavailable")
    @classmethod
    def _count_or_percent(cls, value: Any) -> int | str:
        if isinstance(value, bool):
            raise ValueError("must be a count or a percentage")
        if isinstance(value, int):
            if not 0 <= value <= MAX_PODS:
                raise ValueError(f"must be a count from 0 to {MAX_PODS}, not {value}")
            return value
        if not isinstance(value, str) or not _is_percent(value):
            raise ValueError(f"must be a count or a percentage such as '25%', not {value!r}")
        return value

    @model_validator(mode="after")
    def _not_both_zero(self) -> "RolloutBudget":
        return check_invariants(self, [NOT_BOTH_ZERO])

    def resolved(self, replicas: int) -> tuple[int, int]:
        """(surge, unavailable) in pods for `replicas`. Both 0 after rounding (10% of 5 each):
        one unavailable, as a Deployment does, so that a rollout can still move."""
        surge = _pods(self.max_surge, replicas, up=True)
        unavailable = _pods(self.max_unavailable, replicas, up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable


def _is_percent(value: str) -> bool:
    return re.fullmatch(PERCENT_PATTERN, value) is not None


def _pods(value: int | str, replicas: int, *, up: bool) -> int:
    if isinstance(value, int):
        return value
    share = replicas * int(value.removesuffix("%")) / 100
    return math.ceil(share) if up else math.floor(share)
