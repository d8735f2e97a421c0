"""The only module that talks to the Kubernetes API.

Objects go in and out as plain dicts (the shape `render/desired.py` produces), through
the client's generic REST call, so one code path serves Deployments, Services,
custom resources and HTTPRoutes alike. The client is synchronous; every call
runs in a worker thread so kopf's event loop never blocks. A call mostly waits
for the API server, so the threads (and the client's connections) are many more
than asyncio's default of CPUs + 4: with those, a 10 ms round trip would cap the
operator at a few hundred requests a second, short of what a thousand
QwenDeployments need.

The operator and `kubectl qwen` each build one :class:`Kube` at start-up and pass it
to whatever calls the API; those are typed against :class:`KubeClient`, so a test
can hand them an in-memory fake instead.
"""

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from qwenops.io.kube_errors import KubeError, message_of, retry_after
from qwenops.render.diff import ensure_action

log = logging.getLogger(__name__)

Manifest = dict[str, Any]
Outcome = Literal["created", "updated", "unchanged", "conflict"]
"""What `ensure` did; `conflict`: nothing, an object `desired`'s owner does not control holds the name."""
BeforeWrite = Callable[[], Awaitable[None]]
"""Awaited before a request that writes; it may raise to stop the write."""
Guard = Callable[[], None]
"""Called before every request that writes; raises :class:`FencedError` to stop it (not leading)."""

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: `/api/v1/...` or `/apis/<group>/<version>/...`."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        """The path of an object, or of its collection (no `name`); `namespace` None: of every namespace."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            prefix += f"/namespaces/{quote(namespace)}"
        path = f"{prefix}/{self.plural}"
        if name is not None:
            path += f"/{quote(name)}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


DEPLOYMENTS = Resource("apps", "v1", "deployments")
SERVICES = Resource("", "v1", "services")
PODS = Resource("", "v1", "pods")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes")
INFERENCEPOOLS = Resource("inference.networking.k8s.io", "v1", "inferencepools")
QWENDEPLOYMENTS = Resource("qwenops.io", "v1alpha1", "qwendeployments")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
SECRETS = Resource("", "v1", "secrets")  # read by name only: a QwenDeployment's Prometheus credentials

_BY_KIND = {
    ("apps/v1", "Deployment"): DEPLOYMENTS,
    ("v1", "Service"): SERVICES,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTPROUTES,
    ("inference.networking.k8s.io/v1", "InferencePool"): INFERENCEPOOLS,
    ("qwenops.io/v1alpha1", "QwenDeployment"): QWENDEPLOYMENTS,
}


def resource_of(manifest: Mapping[str, Any]) -> Resource:
    return _BY_KIND[(manifest["apiVersion"], manifest["kind"])]


