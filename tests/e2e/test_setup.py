"""The e2e set-up, checked here, with no cluster and no Docker (these run in `make test`): the kind config,
the node status patch, the Prometheus manifest and its relabelling, the Hub stand-in's pod, the chart's
values, the command lines, the QwenDeployments the tests apply, and the decision to run or skip."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
import yaml

from qwenops.analysis.queries import selector
from qwenops.api.placement import NodePool
from qwenops.api.spec import QwenDeploymentSpec, SeriesLabels
from qwenops.render.defaults import revision_of, with_hub, with_image
from qwenops.render.desired import Owner, desired_pod_template
from tests.chart.fetch_helm import HelmUnavailableError, ensure_helm
from tests.chart.helm import Helm
from tests.chart.test_monitoring import discovered, relabel
from tests.e2e import cluster
from tests.e2e.cluster import (
    CDN_PORT,
    CLUSTER_NAME,
    EXIT_NO_CLUSTER,
    GPU_POOL,
    GPU_RESOURCE,
    HUB_COMMIT,
    HUB_HOST,
    HUB_PORT,
    HUB_REPO,
    HUB_SOURCE,
    HUB_URL,
    KIND_CONFIG,
    PROMETHEUS_MANIFEST,
    PROMETHEUS_URL,
    RELEASE,
    REPO,
    SERVING_IMAGE,
    TEST_NAMESPACE,
    Decision,
    chart_values,
    content_tag,
    decide,
    gpu_capacity_patch,
    hub_manifests,
    json_pointer_token,
    kind_cluster_of,
    node_patch_command,
    nodes_without_gpus,
    split_reference,
    suite_skip_reason,
)
from tests.e2e.support import STARTUP_EVENTS, event_time, in_order, parse_time, qwen_deployment
from tests.schema_check import admit

try:
    import kubernetes_validate  # type: ignore[import-untyped]
except ImportError:  # a test extra (pyproject.toml)
    kubernetes_validate = None

KUBE_VERSION = "1.35.0"
OPERATOR_REF = "qwenops-operator:e2e-0123456789ab"
SERVING_REF = "qwenops-serving-sim:e2e-ba9876543210"


def valid_kubernetes(obj: dict[str, Any]) -> None:
    if kubernetes_validate is None:
        pytest.skip("kubernetes-validate is not installed: pip install -e '.[test]'")
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


# -- kind ------------------------------------------------------------------------------------------------


def test_the_kind_cluster_is_a_control_plane_and_two_gpu_pool_workers() -> None:
    config = yaml.safe_load((REPO / KIND_CONFIG).read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    for node in config["nodes"]:
        assert set(node) <= {"role", "labels"}
        assert node.get("labels") == (GPU_POOL if node["role"] == "worker" else None)
    assert qwen_deployment("x", [])["spec"]["nodePool"]["nodeSelector"] == GPU_POOL, "the model pods go there"


def _add(document: dict[str, Any], patch: list[dict[str, str]]) -> dict[str, Any]:
    """RFC 6902's `add`, with RFC 6901 pointers, on a copy: what the API server does with the patch."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    for operation in patch:
        assert operation["op"] == "add"
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in operation["path"].split("/")[1:]]
        node = result
        for token in parents:
            node = node[token]
        node[last] = operation["value"]
    return result


def test_the_node_status_patch_advertises_four_gpus_and_can_be_sent_again() -> None:
    patch = gpu_capacity_patch()
    assert patch == [{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "4"}]
    node = {"metadata": {"name": "w"}, "status": {"capacity": {"cpu": "8", "pods": "110"}}}
    once = _add(node, patch)
    assert once["status"]["capacity"] == {"cpu": "8", "pods": "110", "nvidia.com/gpu": "4"}
    assert _add(once, patch) == once
    assert NodePool().gpu_resource == GPU_RESOURCE, "what the model pods request by default"
    assert json_pointer_token("a~b/c") == "a~0b~1c"


