"""The emulator's RBAC authorizer (rbac.py): what the stored Roles and ClusterRoles bound to a
token's user allow passes, anything else is the API server's 403; requests without a known token
are not checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from qwenops_testing.emulator import DEFAULT_RESOURCES, PLATFORM_RESOURCES, KubeEmulator, run_emulator

RBAC = "rbac.authorization.k8s.io/v1"
USER = "system:serviceaccount:ops:bot"
TOKEN = "bot-token"


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[tuple[KubeEmulator, aiohttp.ClientSession]]:
    async with (
        run_emulator(resources=[*DEFAULT_RESOURCES, *PLATFORM_RESOURCES], namespaces=("ops", "llm", "other"))
        as emulator,
        aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session,
    ):  # fmt: skip
        emulator.create_object(f"{RBAC}/roles", {"metadata": {"name": "reader"}, "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["services"], "verbs": ["delete"], "resourceNames": ["web"]},
        ]}, namespace="llm")  # fmt: skip
        emulator.create_object(f"{RBAC}/rolebindings", {
            "metadata": {"name": "reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                        "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}]}, namespace="llm")  # fmt: skip
        emulator.create_object(f"{RBAC}/clusterroles", {
            "metadata": {"name": "aggregate"}, "rules": [],
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-bot": "true"}}]}})  # fmt: skip
        emulator.create_object(f"{RBAC}/clusterroles", {
            "metadata": {"name": "part", "labels": {"to-bot": "true"}},
            "rules": [{"apiGroups": ["qwenops.io"], "resources": ["qwendeployments/status"], "verbs": ["patch"]}]})
        emulator.create_object(f"{RBAC}/clusterrolebindings", {
            "metadata": {"name": "aggregate"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                           "kind": "ClusterRole", "name": "aggregate"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:ops"}]})  # fmt: skip
        emulator.enforce_rbac({TOKEN: USER})
        yield emulator, session


async def call(session: aiohttp.ClientSession, method: str, path: str, token: str | None = TOKEN,
               body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:  # fmt: skip
    headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {token}"} if token else {})
    async with session.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_a_role_allows_its_verbs_in_its_namespace_only(
    cluster: tuple[KubeEmulator, aiohttp.ClientSession],
) -> None:
    emulator, session = cluster
    assert (await call(session, "GET", "/apis/apps/v1/namespaces/llm/deployments"))[0] == 200
    status, answer = await call(session, "GET", "/apis/apps/v1/namespaces/other/deployments")
    assert (status, answer["reason"]) == (403, "Forbidden")
    assert answer["message"] == (f'deployments.apps is forbidden: User "{USER}" cannot list resource '
                                 '"deployments" in API group "apps" in the namespace "other"')  # fmt: skip
    status, answer = await call(session, "GET", "/apis/apps/v1/deployments")  # across namespaces
    assert status == 403 and answer["message"].endswith("at the cluster scope")
    deployment = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                  "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}}
    status, answer = await call(session, "POST", "/apis/apps/v1/namespaces/llm/deployments", body=deployment)
    assert status == 403 and 'cannot create resource "deployments"' in answer["message"]
    assert emulator.get_object("apps/v1/deployments", "llm", "web") is None
    assert (await call(session, "POST", "/apis/apps/v1/namespaces/llm/deployments", None, deployment))[0] == 201
    assert len(emulator.authorizer.denied if emulator.authorizer else []) == 3


async def test_resource_names_subresources_aggregation_and_discovery(
    cluster: tuple[KubeEmulator, aiohttp.ClientSession],
) -> None:
    emulator, session = cluster
    for name in ("web", "db"):
        emulator.create_object("v1/services", {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}},
                               namespace="llm")  # fmt: skip
    status, answer = await call(session, "DELETE", "/api/v1/namespaces/llm/services/db")
    assert status == 403 and answer["message"].startswith('services "db" is forbidden')
    assert (await call(session, "DELETE", "/api/v1/namespaces/llm/services/web"))[0] == 200
    qwds = "/apis/qwenops.io/v1alpha1/namespaces/llm/qwendeployments"
    status, answer = await call(session, "PATCH", f"{qwds}/chat/status", body={"status": {}},
                                content_type="application/merge-patch+json")  # fmt: skip
    assert status == 404  # allowed by the aggregated rule: then not found, as there is no such object
    status, answer = await call(session, "PATCH", f"{qwds}/chat", body={"spec": {}},
                                content_type="application/merge-patch+json")  # fmt: skip
    assert status == 403 and 'cannot patch resource "qwendeployments" in API group' in answer["message"]
    assert (await call(session, "GET", "/apis/apps/v1"))[0] == 200
    assert (await call(session, "GET", "/api/v1", token="someone-else"))[0] == 200
