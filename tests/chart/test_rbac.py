"""Least privilege: the chart grants exactly the API calls the operator makes (operator_calls.py
derives them from the code), cluster-wide or in the watched namespaces only, never a wildcard, and
no Secret but `get` on the names `prometheus.secretNames` lists."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.helm import NAMESPACE, Helm, Manifest, of_kind, one
from tests.chart.operator_calls import KOPF_CALLS, ApiCall, operator_calls
from tests.chart.owner_references import owner_finalizers, rendered_children
from tests.chart.rbac import Grant, allowed, granted_triples, grants

DANGEROUS_VERBS = {"escalate", "bind", "impersonate", "*"}
NEVER = {"pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy",
         "nodes/proxy", "serviceaccounts/token", "tokenreviews", "subjectaccessreviews"}  # fmt: skip


def _by_name(objects: list[Manifest]) -> list[Grant]:
    """The grants on Secrets by name (the Lease's, also by name, are not these)."""
    return [g for g in grants(objects) if g.resource_names and "secrets" in g.resources]


def _required(namespaced: bool) -> set[ApiCall]:
    return {c for c in operator_calls() if c.when == "always" or (namespaced and c.when == "namespaced")}


def _cluster_scoped_resources() -> set[tuple[str, str]]:
    return {(c.group, c.resource) for c in operator_calls() if c.cluster_scoped}


def _own(calls: set[tuple[str | None, str, str, str]]) -> set[tuple[str | None, str, str, str]]:
    """Of (namespace, group, resource, verb) granted, those of the calls made in the operator's own
    namespace (its Lease): tested apart, in test_the_lease_is_granted_in_the_release_namespace_only."""
    own = {(c.group, c.resource) for c in operator_calls() if c.when == "own"}
    return {t for t in calls if t[0] == NAMESPACE and t[1:3] in own}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_no_wildcard_no_secret_no_escalation(name: str, render: Callable[[str], list[Manifest]]) -> None:
    roles = of_kind(render(name), "Role") + of_kind(render(name), "ClusterRole")
    assert bool(roles) is (name != "no-rbac"), "rbac.create=false renders no role"
    for role in roles:
        for rule in role["rules"]:
            where = f"{role['kind']} {role['metadata']['name']}: {rule}"
            for key in ("apiGroups", "resources", "verbs"):
                assert rule.get(key), where
                assert not any("*" in value for value in rule[key]), where
            assert "nonResourceURLs" not in rule, where
            assert not set(rule["resources"]) & NEVER, where
            assert not set(rule["verbs"]) & DANGEROUS_VERBS, where
            if "secrets" in rule["resources"]:  # by name only, as listed, read only
                assert rule["resources"] == ["secrets"] and rule["verbs"] == ["get"], where
                assert rule.get("resourceNames"), where


def test_the_derivation_sees_what_the_operator_does() -> None:
    """Guards the derivation itself: these calls are known from the code as it is today."""
    calls = {(c.group, c.resource, c.verb) for c in operator_calls()}
    assert {
        ("qwenops.io", "qwendeployments", "get"),
        ("qwenops.io", "qwendeployments", "watch"),
        ("qwenops.io", "qwendeployments", "patch"),
        ("qwenops.io", "qwendeployments/status", "patch"),
        ("apps", "deployments", "create"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "delete"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "services", "create"),
        ("gateway.networking.k8s.io", "httproutes", "patch"),
        ("inference.networking.k8s.io", "inferencepools", "create"),
        ("inference.networking.k8s.io", "inferencepools", "delete"),
        ("", "events", "create"),
        ("qwenops.io", "qwendeployments/finalizers", "update"),  # the children's blockOwnerDeletion
    } <= calls
    # A child missing from the labelled list is read by name (another owner may hold the name):
    # the derivation follows `CHILDREN[kind]` to both kinds. Nothing writes a Pod.
    assert not {c for c in calls if c[1] == "pods" and c[2] not in ("list", "watch")}
    secrets = {c for c in operator_calls() if c.resource == "secrets"}
    assert {(c.verb, c.when) for c in secrets} == {("get", "named")}, "a Secret is only ever read by name"


@pytest.mark.parametrize("name", ["defaults", "platform"])
def test_cluster_wide_grants_exactly_what_the_operator_does(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    """The chart's own ServiceAccount, or the existing one it is given (`platform`)."""
    objects = render(name)
    found = [g for g in grants(objects) if not g.resource_names]
    required = _required(namespaced=False)
    missing = [c for c in sorted(required) if not allowed(found, c.group, c.resource, c.verb, None)]
    assert not missing, "the operator makes calls the chart does not grant:\n" + "\n".join(
        f"  {c.verb} {c.group or 'core'}/{c.resource}  ({c.why})" for c in missing
    )
    granted = granted_triples(found)
    granted -= _own(granted)
    assert {t[0] for t in granted} == {None}, "cluster-wide: one ClusterRole, bound cluster-wide"
    extra = {t[1:] for t in granted} - {(c.group, c.resource, c.verb) for c in required}
    assert not extra, f"granted but never used: {sorted(extra)}"


def test_watched_namespaces_get_roles_and_nothing_namespaced_cluster_wide(
    render: Callable[[str], list[Manifest]],
) -> None:
    objects = render("everything")
    watched = ["a", "b"]
    found = [g for g in grants(objects) if not g.resource_names]
    required = _required(namespaced=True)
    cluster_scoped = _cluster_scoped_resources()
    watching = [r for r in of_kind(objects, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in watching) == watched
    bindings = [
        b for b in of_kind(objects, "RoleBinding") if not b["metadata"]["name"].endswith("-leader-election")
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == watched
    for call in sorted(required):
        if call.cluster_scoped:
            assert allowed(found, call.group, call.resource, call.verb, None), call
            continue
        for namespace in watched:
            assert allowed(found, call.group, call.resource, call.verb, namespace), (namespace, call)
        assert not allowed(found, call.group, call.resource, call.verb, "qwenops"), call
        assert not allowed(found, call.group, call.resource, call.verb, None), f"cluster-wide: {call}"
    for grant in found:
        if grant.namespace is None:  # the release's namespace "qwenops" is no watched one
            for group in grant.api_groups:
                for resource in grant.resources:
                    assert (group, resource) in cluster_scoped, f"{grant.source} grants namespaced {resource}"
    granted = granted_triples(found)
    granted -= _own(granted)
    expected = {(None, c.group, c.resource, c.verb) for c in required if c.cluster_scoped} | {
        (namespace, c.group, c.resource, c.verb)
        for c in required
        if not c.cluster_scoped
        for namespace in watched
    }
    assert granted == expected


@pytest.mark.parametrize(("name", "namespaces"), [("defaults", [None]), ("everything", ["a", "b"])])
def test_children_that_block_their_owners_deletion_are_granted_it(
    name: str, namespaces: list[str | None], render: Callable[[str], list[Manifest]]
) -> None:
    """With OwnerReferencesPermissionEnforcement (OpenShift's default) a child whose ownerReference
    sets blockOwnerDeletion is refused unless its writer may `update` the owner's `finalizers`."""
    children = rendered_children()
    assert {child["kind"] for child in children} == {"Deployment", "Service", "InferencePool"}
    needed = owner_finalizers(children)
    found = grants(render(name))
    for (group, resource), child in needed.items():
        for namespace in namespaces:
            assert allowed(found, group, resource, "update", namespace), (
                f"{child} sets blockOwnerDeletion: the chart must grant update on {group}/{resource}"
                f" (in {namespace or 'every namespace'})"
            )
    granted = {(g, r, verb) for _, g, r, verb in granted_triples(found) if r.endswith("/finalizers")}
    assert granted == {(g, r, "update") for g, r in needed}, "a finalizers grant no rendered child needs"


def test_kopf_needs_are_cluster_scoped_reads() -> None:
    for call in KOPF_CALLS:
        assert call.cluster_scoped and call.verb in ("list", "watch")


def test_no_kopf_peering_is_granted(render: Callable[[str], list[Manifest]]) -> None:
    """kopf runs standalone (a Lease elects the leader): it never reads a peering object."""
    for name in VALUE_SETS:
        for role in of_kind(render(name), "Role") + of_kind(render(name), "ClusterRole"):
            for rule in role["rules"]:
                assert not {"kopf.dev", "zalando.org"} & set(rule["apiGroups"])


@pytest.mark.parametrize("name", ["defaults", "everything", "platform"])
def test_the_lease_is_granted_in_the_release_namespace_only(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    """get and update on the Lease named after the release alone; create on any name (RBAC cannot
    limit a create by name); nothing of the kind anywhere else."""
    objects = render(name)
    lease = one(objects, "Deployment")["metadata"]["name"]  # QWENOPS_LEASE_NAME (test_security.py)
    found = grants(objects)
    own = {(c.group, c.resource, c.verb) for c in operator_calls() if c.when == "own"}
    assert own == {("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")}
    for group, resource, verb in own:
        assert allowed(found, group, resource, verb, NAMESPACE, None if verb == "create" else lease)
        assert not allowed(found, group, resource, verb, "elsewhere", lease)
        if verb != "create":
            assert not allowed(found, group, resource, verb, NAMESPACE, "another-lease")
    named = [g for g in found if "leases" in g.resources]
    assert all(g.namespace == NAMESPACE for g in named)
    assert {(verb, g.resource_names) for g in named for verb in g.verbs} == {
        ("create", ()),
        ("get", (lease,)),
        ("update", (lease,)),
    }


def test_no_secret_is_granted_unless_names_are_listed(render: Callable[[str], list[Manifest]]) -> None:
    assert not _by_name(render("defaults"))
    assert not [g for g in grants(render("defaults")) if "secrets" in g.resources]
    assert not allowed(grants(render("everything")), "", "secrets", "get", "a"), "never every Secret"


@pytest.mark.parametrize(("name", "namespaces"), [("defaults", [None]), ("everything", ["a", "b"])])
def test_secrets_are_granted_by_name_where_the_operator_watches(
    name: str, namespaces: list[str | None], helm: Helm
) -> None:
    """The operator reads a QwenDeployment's Secret by name (`get`); the chart grants exactly the
    names of `prometheus.secretNames`, in each watched namespace (or cluster-wide)."""
    named = {c for c in operator_calls() if c.when == "named"}
    assert {(c.group, c.resource, c.verb) for c in named} == {("", "secrets", "get")}
    listed = ["prom-creds", "mimir-tenant"]
    objects = helm.template(VALUE_SETS[name], {"prometheus.secretNames": "{" + ",".join(listed) + "}"})
    by_name = _by_name(objects)
    assert sorted(g.namespace or "" for g in by_name) == sorted(n or "" for n in namespaces)
    for grant in by_name:
        assert (grant.api_groups, grant.resources, grant.verbs) == (("",), ("secrets",), ("get",))
        assert list(grant.resource_names) == listed
