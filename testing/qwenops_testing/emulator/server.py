"""Running the emulator: over HTTP in this process (:func:`run_emulator`), a kubeconfig for its
clients (:func:`write_kubeconfig`), or standalone until interrupted::

    python -m qwenops_testing.emulator --port 0 --kubeconfig PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kmock
import yaml

from qwenops.api.crd import build_crd
from qwenops_testing.emulator.api import KubeEmulator
from qwenops_testing.emulator.resources import (
    CRD_RESOURCE,
    DEFAULT_RESOURCES,
    NAMESPACES,
    PLATFORM_RESOURCES,
    ResourceSpec,
)

DEFAULT_NAMESPACES = ("default",)
"""The namespaces a new emulator has, as a new cluster has ``default`` (the suites make their own)."""


def default_crds() -> tuple[dict[str, Any], ...]:
    """The CRDs a new emulator admits by: the operator's QwenDeployment, as generated."""
    return (build_crd(),)


@contextlib.asynccontextmanager
async def run_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    resources: Iterable[ResourceSpec] = DEFAULT_RESOURCES,
    crds: Iterable[Mapping[str, Any]] | None = None,
    namespaces: Iterable[str] = DEFAULT_NAMESPACES,
    deployments_become_available: bool = False,
) -> AsyncIterator[KubeEmulator]:
    """Serve a :class:`KubeEmulator` over HTTP; ``emulator.url`` is where (port 0: any free one).

    `crds` (None: :func:`default_crds`) are installed after `resources` are declared; the
    `namespaces` exist from the start.
    """
    emulator = KubeEmulator()
    emulator.declare(*resources)
    for crd in default_crds() if crds is None else crds:
        emulator.install_crd(crd)
    for namespace in namespaces:
        emulator.create_object(NAMESPACES, {"metadata": {"name": namespace}})
    emulator.deployments_become_available = deployments_become_available
    async with emulator, kmock.Server(emulator, host=host, port=port or None):
        emulator.start_controllers()
        try:
            yield emulator
        finally:
            await emulator.stop_controllers()
            emulator.close()
            await asyncio.sleep(0)  # let the watch streams see it and end


def kubeconfig(url: str, *, namespace: str = "default", token: str | None = None) -> dict[str, Any]:
    """A kubeconfig for the emulator: plain http, no credentials but a bearer `token` if given
    (a user the emulator's RBAC checks: :meth:`KubeEmulator.enforce_rbac`)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": str(url).rstrip("/")}}],
        "users": [{"name": "emulator", "user": {"token": token} if token else {}}],
        "contexts": [{"name": "emulator", "context": {
            "cluster": "emulator", "user": "emulator", "namespace": namespace}}],
        "current-context": "emulator",
        "preferences": {},
    }


def write_kubeconfig(
    path: str | Path, url: object, *, namespace: str = "default", token: str | None = None
) -> Path:
    """Write :func:`kubeconfig` to ``path`` (for ``KUBECONFIG=path kopf run ...``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(str(url), namespace=namespace, token=token), sort_keys=False))
    return target


async def _serve_forever(args: argparse.Namespace) -> None:
    specs = [*DEFAULT_RESOURCES, *(ResourceSpec.parse(text) for text in args.resources)]
    if args.platform:
        specs += PLATFORM_RESOURCES
    elif args.serve_crds:
        specs.append(CRD_RESOURCE)
    if args.without_crds:  # a new cluster: the QwenDeployment resource comes with its CRD
        specs = [spec for spec in specs if spec.group != "qwenops.io"]
    async with run_emulator(
        args.host,
        args.port,
        resources=specs,
        crds=() if args.without_crds else None,
        namespaces=[*DEFAULT_NAMESPACES, *args.namespaces],
        deployments_become_available=not args.no_deployments_available,
    ) as emulator:
        url = str(emulator.url).rstrip("/")
        if args.kubeconfig:
            write_kubeconfig(args.kubeconfig, url)
        print(url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m qwenops_testing.emulator",
        description="Run the emulated Kubernetes API until interrupted; prints its URL first.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument(
        "--resources",
        nargs="*",
        default=[],
        metavar="SPEC",
        help="more resources: [group/]version/plural[:Kind][:cluster][:status]",
    )
    parser.add_argument(
        "--namespaces",
        nargs="*",
        default=[],
        metavar="NAME",
        help="namespaces to create besides default (objects are created only in existing ones)",
    )
    parser.add_argument(
        "--serve-crds", action="store_true",
        help="serve CustomResourceDefinitions as objects (for kubectl apply -f crds/)",
    )
    parser.add_argument(
        "--platform", action="store_true",
        help="also serve what `helm install` of the chart writes (RBAC, ServiceAccounts, ConfigMaps, "
        "Secrets, NetworkPolicies, the Prometheus Operator's kinds) and CRDs",
    )
    parser.add_argument(
        "--without-crds", action="store_true",
        help="install no CRD: QwenDeployments are served once their CRD is written (with --platform)",
    )
    parser.add_argument(
        "--no-deployments-available", action="store_true",
        help="leave Deployment status alone (by default they become available, as in a demo)",
    )
    asyncio.run(_serve_forever(parser.parse_args(argv)))
