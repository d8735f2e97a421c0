"""An RBAC authorizer for the emulated API, off unless a test turns it on.

:attr:`Authorizer.users` maps bearer tokens to users (``system:serviceaccount:NS:NAME`` for a
ServiceAccount, as the API server names one); a request carrying one of those tokens is allowed
only when a rule of a Role or ClusterRole bound to that user (or to the groups a ServiceAccount is
in) allows its verb on its resource, as the API server's RBAC authorizer decides it from the stored
``rbac.authorization.k8s.io/v1`` objects; otherwise it is a 403 ``Forbidden`` in the API server's
words. Requests without a known token (the tests' own, kubectl's in the demo) are not checked:
the emulator has no authentication.

Discovery, ``/version`` and OpenAPI are allowed to everyone (``system:discovery``, bound to all
authenticated users on a real cluster). ClusterRoles with an ``aggregationRule`` gather the rules
of the ClusterRoles their selectors match (``matchLabels`` only), as the aggregation controller
writes them. Left out: ``nonResourceURLs`` rules, impersonation, and bootstrap roles beyond
discovery.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.errors import ApiError

Body = dict[str, Any]
RBAC = "rbac.authorization.k8s.io/v1"
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def verb_of(request: kmock.Request) -> str:
    """The RBAC verb of a request, as the API server's request info names it."""
    method = str(request.method).upper().rsplit(".", 1)[-1]
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name is not None else "list"
    if method == "DELETE":
        return "delete" if request.name is not None else "deletecollection"
    return _VERBS.get(method, method.lower())


def subjects_of(user: str) -> set[tuple[str, str, str | None]]:
    """(kind, name, namespace) a binding may name to reach `user`: itself, and a ServiceAccount's groups."""
    found: set[tuple[str, str, str | None]] = {("User", user, None), ("Group", "system:authenticated", None)}
    parts = user.split(":")
    if parts[:2] == ["system", "serviceaccount"] and len(parts) == 4:
        found |= {("ServiceAccount", parts[3], parts[2]), ("Group", "system:serviceaccounts", None),
                  ("Group", f"system:serviceaccounts:{parts[2]}", None)}  # fmt: skip
    return found


def _has(values: Iterable[str], value: str) -> bool:
    values = list(values)
    return value in values or "*" in values


def rule_allows(rule: Mapping[str, Any], verb: str, group: str, resource: str, name: str | None) -> bool:
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("verbs") or [], verb)
        and _has(rule.get("apiGroups") or [], group)
        and _has(rule.get("resources") or [], resource)
        and (not names or name in names)
    )


@dataclasses.dataclass
class Authorizer:
    """RBAC over the objects `objects(resource)` lists; on for the tokens in :attr:`users`."""

    objects: Callable[[str], list[Body]]
    users: dict[str, str] = dataclasses.field(default_factory=dict)
    denied: list[str] = dataclasses.field(default_factory=list)
    """Each refusal's message, in order (for a test to show)."""
    checked: int = 0
    """How many requests were checked (carried a known token and named a resource)."""

    def user_of(self, request: kmock.Request) -> str | None:
        header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = header.partition(" ")
        return self.users.get(token.strip()) if scheme.lower() == "bearer" else None

    def check(self, request: kmock.Request) -> None:
        """Raise the API server's 403 when the request's user may not do it."""
        user = self.user_of(request)
        if user is None or request.resource is None or not request.resource.plural:
            return  # not checked, or discovery and OpenAPI
        self.checked += 1
        group, plural = str(request.resource.group or ""), str(request.resource.plural)
        resource = f"{plural}/{request.subresource}" if request.subresource else plural
        verb = verb_of(request)
        namespace = request.namespace
        if self.allows(user, verb, group, resource, namespace, request.name):
            return
        message = self.message(user, verb, group, plural, resource, namespace, request.name)
        self.denied.append(message)
        details = {"name": request.name or "", "group": group, "kind": plural}
        raise ApiError(403, "Forbidden", message, details)

    def allows(
        self, user: str, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> bool:
        return any(rule_allows(rule, verb, group, resource, name) for rule in self.rules(user, namespace))

    def rules(self, user: str, namespace: str | None) -> Iterable[Mapping[str, Any]]:
        """Every rule bound to `user` that applies in `namespace` (None: cluster-wide only)."""
        subjects = subjects_of(user)
        cluster_roles = {r["metadata"]["name"]: r for r in self.objects(f"{RBAC}/clusterroles")}
        bindings = [(b, None) for b in self.objects(f"{RBAC}/clusterrolebindings")]
        bindings += [(b, b["metadata"].get("namespace")) for b in self.objects(f"{RBAC}/rolebindings")
                     if namespace is not None and b["metadata"].get("namespace") == namespace]  # fmt: skip
        roles = {(r["metadata"].get("namespace"), r["metadata"]["name"]): r
                 for r in self.objects(f"{RBAC}/roles")}  # fmt: skip
        for binding, scope in bindings:
            if not any(_subject(s) in subjects for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and ref.get("name") in cluster_roles:
                yield from _aggregated(cluster_roles[ref["name"]], cluster_roles.values())
            elif ref.get("kind") == "Role" and (scope, ref.get("name")) in roles:
                yield from roles[(scope, ref["name"])].get("rules") or []

    @staticmethod
    def message(
        user: str, verb: str, group: str, plural: str, resource: str, namespace: str | None, name: str | None
    ) -> str:
        """The API server's wording of a refusal."""
        what = f"{plural}.{group}" if group else plural
        subresource = f' with subresource "{resource.split("/", 1)[1]}"' if "/" in resource else ""
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return (
            f'{what}{f" {chr(34)}{name}{chr(34)}" if name else ""} is forbidden: User "{user}" '
            f'cannot {verb} resource "{plural}"{subresource} in API group "{group}"{where}'
        )


def _subject(subject: Mapping[str, Any]) -> tuple[str, str, str | None]:
    kind = str(subject.get("kind", ""))
    return kind, str(subject.get("name", "")), subject.get("namespace") if kind == "ServiceAccount" else None


def _aggregated(role: Mapping[str, Any], every: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    rules = list(role.get("rules") or [])
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        wanted = selector.get("matchLabels") or {}
        for other in every:
            labels = other["metadata"].get("labels") or {}
            if other is not role and all(labels.get(k) == v for k, v in wanted.items()):
                rules += other.get("rules") or []
    return rules
