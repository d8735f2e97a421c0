"""How vLLM runs: `spec.engine`, and the flags a spec may not pass to it."""

import re
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from qwenops.api.base import Model, asked
from qwenops.api.rules import (
    CEL,
    EXTRA_ARG_RULES,
    IMAGE_RULES,
    MANAGED_ARGS,
    Invariant,
    cel_invariants,
    cel_rules,
    check,
    check_invariants,
)

MANAGED_ARG_INVARIANTS: tuple[Invariant[list[str]], ...] = (
    Invariant(
        "must not set "
        + ", ".join(MANAGED_ARGS)
        + " (the operator sets them from the spec, and --disable-log-stats "
        "removes the metrics the canary analysis reads)",
        cel="self.all(a, !["
        + ", ".join(f"'{flag}'" for flag in MANAGED_ARGS)
        + "].exists(f, a == f || a.startsWith(f + '=')))",
        holds=lambda args: not any(arg.split("=", 1)[0] in MANAGED_ARGS for arg in args),
    ),
)
"""The first rule on these flags, on every record (EXTRA_ARG_RULES, on what a person asks, covers more)."""


class Engine(Model):
    """vLLM settings."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="Serving image; defaults to the operator's configured serving image.",
        json_schema_extra=cel_rules("spec.engine.image", IMAGE_RULES),
    )
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    """GPUs one model instance is split across (vLLM's --tensor-parallel-size; default 1);
    nodePool.gpusPerReplica must be a multiple of it."""
    max_model_len: int | None = Field(default=None, ge=1, le=10_000_000)
    """Longest context in tokens, prompt and output together (vLLM's --max-model-len); absent: the
    model's own."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    """Fraction of each GPU's memory vLLM may take for weights and KV cache (default 0.9)."""
    extra_args: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=64,
        description="More vLLM flags, one argument an item (no shell reads them). The operator's own "
        "flags, in any spelling vLLM accepts, and --disable-log-stats, --config, --uds and "
        "--hf-token are refused.",
        json_schema_extra={
            CEL: [
                *cel_invariants("spec.engine.extraArgs", MANAGED_ARG_INVARIANTS)[CEL],
                *cel_rules("spec.engine.extraArgs", EXTRA_ARG_RULES, each=True)[CEL],
            ]
        },
    )

    @field_validator("extra_args")
    @classmethod
    def _no_managed_args(cls, args: list[str]) -> list[str]:
        return check_invariants(args, MANAGED_ARG_INVARIANTS)

    @field_validator("extra_args")
    @classmethod
    def _no_smuggled_flags(cls, args: list[str], info: ValidationInfo) -> list[str]:
        if not asked(info):
            return args
        for index, arg in enumerate(args):
            try:
                check(arg, EXTRA_ARG_RULES)
            except ValueError as exc:
                raise ValueError(f"item {index} ({_flag_name(arg)!r}) {exc}") from None
        return args

    @field_validator("image")
    @classmethod
    def _image_is_a_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, IMAGE_RULES) if value is not None and asked(info) else value


def _flag_name(arg: str) -> str:
    """What to show of a refused argument: its flag's name, never a value (it may be a token)."""
    name = re.split(r"[=\s\x00]", arg, maxsplit=1)[0]
    return name if len(name) <= 48 else name[:45] + "..."
