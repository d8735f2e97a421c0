"""The e2e suite's cluster: `up` makes one ready to run tests/e2e against, `down` removes what `up` created.

    python -m tests.e2e.cluster up      # `make e2e` runs it before pytest
    python -m tests.e2e.cluster down    # deletes the kind cluster, if `up` created it

`up`, step by step (tests/e2e/README.md says more):

1. the cluster: the current kubeconfig context if it answers; else a kind cluster `qwenops-e2e` made from
   tests/e2e/kind.yaml, if `kind` and `docker` are on PATH and docker answers; else it prints why and exits 3,
   and pytest then reports the suite SKIPPED with the same reason (`suite_skip_reason`);
2. the images: on a kind cluster it builds the operator's image (images/operator/Dockerfile) and the
   simulator's serving image (images/serving/Dockerfile.sim) and loads both into the nodes; on any other
   cluster they are $QWENOPS_E2E_OPERATOR_IMAGE and $QWENOPS_E2E_SERVING_IMAGE, pushed where it pulls from;
3. the GPUs: every node labelled gpu-pool=e2e must offer nvidia.com/gpu; on kind it is faked, by adding
   `nvidia.com/gpu: 4` to each such node's status capacity (the Kubernetes docs' "Advertise Extended
   Resources for a Node");
4. the CRD, a minimal Prometheus (tests/e2e/manifests/prometheus.yaml), the Hub stand-in serving a tiny
   checkpoint, then the chart, installed by the real helm (tests/chart/fetch_helm.py) and pointed at both;
   it waits for each to be ready.

Every step can be run again: `up` on a ready cluster rebuilds the images and re-applies everything.
Exit codes: 0 ready, 3 no cluster to run on (the reason on stderr), 1 a step failed (which, and why).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.chart import fetch_helm

REPO = Path(__file__).resolve().parents[2]
KIND_CONFIG = Path("tests/e2e/kind.yaml")
PROMETHEUS_MANIFEST = Path("tests/e2e/manifests/prometheus.yaml")
HUB_SOURCE = Path("tests/serving/hub.py")
CHART = Path("charts/qwenops")
CRD = Path("crds/qwenops.io_qwendeployments.yaml")
"""Applied before the chart, which is told to leave it alone (crds.install: false)."""
CREATED_MARKER = REPO / ".cache" / "e2e" / "created-kind-cluster"
"""Names the kind cluster `up` created (`.cache/` is gitignored); `down` deletes only that one."""

DESCRIPTION = "Set up (up) or remove (down) the cluster the e2e suite runs on."
CLUSTER_NAME = "qwenops-e2e"
EXIT_READY, EXIT_FAILED, EXIT_NO_CLUSTER = 0, 1, 3
REQUIRE_ENV = "QWENOPS_REQUIRE_E2E"
"""Set (CI on a machine with docker and kind): the suite fails where it would be skipped."""
OPERATOR_IMAGE_ENV = "QWENOPS_E2E_OPERATOR_IMAGE"
SERVING_IMAGE_ENV = "QWENOPS_E2E_SERVING_IMAGE"

RELEASE = OPERATOR_NAMESPACE = "qwenops"
OPERATOR_DEPLOYMENT = "qwenops"  # the chart's fullname for the release `qwenops`
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_URL = f"http://prometheus.{MONITORING_NAMESPACE}.svc:9090"
TEST_NAMESPACE = "qwenops-e2e"
"""The Hub stand-in and every QwenDeployment of the suite. The chart's operator watches this namespace only,
so it never meets the operator tests/e2e/test_operator_on_cluster.py runs locally in a namespace of its own."""

HUB_NAME = "hub"
HUB_PORT, CDN_PORT = 8080, 8081
HUB_HOST = f"{HUB_NAME}.{TEST_NAMESPACE}.svc"
HUB_URL = f"http://{HUB_HOST}:{HUB_PORT}"
HUB_REPO = "qwenops-e2e/tiny-qwen"
HUB_COMMIT = "c0ffee5e2e0b1a7d3c9e4f2a8b6d0e1f3a5c7e9b"
HUB_BYTES_PER_SECOND = 50_000
"""Each body throttled: the 300 kB shard takes 6 s, so a pod's Downloading stage lasts long enough to be seen."""

GPU_POOL = {"gpu-pool": "e2e"}
GPU_RESOURCE = "nvidia.com/gpu"
FAKE_GPUS_PER_NODE = 4
SERVING_UID = 10001
"""The serving images' user (images/serving/Dockerfile, Dockerfile.sim)."""


