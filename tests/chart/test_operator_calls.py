"""The derivation behind the RBAC tests (operator_calls.py) sees a call it has not seen before, and
says so where the code holds the client in a way it could not follow.

Each test hands it a small module written here, as a new piece of the operator would be.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chart.client_sends import KUBE, UnresolvedCallError
from tests.chart.helm import Manifest
from tests.chart.operator_calls import (
    PACKAGE,
    ApiCall,
    convention_breaks,
    operator_calls,
    operator_modules,
    reconcile_calls,
)
from tests.chart.rbac import allowed, grants

BLOCKS_OWNER_DELETION = ("qwenops.io", "qwendeployments/finalizers", "update")
"""What writing a child whose ownerReference sets blockOwnerDeletion asks (owner_references.py)."""


def module(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "new_piece.py"
    path.write_text(
        "from qwenops.io import kube\nfrom qwenops.render import desired\n\n" + textwrap.dedent(source)
    )
    return path


def verbs(calls: set[ApiCall]) -> set[tuple[str, str, str]]:
    return {(c.group, c.resource, c.verb) for c in calls}


def test_the_operator_modules_are_found_through_the_folders() -> None:
    found = {path.relative_to(PACKAGE).as_posix() for path in operator_modules()}
    assert {
        "controller/handlers.py",
        "controller/triggers.py",
        "controller/reconcile.py",
        "io/kube.py",
        "render/desired.py",
    } <= found
    assert "kubectl/plugin.py" not in found  # kubectl qwen runs with the user's rights, not the chart's
    assert KUBE.is_file()


def test_the_operator_holds_the_client_as_the_derivation_expects() -> None:
    assert [problem for path in operator_modules() for problem in convention_breaks(path)] == []


def test_a_new_call_is_derived_and_the_chart_does_not_grant_it(
    tmp_path: Path, render: Callable[[str], list[Manifest]]
) -> None:
    path = module(
        tmp_path,
        """
        async def sweep(client: kube.KubeClient, namespace: str, name: str) -> None:
            await client.delete(kube.PODS, namespace, name)
        """,
    )
    new = reconcile_calls([path])
    assert verbs(new) == {("", "pods", "delete")}
    granted = grants(render("defaults"))
    cluster_wide = {c for c in new | operator_calls() if c.when == "always"}  # as test_rbac requires them
    missing = [c for c in cluster_wide if not allowed(granted, c.group, c.resource, c.verb, None)]
    assert [(c.resource, c.verb) for c in missing] == [("pods", "delete")]


@pytest.mark.parametrize(
    ("source", "derived"),
    [
        (
            """
            class Sweeper:
                def __init__(self, client: kube.KubeClient) -> None:
                    self.client = client

                async def sweep(self) -> None:
                    await self.client.patch(kube.PODS, "ns", "name", {})
            """,
            {("", "pods", "patch")},
        ),
        (
            """
            async def apply(client: kube.KubeClient, owner: desired.Owner) -> None:
                for service in desired.desired_services(owner, stable="a", canary=None):
                    await client.ensure(service, None, known=True)
            """,
            {("", "services", "create"), ("", "services", "patch"), BLOCKS_OWNER_DELETION},
        ),
        (
            """
            async def apply(client: kube.KubeClient, owner: desired.Owner) -> None:
                for service in desired.desired_services(owner, stable="a", canary=None):
                    await client.ensure(service)
            """,
            {("", "services", "get"), ("", "services", "create"), ("", "services", "patch"),
             BLOCKS_OWNER_DELETION},
        ),
        (
            """
            async def status(client: kube.KubeClient) -> None:
                await client.patch_status(kube.QWENDEPLOYMENTS, "ns", "name", {}, "1")
            """,
            {("qwenops.io", "qwendeployments/status", "patch")},
        ),
        (
            """
            WHERE = {"HTTPRoute": kube.HTTPROUTES, "Pod": kube.PODS}

            async def read(client: kube.KubeClient, kind: str) -> None:
                await client.get(WHERE[kind], "ns", "name")
            """,
            {("gateway.networking.k8s.io", "httproutes", "get"), ("", "pods", "get")},
        ),
    ],
    ids=[
        "through self.client",
        "ensure of a known object",
        "ensure reads first",
        "a subresource",
        "a table of resources",
    ],
)
def test_calls_through_the_client_are_derived(
    tmp_path: Path, source: str, derived: set[tuple[str, str, str]]
) -> None:
    assert verbs(reconcile_calls([module(tmp_path, source)])) == derived


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            """
            async def sweep(api: kube.KubeClient) -> None:
                await api.delete(kube.SERVICES, "ns", "name")
            """,
            "parameter 'api' holds the client: name it 'client'",
        ),
        (
            """
            class Sweeper:
                api: kube.Kube | None = None
            """,
            "'api' holds the client: name it 'client'",
        ),
        (
            """
            async def sweep(client: kube.KubeClient) -> None:
                api = client
                await api.ensure({"apiVersion": "v1", "kind": "Service"})
            """,
            "the client bound to another name",
        ),
        (
            """
            async def sweep() -> None:
                await kube.delete(kube.SERVICES, "ns", "name")
            """,
            "kube.delete() is no function: call it as client.delete()",
        ),
        (
            """
            async def sweep(registry: dict[str, object]) -> None:
                await registry.get(kube.SERVICES, "ns", "name")
            """,
            "registry.get() is handed a kube resource",
        ),
        (
            """
            from qwenops.io.kube import KubeClient
            """,
            "import the module",
        ),
        (
            """
            async def apply(client: kube.KubeClient) -> None:
                await client.ensure({"apiVersion": "v1", "kind": "Secret"})
            """,
            "cannot tell which kind of object this call writes",
        ),
        (
            """
            async def read(client: kube.KubeClient, resource: kube.Resource) -> None:
                await client.get(resource, "ns", "name")
            """,
            "the resource is not a kube.<RESOURCE> constant",
        ),
    ],
    ids=[
        "a parameter named otherwise",
        "an attribute named otherwise",
        "the client under another name",
        "a module function that is gone",
        "a resource handed to something else",
        "the class imported",
        "a manifest of unknown kind",
        "a resource in a variable",
    ],
)
def test_what_the_derivation_cannot_follow_is_reported(tmp_path: Path, source: str, said: str) -> None:
    path = module(tmp_path, source)
    with pytest.raises(UnresolvedCallError, match=f"new_piece.py:[0-9]+.*{re.escape(said)}"):
        reconcile_calls([path])
