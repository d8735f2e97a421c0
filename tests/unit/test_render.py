"""Golden-file tests of the rendered children; `UPDATE_GOLDEN=1 pytest` rewrites the files."""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render.defaults import revision_of, with_hub, with_image, with_prometheus
from qwenops.render.desired import Owner, checkpoint_args, desired_deployment, desired_services, vllm_args

GOLDEN = Path(__file__).parent.parent / "golden"
OWNER = Owner(name="chat", namespace="llm", uid="0b0e6e4c-5f0c-4c3e-9d55-6b1d2b6f4c11")
IMAGE = "registry.example/qwenops/serving:1.0"

PIN = {
    "name": "Qwen/Qwen3-8B",
    "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5",
    "servedModelName": "qwen3-8b",
}
FULL = {
    "model": {
        **PIN,
        "size": "16.4G",
        "cache": {"claimName": "qwen-models"},
        "tokenSecret": {"name": "hf-token", "key": "hub"},
        "files": [{"name": "model-00001-of-00005.safetensors", "sha256": "5f3a" + "0" * 60}],
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
MINIMAL = {"model": PIN}


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


def test_the_main_service_selects_every_revision_only_while_a_canary_runs() -> None:
    """Else the stable's pods only: a revision leaving (rolled back, undone) or kept warm serves nothing."""
    during, *_ = desired_services(OWNER, stable="aaaaaaaaaa", canary="bbbbbbbbbb")
    assert "qwenops.io/revision" not in during["spec"]["selector"]
    after, *_ = desired_services(OWNER, stable="aaaaaaaaaa", canary=None)
    assert after["spec"]["selector"]["qwenops.io/revision"] == "aaaaaaaaaa"


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


def test_every_step_works_on_the_pinned_commit_and_the_spec_digests() -> None:
    args = checkpoint_args(spec_of(FULL))
    assert args[args.index("--model") + 1] == "Qwen/Qwen3-8B"
    assert args[args.index("--revision") + 1] == FULL["model"]["revision"]
    assert args[args.index("--file") + 1] == "model-00001-of-00005.safetensors=5f3a" + "0" * 60
    pod = desired_deployment(OWNER, spec_of(FULL), "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    steps = [*pod["initContainers"], *pod["containers"]]
    assert [(c["name"], c["command"]) for c in steps] == [
        ("download", ["qwenops-serve", "download"]),
        ("verify", ["qwenops-serve", "verify"]),
        ("vllm", ["qwenops-serve", "serve"]),
    ]
    for container in steps[:2]:
        assert container["args"] == args
    serve = pod["containers"][0]["args"]
    assert serve[: serve.index("--")] == checkpoint_args(spec_of(FULL), digests=False)
    assert "--file" not in serve  # serve takes what verify checked (qwenops-serve serve refuses --file)
    for container in steps:
        assert {"name": "model-cache", "mountPath": "/models"} in container["volumeMounts"]


def test_the_hub_token_reaches_the_download_step_only() -> None:
    pod = desired_deployment(OWNER, spec_of(FULL), "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    with_token = [
        c["name"] for c in (*pod["initContainers"], *pod["containers"])
        if any(e["name"] == "HF_TOKEN" for e in c.get("env", []))
    ]  # fmt: skip
    assert with_token == ["download"]
    token = next(e for e in pod["initContainers"][0]["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "hub"}}
    minimal = desired_deployment(OWNER, spec_of(MINIMAL), "r", track="stable", replicas=1)
    assert "HF_TOKEN" not in str(minimal)


def test_cache_is_the_claim_when_one_is_named_else_an_empty_dir() -> None:
    def cache_of(raw: dict[str, Any]) -> dict[str, Any]:
        pod = desired_deployment(OWNER, spec_of(raw), "r", track="stable", replicas=1)["spec"]["template"]
        return next(v for v in pod["spec"]["volumes"] if v["name"] == "model-cache")

    assert cache_of(FULL) == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "qwen-models"}}
    assert cache_of(MINIMAL) == {"name": "model-cache", "emptyDir": {}}


@pytest.mark.parametrize(
    ("size", "probe_failures", "progress_deadline"),
    [
        # load: 5m + size at 100 MB/s; deadline: download (1m + size at 50 MB/s) + verify
        # (30s + size at 200 MB/s) + load + 10m
        ("1G", 31, 1 * 60 + 20 + 30 + 5 + 300 + 10 + 600),
        ("16G", 46, 60 + 320 + 30 + 80 + 300 + 160 + 600),
        ("160G", 190, 60 + 3200 + 30 + 800 + 300 + 1600 + 600),
    ],
)
def test_startup_probe_and_progress_deadline_grow_with_the_model(
    size: str, probe_failures: int, progress_deadline: int
) -> None:
    raw = {**MINIMAL, "model": {**PIN, "size": size}}
    deployment = desired_deployment(OWNER, spec_of(raw), "r", track="stable", replicas=1)
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= (probe_failures - 1) * 10
    assert probe["failureThreshold"] == probe_failures
    assert deployment["spec"]["progressDeadlineSeconds"] == progress_deadline


def test_pods_run_as_the_images_non_root_user_without_privileges() -> None:
    pod = desired_deployment(OWNER, spec_of(FULL), "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    for container in (*pod["initContainers"], *pod["containers"]):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_vllm_args_name_the_model_and_never_disable_stats() -> None:
    args = vllm_args(spec_of(FULL))
    assert "--model" not in args  # qwenops-serve passes the verified local snapshot
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


@pytest.mark.parametrize(
    ("analysis", "default", "url"),
    [
        ({"slos": {"maxErrorRate": 0.01}}, "http://prom:9090", "http://prom:9090"),
        ({"slos": {"maxErrorRate": 0.01}, "prometheus": {"url": "http://own:9090"}}, "http://prom:9090",
         "http://own:9090"),
        ({}, "http://prom:9090", None),  # no SLO declared: nothing to judge, no analysis
        ({"probes": {"prompts": [{"name": "hi", "messages": [{"role": "user", "content": "hi"}]}]}},
         "http://prom:9090", "http://prom:9090"),  # probes are judged at readings
        ({"slos": {"p95LatencySeconds": 5}}, None, None),
    ],
)  # fmt: skip
def test_the_operators_prometheus_serves_specs_that_declare_slos_but_name_none(
    analysis: dict[str, Any], default: str | None, url: str | None
) -> None:
    spec = with_prometheus(spec_of({**MINIMAL, "rollout": {"analysis": analysis}}), default)
    found = spec.rollout.analysis.prometheus
    assert (found.url if found else None) == url
    assert revision_of(spec) == revision_of(spec_of({**MINIMAL, "rollout": {"analysis": analysis}}))


def test_the_operators_hub_mirror_reaches_the_download_step_and_the_revision() -> None:
    mirrored = with_hub(spec_of(MINIMAL), "http://hub-mirror.internal:8080")
    pod = desired_deployment(OWNER, mirrored, "r", track="stable", replicas=1)["spec"]["template"]["spec"]
    download = pod["initContainers"][0]
    assert {"name": "HF_ENDPOINT", "value": "http://hub-mirror.internal:8080"} in download["env"]
    assert all("HF_ENDPOINT" not in str(c.get("env")) for c in (pod["initContainers"][1], *pod["containers"]))
    # A new default starts a new revision (rolled out as a canary), never restarts running pods.
    assert revision_of(mirrored) != revision_of(spec_of(MINIMAL))
    assert revision_of(with_hub(spec_of(MINIMAL), None)) == revision_of(spec_of(MINIMAL))
    own = spec_of({"model": {**PIN, "hubEndpoint": "http://own:1"}})
    assert with_hub(own, "http://hub-mirror.internal:8080").model.hub_endpoint == "http://own:1"