class StepError(RuntimeError):
    """A step of `up` failed; the message says which command and why."""


# -- finding a cluster ------------------------------------------------------------------------------------


def find_kubectl(
    env: Mapping[str, str] = os.environ, path: str | None = None, fetched: Path | None = None
) -> str | None:
    """$KUBECTL (a name on PATH or a path), else PATH's kubectl, else the one fetch_helm.py fetched."""
    named = env.get("KUBECTL")
    if named:
        return shutil.which(named, path=path)
    found = shutil.which("kubectl", path=path)
    if found:
        return found
    fetched = fetch_helm.CACHE / "kubectl" if fetched is None else fetched
    return str(fetched) if os.access(fetched, os.X_OK) else None


def context_problem(kubectl: str | None) -> str | None:
    """Why the current kubeconfig context cannot be used, or None when its cluster answers."""
    if kubectl is None:
        return "no kubectl on PATH (set KUBECTL, or fetch one: python tests/chart/fetch_helm.py)"
    try:
        probe = subprocess.run(
            [kubectl, "version", "--request-timeout=5s", "-o", "json"],
            capture_output=True, text=True, timeout=15, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "the cluster of the current kubeconfig context did not answer within 15 s"
    if probe.returncode != 0 or '"serverVersion"' not in probe.stdout:
        said = probe.stderr.strip().splitlines()[-1:] or [f"exit code {probe.returncode}"]
        return f"no reachable cluster in the current kubeconfig context ({said[0][:200]})"
    return None


def docker_problem(docker: str) -> str | None:
    """Why docker cannot run kind's nodes, or None when its daemon answers."""
    try:
        probe = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if probe.returncode != 0 or not probe.stdout.strip():
        said = [line for line in probe.stderr.strip().splitlines() if line.strip()][-1:] or ["no answer"]
        return f"`docker info` failed: {said[0][:200]}"
    return None


@dataclass(frozen=True)
class Decision:
    """Where the suite runs: the current context, a kind cluster `up` creates, or nowhere (and why)."""

    use: Literal["context", "kind", "none"]
    reason: str
    context: str = ""
    """Why the current context cannot be used ("" when it can)."""


def decide(
    context: str | None,
    which: Callable[[str], str | None] = shutil.which,
    docker_check: Callable[[str], str | None] = docker_problem,
) -> Decision:
    """`context`: why the current context cannot be used (`context_problem`), None when it can."""
    if context is None:
        return Decision("context", "the current kubeconfig context answers")
    if which("kind") is None:
        return Decision(
            "none", f"{context}; and no `kind` on PATH to create one (https://kind.sigs.k8s.io)", context
        )
    docker = which("docker")
    if docker is None:
        return Decision("none", f"{context}; and no `docker` on PATH for kind to create one with", context)
    trouble = docker_check(docker)
    if trouble is not None:
        because = f"{context}; and docker does not answer, so kind cannot create one: {trouble}"
        return Decision("none", because, context)
    return Decision("kind", f"{context}; kind creates the cluster {CLUSTER_NAME}", context)


def suite_skip_reason(decision: Decision) -> str | None:
    """Why pytest skips the suite (None: it runs): the words `up` prints, or, where `up` would create a kind
    cluster, that it has not."""
    if decision.use == "context":
        return None
    if decision.use == "kind":
        return f"{decision.context}; `make e2e` (python -m tests.e2e.cluster up) creates one with kind"
    return decision.reason


def required(env: Mapping[str, str] = os.environ) -> bool:
    """True where the suite must run, not skip ($QWENOPS_REQUIRE_E2E)."""
    return env.get(REQUIRE_ENV, "").lower() not in ("", "0", "false", "no")


def kind_cluster_of(context: str, clusters: Sequence[str]) -> str | None:
    """The kind cluster a kubeconfig context belongs to (kind names them `kind-<cluster>`), if any."""
    name = context.removeprefix("kind-")
    return name if context.startswith("kind-") and name in clusters else None


# -- commands ---------------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], *, stdin: str | None = None, timeout: float = 900, quiet: bool = False) -> str:
    """Run one command from the repository's root; its stdout, or StepError with its stderr."""
    if not quiet:
        say(f"$ {shlex.join(argv)}")
    try:
        done = subprocess.run(
            list(argv), cwd=REPO, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StepError(f"`{shlex.join(argv)}` took over {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise StepError(f"`{argv[0]}` is not installed: {exc}") from exc
    if done.returncode != 0:
        raise StepError(f"`{shlex.join(argv)}` exited {done.returncode}:\n{done.stderr.strip()[-3000:]}")
    return done.stdout


# -- images -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    repository: str
    dockerfile: Path
    context: Path


OPERATOR_IMAGE = Image("qwenops-operator", Path("images/operator/Dockerfile"), Path())
SERVING_IMAGE = Image("qwenops-serving-sim", Path("images/serving/Dockerfile.sim"), Path("images/serving"))


def build_command(image: Image) -> list[str]:
    """`docker build` (BuildKit, Docker 23+) without the provenance attestation BuildKit adds by default:
    under Docker's containerd image store (the default of Docker Desktop and of Docker 29) `docker save`
    would export an index naming that attestation, and `kind load docker-image` fails on it (kind#3795)."""
    return ["docker", "build", "--provenance=false", "--file", str(image.dockerfile),
            "--tag", f"{image.repository}:e2e", str(image.context)]  # fmt: skip


def content_tag(image_id: str) -> str:
    """A tag naming the image's content (`e2e-<12 hex of its id>`): a rebuilt image gets a new tag, so the
    operator's Deployment and the model pods' revision change with it (never `latest`, which kind's nodes
    would try to pull)."""
    digest = image_id.removeprefix("sha256:")
    if len(digest) < 12 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not an image id: {image_id!r}")
    return f"e2e-{digest[:12]}"


def kind_load_command(reference: str, cluster: str) -> list[str]:
    return ["kind", "load", "docker-image", reference, "--name", cluster]


def build_and_load(image: Image, cluster: str) -> str:
    """Build `image`, tag it by content, load it into the kind cluster's nodes; its reference."""
    run(build_command(image))
    image_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", f"{image.repository}:e2e"]).strip()
    reference = f"{image.repository}:{content_tag(image_id)}"
    run(["docker", "tag", f"{image.repository}:e2e", reference])
    run(kind_load_command(reference, cluster))
    return reference


def split_reference(reference: str) -> tuple[str, str]:
    """`[registry[:port]/]name:tag` as (repository, tag), the chart's image.repository and image.tag."""
    repository, colon, tag = reference.rpartition(":")
    if "@" in reference or not colon or "/" in tag or not repository or not tag:
        raise ValueError(f"{reference!r}: give the operator's image as name:tag (the chart takes no digest)")
    return repository, tag


# -- nodes: the GPU pool ----------------------------------------------------------------------------------


def json_pointer_token(key: str) -> str:
    """One key as a JSON Pointer token (RFC 6901): `~` is `~0` and `/` is `~1`."""
    return key.replace("~", "~0").replace("/", "~1")


def gpu_capacity_patch(resource: str = GPU_RESOURCE, count: int = FAKE_GPUS_PER_NODE) -> list[dict[str, str]]:
    """The JSON patch of a node's status that advertises `count` of `resource` (`add` replaces a value that is
    there, so it can be sent again). The kubelet copies capacity to allocatable on its next status update."""
    return [{"op": "add", "path": f"/status/capacity/{json_pointer_token(resource)}", "value": str(count)}]


def node_patch_command(kubectl: str, node: str) -> list[str]:
    return [kubectl, "patch", "node", node, "--subresource=status", "--type=json",
            "--patch", json.dumps(gpu_capacity_patch())]  # fmt: skip


def label_selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def nodes_without_gpus(nodes: Mapping[str, Any], resource: str = GPU_RESOURCE) -> list[str]:
    """Names of the nodes (a `kubectl get nodes -o json` list) whose allocatable has none of `resource`."""
    missing = []
    for node in nodes.get("items", []):
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        if int(str(allocatable.get(resource, "0"))) < 1:
            missing.append(node["metadata"]["name"])
    return missing


def prepare_gpu_pool(kubectl: str, *, fake: bool, timeout: float = 90) -> list[str]:
    """The nodes labelled gpu-pool=e2e, each offering GPUs (faked on kind); their names."""
    selector = label_selector(GPU_POOL)
    nodes = json.loads(run([kubectl, "get", "nodes", "-l", selector, "-o", "json"], quiet=True))
    names = [node["metadata"]["name"] for node in nodes["items"]]
    if not names:
        raise StepError(
            f"no node is labelled {selector}: tests/e2e/kind.yaml labels the workers; on another cluster, "
            f"label the nodes the model pods may use (kubectl label node NAME {selector})"
        )
    if fake:
        for name in names:
            run(node_patch_command(kubectl, name))
    deadline = time.monotonic() + timeout
    while missing := nodes_without_gpus(
        json.loads(run([kubectl, "get", "nodes", "-l", selector, "-o", "json"], quiet=True))
    ):
        if time.monotonic() > deadline:
            raise StepError(f"no allocatable {GPU_RESOURCE} within {timeout:.0f} s on: {', '.join(missing)}")
        time.sleep(2)
    return names


# -- what runs in the cluster ------------------------------------------------------------------------------


def hub_manifests(image: str, source: str) -> list[dict[str, Any]]:
    """The Hub stand-in, serving the tiny checkpoint HUB_REPO at HUB_COMMIT, in TEST_NAMESPACE.

    It runs in the cluster, not on the host at the kind network's gateway: a process on the host is
    reachable from pods only where that gateway is the host itself (docker engine on Linux, with no firewall
    dropping the bridge's traffic), not on Docker Desktop (the gateway is inside its VM), rootless docker or
    podman, nor from a cluster that is not local (the suite runs against any current context); and the
    Hub's LFS redirects must name a CDN address the pods can reach, which a Service's name is everywhere.
    So tests/serving/hub.py (standard library only) runs in the simulator's image, from a ConfigMap.
    """
    labels = {"app.kubernetes.io/name": "qwenops-e2e-hub", "app.kubernetes.io/part-of": "qwenops-e2e"}
    metadata = {"namespace": TEST_NAMESPACE, "labels": labels}
    args = [
        "--repo", HUB_REPO, "--commit", HUB_COMMIT, "--host", "0.0.0.0", "--port", str(HUB_PORT),
        "--cdn-port", str(CDN_PORT), "--public-host", HUB_HOST, "--bytes-per-second", str(HUB_BYTES_PER_SECOND),
    ]  # fmt: skip
    container = {
        "name": "hub",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "/hub/hub.py"],
        "args": args,
        "env": [
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "ports": [
            {"name": "hub", "containerPort": HUB_PORT, "protocol": "TCP"},
            {"name": "cdn", "containerPort": CDN_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": f"/api/models/{HUB_REPO}/revision/{HUB_COMMIT}", "port": "hub"},
            "periodSeconds": 2,
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "hub", "mountPath": "/hub", "readOnly": True}],
    }
    pod_spec = {
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVING_UID,
            "runAsGroup": SERVING_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "hub", "configMap": {"name": HUB_NAME}}],
    }
    checksum = hashlib.sha256(source.encode()).hexdigest()
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEST_NAMESPACE}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": HUB_NAME, **metadata},
         "data": {"hub.py": source}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": HUB_NAME, **metadata},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    # A new hub.py restarts the pod.
                    "metadata": {"labels": labels, "annotations": {"checksum/hub.py": checksum}},
                    "spec": pod_spec,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": HUB_NAME, **metadata},
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "hub", "port": HUB_PORT, "targetPort": "hub", "protocol": "TCP"},
                    {"name": "cdn", "port": CDN_PORT, "targetPort": "cdn", "protocol": "TCP"},
                ],
            },
        },
    ]  # fmt: skip


