"""Golden-file tests of the rendered children; `UPDATE_GOLDEN=1 pytest` rewrites the files."""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops import naming
from qwenops.render import (
    Owner,
    desired_deployment,
    desired_services,
    revision_of,
    vllm_args,
    with_image,
)
from qwenops.spec import QwenDeploymentSpec

GOLDEN = Path(__file__).parent.parent / "golden"
OWNER = Owner(name="chat", namespace="llm", uid="0b0e6e4c-5f0c-4c3e-9d55-6b1d2b6f4c11")
IMAGE = "registry.example/qwenops/serving:1.0"

FULL = {
    "model": {
        "name": "Qwen/Qwen3-8B",
        "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5",
        "servedModelName": "qwen3-8b",
    },
    "engine": {
        "tensorParallelSize": 2,
        "maxModelLen": 32768,
        "gpuMemoryUtilization": 0.9,
        "extraArgs": ["--reasoning-parser", "qwen3"],
    },
    "nodePool": {
        "nodeSelector": {"gpu-pool": "h100"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"qwenops.io/deployment": "chat"}},
                        },
                    }
                ]
            }
        },
        "gpusPerReplica": 2,
    },
    "replicas": 2,
}
MINIMAL = {"model": FULL["model"]}


def spec_of(raw: dict[str, Any]) -> QwenDeploymentSpec:
    return with_image(QwenDeploymentSpec.model_validate(raw), IMAGE)


def check_golden(name: str, rendered: Any) -> None:
    path = GOLDEN / f"{name}.yaml"
    text = yaml.safe_dump(rendered, sort_keys=True)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert yaml.safe_load(path.read_text()) == rendered, f"{path} differs: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize(("name", "raw"), [("full", FULL), ("minimal", MINIMAL)])
def test_deployment_matches_golden(name: str, raw: dict[str, Any]) -> None:
    spec = spec_of(raw)
    rendered = desired_deployment(
        OWNER, spec, revision_of(spec), track=naming.TRACK_STABLE, replicas=spec.replicas
    )
    check_golden(f"deployment-{name}", rendered)


def test_services_match_golden() -> None:
    check_golden("services", desired_services(OWNER, stable="aaaaaaaaaa", canary="bbbbbbbbbb"))


def test_canary_service_points_at_stable_when_no_canary_runs() -> None:
    _, stable_svc, canary_svc = desired_services(OWNER, stable="aaaaaaaaaa", canary=None)
    assert stable_svc["spec"]["selector"] == canary_svc["spec"]["selector"]
    assert canary_svc["metadata"]["name"] == "chat-canary"


@pytest.mark.parametrize(
    ("change", "new_revision"),
    [
        ({"replicas": 7}, False),
        ({"rollout": {"steps": [{"weight": 10, "pause": "1m"}]}}, False),
        ({"revisionHistoryLimit": 1}, False),
        ({"engine": {**FULL["engine"], "maxModelLen": 8192}}, True),
        ({"engine": {**FULL["engine"], "image": "other:1"}}, True),
        ({"nodePool": {**FULL["nodePool"], "nodeSelector": {"gpu-pool": "a100"}}}, True),
        ({"model": {**FULL["model"], "revision": "1" * 40}}, True),
        ({"model": {**FULL["model"], "servedModelName": "other"}}, True),
    ],
)
def test_revision_changes_only_with_pod_affecting_fields(change: dict[str, Any], new_revision: bool) -> None:
    before = revision_of(spec_of(FULL))
    after = revision_of(spec_of({**FULL, **change}))
    assert (before != after) is new_revision
    assert len(after) == naming.REVISION_LENGTH


def test_revision_is_stable_across_processes_and_key_order() -> None:
    reordered = {key: FULL[key] for key in reversed(list(FULL))}
    assert revision_of(spec_of(reordered)) == revision_of(spec_of(FULL))
    # A fixed value: a change here would restart every model in every cluster on upgrade.
    assert (
        revision_of(spec_of(MINIMAL))
        == yaml.safe_load((GOLDEN / "deployment-minimal.yaml").read_text())["metadata"]["labels"][
            naming.LABEL_REVISION
        ]
    )


def test_operator_default_image_is_used_only_when_spec_names_none() -> None:
    assert spec_of(MINIMAL).engine.image == IMAGE
    named = {**FULL, "engine": {**FULL["engine"], "image": "mine:2"}}
    assert spec_of(named).engine.image == "mine:2"


def test_args_pin_the_revision_and_never_disable_stats() -> None:
    args = vllm_args(spec_of(FULL))
    assert args[args.index("--revision") + 1] == FULL["model"]["revision"]
    assert args[args.index("--served-model-name") + 1] == "qwen3-8b"
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert "--disable-log-stats" not in args
    assert args[-2:] == ["--reasoning-parser", "qwen3"]


def test_gpus_are_requested_and_limited_from_the_node_pool() -> None:
    spec = spec_of({**FULL, "nodePool": {**FULL["nodePool"], "gpuResource": "amd.com/gpu"}})
    pod = desired_deployment(OWNER, spec, "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["limits"] == {"amd.com/gpu": "2"} == resources["requests"]


def test_pod_template_has_no_track_label_so_promotion_restarts_nothing() -> None:
    spec = spec_of(FULL)
    stable = desired_deployment(OWNER, spec, "r", track="stable", replicas=2)
    canary = desired_deployment(OWNER, spec, "r", track="canary", replicas=2)
    assert stable["spec"]["template"] == canary["spec"]["template"]
    assert stable["metadata"]["labels"][naming.LABEL_TRACK] == "stable"
    assert canary["metadata"]["labels"][naming.LABEL_TRACK] == "canary"


def test_selector_matches_the_pod_labels() -> None:
    deployment = desired_deployment(OWNER, spec_of(FULL), "r", track="stable", replicas=2)
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
