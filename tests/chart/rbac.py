"""What the chart's RBAC lets the operator's ServiceAccount do, evaluated as the API server does
(RBAC is a union of allow rules: a request passes when any bound rule matches it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tests.chart.helm import NAMESPACE, Manifest, one

ROLE_KINDS = ("Role", "ClusterRole")


@dataclass(frozen=True)
class Grant:
    """One rule of a role bound to the ServiceAccount; `namespace` None: cluster-wide."""

    namespace: str | None
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...]
    source: str

    def matches(self, group: str, resource: str, verb: str, name: str | None = None) -> bool:
        """A rule with resourceNames matches a request on one of those names only (never a create
        or a list, whose URL has no name)."""
        return (
            _has(self.api_groups, group)
            and _has(self.resources, resource)
            and _has(self.verbs, verb)
            and (not self.resource_names or name in self.resource_names)
        )


def _has(values: Sequence[str], value: str) -> bool:
    return value in values or "*" in values


def service_account(objects: Sequence[Manifest]) -> tuple[str, str]:
    """The operator pod's ServiceAccount: (namespace, name)."""
    deployment = one(objects, "Deployment")
    return NAMESPACE, deployment["spec"]["template"]["spec"]["serviceAccountName"]


def grants(objects: Sequence[Manifest]) -> list[Grant]:
    """Every rule bound to the operator's ServiceAccount, with where it applies."""
    sa_namespace, sa_name = service_account(objects)
    roles = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj
        for obj in objects
        if obj["kind"] in ROLE_KINDS
    }
    found: list[Grant] = []
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa_name and s.get("namespace") == sa_namespace
            for s in binding.get("subjects") or []
        ):
            continue
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role_namespace = scope if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']} binds a missing {ref}"
        for rule in role.get("rules") or []:
            found.append(
                Grant(
                    namespace=scope,
                    api_groups=tuple(rule.get("apiGroups") or ()),
                    resources=tuple(rule.get("resources") or ()),
                    verbs=tuple(rule.get("verbs") or ()),
                    resource_names=tuple(rule.get("resourceNames") or ()),
                    source=f"{ref['kind']} {role_namespace or ''}/{ref['name']}",
                )
            )
    return found


def allowed(
    found: Iterable[Grant],
    group: str,
    resource: str,
    verb: str,
    namespace: str | None,
    name: str | None = None,
) -> bool:
    """May the ServiceAccount do it (to the object `name`)? `namespace` None: cluster-scoped, or
    across all namespaces."""
    return any(
        g.matches(group, resource, verb, name) and (g.namespace is None or g.namespace == namespace)
        for g in found
    )


def granted_triples(found: Iterable[Grant]) -> set[tuple[str | None, str, str, str]]:
    """Each (namespace, group, resource, verb) the rules name one by one (wildcards are refused elsewhere)."""
    return {
        (g.namespace, group, resource, verb)
        for g in found
        for group in g.api_groups
        for resource in g.resources
        for verb in g.verbs
    }


AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-{}"
BUILTIN_AGGREGATION = {"view": ("view",), "edit": ("edit", "view"), "admin": ("admin", "edit", "view")}
"""Kubernetes' bootstrap ClusterRoles: each holds the rules of the ClusterRoles labelled
`aggregate-to-<its name>: "true"`; `view` is itself labelled to `edit` and `edit` to `admin`,
so `edit` also gathers what is aggregated to `view`, and `admin` both."""


def aggregated_to(objects: Iterable[Manifest], builtin: str, namespace: str) -> list[Grant]:
    """The rules a user bound to the built-in `builtin` ClusterRole by a RoleBinding in `namespace`
    gets from the ClusterRoles in `objects` that aggregate into it."""
    labels = {AGGREGATE_TO.format(name) for name in BUILTIN_AGGREGATION[builtin]}
    found: list[Grant] = []
    for role in objects:
        if role["kind"] != "ClusterRole":
            continue
        if not {k for k, v in (role["metadata"].get("labels") or {}).items() if v == "true"} & labels:
            continue
        for rule in role.get("rules") or []:
            found.append(
                Grant(
                    namespace=namespace,
                    api_groups=tuple(rule.get("apiGroups") or ()),
                    resources=tuple(rule.get("resources") or ()),
                    verbs=tuple(rule.get("verbs") or ()),
                    resource_names=tuple(rule.get("resourceNames") or ()),
                    source=f"ClusterRole /{role['metadata']['name']} aggregated to {builtin}",
                )
            )
    return found
