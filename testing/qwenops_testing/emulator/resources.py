"""The resources the emulator serves, and the facts it looks up about them on every request."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import kmock

ALL_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})


@dataclasses.dataclass(frozen=True)
class ResourceSpec:
    """A resource the emulator serves: ``group/version/plural`` plus discovery facts."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has a status subresource
    shortnames: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ResourceSpec:
        """``[group/]version/plural[:Kind][:cluster][:status]``,
        e.g. ``example.com/v1/widgets:Widget:status``."""
        path, *options = text.split(":")
        parts = path.strip("/").split("/")
        if len(parts) == 2:
            group, version, plural = "", parts[0], parts[1]
        elif len(parts) == 3:
            group, version, plural = parts
        else:
            raise ValueError(f"not [group/]version/plural: {text!r}")
        flags = {option for option in options if option in {"cluster", "status"}}
        kinds = [option for option in options if option not in {"cluster", "status"}]
        kind = kinds[0] if kinds else plural.removesuffix("s").capitalize()
        return cls(group, version, plural, kind, "cluster" not in flags, "status" in flags)

    @property
    def resource(self) -> kmock.resource:
        return kmock.resource(self.group, self.version, self.plural)


DEFAULT_RESOURCES: tuple[ResourceSpec, ...] = (
    ResourceSpec("qwenops.io", "v1alpha1", "qwendeployments", "QwenDeployment",
                 status=True, shortnames=("qwd",)),
    ResourceSpec("apps", "v1", "deployments", "Deployment", status=True, shortnames=("deploy",)),
    ResourceSpec("apps", "v1", "replicasets", "ReplicaSet", status=True, shortnames=("rs",)),
    ResourceSpec("", "v1", "services", "Service", status=True, shortnames=("svc",)),
    ResourceSpec("", "v1", "pods", "Pod", status=True, shortnames=("po",)),
    ResourceSpec("", "v1", "events", "Event", shortnames=("ev",)),
    ResourceSpec("", "v1", "namespaces", "Namespace", namespaced=False, status=True,
                 shortnames=("ns",)),
    ResourceSpec("", "v1", "nodes", "Node", namespaced=False, status=True, shortnames=("no",)),
    ResourceSpec("events.k8s.io", "v1", "events", "Event", shortnames=("ev",)),
    ResourceSpec("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", status=True),
    ResourceSpec("inference.networking.k8s.io", "v1", "inferencepools", "InferencePool", status=True,
                 shortnames=("infpool",)),
    ResourceSpec("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceSpec("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", namespaced=False),
    ResourceSpec("kopf.dev", "v1", "kopfpeerings", "KopfPeering"),
)  # fmt: skip

CRD_RESOURCE = ResourceSpec(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
    namespaced=False, status=True, shortnames=("crd", "crds"),
)  # fmt: skip
"""CRDs as objects (crds.py): served only when declared, as kopf lists them where they are served."""

PLATFORM_RESOURCES: tuple[ResourceSpec, ...] = (
    ResourceSpec("", "v1", "serviceaccounts", "ServiceAccount", shortnames=("sa",)),
    ResourceSpec("", "v1", "configmaps", "ConfigMap", shortnames=("cm",)),
    ResourceSpec("", "v1", "secrets", "Secret"),
    ResourceSpec("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceSpec("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceSpec("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    ResourceSpec("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
                 namespaced=False),
    ResourceSpec("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", shortnames=("netpol",)),
    ResourceSpec("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor"),
    ResourceSpec("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", shortnames=("smon",)),
    ResourceSpec("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule",
                 shortnames=("promrule",)),
    CRD_RESOURCE,
)  # fmt: skip
"""What installing the chart (`helm install`, its release Secrets) and a user's platform need besides
:data:`DEFAULT_RESOURCES`: stored as plain objects (RBAC is not enforced, unless the emulator's
authorizer is on; the Prometheus Operator's kinds keep any field, as a CRD without its schema)."""

DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
PODS = kmock.resource("", "v1", "pods")
SERVICES = kmock.resource("", "v1", "services")
NAMESPACES = kmock.resource("", "v1", "namespaces")


def api_version(resource: kmock.resource) -> str:
    """``apps/v1``, ``v1``: the apiVersion of the resource's objects."""
    return f"{resource.group}/{resource.version}" if resource.group else f"{resource.version}"


def resource_id(resource: kmock.resource) -> str:
    """``apps/v1/deployments``, ``v1/pods``: the emulator's spelling of a resource."""
    return f"{api_version(resource)}/{resource.plural}"


def qualified(resource: kmock.resource) -> str:
    """``deployments.apps``, ``pods``: the spelling of the API server's messages."""
    return f"{resource.plural}.{resource.group}" if resource.group else f"{resource.plural}"


class Catalog:
    """The declared facts of each resource (kmock's ``resources``), remembered until the declarations change.

    kmock's lookups parse their keys with typing-Protocol checks: slow when done for every request.
    `discovered` lists what kmock serves beyond the declarations (resources its reactions name and
    those of objects stored kmock-style), asked only about a resource that is not declared.
    """

    def __init__(
        self, declared: kmock.ResourcesArray, discovered: Callable[[], Iterable[kmock.resource]]
    ) -> None:
        self._declared = declared
        self._discovered = discovered
        self._infos: dict[kmock.resource, kmock.ResourceInfo | None] = {}
        self._size = -1

    def declare(self, *specs: ResourceSpec) -> None:
        for spec in specs:
            self._declared[spec.resource] = kmock.ResourceInfo(
                kind=spec.kind,
                singular=spec.kind.lower(),
                namespaced=spec.namespaced,
                verbs=set(ALL_VERBS),
                shortnames=set(spec.shortnames),
                subresources={"status"} if spec.status else set(),
            )

    def info(self, resource: kmock.resource) -> kmock.ResourceInfo | None:
        if len(self._declared) != self._size:
            self._infos.clear()
            self._size = len(self._declared)
        if resource not in self._infos:
            known = resource in self._declared  # not .get(): kmock's __getitem__ answers more than that
            self._infos[resource] = self._declared[resource] if known else None
        return self._infos[resource]

    def known(self, resource: kmock.resource) -> bool:
        return self.info(resource) is not None or any(resource == other for other in self._discovered())

    def namespaced(self, resource: kmock.resource) -> bool:
        info = self.info(resource)
        return info is None or info.namespaced is not False

    def has_status(self, resource: kmock.resource) -> bool:
        info = self.info(resource)
        return info is not None and "status" in info.subresources

    def kind(self, resource: kmock.resource) -> str:
        info = self.info(resource)
        return (info.kind if info is not None else None) or str(resource.plural).capitalize()
