"""`make demo`: the operator end to end with no cluster.

Starts the emulated Kubernetes API (qwenops_testing.emulator), a real Prometheus, a
simulated vLLM per pod that the API creates (demo/pods.py: each walks through
download, verify and load, then serves synthetic traffic Prometheus scrapes)
and the real operator; then applies the README's example, rolls a good version
out through its canary steps judged by Prometheus, rolls out a bad one that
breaks its error-rate SLO and is rolled back, and refuses a bad spec. What
the operator wrote is shown as `kubectl qwen status` shows it. Last, a rollout on a full GPU
pool within a declared budget: 4 one-GPU nodes for 4 replicas, the canary's pods replacing the
stable's, no pod ever waiting for a GPU.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from qwenops.analysis.checks import without_queries
from qwenops.controller.config import DEFAULT_SERVING_IMAGE
from qwenops.kubectl.screens.status import render_status
from qwenops_testing.cluster import QWDS, Client, deployments_of, event_reasons, status_of
from qwenops_testing.emulator import CRD_RESOURCE, DEFAULT_RESOURCES, KubeEmulator, run_emulator
from qwenops_testing.gpu_timeline import replay
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.prometheus import find_prometheus, prometheus_running

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # demo.pods, and the simulator it runs (images/serving/vllm_sim)

from demo.kubectl import Kubectl, find_kubectl  # noqa: E402
from demo.pods import pods_running  # noqa: E402

EXAMPLE = REPO / "examples" / "chat.yaml"
GOOD_COMMIT = "0f4d2a7c1e9b8a6d5c4b3a2918f7e6d5c4b3a291"
BAD_COMMIT = "badc0ffee0ddf00d1234567890abcdef12345678"
ERROR_RATES = {BAD_COMMIT: 0.2}
"""The bad version answers a fifth of its requests with 500s; the others 0.2 %."""
TTY = sys.stdout.isatty()
NEW_CLUSTER = [*(spec for spec in DEFAULT_RESOURCES if spec.group != "qwenops.io"), CRD_RESOURCE]
"""A cluster without the QwenDeployment CRD, until `kubectl apply -f crds/` writes it."""


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if TTY else f"\n== {text}", flush=True)


def demo_manifest() -> dict[str, Any]:
    """The README's example with timings that fit a demo: seconds, not minutes; its SLOs as written."""
    manifest: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    manifest["spec"]["rollout"] = {
        "steps": [{"weight": 25, "pause": "8s"}, {"weight": 50, "pause": "8s"}],
        "analysis": {
            "interval": "2s",
            "window": "10s",
            "minRequests": 50,
            "failureLimit": 2,
            "slos": manifest["spec"]["rollout"]["analysis"]["slos"],
        },
    }
    return manifest


class Screen:
    """Prints a `kubectl get qwd -w` line on each change, and the full status at the moments that matter."""

    def __init__(self, emulator: KubeEmulator, namespace: str, name: str) -> None:
        self.emulator, self.namespace, self.name = emulator, namespace, name
        self.last_line = ""
        self.header = False

    def obj(self) -> dict[str, Any]:
        return self.emulator.get_object(QWDS, self.namespace, self.name) or {}

    def line(self) -> str:
        status = status_of(self.emulator, self.namespace, self.name)
        canary = status.get("canary") or {}
        pods = (status.get("startup") or {}).get("stage", "")
        stable = (status.get("stable") or {}).get("revision", "<none>")
        return (
            f"{stable:<11} {canary.get('revision', '<none>'):<11} "
            f"{canary.get('weight', '') if canary else '':<6} {status.get('phase', ''):<12} {pods:<12} "
            f"{without_queries(status.get('message', ''))}"
        )

    def watch_step(self) -> None:
        if not self.header:
            print(f"{'STABLE':<11} {'CANARY':<11} {'WEIGHT':<6} {'PHASE':<12} {'PODS':<12} MESSAGE")
            self.header = True
        line = self.line()
        if line != self.last_line:
            print(line, flush=True)
            self.last_line = line

    def status(self) -> None:
        print(render_status(self.obj(), datetime.now(UTC), color=TTY, unicode=TTY), end="", flush=True)

    async def follow(
        self, operator: Operator, until: Callable[[dict[str, Any]], bool], timeout: float = 90
    ) -> None:
        self.header = False

        def done() -> bool:
            self.watch_step()
            return until(status_of(self.emulator, self.namespace, self.name))

        await eventually(done, "the rollout to get there", operator, timeout=timeout)


