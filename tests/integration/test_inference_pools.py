"""Canaries over two InferencePools end to end: the real operator, the emulated API, a real
Prometheus scraping simulated vLLM pods. The HTTPRoute is the test's (a person's): the operator
keeps one InferencePool per revision and the weights of the route's backendRefs that name them,
and every version of the route and of each pool the store kept is checked against their schemas."""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from images.serving.vllm_sim import Simulator, run_simulator
from qwenops_testing.cluster import Client, deployments_of, status_of
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from qwenops_testing.ports import free_port
from qwenops_testing.prometheus import Target, prometheus_running, revision_labels
from tests.gateway_schemas import schema_errors

pytestmark = pytest.mark.integration

NS, NAME, ROUTE = "llm", "chat", "front"
STABLE_COMMIT, CANARY_COMMIT, THIRD_COMMIT = "a" * 40, "c" * 40, "e" * 40
ROUTES = "gateway.networking.k8s.io/v1/httproutes"
POOLS = "inference.networking.k8s.io/v1/inferencepools"
POOL_REF = {"group": "inference.networking.k8s.io", "kind": "InferencePool"}
PICKER_RUN = {"run": {"image": "registry.example/epp:1"}}
PICKER_SERVICE = {"service": {"name": "shared-epp", "port": 9002}}
USERS_RULE = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/legacy"}}],
    "backendRefs": [{"name": "legacy", "port": 80}],
}


def manifest(commit: str, prometheus_url: str, picker: dict[str, Any]) -> dict[str, Any]:
    return qwen_deployment(
        commit,
        replicas=2,
        steps=[{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}],
        analysis={
            "prometheus": {"url": prometheus_url}, "interval": "2s", "window": "10s", "minRequests": 20,
            "failureLimit": 2, "slos": {"maxErrorRate": 0.05, "p95LatencySeconds": 2.0},
        },
        rollout={"trafficRouting": {"inferencePool": {"httpRoute": {"name": ROUTE}, "endpointPicker": picker}}},
    )  # fmt: skip


def revision(commit: str) -> str:
    return expected_revision(manifest(commit, "http://x", PICKER_RUN))


def pool(commit: str) -> str:
    return f"{NAME}-{revision(commit)}"


@dataclass
class Stack:
    emulator: KubeEmulator
    client: Client
    operator: Operator
    prometheus_url: str
    canary: Simulator
    weights: list[dict[str, int]]
    """Each distinct set of pool weights the route's rule carried, in order."""

    def status(self) -> dict[str, Any]:
        return status_of(self.emulator, NS, NAME)

    def route(self) -> dict[str, Any]:
        found = self.emulator.get_object(ROUTES, NS, ROUTE)
        assert found is not None
        return found

    def pool_weights(self) -> dict[str, int]:
        """The route's InferencePool backendRefs and their weights, remembered when they change."""
        refs = self.route()["spec"]["rules"][0]["backendRefs"]
        found = {ref["name"]: ref.get("weight", 1) for ref in refs if ref.get("kind") == "InferencePool"}
        if not self.weights or self.weights[-1] != found:
            self.weights.append(found)
        return found

    def route_history(self) -> list[dict[str, int]]:
        """Each distinct set of pool weights the route's rule carried, in order, from every version
        of the route the store kept (none missed between two looks)."""
        found: list[dict[str, int]] = []
        for version in self.emulator.versions(ROUTES, NS, ROUTE):
            refs = version["spec"]["rules"][0]["backendRefs"]
            weights = {r["name"]: r.get("weight", 1) for r in refs if r.get("kind") == "InferencePool"}
            if not found or found[-1] != weights:
                found.append(weights)
        return found

    def pools(self) -> set[str]:
        return {p["metadata"]["name"] for p in self.emulator.list_objects(POOLS) if p["metadata"]["namespace"] == NS}

    async def serve(self, commit: str, picker: dict[str, Any]) -> None:
        await self.client.apply_qwd(manifest(commit, self.prometheus_url, picker))

    async def upgrade(self, commit: str) -> None:
        await self.client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": commit}}})

    async def serve_stable(self, picker: dict[str, Any]) -> None:
        """The stable revision Healthy, the route's placeholder replaced by its pool alone; the
        weights remembered from then on."""
        alone = {pool(STABLE_COMMIT): 100}
        await self.serve(STABLE_COMMIT, picker)
        await self.until(lambda: self.status().get("phase") == "Healthy" and self.pool_weights() == alone,
                         "the stable Healthy, its pool alone")  # fmt: skip
        assert self.weights[0] == {NAME: 1}  # the placeholder, as the person wrote it
        self.weights[:] = [alone]

    async def until(self, done: Any, what: str, timeout: float = 90) -> None:
        def check() -> bool:
            self.pool_weights()
            return bool(done())

        await eventually(check, what, self.operator, timeout=timeout)

    def check_schemas(self) -> None:
        """Every version of the route and of each pool the store kept is one the API would take."""
        names = {p for w in self.weights for p in w} | self.pools()
        stored = [*self.emulator.versions(ROUTES, NS, ROUTE)]
        for name in names:
            stored += self.emulator.versions(POOLS, NS, name)
        assert stored
        for version in stored:
            clean = {k: plain(v) for k, v in version.items() if k != "status"}
            assert schema_errors(clean) == [], version["metadata"]["name"]
            if version["kind"] == "HTTPRoute":
                assert version["spec"]["rules"][1] == USERS_RULE  # the user's rule, never touched


