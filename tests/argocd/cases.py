"""The QwenDeployments of the situations Argo CD is tested in, one YAML file each (the `testdata/` of
argocd/resource_customizations/qwenops.io/QwenDeployment, shared with its health_test.yaml and
action_test.yaml), each checked against the API models."""

from __future__ import annotations

from typing import Any

import yaml

from argocd.build import LAYOUT
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus

FIXTURES = LAYOUT / "testdata"

INVALID_SPEC = "invalid-spec"
"""The one fixture whose spec the API models refuse on purpose (stored under an older CRD)."""


def names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.yaml"))


def load(name: str) -> dict[str, Any]:
    """The object as Argo CD hands it to a script: the API's JSON, here written as YAML."""
    loaded = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), name
    return loaded


def spec_of(obj: dict[str, Any]) -> QwenDeploymentSpec:
    return QwenDeploymentSpec.model_validate(obj["spec"])


def status_of(obj: dict[str, Any]) -> QwenDeploymentStatus:
    return QwenDeploymentStatus.model_validate(obj.get("status") or {})