def test_the_node_patch_goes_to_the_status_subresource_as_a_json_patch() -> None:
    command = node_patch_command("kubectl", "qwenops-e2e-worker")
    assert command[:6] == [
        "kubectl",
        "patch",
        "node",
        "qwenops-e2e-worker",
        "--subresource=status",
        "--type=json",
    ]
    assert command[6] == "--patch" and json.loads(command[7]) == gpu_capacity_patch()


def test_nodes_without_allocatable_gpus_are_named() -> None:
    nodes = {"items": [
        {"metadata": {"name": "a"}, "status": {"allocatable": {"nvidia.com/gpu": "4"}}},
        {"metadata": {"name": "b"}, "status": {"capacity": {"nvidia.com/gpu": "4"}, "allocatable": {}}},
        {"metadata": {"name": "c"}, "status": {}},
    ]}  # fmt: skip
    assert nodes_without_gpus(nodes) == ["b", "c"]


def test_images_are_loaded_into_kind_under_a_tag_naming_their_content() -> None:
    assert cluster.build_command(SERVING_IMAGE) == [
        "docker", "build", "--provenance=false", "--file", "images/serving/Dockerfile.sim",
        "--tag", "qwenops-serving-sim:e2e", "images/serving",
    ]  # fmt: skip
    assert cluster.build_command(cluster.OPERATOR_IMAGE)[-3:] == ["--tag", "qwenops-operator:e2e", "."]
    assert (REPO / cluster.OPERATOR_IMAGE.dockerfile).is_file() and (
        REPO / SERVING_IMAGE.dockerfile
    ).is_file()
    assert content_tag("sha256:" + "0123456789abcdef" * 4) == "e2e-0123456789ab"
    with pytest.raises(ValueError, match="not an image id"):
        content_tag("qwenops-operator:latest")
    assert cluster.kind_load_command("qwenops-operator:e2e-0123456789ab", CLUSTER_NAME) == [
        "kind", "load", "docker-image", "qwenops-operator:e2e-0123456789ab", "--name", "qwenops-e2e",
    ]  # fmt: skip
    assert kind_cluster_of("kind-qwenops-e2e", ["qwenops-e2e", "kind"]) == "qwenops-e2e"
    assert kind_cluster_of("kind-other", ["qwenops-e2e"]) is None
    assert kind_cluster_of("prod", ["prod"]) is None


# -- Prometheus --------------------------------------------------------------------------------------------

PROMETHEUS = [doc for doc in yaml.safe_load_all((REPO / PROMETHEUS_MANIFEST).read_text()) if doc]


def _one(kind: str, objects: list[dict[str, Any]] = PROMETHEUS) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def _scrape_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_one("ConfigMap")["data"]["prometheus.yml"])
    return config


def _targets(pod: dict[str, Any], namespace: str) -> list[dict[str, str]]:
    """What `role: pod` discovery gives: a target per declared container port (the meta labels used here)."""
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    return [
        {**discovered(pod, namespace), "__meta_kubernetes_pod_container_port_name": port["name"]}
        for container in containers
        for port in container.get("ports", [])
    ]


def _scraped(pod: dict[str, Any], namespace: str) -> list[dict[str, str]]:
    """The label sets of the pod's series, after the manifest's relabelling (prometheus-operator's key names)."""
    (job,) = _scrape_config()["scrape_configs"]
    names = {"source_labels": "sourceLabels", "target_label": "targetLabel"}
    configs = [{names.get(k, k): v for k, v in c.items()} for c in job["relabel_configs"]]
    return [labels for labels in (relabel(t, configs) for t in _targets(pod, namespace)) if labels]


@pytest.mark.parametrize("index", range(len(PROMETHEUS)), ids=[f"{d['kind']}" for d in PROMETHEUS])
def test_every_prometheus_object_is_valid(index: int) -> None:
    valid_kubernetes(PROMETHEUS[index])


