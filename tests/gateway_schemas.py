"""The closed subsets of the Gateway API's HTTPRoute and the Inference Extension's InferencePool
schemas (tests/schemas/), for the objects qwenops writes or a test builds: why the API server would
refuse one, as far as those schemas tell."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
FILES = {
    "gateway.networking.k8s.io/v1": SCHEMAS / "gateway.networking.k8s.io_v1.yaml",
    "inference.networking.k8s.io/v1": SCHEMAS / "inference.networking.k8s.io_v1.yaml",
}


@functools.cache
def _validator(api_version: str, kind: str) -> Any:
    schemas = yaml.safe_load(FILES[api_version].read_text())
    return jsonschema.Draft202012Validator({**schemas[kind], "$defs": schemas["$defs"]})


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Each way `obj` (an HTTPRoute or an InferencePool) breaks its schema; KeyError for another kind."""
    validator = _validator(obj["apiVersion"], obj["kind"])
    return [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