def chart_values(operator_image: str, serving_image: str) -> dict[str, Any]:
    """The chart's values for the suite: the images, the in-cluster Prometheus and Hub stand-in, the
    suite's namespace as the only one watched, and the CRD left out (`install` applies it first)."""
    repository, tag = split_reference(operator_image)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "servingImage": serving_image,
        "prometheusUrl": PROMETHEUS_URL,
        "hfEndpoint": HUB_URL,
        "watchNamespaces": [TEST_NAMESPACE],
        "resyncSeconds": 5,
        "crds": {"install": False},
    }


def helm_command(helm: str, values: Path) -> list[str]:
    """`--wait` alone: helm 4 reads it as `--wait=watcher`, helm 3 as `--wait=true`."""
    return [helm, "upgrade", "--install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE,
            "--create-namespace", "--values", str(values), "--wait", "--timeout", "5m"]  # fmt: skip


def apply_command(kubectl: str, source: str) -> list[str]:
    """Server-side apply (no last-applied annotation, which hub.py's source would overflow)."""
    return [
        kubectl,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=qwenops-e2e",
        "-f",
        source,
    ]


def find_helm() -> str:
    try:
        return str(fetch_helm.ensure_helm())
    except fetch_helm.HelmUnavailableError as exc:
        on_path = shutil.which("helm")
        if on_path is None:
            raise StepError(f"no helm: {exc}; or put helm on PATH") from exc
        return on_path


