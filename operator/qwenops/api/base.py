"""The base of every API model, the validation context of a spec a person wrote, and models built from data.

Rules added once objects were already stored (`rules.Rule`s, the affinity's shape) bind what a
person asks for, not the spec-shaped records the operator keeps in `status`
(`stable.model`, `canary.engine`, ...): the models apply them only under the
validation context `spec.parse_spec` sets (`asked`), and the CRD states them as CEL rules,
which `crd.py` leaves out of the status schema. Tightened there, an old record would
no longer parse (the status would start over) or no longer be written.
"""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, create_model
from pydantic.alias_generators import to_camel

ASKED = "qwenops.io/asked"
"""Validation context key set by `parse_spec`: the spec is what a person asks for (see the module's doc)."""


def asked(info: ValidationInfo) -> bool:
    """Whether this validation reads a spec a person wrote (`parse_spec`), not a record from status."""
    return isinstance(info.context, dict) and info.context.get(ASKED) is True


class Model(BaseModel):
    """The base of every API object: camelCase in YAML, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,  # a field's docstring is its description in the CRD
    )


M = TypeVar("M", bound=Model)


def with_fields(base: type[M], fields: Mapping[str, tuple[Any, Any]], *, doc: str | None) -> type[M]:
    """`base` plus `fields` (name: (type, default or Field)), named as `base` without its `_`.

    For the models whose fields come from the SLO registry (`slos.py`). The module using one
    binds its name to `base` for the type checker and to this class at run time (`if
    TYPE_CHECKING:`): code reads the added fields through `base`'s methods, by declaration.
    `doc` is the model's description in the CRD (`base`'s own docstring is not inherited).
    """
    model: type[M] = create_model(  # type: ignore[call-overload]
        base.__name__.lstrip("_"), __base__=base, __doc__=doc, __module__=base.__module__, **fields
    )
    return model