def plain(value: Any) -> Any:
    """A stored object as JSON reads it: mappings and lists of the store's own types made plain."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def target(simulator: Simulator, commit: str) -> Target:
    return Target(simulator.url.removeprefix("http://"), revision_labels(NS, NAME, revision(commit)))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with (
        run_emulator(deployments_become_available=True) as emulator,
        run_simulator(model_name="qwen", revision=revision(STABLE_COMMIT), seed=1, rps=20, sleep=False) as stable,
        run_simulator(model_name="qwen", revision=revision(CANARY_COMMIT), seed=2, rps=20, sleep=False) as canary,
        prometheus_running(
            tmp_path / "prometheus",
            targets=[target(stable, STABLE_COMMIT), target(canary, CANARY_COMMIT)],
            scrape_interval="1s",
        ) as prometheus,
        aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
    ):  # fmt: skip
        emulator.create_object("v1/namespaces", {"metadata": {"name": NS}})
        client = Client(session)
        # A person's route: the placeholder pool `<name>` marks the rule the operator weighs.
        await client.call("POST", f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes", {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": ROUTE, "namespace": NS},
            "spec": {"parentRefs": [{"name": "inference-gateway"}],
                     "rules": [{"backendRefs": [{**POOL_REF, "name": NAME}]}, USERS_RULE]},
        })  # fmt: skip
        await prometheus.wait_for_targets(2)
        operator = Operator(emulator.url, tmp_path, resync_seconds=1, metrics_port=free_port())
        await operator.start()
        try:
            yield Stack(emulator, client, operator, prometheus.url, canary, [])
        finally:
            await operator.stop()


async def test_a_canary_over_two_pools_is_promoted_and_the_old_pool_goes(stack: Stack) -> None:
    old, new = pool(STABLE_COMMIT), pool(CANARY_COMMIT)
    await stack.serve_stable(PICKER_RUN)
    assert stack.pools() == {old}
    picker = stack.emulator.get_object("apps/v1/deployments", NS, f"{old}-epp")
    assert picker is not None and picker["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/epp:1"

    await stack.upgrade(CANARY_COMMIT)
    steps_seen: list[tuple[int, dict[str, int]]] = []

    def promoted() -> bool:
        status = stack.status()
        canary = status.get("canary") or {}
        if "stepStartedAt" in canary and not canary.get("promoting"):
            # A step counts once the route carries its weight: at every step it is exact.
            carried = stack.pool_weights()
            if carried.get(new) == canary["weight"] and (canary["weight"], carried) not in steps_seen:
                steps_seen.append((canary["weight"], carried))
        return (status.get("stable") or {}).get("revision") == revision(CANARY_COMMIT)

    await stack.until(promoted, "the canary promoted")
    await stack.until(lambda: stack.pool_weights() == {new: 100} and stack.pools() == {new}, "the old pool gone")
    assert steps_seen == [(25, {old: 75, new: 25}), (50, {old: 50, new: 50})]
    # Every weight the route carried, in order: the placeholder a person wrote, the stable's pool
    # alone, the canary at 0 until its pods are ready, each step (the last one's kept while the canary
    # grows to full size), then the promoted revision's pool alone.
    assert stack.route_history() == [
        {NAME: 1}, {old: 100}, {old: 100, new: 0}, {old: 75, new: 25}, {old: 50, new: 50}, {new: 100},
    ]
    assert set(deployments_of(stack.emulator, NS, NAME)) == {revision(CANARY_COMMIT)}
    assert stack.emulator.get_object("apps/v1/deployments", NS, f"{old}-epp") is None
    assert stack.emulator.get_object("v1/services", NS, old) is None
    assert stack.emulator.get_object("v1/services", NS, new) is not None
    stack.check_schemas()


async def test_a_canary_over_two_pools_is_rolled_back_and_its_pool_goes_with_its_deployment(stack: Stack) -> None:
    old, bad, third = pool(STABLE_COMMIT), pool(CANARY_COMMIT), pool(THIRD_COMMIT)
    stack.canary.configure(error_rate=0.5)
    await stack.serve_stable(PICKER_SERVICE)
    await stack.upgrade(CANARY_COMMIT)
    await stack.until(lambda: stack.status().get("phase") == "RolledBack", "rolled back")
    await stack.until(lambda: stack.pool_weights() == {old: 100}, "the route back to the stable's pool alone")
    # The canary's step was routed before it failed; at the rollback the route went back at once.
    assert stack.route_history() == [{NAME: 1}, {old: 100}, {old: 100, bad: 0}, {old: 75, bad: 25}, {old: 100}]
    assert stack.status()["rejectedRevision"] == revision(CANARY_COMMIT)
    # The rejected revision's Deployment stays at 0 pods (the rollback is recorded on it), its pool too.
    assert stack.pools() == {old, bad}
    refs = {p["metadata"]["name"]: p["spec"]["endpointPickerRef"] for p in stack.emulator.list_objects(POOLS)}
    assert refs[bad] == {"kind": "Service", "name": "shared-epp", "port": {"number": 9002}, "failureMode": "FailClose"}

    await stack.upgrade(THIRD_COMMIT)  # a new version drops the rejected one
    await stack.until(lambda: bad not in stack.pools() and third in stack.pools(), "the rejected pool gone")
    assert revision(CANARY_COMMIT) not in deployments_of(stack.emulator, NS, NAME)
    stack.check_schemas()