# -- up and down ------------------------------------------------------------------------------------------


def kind_clusters() -> list[str]:
    if shutil.which("kind") is None:
        return []
    return run(["kind", "get", "clusters"], quiet=True).split()


def create_kind_cluster() -> None:
    if CLUSTER_NAME in kind_clusters():  # made by an earlier `up`, the context since switched away
        run(["kind", "export", "kubeconfig", "--name", CLUSTER_NAME])
        return
    CREATED_MARKER.parent.mkdir(parents=True, exist_ok=True)
    CREATED_MARKER.write_text(CLUSTER_NAME + "\n")
    run(["kind", "create", "cluster", "--name", CLUSTER_NAME, "--config", str(KIND_CONFIG), "--wait", "3m"])


def images_for(kind_cluster: str | None, env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(operator image, serving image): built and loaded into a kind cluster, else given by the environment."""
    if kind_cluster is not None:
        return build_and_load(OPERATOR_IMAGE, kind_cluster), build_and_load(SERVING_IMAGE, kind_cluster)
    given = (env.get(OPERATOR_IMAGE_ENV, ""), env.get(SERVING_IMAGE_ENV, ""))
    if not all(given):
        raise StepError(
            f"the current context is not a kind cluster, so the images cannot be loaded into it: build them "
            f"(make image; images/serving/Dockerfile.sim), push them where the cluster pulls from and set "
            f"${OPERATOR_IMAGE_ENV} and ${SERVING_IMAGE_ENV}"
        )
    return given


def install(kubectl: str, operator_image: str, serving_image: str) -> None:
    run([kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(CRD)])
    run([kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd/qwendeployments.qwenops.io"])
    run(apply_command(kubectl, str(PROMETHEUS_MANIFEST)))
    hub = {
        "apiVersion": "v1",
        "kind": "List",
        "items": hub_manifests(serving_image, (REPO / HUB_SOURCE).read_text()),
    }
    run(apply_command(kubectl, "-"), stdin=json.dumps(hub))
    with tempfile.TemporaryDirectory(prefix="qwenops-e2e-") as scratch:
        values = Path(scratch) / "values.json"  # JSON is YAML: helm reads it as a values file
        values.write_text(json.dumps(chart_values(operator_image, serving_image), indent=2))
        run(helm_command(find_helm(), values))
    for namespace, name in (
        (MONITORING_NAMESPACE, "prometheus"), (TEST_NAMESPACE, HUB_NAME), (OPERATOR_NAMESPACE, OPERATOR_DEPLOYMENT),
    ):  # fmt: skip
        run([kubectl, "-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=300s"])


def up() -> int:
    try:
        find_helm()  # on linux/amd64 this also fetches a kubectl, should PATH have none
    except StepError as exc:
        say(str(exc))
    kubectl = find_kubectl()
    if kubectl is None:  # neither the context nor a kind cluster can be reached without one
        say(f"no cluster to run the e2e suite on: {context_problem(None)}")
        return EXIT_NO_CLUSTER
    decision = decide(context_problem(kubectl))
    if decision.use == "none":
        say(f"no cluster to run the e2e suite on: {decision.reason}")
        return EXIT_NO_CLUSTER
    say(decision.reason)
    if decision.use == "kind":
        create_kind_cluster()
    context = run([kubectl, "config", "current-context"], quiet=True).strip()
    kind_cluster = kind_cluster_of(context, kind_clusters())
    say(f"context {context}" + (f": the kind cluster {kind_cluster}" if kind_cluster else ""))
    operator_image, serving_image = images_for(kind_cluster)
    nodes = prepare_gpu_pool(kubectl, fake=kind_cluster is not None)
    say(f"GPU pool: {', '.join(nodes)}")
    install(kubectl, operator_image, serving_image)
    say(f"ready: operator {operator_image}, model pods {serving_image}, Prometheus {PROMETHEUS_URL}, "
        f"Hub stand-in {HUB_URL} ({HUB_REPO}@{HUB_COMMIT})")  # fmt: skip
    return EXIT_READY


def down() -> int:
    if not CREATED_MARKER.is_file():
        say(
            "`up` created no kind cluster here: nothing deleted (tests/e2e/README.md says how to clean another)"
        )
        return EXIT_READY
    name = CREATED_MARKER.read_text().strip()
    run(["kind", "delete", "cluster", "--name", name])
    CREATED_MARKER.unlink()
    return EXIT_READY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.cluster", description=DESCRIPTION)
    parser.add_argument("command", choices=("up", "down"))
    args = parser.parse_args(argv)
    try:
        return up() if args.command == "up" else down()
    except (StepError, ValueError) as exc:
        say(f"{args.command} failed: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
