"""`make demo`: the operator end to end with no cluster.

Starts the emulated Kubernetes API (tests/emulator.py) with a stand-in for the
Deployment controller that makes each new revision's pods ready a few seconds
after it appears (as if loading weights), runs the real operator against it,
and walks through: apply the README's example, upgrade the model, refuse a
bad spec.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from qwenops.config import DEFAULT_SERVING_IMAGE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.emulator import DEPLOYMENTS, KubeEmulator, run_emulator  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    EVENTS,
    SERVICES,
    Client,
    Operator,
    deployments_of,
    event_reasons,
    eventually,
    status_of,
)

EXAMPLE = REPO / "examples" / "chat.yaml"
LOAD_SECONDS = 3.0
NEW_COMMIT = "0f4d2a7c1e9b8a6d5c4b3a2918f7e6d5c4b3a291"


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


async def load_weights(emulator: KubeEmulator) -> None:
    """Each new Deployment becomes ready LOAD_SECONDS after it appears."""
    first_seen: dict[tuple[str, str], float] = {}
    loop = asyncio.get_running_loop()
    while True:
        for deployment in emulator.list_objects(DEPLOYMENTS):
            key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
            seen = first_seen.setdefault(key, loop.time())
            emulator.set_deployment_ready(*key, loop.time() - seen >= LOAD_SECONDS)
        await asyncio.sleep(0.2)


def get_line(emulator: KubeEmulator, namespace: str, name: str) -> str:
    status = status_of(emulator, namespace, name)
    canary = status.get("canary") or {}
    return (
        f"{name:<6} {(status.get('stable') or {}).get('revision', '<none>'):<11} "
        f"{canary.get('revision', '<none>'):<11} {canary.get('weight', '') if canary else '':<6} "
        f"{status.get('phase', ''):<12} {status.get('message', '')}"
    )


async def follow(emulator: KubeEmulator, operator: Operator, namespace: str, name: str, until: Any) -> None:
    """Print a `kubectl get qwd -w`-style line each time the status changes, until `until(status)`."""
    print(f"{'NAME':<6} {'STABLE':<11} {'CANARY':<11} {'WEIGHT':<6} {'PHASE':<12} MESSAGE")
    last = ""

    def changed() -> bool:
        nonlocal last
        line = get_line(emulator, namespace, name)
        if line != last:
            print(line, flush=True)
            last = line
        return bool(until(status_of(emulator, namespace, name)))

    await eventually(changed, "the rollout to settle", operator, timeout=60)


def show_children(emulator: KubeEmulator, namespace: str, name: str) -> None:
    for deployment in sorted(
        deployments_of(emulator, namespace, name).values(), key=lambda d: d["metadata"]["name"]
    ):
        meta, pod = deployment["metadata"], deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        startup = container["startupProbe"]
        ready = deployment.get("status", {}).get("readyReplicas", 0)
        print(f"Deployment {meta['name']}  track={meta['labels']['qwenops.io/track']}", end="")
        print(f"  replicas={deployment['spec']['replicas']}  ready={ready}")
        print(f"  image:   {container['image']}")
        print(f"  command: {' '.join(container['command'])}")
        print(f"  args:    {' '.join(container['args'])}")
        print(f"  gpus:    {container['resources']['limits']}  nodeSelector: {pod.get('nodeSelector', {})}")
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        print(f"  probes:  startup {startup['httpGet']['path']} (up to {budget}s), readiness /health")
    for service in emulator.list_objects(SERVICES):
        if service["metadata"]["namespace"] == namespace:
            print(f"Service {service['metadata']['name']:<12} selects {service['spec']['selector']}")


def show_status(emulator: KubeEmulator, namespace: str, name: str) -> None:
    status = dict(status_of(emulator, namespace, name))
    for revision in ("stable", "canary"):
        if revision in status:  # the pod fields are long; the revision and model say enough here
            status[revision] = {k: v for k, v in status[revision].items() if k in ("revision", "model")}
    print(yaml.safe_dump({"status": status}, sort_keys=False, width=120).rstrip())


def show_events(emulator: KubeEmulator, name: str) -> None:
    events = sorted(emulator.list_objects(EVENTS), key=lambda e: int(e["metadata"]["resourceVersion"]))
    for event in events:
        if (event.get("involvedObject") or {}).get("name") == name:
            print(f"  {event.get('type', ''):<8} {event.get('reason', ''):<16} {event.get('message', '')}")


async def main() -> None:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    # Minutes-long pauses and an in-cluster Prometheus do not fit a demo on a laptop:
    # seconds-long steps, judged by their pauses alone.
    manifest["spec"]["rollout"] = {"steps": [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]}
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    with tempfile.TemporaryDirectory(prefix="qwenops-demo-") as workdir:
        async with run_emulator() as emulator:
            emulator.create_object("v1/namespaces", {"metadata": {"name": namespace}})
            loader = asyncio.create_task(load_weights(emulator))
            operator = Operator(
                emulator.url, Path(workdir), resync_seconds=2, serving_image=DEFAULT_SERVING_IMAGE
            )
            say(f"emulated Kubernetes API at {emulator.url}; starting `qwenops run -A --standalone`")
            await operator.start()
            try:
                async with aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session:
                    client = Client(session)
                    await run_story(emulator, operator, client, manifest, namespace, name)
            finally:
                await operator.stop()
                loader.cancel()
    say("done: the operator made the Deployments and Services above and wrote every status you saw")


async def run_story(
    emulator: KubeEmulator, operator: Operator, client: Client, manifest: Any, namespace: str, name: str
) -> None:
    say(f"kubectl apply -f {EXAMPLE.relative_to(REPO)} (with the demo's short steps)")
    await client.apply_qwd(manifest)
    await follow(emulator, operator, namespace, name, lambda s: s.get("phase") == "Healthy")
    say("what the operator made")
    show_children(emulator, namespace, name)
    say(f"kubectl get qwd {name} -o yaml (status)")
    show_status(emulator, namespace, name)

    old = status_of(emulator, namespace, name)["stable"]["revision"]
    say(
        f"upgrade: spec.model.revision -> {NEW_COMMIT}: a canary at 25 %, then 50 %, 3s each, "
        "then promoted (the old revision serves throughout)"
    )
    await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": NEW_COMMIT}}})
    await follow(
        emulator, operator, namespace, name,
        lambda s: s.get("phase") == "Healthy" and (s.get("stable") or {}).get("revision") != old,
    )  # fmt: skip
    show_children(emulator, namespace, name)

    say("a spec that slipped past the CRD (a branch instead of a commit) is refused; nothing running changes")
    before = deployments_of(emulator, namespace, name)
    await client.patch_qwd(namespace, name, {"spec": {"model": {"revision": "main"}}})
    await follow(emulator, operator, namespace, name, lambda s: s.get("phase") == "Degraded")
    unchanged = deployments_of(emulator, namespace, name) == before
    print(f"Deployments unchanged: {unchanged}")
    await eventually(
        lambda: "InvalidSpec" in event_reasons(emulator, name), "the InvalidSpec event", operator
    )
    say(f"kubectl describe qwd {name} (events)")
    show_events(emulator, name)
    if not unchanged:
        raise SystemExit("a refused spec changed a running Deployment")


if __name__ == "__main__":
    asyncio.run(main())
