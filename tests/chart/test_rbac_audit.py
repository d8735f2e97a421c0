"""The chart's command line and RBAC, run: the real operator, started with the args and environment
the chart renders, against the emulated API (qwenops_testing.emulator), walks a QwenDeployment with an
HTTPRoute over InferencePools (a pool and an endpoint picker per revision, the old ones deleted at
promotion: every kind the operator writes) through a canary to promotion; every request it sent
must be one the rendered RBAC allows, in the namespace it was sent to. Cluster-wide and two-namespace installs run side by side.

This is the evidence behind tests/chart/operator_calls.py (which derives the calls from the code
without running it): what kopf and the operator really ask for. The emulator serves no
CustomResourceDefinitions, so kopf's CRD watch (granted, see operator_calls.KOPF_CALLS) is not
seen here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from qwenops_testing.cluster import status_of
from qwenops_testing.emulator import KubeEmulator, RecordedRequest, run_emulator, write_kubeconfig
from qwenops_testing.manifests import qwen_deployment
from qwenops_testing.ports import free_port
from tests.chart.fetch_helm import REPO
from tests.chart.helm import NAMESPACE, RELEASE, Helm, Manifest, container_env, operator_container
from tests.chart.rbac import allowed, grants

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
OTHER = "llm-staging"
MARK = "qwenops-chart-test"  # the test's own writes carry ?fieldManager=MARK; the operator's never do
ROUTE = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes"
QWDS = f"/apis/qwenops.io/v1alpha1/namespaces/{NS}/qwendeployments"
VERBS = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}


def verb_of(request: RecordedRequest) -> str:
    if request.method == "GET":
        if request.name is not None:
            return "get"
        return "watch" if request.query.get("watch") in ("true", "1") else "list"
    if request.method == "DELETE" and request.name is None:
        return "deletecollection"
    return VERBS[request.method]


def is_discovery(request: RecordedRequest) -> bool:
    """GET /api, /apis, /api/v1, /apis/<group>[/<version>]: system:discovery grants them to all."""
    parts = [p for p in request.path.split("/") if p]
    return request.method == "GET" and (
        parts in (["api"], ["apis"]) or (parts[:1] == ["api"] and len(parts) == 2) or
        (parts[:1] == ["apis"] and len(parts) in (2, 3))
    )  # fmt: skip


def group_resource(request: RecordedRequest) -> tuple[str, str]:
    assert request.resource is not None, request.path
    group_version, _, plural = request.resource.rpartition("/")
    group = group_version.rpartition("/")[0] if "/" in group_version else ""
    return group, f"{plural}/{request.subresource}" if request.subresource else plural


async def _call(session: aiohttp.ClientSession, method: str, path: str, body: Any, content: str) -> None:
    async with session.request(
        method, f"{path}?fieldManager={MARK}", json=body, headers={"Content-Type": content}
    ) as response:
        assert response.status < 400, f"{method} {path}: {response.status} {await response.text()}"


@contextlib.asynccontextmanager
async def operator(
    emulator: KubeEmulator, container: Manifest, workdir: Path, token: str | None = None
) -> AsyncIterator[int]:
    """`qwenops <the chart's args>` with the chart's environment (and a bearer `token`, the user the
    emulator's RBAC checks it as); yields its liveness port."""
    health = free_port()
    args = [
        f"--liveness=http://127.0.0.1:{health}/healthz" if a.startswith("--liveness=") else a
        for a in container["args"]
    ]
    env = container_env(container)
    env |= {"QWENOPS_RESYNC_SECONDS": "1", "QWENOPS_METRICS_PORT": "0"}  # fast, and no fixed port
    env |= {
        "PATH": os.environ.get("PATH", ""),
        "KUBECONFIG": str(write_kubeconfig(workdir / "kubeconfig", emulator.url, token=token)),
    }
    log = workdir / "operator.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "qwenops.cli", *args, env={**env, "PYTHONPATH": str(REPO / "operator")},
            stdout=output, stderr=output, cwd=REPO,
        )  # fmt: skip
    try:
        yield health
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until(check: Callable[[], bool], what: str, log: Path, timeout: float = 45) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            raise AssertionError(f"not seen within {timeout}s: {what}\n--- operator log ---\n{tail}")
        await asyncio.sleep(0.1)