def test_prometheus_scrapes_every_2s_by_pod_discovery() -> None:
    config = _scrape_config()
    assert config["global"]["scrape_interval"] == "2s"
    assert config["global"]["scrape_timeout"] == "2s", "never above the interval: Prometheus refuses that"
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("prom/prometheus:v") and "latest" not in container["image"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in container["args"]


def test_prometheus_may_only_list_and_watch_pods() -> None:
    assert _one("ClusterRole")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}
    ]
    binding, account = _one("ClusterRoleBinding"), _one("ServiceAccount")
    assert binding["roleRef"]["name"] == _one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "monitoring"}
    ]
    assert _one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_the_prometheus_service_is_the_url_the_operator_is_given() -> None:
    service = _one("Service")
    (port,) = service["spec"]["ports"]
    url = f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{port['port']}"
    assert url == PROMETHEUS_URL == chart_values(OPERATOR_REF, SERVING_REF)["prometheusUrl"]
    pod = _one("Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_the_model_pods_series_get_the_labels_the_analysis_selects_by() -> None:
    spec = QwenDeploymentSpec.model_validate(qwen_deployment("chat", ["--rps", "20"])["spec"])
    spec = with_hub(with_image(spec, SERVING_REF), HUB_URL)
    revision = revision_of(spec)
    pod = desired_pod_template(Owner(name="chat", namespace=TEST_NAMESPACE, uid="u-1"), spec, revision)

    (series,) = _scraped(pod, TEST_NAMESPACE)

    defaults = SeriesLabels()
    assert series == {
        defaults.namespace: TEST_NAMESPACE,
        defaults.deployment: "chat",
        defaults.revision: revision,
    }
    wanted = selector(defaults, namespace=TEST_NAMESPACE, deployment="chat", revision=revision)
    assert dict(re.findall(r'(\w+)="([^"]*)"', wanted)) == series, "the default queries select exactly them"


def test_nothing_else_is_scraped() -> None:
    hub = _one("Deployment", hub_manifests(SERVING_REF, "source"))["spec"]["template"]
    prometheus = _one("Deployment")["spec"]["template"]
    operator = {  # the chart's operator pod: labelled by Helm, ports health and metrics
        "metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "qwenops"}},
        "spec": {"containers": [{"name": "operator", "ports": [{"name": "health"}, {"name": "metrics"}]}]},
    }
    for pod in (hub, prometheus, operator):
        assert _targets(pod, "ns"), "the pod has ports that discovery finds"
        assert _scraped(pod, "ns") == []


# -- the Hub stand-in ----------------------------------------------------------------------------------------

HUB = hub_manifests(SERVING_REF, (REPO / HUB_SOURCE).read_text())


@pytest.mark.parametrize("index", range(len(HUB)), ids=[f"{d['kind']}" for d in HUB])
def test_every_hub_object_is_valid(index: int) -> None:
    valid_kubernetes(HUB[index])


def test_the_hub_service_is_the_endpoint_the_pods_download_from() -> None:
    service, deployment = _one("Service", HUB), _one("Deployment", HUB)
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"hub": HUB_PORT, "cdn": CDN_PORT}
    assert (
        f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{ports['hub']}"
        == HUB_URL
    )
    assert chart_values(OPERATOR_REF, SERVING_REF)["hfEndpoint"] == HUB_URL
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == SERVING_REF
    assert container["command"] == ["python3", "/hub/hub.py"]
    args = container["args"]
    assert args[args.index("--public-host") + 1] == HUB_HOST, "the CDN redirects name the Service"
    assert _one("ConfigMap", HUB)["data"]["hub.py"] == (REPO / HUB_SOURCE).read_text()
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_a_new_hub_source_restarts_the_hub() -> None:
    def checksum(source: str) -> str:
        annotations = _one("Deployment", hub_manifests(SERVING_REF, source))["spec"]["template"]["metadata"]
        return str(annotations["annotations"]["checksum/hub.py"])

    assert checksum("a") != checksum("b")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE_", "QWENOPS_"))}
    return {**env, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}