def declared(emulator: KubeEmulator, namespace: str, name: str) -> dict[str, Any]:
    """What the operator declared of each Deployment (its spec), not what their pods report."""
    return {revision: d["spec"] for revision, d in deployments_of(emulator, namespace, name).items()}


def serving(revision: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        stable = (status.get("stable") or {}).get("revision")
        return status.get("phase") == "Healthy" and (revision is None or stable != revision)

    return check


async def main() -> int:
    if find_prometheus() is None:
        print(
            "the demo needs a `prometheus` binary on PATH (or $QWENOPS_PROMETHEUS) to judge the canaries:\n"
            "  `make demo` installs Debian's prometheus package first; elsewhere put any 2.x on PATH",
            file=sys.stderr,
        )
        return 2
    binary = find_kubectl()
    if binary is None:
        print("the demo runs the real kubectl: `make helm` fetches kubectl 1.35 into .cache/bin "
              "(or put one on PATH, or name it in $QWENOPS_KUBECTL)", file=sys.stderr)  # fmt: skip
        return 2
    manifest = demo_manifest()
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    with tempfile.TemporaryDirectory(prefix="qwenops-demo-") as workdir:
        async with (
            run_emulator(resources=NEW_CLUSTER, crds=()) as emulator,
            prometheus_running(Path(workdir) / "prometheus", scrape_interval="1s") as prometheus,
            pods_running(emulator, prometheus, ERROR_RATES),
        ):
            emulator.create_object("v1/namespaces", {"metadata": {"name": namespace}})
            manifest["spec"]["rollout"]["analysis"]["prometheus"] = {"url": prometheus.url}
            applied = Path(workdir) / "chat.yaml"
            applied.write_text(yaml.safe_dump(manifest, sort_keys=False))
            kubectl = Kubectl(binary, emulator.url, Path(workdir))
            operator = Operator(
                emulator.url, Path(workdir), resync_seconds=2, serving_image=DEFAULT_SERVING_IMAGE
            )
            say(f"emulated Kubernetes API at {emulator.url}, Prometheus at {prometheus.url}; "
                "starting `qwenops run -A --standalone`")  # fmt: skip
            await operator.start()
            try:
                async with aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session:
                    await story(emulator, operator, Client(session), kubectl, applied,
                                Screen(emulator, namespace, name))  # fmt: skip
            finally:
                await operator.stop()
    say("done: every status above was written by the operator, every verdict read from Prometheus")
    return 0


async def story(
    emulator: KubeEmulator, operator: Operator, client: Client, kubectl: Kubectl, applied: Path,
    screen: Screen,
) -> None:  # fmt: skip
    namespace, name = screen.namespace, screen.name
    say("the CRD first, as on a new cluster (every `$ kubectl` below is the real kubectl 1.35)")
    await kubectl("apply", "-f", str(REPO / "crds"), shown="kubectl apply -f crds/")
    await kubectl("wait", "--for=condition=Established", "crd/qwendeployments.qwenops.io", "--timeout=30s")
    say(f"{EXAMPLE.relative_to(REPO)}, with steps of 8s and readings every 2s over 10s")
    await kubectl("apply", "-f", str(applied), shown=f"kubectl apply -f {EXAMPLE.relative_to(REPO)}")
    await screen.follow(operator, serving())
    await kubectl("get", "qwd", "-n", namespace)
    await kubectl("qwen", "status", name, "-n", namespace)

    first = status_of(emulator, namespace, name)["stable"]["revision"]
    say(f"a good version: spec.model.revision -> {GOOD_COMMIT[:7]}: 25 %, then 50 %, each step held "
        "until its pause is over and Prometheus says every SLO holds")  # fmt: skip
    await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": GOOD_COMMIT}}})
    await screen.follow(
        operator, lambda s: (s.get("canary") or {}).get("step") == 1 and bool(s.get("analysis"))
    )
    say("mid-rollout, the plugin through kubectl; then the first step ended early by hand")
    await kubectl("qwen", "status", name, "-n", namespace)
    now = int(datetime.now(UTC).timestamp())
    await kubectl("annotate", "qwd", name, "-n", namespace, f"qwenops.io/promote={now}", "--overwrite",
                  shown=f'kubectl annotate qwd {name} -n {namespace} qwenops.io/promote="$(date +%s)" '
                  "--overwrite")
    await screen.follow(operator, serving(first))

    good = status_of(emulator, namespace, name)["stable"]["revision"]
    say(f"a bad version: spec.model.revision -> {BAD_COMMIT[:7]}, whose pods answer 20 % of requests "
        "with 500s against a 1 % SLO")  # fmt: skip
    await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": BAD_COMMIT}}})
    await screen.follow(operator, lambda s: s.get("phase") == "RolledBack")
    say(f"rolled back by itself; {good} kept serving throughout")
    await kubectl("qwen", "status", name, "-n", namespace)
    await kubectl("qwen", "history", name, "-n", namespace)

    say("a spec that slipped past the CRD (a branch instead of a commit) is refused; nothing running changes")
    before = declared(emulator, namespace, name)
    with emulator.without_schema(QWDS):  # as an older CRD without the pin's rule would store it
        await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": "main"}}})
    await screen.follow(operator, lambda s: s.get("phase") == "Degraded")
    unchanged = declared(emulator, namespace, name) == before
    print(f"Deployments unchanged: {unchanged}")
    await eventually(
        lambda: "InvalidSpec" in event_reasons(emulator, name), "the InvalidSpec event", operator
    )
    say("what it said, as events")
    await kubectl("describe", "qwd", name, "-n", namespace)
    if not unchanged:
        raise SystemExit("a refused spec changed a running Deployment")
    await full_pool(emulator, operator, client, namespace)


async def full_pool(emulator: KubeEmulator, operator: Operator, client: Client, namespace: str) -> None:
    """A second QwenDeployment on a pool of exactly its replicas' GPUs, rolled out within a budget."""
    name, replicas = "chat-pool", 4
    manifest = demo_manifest()
    manifest["metadata"]["name"] = name
    manifest["spec"]["replicas"] = replicas
    manifest["spec"]["rollout"] = {
        "budget": {"maxSurge": 0, "maxUnavailable": 1},
        "steps": [{"weight": 25, "pause": "4s"}, {"weight": 50, "pause": "4s"}],
    }
    say(f"a full GPU pool: {replicas} nodes of one GPU for {replicas} replicas, and a budget of "
        "maxSurge 0, maxUnavailable 1: the canary's pods replace the stable's, one at a time")  # fmt: skip
    emulator.add_nodes(replicas, gpus=1, labels={"gpu-pool": "h100"}, prefix="pool-node")
    screen = Screen(emulator, namespace, name)
    await client.apply_qwd(manifest)
    await screen.follow(operator, serving())
    first = status_of(emulator, namespace, name)["stable"]["revision"]
    say(f"kubectl apply, spec.model.revision -> {GOOD_COMMIT[:7]} on the full pool")
    await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": GOOD_COMMIT}}})
    await screen.follow(operator, serving(first))
    moments = [m for m in replay(emulator, namespace, name) if m.at > 0]
    start = next(i for i, m in enumerate(moments) if m.ready.get(first, 0) == replicas)
    rollout = moments[start:]
    print(f"GPUs requested at most: {max(m.requested for m in rollout)} of {replicas}; "
          f"ready serving pods at least: {min(m.serving() for m in rollout)}; "
          f"pods that waited for a GPU: {max(m.unschedulable for m in moments)}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