async def walk_a_canary(
    emulator: KubeEmulator, objects: list[Manifest], workdir: Path, token: str | None = None
) -> list[RecordedRequest]:
    """Run the chart's operator through create, canary, HTTPRoute weights over InferencePools and
    promotion (`objects`: the chart's, its Deployment the one run; `token`: see :func:`operator`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "operator.log"
    for namespace in (NS, OTHER, NAMESPACE):  # the release's namespace holds the Lease
        if emulator.get_object("v1/namespaces", None, namespace) is None:
            emulator.create_object("v1/namespaces", {"metadata": {"name": namespace}})
    async with (
        operator(emulator, operator_container(objects), workdir, token) as health,
        aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
    ):
        route = {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gateway"}],
                     "rules": [{"backendRefs": [{"group": "inference.networking.k8s.io",
                                                 "kind": "InferencePool", "name": NAME}]}]},
        }  # fmt: skip
        await _call(session, "POST", ROUTE, route, "application/json")
        manifest = qwen_deployment(
            "a" * 40, namespace=NS, name=NAME, steps=[{"weight": 50, "pause": "1s"}],
            rollout={"trafficRouting": {"inferencePool": {
                "httpRoute": {"name": NAME}, "endpointPicker": {"run": {"image": "registry.example/epp:1"}},
            }}},
        )  # fmt: skip
        await _call(session, "POST", QWDS, manifest, "application/json")

        def healthy(commit: str) -> bool:
            status = status_of(emulator, NS, NAME)
            stable = (status.get("stable") or {}).get("model") or {}
            return status.get("phase") == "Healthy" and stable.get("revision") == commit

        await _until(lambda: healthy("a" * 40), "the first revision Healthy", log)
        patch = {"spec": {"model": {"revision": "c" * 40}}}
        await _call(session, "PATCH", f"{QWDS}/{NAME}", patch, "application/merge-patch+json")
        await _until(lambda: healthy("c" * 40), "the canary promoted", log)
        async with session.get(f"http://127.0.0.1:{health}/healthz") as probe:
            assert probe.status == 200, "kopf's liveness endpoint answers where the chart probes"
    return [r for r in emulator.request_log() if r.query.get("fieldManager") != MARK]


def refused(objects: list[Manifest], requests: list[RecordedRequest]) -> set[str]:
    found = grants(objects)
    denied = set()
    for request in requests:
        if is_discovery(request):
            continue
        group, resource = group_resource(request)
        verb = verb_of(request)
        if not allowed(found, group, resource, verb, request.namespace, request.name):
            denied.add(f"{verb} {group or 'core'}/{resource} in {request.namespace or '(cluster)'}")
    return denied


async def test_every_request_the_operator_sends_is_granted(helm: Helm, tmp_path: Path) -> None:
    cluster_wide = helm.template()
    namespaced = helm.template(sets={"watchNamespaces": f"{{{NS},{OTHER}}}"})
    # nested, not gathered: kmock's servers must close in the order they opened
    async with (
        run_emulator(deployments_become_available=True) as first,
        run_emulator(deployments_become_available=True) as second,
    ):
        seen = await asyncio.gather(
            walk_a_canary(first, cluster_wide, tmp_path / "cluster-wide"),
            walk_a_canary(second, namespaced, tmp_path / "namespaced"),
        )
    for objects, requests in zip((cluster_wide, namespaced), seen, strict=True):
        assert len(requests) > 20
        # the old revision's pool and its picker's Service went at promotion: those deletes were sent
        deleted = {group_resource(r)[1] for r in requests if verb_of(r) == "delete"}
        assert {"inferencepools", "services", "deployments"} <= deleted, deleted
        assert not refused(objects, requests)
    # the namespaced operator never looked beyond its namespaces (namespaces themselves aside), but
    # for its Lease in its own
    assert {r.namespace for r in seen[1] if r.resource and not is_discovery(r)} <= {
        NS,
        OTHER,
        NAMESPACE,
        None,
    }
    assert {r.resource for r in seen[1] if r.namespace == NAMESPACE} == {"coordination.k8s.io/v1/leases"}
    for requests in seen:  # it led, holding the Lease named after the release
        assert {r.name for r in requests if r.resource == "coordination.k8s.io/v1/leases"} >= {RELEASE}
    beyond = [
        r for r in seen[1] if r.namespace is None and not is_discovery(r) and r.resource != "v1/namespaces"
    ]
    assert not beyond