class KubeClient(Protocol):
    """What the controller asks of the API: :class:`Kube`, or a test's fake."""

    async def get(self, resource: Resource, namespace: str, name: str) -> Manifest | None: ...

    async def list_labelled(
        self, resource: Resource, namespace: str, selector: Mapping[str, str]
    ) -> list[Manifest]: ...

    async def ensure(
        self,
        desired: Manifest,
        live: Manifest | None = None,
        *,
        known: bool = False,
        before_write: BeforeWrite | None = None,
    ) -> Outcome: ...

    async def delete(
        self, resource: Resource, namespace: str, name: str, *, uid: str | None = None
    ) -> bool: ...

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Manifest: ...

    async def check_version(
        self, resource: Resource, namespace: str, name: str, resource_version: str
    ) -> None: ...

    async def patch(
        self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Manifest: ...


class Kube:
    """The API through one `kubernetes.client.ApiClient`; each call in a worker thread."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        guard: Guard | None = None,
        *,
        timeout: float | None = 30,
    ) -> None:
        self.api = api
        self.guard = guard
        self.timeout = timeout
        """Seconds a request may take (None: no limit)."""

    def guarded(self, guard: Guard) -> "Kube":
        """The same connection, every write first checked by `guard` (leader election's: a write
        is sent only while this operator leads)."""
        return Kube(self.api, guard, timeout=self.timeout)

    def _may_write(self) -> None:
        if self.guard is not None:
            self.guard()

    @classmethod
    def connect(cls, threads: int | None = None) -> "Kube":
        """In-cluster credentials when running in a pod, else the kubeconfig.

        With `threads` (called from the running event loop): that many calls at once, each
        on a connection of its own.
        """
        configuration = kubernetes.client.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            kubernetes.config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        if threads is not None:
            configuration.connection_pool_maxsize = threads
            # asyncio.to_thread() runs on the loop's default executor.
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kube")
            asyncio.get_running_loop().set_default_executor(executor)
        return cls(kubernetes.client.ApiClient(configuration))

    @classmethod
    def from_kubeconfig(
        cls, path: str | None = None, context: str | None = None, *, timeout: float | None = 30
    ) -> tuple["Kube", str | None]:
        """A kubeconfig loaded as kubectl does (`path`, else $KUBECONFIG, else ~/.kube/config), in
        `context` (else the current one); and that context's namespace, if it names one.

        Each request gets one try of at most `timeout` seconds (None: no limit), as kubectl's
        `--request-timeout`: urllib3's default retries would make a server that never answers
        take four times as long.
        A missing or unreadable kubeconfig, or an unknown context, is a KubeError(0, ...).
        """
        configuration = kubernetes.client.Configuration()
        if timeout is not None:
            configuration.retries = 0
        try:
            contexts, current = kubernetes.config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration
            )
        except (kubernetes.config.ConfigException, OSError, ValueError, TypeError) as exc:
            raise KubeError(0, f"cannot load the kubeconfig: {exc}") from exc
        client = cls(kubernetes.client.ApiClient(configuration), timeout=timeout)
        chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else current
        namespace = ((chosen or {}).get("context") or {}).get("namespace")
        return client, str(namespace) if namespace else None

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=None,
            auth_settings=["BearerToken"],
        )
        _method, url, headers, _body, _post = serialized
        try:
            response = self.api.call_api(
                method, url, header_params=headers,
                body=body,
                _request_timeout=self.timeout,
            )  # fmt: skip
            data = response.read()  # type: ignore[no-untyped-call]
            status = response.status
        except ApiException as exc:
            raise KubeError(exc.status or 0, str(exc.reason), retry_after(exc.headers, exc.body)) from exc
        except urllib3.exceptions.MaxRetryError as exc:  # urllib3 gave up after its retries (no OSError)
            raise KubeError(0, self._unreached(exc.reason)) from exc
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # refused, reset, DNS, a timeout
            raise KubeError(0, self._unreached(exc)) from exc
        if status >= 400:
            raise KubeError(status, message_of(data), retry_after(response.headers, data))
        return json.loads(data) if data else None

    def _unreached(self, why: Exception | None) -> str:
        """One line: the server did not answer in time, else why it could not be reached."""
        # A refused connection (NewConnectionError) is a ConnectTimeoutError too, for old callers.
        timed_out = isinstance(why, urllib3.exceptions.TimeoutError | TimeoutError) and not isinstance(
            why, urllib3.exceptions.NewConnectionError
        )
        if timed_out and self.timeout is not None:
            return f"cannot reach the API server: no answer within {self.timeout:g}s"
        return f"cannot reach the API server: {why}"

    async def get(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        """The object, or None when it does not exist."""
        try:
            found: Manifest = await asyncio.to_thread(self._call, "GET", resource.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return found

    async def list_labelled(
        self, resource: Resource, namespace: str, selector: Mapping[str, str]
    ) -> list[Manifest]:
        label_selector = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
        listed = await asyncio.to_thread(
            self._call, "GET", resource.path(namespace), query=[("labelSelector", label_selector)]
        )
        items: list[Manifest] = listed.get("items") or []
        return items

    async def list_all(self, resource: Resource, namespace: str | None) -> list[Manifest]:
        """Every object of a kind in `namespace`, or in every namespace (None)."""
        listed = await asyncio.to_thread(self._call, "GET", resource.path(namespace))
        items: list[Manifest] = listed.get("items") or []
        return items

    async def ensure(
        self,
        desired: Manifest,
        live: Manifest | None = None,
        *,
        known: bool = False,
        before_write: BeforeWrite | None = None,
    ) -> Outcome:
        """Make the object at least as `desired` says: create it, patch it, or leave it alone.

        `live` is the stored object when the caller already read it (`known=True`,
        None meaning absent); otherwise it is read here. An object that already
        carries every field of `desired` is not written: a no-op reconcile sends
        no write, and fields the API server adds (defaults, status) never count as drift.
        An object `desired`'s controller does not control is never written either
        (`conflict`), nor is one someone else creates at the name first.
        """
        resource = resource_of(desired)
        meta = desired["metadata"]
        if not known:
            live = await self.get(resource, meta["namespace"], meta["name"])
        action, patch = ensure_action(desired, live)
        if action in {"unchanged", "conflict"}:
            return action
        if before_write is not None:
            await before_write()
        self._may_write()
        if action == "create":
            try:
                await asyncio.to_thread(self._call, "POST", resource.path(meta["namespace"]), body=desired)
            except KubeError as exc:
                if exc.conflict:  # AlreadyExists: made by someone else since it was read
                    return "conflict"
                raise
            return "created"
        await asyncio.to_thread(
            self._call, "PATCH", resource.path(meta["namespace"], meta["name"]),
            body=patch, content_type=MERGE_PATCH,
        )  # fmt: skip
        return "updated"

    async def delete(self, resource: Resource, namespace: str, name: str, *, uid: str | None = None) -> bool:
        """Delete with background propagation; False when it was already gone, or (with `uid`) when
        the object at the name is no longer the one with that uid (a precondition the server checks).
        """
        options: Manifest = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        self._may_write()
        try:
            await asyncio.to_thread(self._call, "DELETE", resource.path(namespace, name), body=options)
        except KubeError as exc:
            if exc.not_found or (uid is not None and exc.conflict):
                return False
            raise
        return True

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Manifest:
        """Replace fields of `status` only if nobody wrote the object since `resource_version` was read.

        A stale writer gets KubeError(409) instead of overwriting a newer status.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        self._may_write()
        patched: Manifest = await asyncio.to_thread(
            self._call, "PATCH", resource.path(namespace, name, "status"),
            body=body, content_type=MERGE_PATCH,
        )  # fmt: skip
        return patched

    async def check_version(
        self, resource: Resource, namespace: str, name: str, resource_version: str
    ) -> None:
        """KubeError(409) if the object was written since `resource_version` was read; writes nothing.

        A merge patch of the status subresource carrying `metadata.resourceVersion` and no `status`
        key (`status: {}` would give an object without status one, and a new resourceVersion). The
        API server applies a patch to the object it holds, then its store (registry/generic's
        Store.Update, inside storage's GuaranteedUpdate) refuses the result with 409 Conflict when
        its resourceVersion is not the stored one; a result equal to the stored object is not
        written at all (etcd3's GuaranteedUpdate returns the existing object, and field management
        leaves managedFields alone when no field was set): no new resourceVersion, no watch event.
        """
        body = {"metadata": {"resourceVersion": resource_version}}
        self._may_write()
        await asyncio.to_thread(
            self._call, "PATCH", resource.path(namespace, name, "status"), body=body, content_type=MERGE_PATCH
        )

    async def patch(self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Manifest:
        """A merge patch; carry `metadata.resourceVersion` in `body` to make it conditional."""
        self._may_write()
        patched: Manifest = await asyncio.to_thread(
            self._call, "PATCH", resource.path(namespace, name), body=dict(body), content_type=MERGE_PATCH
        )
        return patched

    async def create(self, resource: Resource, namespace: str, body: Mapping[str, Any]) -> Manifest:
        """Create the object; KubeError(409) when one exists at its name."""
        self._may_write()
        created: Manifest = await asyncio.to_thread(
            self._call, "POST", resource.path(namespace), body=dict(body)
        )
        return created

    async def replace(
        self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Manifest:
        """Replace the whole object (PUT); with `metadata.resourceVersion` in `body`, KubeError(409)
        when it was written since that version was read."""
        self._may_write()
        replaced: Manifest = await asyncio.to_thread(
            self._call, "PUT", resource.path(namespace, name), body=dict(body)
        )
        return replaced