def test_the_hub_pod_serves_the_checkpoint_the_tests_pin(tmp_path: Path) -> None:
    """The pod's own command line (listening on loopback, unthrottled), then a pod's download and verify
    steps against it, as the model pods run them."""
    (container,) = _one("Deployment", HUB)["spec"]["template"]["spec"]["containers"]
    local = ["--host", "127.0.0.1", "--port", "0", "--cdn-port", "0", "--public-host", "127.0.0.1",
             "--bytes-per-second", "1e9"]  # fmt: skip
    hub = subprocess.Popen(
        [sys.executable, str(REPO / HUB_SOURCE), *container["args"], *local],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert hub.stdout is not None
        url = hub.stdout.readline().split()[1]
        probe = container["readinessProbe"]["httpGet"]
        with urllib.request.urlopen(f"{url}{probe['path']}", timeout=10) as answer:
            assert json.load(answer)["sha"] == HUB_COMMIT
        env = {**_clean_env(tmp_path), "HF_ENDPOINT": url}
        for step in ("download", "verify"):
            done = subprocess.run(
                [sys.executable, "-m", "images.serving.qwenops_serve", step, "--model", HUB_REPO,
                 "--revision", HUB_COMMIT, "--cache-dir", str(tmp_path / "models"),
                 "--termination-log", str(tmp_path / "termination-log")],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
    finally:
        hub.terminate()
        assert hub.wait(timeout=20) == 0, "it stops cleanly on SIGTERM"


# -- the chart -----------------------------------------------------------------------------------------------


def _merged(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """helm's coalescing of a values file over the chart's values.yaml (maps merged, the rest replaced)."""
    merged = dict(defaults)
    for key, value in values.items():
        both = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        merged[key] = _merged(defaults[key], value) if both else value
    return merged


def test_the_chart_values_pass_the_charts_schema() -> None:
    chart = REPO / "charts" / "qwenops"
    schema = json.loads((chart / "values.schema.json").read_text())
    values = chart_values(OPERATOR_REF, SERVING_REF)
    jsonschema.validate(_merged(yaml.safe_load((chart / "values.yaml").read_text()), values), schema)
    assert values["image"] == {
        "repository": "qwenops-operator",
        "tag": "e2e-0123456789ab",
        "pullPolicy": "IfNotPresent",
    }
    assert values["watchNamespaces"] == [TEST_NAMESPACE]


def test_the_chart_with_those_values_points_the_operator_at_prometheus_and_the_hub(tmp_path: Path) -> None:
    try:
        binary = ensure_helm()
    except HelmUnavailableError as exc:
        pytest.skip(f"no helm binary: {exc}")
    values = tmp_path / "values.json"
    values.write_text(json.dumps(chart_values(OPERATOR_REF, SERVING_REF)))
    objects = Helm(binary=binary, home=tmp_path / "home").template([values])
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == OPERATOR_REF
    assert (env["QWENOPS_PROMETHEUS_URL"], env["QWENOPS_HF_ENDPOINT"], env["QWENOPS_SERVING_IMAGE"]) == (
        PROMETHEUS_URL, HUB_URL, SERVING_REF,
    )  # fmt: skip
    assert (
        f"--namespace={TEST_NAMESPACE}" in container["args"] and "--all-namespaces" not in container["args"]
    )
    roles = {o["metadata"]["name"]: o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"}
    lease = f"{RELEASE}-leader-election"  # the operator's Lease, in its own namespace
    assert roles.pop(lease) == RELEASE
    assert list(roles.values()) == [TEST_NAMESPACE]


def test_the_helm_command_installs_or_upgrades_and_waits() -> None:
    command = cluster.helm_command("helm", Path("values.json"))
    assert command[:5] == ["helm", "upgrade", "--install", "qwenops", "charts/qwenops"]
    assert {"--create-namespace", "--wait"} <= set(command)
    assert command[command.index("--namespace") + 1] == "qwenops"
    assert command[command.index("--values") + 1] == "values.json"


@pytest.mark.parametrize(
    ("reference", "split"),
    [
        ("qwenops-operator:e2e-0123", ("qwenops-operator", "e2e-0123")),
        (
            "registry.example:5000/team/qwenops-operator:1.2",
            ("registry.example:5000/team/qwenops-operator", "1.2"),
        ),
    ],
)
def test_an_image_reference_splits_into_the_charts_repository_and_tag(
    reference: str, split: tuple[str, str]
) -> None:
    assert split_reference(reference) == split


@pytest.mark.parametrize(
    "reference", ["qwenops-operator", "registry.example:5000/op", "op@sha256:" + "0" * 64]
)
def test_an_image_without_a_tag_is_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="name:tag"):
        split_reference(reference)


# -- what the tests apply ------------------------------------------------------------------------------------


def test_the_test_deployments_are_admitted_and_the_branch_is_refused() -> None:
    for args in (
        ["--rps", "20"],
        ["--rps", "20", "--seed", "2"],
        ["--rps", "20", "--error-rate", "0.5"],
        ["--rps", "5", "--load-seconds", "8"],
    ):
        manifest = qwen_deployment("promote-0a1b2", args, pause="10m")
        assert admit(manifest) == [], args
        QwenDeploymentSpec.model_validate(manifest["spec"])
    refused = admit(qwen_deployment("refuse-0a1b2", ["--rps", "5"], revision="main"))
    assert refused and all("spec.model.revision" in error for error in refused), refused


def test_new_simulator_flags_make_a_new_revision_and_a_new_pause_does_not() -> None:
    def revision(args: list[str], pause: str = "20s") -> str:
        spec = QwenDeploymentSpec.model_validate(qwen_deployment("x", args, pause=pause)["spec"])
        return revision_of(with_hub(with_image(spec, SERVING_REF), HUB_URL))

    base = revision(["--rps", "20"])
    assert revision(["--rps", "20", "--seed", "2"]) != base
    assert revision(["--rps", "20", "--error-rate", "0.5"]) != base
    assert revision(["--rps", "20"], pause="10m") == base


def test_events_are_ordered_by_their_time() -> None:
    event = {
        "eventTime": "2026-01-01T00:00:01.500000Z",
        "metadata": {"creationTimestamp": "2026-01-01T00:00:01Z"},
    }
    assert event_time(event) == parse_time("2026-01-01T00:00:01.5Z")
    assert event_time({"metadata": {"creationTimestamp": "2026-01-01T00:00:02Z"}}).second == 2
    t = [parse_time(f"2026-01-01T00:00:0{i}Z") for i in range(4)]
    assert in_order({"Downloading": t[0], "Loading": t[2], "ModelReady": t[3]}, STARTUP_EVENTS)
    assert in_order({"Downloading": t[1], "Verifying": t[1]}, STARTUP_EVENTS), "equal times are in order"
    assert not in_order({"Downloading": t[2], "Loading": t[1]}, STARTUP_EVENTS)


# -- run or skip ----------------------------------------------------------------------------------------------

CONTEXT_DOWN = "no reachable cluster in the current kubeconfig context (connection refused)"


def _no_docker_check(docker: str) -> str | None:
    raise AssertionError("docker is not asked")


def test_a_context_that_answers_is_used() -> None:
    assert decide(None, which=lambda name: None, docker_check=_no_docker_check).use == "context"
    assert suite_skip_reason(Decision("context", "")) is None


@pytest.mark.parametrize(
    ("on_path", "docker_says", "use", "words"),
    [
        ({}, None, "none", "no `kind` on PATH"),
        ({"kind"}, None, "none", "no `docker` on PATH"),
        ({"kind", "docker"}, "`docker info` failed: Cannot connect to the Docker daemon", "none",
         "docker does not answer, so kind cannot create one: `docker info` failed: Cannot connect"),
        ({"kind", "docker"}, None, "kind", f"kind creates the cluster {CLUSTER_NAME}"),
    ],
)  # fmt: skip
def test_without_a_context_kind_makes_one_where_it_can(
    on_path: set[str], docker_says: str | None, use: str, words: str
) -> None:
    decision = decide(
        CONTEXT_DOWN,
        which=lambda name: f"/usr/bin/{name}" if name in on_path else None,
        docker_check=lambda docker: docker_says,
    )
    assert (decision.use, decision.context) == (use, CONTEXT_DOWN)
    assert decision.reason.startswith(CONTEXT_DOWN + "; ") and words in decision.reason
    skip = suite_skip_reason(decision)
    assert skip is not None and skip.startswith(CONTEXT_DOWN)
    if use == "kind":
        assert skip.endswith("`make e2e` (python -m tests.e2e.cluster up) creates one with kind")
    else:
        assert skip == decision.reason, "pytest skips with the words `up` printed"


def _fake(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_kubectl_is_found_as_kubectl_then_path_then_fetched(tmp_path: Path) -> None:
    bin_dir, other = tmp_path / "bin", tmp_path / "other"
    fetched = _fake(tmp_path / "cache", "kubectl", "exit 0")
    assert cluster.find_kubectl({}, path=str(tmp_path / "empty"), fetched=fetched) == str(fetched)
    assert cluster.find_kubectl({}, path=str(tmp_path / "empty"), fetched=tmp_path / "none") is None
    on_path = _fake(bin_dir, "kubectl", "exit 0")
    assert cluster.find_kubectl({}, path=str(bin_dir), fetched=fetched) == str(on_path)
    chosen = _fake(other, "kubectl-1.35", "exit 0")
    assert cluster.find_kubectl({"KUBECTL": str(chosen)}, path=str(bin_dir), fetched=fetched) == str(chosen)
    assert cluster.find_kubectl({"KUBECTL": "nowhere"}, path=str(bin_dir), fetched=fetched) is None


def test_the_probes_read_what_kubectl_and_docker_answer(tmp_path: Path) -> None:
    answers = _fake(
        tmp_path / "a", "kubectl", """echo '{"clientVersion": {}, "serverVersion": {"major": "1"}}'"""
    )
    refused = _fake(
        tmp_path / "b",
        "kubectl",
        'echo "The connection to the server localhost:8080 was refused" >&2\nexit 1',
    )
    assert cluster.context_problem(str(answers)) is None
    assert cluster.context_problem(str(refused)) == (
        "no reachable cluster in the current kubeconfig context (The connection to the server localhost:8080 was refused)"
    )
    assert cluster.context_problem(None) is not None and "no kubectl" in str(cluster.context_problem(None))
    running = _fake(tmp_path / "c", "docker", "echo 29.1.3")
    stopped = _fake(
        tmp_path / "d",
        "docker",
        'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2\nexit 1',
    )
    assert cluster.docker_problem(str(running)) is None
    assert cluster.docker_problem(str(stopped)) == (
        "`docker info` failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    )


def test_up_without_a_cluster_exits_3_with_the_reason_pytest_skips_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e import conftest  # noqa: PLC0415

    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "kubectl", 'echo "The connection to the server localhost:8080 was refused" >&2\nexit 1')
    monkeypatch.setenv("PATH", str(bin_dir))  # no kind, no docker
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setattr(cluster, "find_helm", lambda: "helm")  # nothing fetched here

    assert cluster.main(["up"]) == EXIT_NO_CLUSTER

    reason = conftest.cluster_problem()
    assert reason is not None and "no `kind` on PATH" in reason
    assert f"e2e: no cluster to run the e2e suite on: {reason}\n" in capsys.readouterr().err


def test_the_suite_must_run_where_it_is_required() -> None:
    assert not cluster.required({})
    assert not cluster.required({cluster.REQUIRE_ENV: "0"})
    assert cluster.required({cluster.REQUIRE_ENV: "1"})
