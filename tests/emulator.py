"""An emulated Kubernetes API for the operator's tests and the demo.

``kmock.KubernetesEmulator`` (kmock 0.8) is a plain JSON store: no uid,
resourceVersion or generation, PUT merges, a PATCH on ``/status`` also changes
``spec``, no label selectors, no garbage collection, and a server-side-apply
PATCH answers 200 while changing nothing. :class:`KubeEmulator` keeps kmock's
server, DSL, request recording and ``objects`` store, and replaces what it does
on writes, lists and watches with the Kubernetes API conventions an operator
relies on:

* object metadata: ``uid``, ``creationTimestamp``, a global monotonically
  increasing ``resourceVersion`` (bumped on every write that changes
  something), ``generation`` (1 on create, +1 when anything outside
  ``metadata``/``status`` changes, or outside ``metadata`` for resources
  without a status subresource, and when a deletion is marked);
* the ``status`` subresource, for resources declared with it;
* optimistic concurrency: 409 Conflict on a stale ``metadata.resourceVersion``
  (in a PUT/PATCH body or in the DeleteOptions' preconditions);
* the patch types by ``Content-Type``: merge patch (RFC 7386), JSON patch
  (RFC 6902, a failing ``test`` answers 422), strategic merge patch (treated as
  a merge patch: lists are replaced whole, never merged by key; ``$patch``-style
  directives answer 422), server-side apply answers 415 saying it is not
  implemented; PUT replaces the whole object;
* ``labelSelector`` and ``fieldSelector`` (``metadata.name``,
  ``metadata.namespace``) on lists and watches; watches resume from a
  ``resourceVersion``, honour ``sendInitialEvents`` and ``timeoutSeconds``;
* finalizers and owner-reference garbage collection (background propagation);
* ``/api/v1/namespaces`` (kmock's path parser crashes on it);
* a simulated Deployment controller (off by default), see
  :attr:`KubeEmulator.deployments_become_available` and
  :meth:`KubeEmulator.set_deployment_ready`;
* a request log: :meth:`KubeEmulator.request_log` and :meth:`KubeEmulator.writes`.

Start it with :func:`run_emulator`; give a subprocess (e.g. ``kopf run``) a
kubeconfig from :func:`write_kubeconfig`; run it standalone with
``python -m tests.emulator --port 0 --kubeconfig PATH``.

Deliberately left out (a real cluster shows these): admission, schema/CEL
validation and defaulting (e.g. ``spec.replicas`` is not defaulted), RBAC, the
strategic merge of lists by key, server-side apply and managedFields, ``dryRun``
(answers 400), pagination (``limit``/``continue`` are ignored, lists are
whole), ``resourceVersion`` on lists (always the latest state), periodic watch
bookmarks, foreground/orphan propagation (every deletion is background),
namespace existence checks and
namespace deletion cascading to the objects in it, graceful pod termination,
and every controller other than the simulated Deployment status.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import copy
import dataclasses
import datetime
import json
import re
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml
from kmock._internal import apps, dsl, parsing, rendering

Body = dict[str, Any]
ObjectKey = tuple[kmock.resource, str | None, str]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

ALL_VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVENT_RESOURCES = frozenset({"v1/events", "events.k8s.io/v1/events"})

# The metadata fields that clients cannot change with a write (restored from the stored object).
_SERVER_OWNED_METADATA = (
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

# /api/v1/namespaces[/NAME[/status|/finalize]]: kmock's path parser crashes on the bare list URL
# and reads NAME as a namespace otherwise.
_NAMESPACES_PATH = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?/?")

# Label selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
_LABEL_KEY = r"(?:[a-z0-9A-Z.\-]+/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SELECTOR_TERM = re.compile(
    rf"""\s*(?:
        !\s*(?P<absent>{_LABEL_KEY})
      | (?P<eq_key>{_LABEL_KEY})\s*(?P<eq_op>==|=|!=)\s*(?P<eq_value>{_LABEL_VALUE})
      | (?P<set_key>{_LABEL_KEY})\s+(?P<set_op>in|notin)\s*\((?P<set_values>[^()]*)\)
      | (?P<present>{_LABEL_KEY})
    )\s*""",
    re.VERBOSE,
)
_FIELD_TERM = re.compile(r"\s*(?P<field>[A-Za-z.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*")
_SUPPORTED_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

# Characters Kubernetes uses for generateName suffixes (no vowels, no look-alikes).
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


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
        """``[group/]version/plural[:Kind][:cluster][:status]``, e.g. ``example.com/v1/widgets:Widget:status``."""
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
    ResourceSpec("", "v1", "services", "Service", status=True, shortnames=("svc",)),
    ResourceSpec("", "v1", "pods", "Pod", status=True, shortnames=("po",)),
    ResourceSpec("", "v1", "events", "Event", shortnames=("ev",)),
    ResourceSpec("", "v1", "namespaces", "Namespace", namespaced=False, status=True,
                 shortnames=("ns",)),
    ResourceSpec("events.k8s.io", "v1", "events", "Event", shortnames=("ev",)),
    ResourceSpec("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", status=True),
    ResourceSpec("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceSpec("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", namespaced=False),
    ResourceSpec("kopf.dev", "v1", "kopfpeerings", "KopfPeering"),
)

DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
PODS = kmock.resource("", "v1", "pods")


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """An expected API failure, answered as a Kubernetes ``Status`` (not an emulator bug)."""

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "code": self.status, "reason": self.reason, "message": self.message,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it."""

    index: int
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any  # the parsed JSON body, else the text, else None
    resource: str | None  # e.g. "apps/v1/deployments", "v1/namespaces"
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def is_event(self) -> bool:
        """A write of a Kubernetes Event (kopf posts one per handler outcome)."""
        return self.resource in EVENT_RESOURCES


@dataclasses.dataclass(frozen=True)
class _WatchEvent:
    rv: int
    resource: kmock.resource
    type: str  # ADDED | MODIFIED | DELETED
    old: Body | None  # the previous state, for selector transitions
    new: Body


@dataclasses.dataclass(frozen=True)
class _Selector:
    labels: tuple[tuple[str, str, frozenset[str]], ...] = ()  # (key, op, values)
    fields: tuple[tuple[str, str, str], ...] = ()  # (field, op, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        labels: Mapping[str, str] = meta.get("labels") or {}
        for key, op, values in self.labels:
            present = key in labels
            value = labels.get(key)
            ok = (
                present if op == "exists" else
                not present if op == "!exists" else
                present and value in values if op == "in" else
                not present or value not in values  # "notin" and "!=" both match absent keys
            )
            if not ok:
                return False
        for field, op, expected in self.fields:
            actual = meta.get(field.removeprefix("metadata.")) or ""
            if (actual == expected) != (op == "="):
                return False
        return True


@dataclasses.dataclass
class _Index:
    """What the store looks up on every request, so that no request scans every object.

    ``names``: the keys by resource and namespace, soft-deleted ones too (readers skip
    them); ``uids``: the key of each uid; ``dependents``: the keys whose
    ownerReferences name a uid (possibly no longer: readers check the object again);
    ``labelled``: the keys by resource, namespace and one label's value (the same caveat), so
    that listing one QwenDeployment's children by label reads those alone.
    ``size`` is the store's length when the index was last in step with it: objects put
    into the store kmock-style (``emulator.objects[...] = ...``) change it, and the
    index is built again.
    """

    size: int = 0
    names: dict[tuple[kmock.resource, str | None], dict[ObjectKey, None]] = dataclasses.field(
        default_factory=dict
    )
    uids: dict[str, ObjectKey] = dataclasses.field(default_factory=dict)
    dependents: dict[str, dict[ObjectKey, None]] = dataclasses.field(default_factory=dict)
    labelled: dict[tuple[kmock.resource, str | None, str, str], dict[ObjectKey, None]] = dataclasses.field(
        default_factory=dict
    )

    def add(self, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        self.names.setdefault((key[0], key[1]), {})[key] = None
        meta = obj.get("metadata") or {}
        if meta.get("uid"):
            self.uids[meta["uid"]] = key
        self.add_references(key, obj)

    def add_references(self, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        """Index the owners and labels of an object as it is now (earlier entries stay)."""
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self.dependents.setdefault(ref["uid"], {})[key] = None
        for label, value in (meta.get("labels") or {}).items():
            self.labelled.setdefault((key[0], key[1], label, value), {})[key] = None


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_id(resource: kmock.resource) -> str:
    prefix = f"{resource.group}/{resource.version}" if resource.group else f"{resource.version}"
    return f"{prefix}/{resource.plural}"


def _qualified(resource: kmock.resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else f"{resource.plural}"


def _content_type(headers: Mapping[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.split(";")[0].strip().lower()
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: Body = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def parse_selector(label_selector: str = "", field_selector: str = "") -> _Selector:
    """Parse ``labelSelector``/``fieldSelector`` query values; ValueError when malformed."""
    labels: list[tuple[str, str, frozenset[str]]] = []
    for term in _split_terms(label_selector):
        match = _SELECTOR_TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"unable to parse requirement: {term!r}")
        if match["absent"]:
            labels.append((match["absent"], "!exists", frozenset()))
        elif match["present"]:
            labels.append((match["present"], "exists", frozenset()))
        elif match["eq_key"]:
            op = "!=" if match["eq_op"] == "!=" else "in"
            labels.append((match["eq_key"], op, frozenset({match["eq_value"]})))
        else:
            values = frozenset(v.strip() for v in match["set_values"].split(",") if v.strip())
            labels.append((match["set_key"], match["set_op"], values))
    fields: list[tuple[str, str, str]] = []
    for term in _split_terms(field_selector):
        match = _FIELD_TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"invalid field selector: {term!r}")
        if match["field"] not in _SUPPORTED_FIELDS:
            raise ValueError(f"field label not supported: {match['field']}")
        op = "!=" if match["op"] == "!=" else "="
        fields.append((match["field"], op, match["value"]))
    return _Selector(tuple(labels), tuple(fields))


def _split_terms(selector: str) -> list[str]:
    """Split on the commas outside parentheses; blank selectors have no terms."""
    terms: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    return [term for term in terms if term.strip()]


def _has_directives(patch: Any) -> bool:
    if isinstance(patch, dict):
        return any(str(k).startswith("$") or _has_directives(v) for k, v in patch.items())
    if isinstance(patch, list):
        return any(_has_directives(item) for item in patch)
    return False


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator, following the API conventions an operator relies on.

    Use it like kmock (``emulator.objects[...]``, ``emulator['patch'] << 500``
    to inject a failure), but note that writes change the store in the fallback
    handlers: a write intercepted by a reaction of your own changes nothing.
    """

    _rv: int = attrs.field(default=0, init=False)
    _log: list[_WatchEvent] = attrs.field(factory=list, init=False)
    _wakeups: set[asyncio.Event] = attrs.field(factory=set, init=False)
    _closed: bool = attrs.field(default=False, init=False)
    _available_by_default: bool = attrs.field(default=False, init=False)
    _readiness: dict[tuple[str | None, str], bool] = attrs.field(factory=dict, init=False)
    _pod_statuses: dict[tuple[str | None, str], Body] = attrs.field(factory=dict, init=False)
    latency: float = attrs.field(default=0.0, init=False)
    """Seconds each request waits before it is served, as a round trip to a real API server would."""
    _index: _Index = attrs.field(factory=_Index, init=False)
    # kmock's lookups parse their keys with typing-Protocol checks: slow when done for every request.
    _infos: dict[kmock.resource, kmock.ResourceInfo | None] = attrs.field(factory=dict, init=False)
    _infos_size: int = attrs.field(default=-1, init=False)
    _priorities: tuple[tuple[int, ...], list[dsl.Reaction]] = attrs.field(default=((), []), init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock routes no K8s action to PUT (it answers 404); serve it as a full replacement.
        self.fallback[kmock.method.PUT] << self._serve_replace

    # -- declaring resources -------------------------------------------------------------------

    def declare(self, *specs: ResourceSpec) -> None:
        """Serve these resources (discovery, CRUD, watch)."""
        for spec in specs:
            self.resources[spec.resource] = kmock.ResourceInfo(
                kind=spec.kind,
                singular=spec.kind.lower(),
                namespaced=spec.namespaced,
                verbs=set(ALL_VERBS),
                shortnames=set(spec.shortnames),
                subresources={"status"} if spec.status else set(),
            )

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo | None:
        """The declared facts of a resource, remembered until the declarations change."""
        if len(self.resources) != self._infos_size:
            self._infos.clear()
            self._infos_size = len(self.resources)
        if resource not in self._infos:
            known = resource in self.resources  # not .get(): kmock's __getitem__ answers more than that
            self._infos[resource] = self.resources[resource] if known else None
        return self._infos[resource]

    def _known(self, resource: kmock.resource) -> bool:
        # kmock's _get_resources() goes through every stored object: declared ones first.
        return self._info(resource) is not None or any(resource == known for known in self._get_resources())

    def _namespaced(self, resource: kmock.resource) -> bool:
        info = self._info(resource)
        return info is None or info.namespaced is not False

    def _has_status(self, resource: kmock.resource) -> bool:
        info = self._info(resource)
        return info is not None and "status" in info.subresources

    def _kind(self, resource: kmock.resource) -> str:
        info = self._info(resource)
        return (info.kind if info is not None else None) or str(resource.plural).capitalize()

    @staticmethod
    def _api_version(resource: kmock.resource) -> str:
        return f"{resource.group}/{resource.version}" if resource.group else f"{resource.version}"

    # -- request parsing and dispatch ----------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # A copy of kmock's RawHandler.__call__ with one change: the request parser, because
        # kmock's own crashes on /api/v1/namespaces before any hook could intervene.
        await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            if self.limit is not None and len(self._requests) >= self.limit:
                raise apps.KMockError("Too many requests have been served so far.")
            request = await self._parse_request(raw_request, index=len(self._requests))
            self._requests.append(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            try:
                return await self._handle(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                if e.__cause__ is not None:
                    raise e.__cause__ from None
                raise
        except Exception as e:
            if not self._errors:
                raise
            self._errors[-1].append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _parse_request(
        self, raw_request: aiohttp.web.BaseRequest, *, index: int
    ) -> kmock.Request:
        match = _NAMESPACES_PATH.fullmatch(raw_request.path)
        if match is None:
            return await rendering.Request._parse(raw_request, id=index)
        body = await raw_request.read()
        text = body.decode("utf-8", errors="replace")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        path = parsing.ParsedPath("", "v1", "namespaces", None, match["name"], match["sub"])
        method = kmock.method(raw_request.method)
        return kmock.Request(
            id=index,
            raw_request=raw_request,
            url=raw_request.url,
            method=method,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            cookies=dict(raw_request.cookies),
            body=body,
            text=text,
            data=data,
            action=parsing.guess_k8s(path, method, dict(raw_request.query)),
            resource=kmock.resource("", "v1", "namespaces"),
            namespace=None,
            name=match["name"],
            subresource=match["sub"],
        )

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip KubernetesEmulator._handle (its plain-JSON writes); the _serve_* fallbacks below
        # do the writes. Expected API failures become Status answers, not recorded errors.
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return aiohttp.web.json_response(e.status_body(), status=e.status)

    async def _dispatch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """kmock's ``RawHandler._handle``, asking each reaction about this one request only.

        kmock checks ``request in reaction_view``, which filters every request served so
        far again: each request costs as much as all earlier ones, minutes of CPU once a
        few hundred objects are reconciled. A view that is a chain of filters (and
        priorities) sees the request exactly when every filter's criteria accept it; other
        views (slices, groups, exclusions) still go through kmock's own check.
        """
        for payload in self._by_priority():
            if self._sees(payload._source, request) and not payload._disabled.is_set():
                try:
                    return await payload(request)
                except rendering.ReactionMismatchError:  # either mismatch or depletion
                    payload._disabled.set()
                except NotImplementedError:  # matched, but nothing to respond with
                    pass
        raise NotImplementedError("no reaction matches the request; the fallbacks should have")

    def _by_priority(self) -> list[dsl.Reaction]:
        """The reactions, highest priority first (kmock's order: shorter priorities padded with 0)."""
        identity = tuple(map(id, self._payloads))
        if self._priorities[0] != identity:
            priorities = [tuple(-p for p in payload.priorities) for payload in self._payloads]
            width = max((len(priority) for priority in priorities), default=0)
            padded = [priority + (0,) * (width - len(priority)) for priority in priorities]
            ordered = [self._payloads[index] for index in sorted(range(len(padded)), key=padded.__getitem__)]
            self._priorities = (identity, ordered)
        return self._priorities[1]

    def _sees(self, view: dsl.View, request: kmock.Request) -> bool:
        while True:
            if view is self:
                return True  # the root sees every request it received
            if type(view) is dsl.Filter:
                if not view.criteria(request):
                    return False
            elif type(view) is not dsl.Priority:
                return request in view  # kmock's own (quadratic) check for anything else
            view = view._source

    # -- the request log -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """How many requests arrived so far: pass it as ``since=`` to see only later ones."""
        return len(self._requests)

    def request_log(self, since: int = 0) -> list[RecordedRequest]:
        """Every request from index ``since`` on, in arrival order."""
        return [self._record(request) for request in self._requests[since:]]

    def writes(self, since: int = 0, *, include_events: bool = False) -> list[RecordedRequest]:
        """POST/PUT/PATCH/DELETE requests from ``since`` on; Event posts only if asked."""
        return [
            record for record in self.request_log(since)
            if record.is_write and (include_events or not record.is_event)
        ]

    @staticmethod
    def _record(request: kmock.Request) -> RecordedRequest:
        return RecordedRequest(
            index=request.id,
            method=str(request.method.value),
            path=request.url.path,
            query=dict(request.params),
            content_type=_content_type(request.headers),
            body=request.data if request.data is not None else (request.text or None),
            resource=_resource_id(request.resource) if request.resource is not None else None,
            namespace=request.namespace,
            name=request.name,
            subresource=request.subresource,
        )

    # -- direct access for tests (same semantics and watch events as over HTTP) -----------------

    def get_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str
    ) -> Body | None:
        """The stored object (a copy), or None when absent."""
        key = (kmock.resource(resource), namespace, name)
        return copy.deepcopy(self._current(key))

    def peek_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str
    ) -> Mapping[str, Any] | None:
        """The stored object itself, not a copy: cheap for polling many objects; never change it."""
        res = resource if isinstance(resource, kmock.resource) else kmock.resource(resource)
        return self._current((res, namespace, name))

    def list_objects(self, resource: str | kmock.resource) -> list[Body]:
        """Every existing object of a resource (copies), sorted by namespace and name."""
        res = kmock.resource(resource)
        return [copy.deepcopy(obj) for _, obj in self._live_in(res)]

    def create_object(
        self, resource: str | kmock.resource, body: Mapping[str, Any], namespace: str | None = None
    ) -> Body:
        """Create an object as a POST would (metadata, watch event, controllers)."""
        return copy.deepcopy(self._create(kmock.resource(resource), namespace, dict(body)))

    def patch_object(
        self, resource: str | kmock.resource, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> Body:
        """Merge-patch an object as a PATCH would (not its status), without a request in the log."""
        key = (kmock.resource(resource), namespace, name)
        old = self._current(key)
        if old is None:
            raise _not_found(key[0], name)
        return copy.deepcopy(self._commit(key, old, self._updated(key, old, merge_patch(old, patch), None)))

    # -- the simulated Deployment controller ---------------------------------------------------

    @property
    def deployments_become_available(self) -> bool:
        """When True, every Deployment's status says its pods are all ready and available.

        Setting it applies at once to the existing Deployments, and to each later write of one.
        Turning it off leaves the statuses as they are (the pods keep running).
        """
        return self._available_by_default

    @deployments_become_available.setter
    def deployments_become_available(self, value: bool) -> None:
        self._available_by_default = value
        for key, _ in self._live_in(DEPLOYMENTS):
            self._reconcile_deployment(key)

    def set_deployment_ready(self, namespace: str, name: str, ready: bool | None) -> None:
        """Hold one Deployment ready (True) or unready (False) whatever the default says.

        The choice stays until changed, also for a Deployment created later; None
        hands it back to :attr:`deployments_become_available`.
        """
        if ready is None:
            self._readiness.pop((namespace, name), None)
        else:
            self._readiness[namespace, name] = ready
        self._reconcile_deployment((DEPLOYMENTS, namespace, name))

    def set_pod_status(self, namespace: str, deployment: str, status: Body | None) -> None:
        """Give every pod of one Deployment this status, as its kubelet would write it.

        For a pod stuck in an init container, or one whose container failed. None
        hands the pods back to the Deployment's readiness. The Deployment's own
        status still follows :meth:`set_deployment_ready`.
        """
        if status is None:
            self._pod_statuses.pop((namespace, deployment), None)
        else:
            self._pod_statuses[namespace, deployment] = copy.deepcopy(status)
        self._reconcile_deployment((DEPLOYMENTS, namespace, deployment))

    def _reconcile_deployment(self, key: ObjectKey) -> None:
        obj = self._current(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        ready = self._readiness.get((key[1], key[2]))
        if ready is None and self._available_by_default:
            ready = True
        if ready is None:
            return  # nobody runs the pods: the status stays as it is
        self._reconcile_pods(obj, ready=ready)
        status = _deployment_status(obj, ready=ready)
        if _same_status(obj.get("status") or {}, status):
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        self._commit(key, obj, new, controllers=False)

    def _reconcile_pods(self, deployment: Body, *, ready: bool) -> None:
        """The ReplicaSet controller and the kubelet in one: `replicas` pods of the template.

        Pods are named `<deployment>-<index>` (not a ReplicaSet hash and a random
        suffix), owned by the Deployment directly, and their status is written at
        once: every init container completed and every container running, ready
        when the Deployment is, unless :meth:`set_pod_status` says otherwise.
        """
        meta = deployment["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        template = (deployment.get("spec") or {}).get("template") or {}
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        status = self._pod_statuses.get((namespace, name)) or _pod_status(template, ready=ready)
        owned = {key: obj for key, obj in self._dependents(meta["uid"]) if key[0] == PODS and key[1] == namespace}
        names = {f"{name}-{index}" for index in range(wanted)}
        for key in [k for k in owned if k[2] not in names]:
            self._delete(key)
        for pod_name in sorted(names):
            key = (PODS, namespace, pod_name)
            current = owned.get(key)
            if current is None:
                self._create(PODS, namespace, {
                    "metadata": {
                        "name": pod_name,
                        "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                        "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                             "uid": meta["uid"], "controller": True}],
                    },
                    "spec": copy.deepcopy(template.get("spec") or {}),
                })  # fmt: skip
                current = self._current(key)
            if current is not None and current.get("status") != status:
                new = copy.deepcopy(current)
                new["status"] = copy.deepcopy(status)
                self._commit(key, current, new, controllers=False)

    def _run_controllers(self, key: ObjectKey) -> None:
        if key[0] == DEPLOYMENTS:
            self._reconcile_deployment(key)

    # -- the store -------------------------------------------------------------------------------

    def _current(self, key: ObjectKey) -> Body | None:
        # The store's own dict: our keys are already in its (resource, namespace, name) form, and
        # ObjectsArray's lookup would parse them again (slow, and done for nearly every request).
        obj = self._objects._objects.get(key)
        if obj is None or obj.deleted:
            return None
        return _with_metadata(key, obj.raw)

    def _live(self) -> list[tuple[ObjectKey, Body]]:
        items = [
            (key, _with_metadata(key, obj.raw))
            for key, obj in self._objects.items() if not obj.deleted
        ]
        return sorted(items, key=lambda item: (item[0][1] or "", item[0][2]))

    def _indexed(self) -> _Index:
        if len(self._objects) != self._index.size:  # objects stored kmock-style: start over
            self._index = _Index(size=len(self._objects))
            for key, obj in self._objects.items():
                self._index.add(key, {} if obj.deleted else _with_metadata(key, obj.raw))
        return self._index

    def _live_in(
        self, resource: kmock.resource, namespace: str | None = None, selector: _Selector | None = None
    ) -> list[tuple[ObjectKey, Body]]:
        """Like :meth:`_live`, of one resource, in one namespace (None: in every one). With a
        `selector` naming one label's value, a superset of its matches: only those are read."""
        index = self._indexed()
        term = next(
            ((key, next(iter(values))) for key, op, values in (selector.labels if selector else ())
             if op == "in" and len(values) == 1),
            None,
        )  # fmt: skip
        if term is not None and namespace is not None:
            keys = list(index.labelled.get((resource, namespace, *term), {}))
        else:
            keys = [
                key
                for (res, ns), names in index.names.items()
                if res == resource and (namespace is None or ns == namespace)
                for key in names
            ]
        items = [(key, obj) for key in keys if (obj := self._current(key)) is not None]
        return sorted(items, key=lambda item: (item[0][1] or "", item[0][2]))

    def _exists(self, uid: str | None) -> bool:
        key = self._indexed().uids.get(uid or "")
        current = None if key is None else self._current(key)
        return current is not None and current["metadata"].get("uid") == uid

    def _dependents(self, owner_uid: str) -> list[tuple[ObjectKey, Body]]:
        """The existing objects whose ownerReferences name `owner_uid`, sorted like :meth:`_live`."""
        found = []
        for key in list(self._indexed().dependents.get(owner_uid, {})):
            current = self._current(key)
            refs = (current or {}).get("metadata", {}).get("ownerReferences") or []
            if current is not None and any(ref.get("uid") == owner_uid for ref in refs):
                found.append((key, current))
        return sorted(found, key=lambda item: (item[0][1] or "", item[0][2]))

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, type_: str, resource: kmock.resource, old: Body | None, new: Body) -> None:
        self._log.append(_WatchEvent(self._rv, resource, type_, old, new))
        for wakeup in self._wakeups:
            wakeup.set()

    def _spec_part(self, resource: kmock.resource, obj: Mapping[str, Any]) -> Body:
        skipped = {"metadata", "status"} if self._has_status(resource) else {"metadata"}
        return {k: v for k, v in obj.items() if k not in skipped}

    def _create(self, resource: kmock.resource, url_namespace: str | None, body: Any) -> Body:
        if not self._known(resource):
            raise _not_found_resource(resource)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body is not a JSON object")
        obj: Body = copy.deepcopy(body)
        meta: Body = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata is not an object")
        if self._namespaced(resource):
            if url_namespace and (meta.get("namespace") or url_namespace) != url_namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            namespace = url_namespace or meta.get("namespace")
            if not namespace:
                raise ApiError(400, "BadRequest", "a namespaced object needs a namespace")
            meta["namespace"] = namespace
        else:
            namespace = None
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise _invalid(resource, "", "metadata.name: Required value: name or "
                               "generateName is required")
            suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            meta["name"] = meta["generateName"] + suffix
        name: str = meta["name"]
        key: ObjectKey = (resource, namespace, name)
        if self._current(key) is not None:
            raise ApiError(409, "AlreadyExists", f'{_qualified(resource)} "{name}" already exists',
                           _details(resource, name))
        obj = {"apiVersion": self._api_version(resource), "kind": self._kind(resource), **obj}
        for field in _SERVER_OWNED_METADATA:
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_rv()
        if self._has_status(resource):
            obj.pop("status", None)  # status is written through /status only
        index = self._indexed()
        if key in self._objects:
            self._objects[key].create(obj)  # keeps the history of earlier incarnations
        else:
            self._objects[key] = obj
            index.size += 1
        stored = self._objects[key].raw
        index.add(key, stored)
        self._emit("ADDED", resource, None, stored)
        self._run_controllers(key)
        self._collect_orphan(key)
        return stored  # as written; a controller's follow-up write comes later, as in a cluster

    def _collect_orphan(self, key: ObjectKey) -> None:
        """The garbage collector deletes a new dependent whose owners are all gone already.

        A client that read its owner just before the owner's deletion may create a
        child after the cascade ran; a real cluster collects it, and so does this.
        """
        current = self._current(key)
        refs: list[Body] = (current or {}).get("metadata", {}).get("ownerReferences") or []
        if not refs:
            return
        if not any(self._exists(ref.get("uid")) for ref in refs):
            self._delete(key)

    def _updated(
        self, key: ObjectKey, old: Body, new: Any, subresource: str | None
    ) -> Body:
        """Turn a client's full new body into what is stored: server-owned fields restored."""
        resource, _, name = key
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the body is not a JSON object")
        new_meta = new.get("metadata")
        if new_meta is None:
            new_meta = new["metadata"] = {}
        if not isinstance(new_meta, dict):
            raise ApiError(400, "BadRequest", "metadata is not an object")
        requested_rv = new_meta.get("resourceVersion")
        if requested_rv not in (None, "") and str(requested_rv) != str(
            old["metadata"].get("resourceVersion")
        ):
            raise _conflict(resource, name)
        if new_meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({new_meta.get('name')}) "
                           f"does not match the name on the URL ({name})")
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            return result
        result = copy.deepcopy(new)
        meta = result["metadata"]
        for field in (*_SERVER_OWNED_METADATA, "name", "namespace"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        result["apiVersion"] = self._api_version(resource)
        result["kind"] = self._kind(resource)
        if self._has_status(resource):
            if "status" in old:
                result["status"] = old["status"]
            else:
                result.pop("status", None)
        if old["metadata"].get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if added:
                raise _invalid(resource, name, "metadata.finalizers: Forbidden: no new finalizers "
                               "can be added if the object is being deleted")
        return result

    def _commit(self, key: ObjectKey, old: Body, new: Body, *, controllers: bool = True) -> Body:
        """Store the next version of an existing object; a no-op changes nothing at all."""
        if new == old:
            return old
        resource = key[0]
        meta = new["metadata"]
        generation = int(old["metadata"].get("generation", 1))
        if self._spec_part(resource, new) != self._spec_part(resource, old):
            generation += 1
        meta["generation"] = generation
        meta["resourceVersion"] = self._next_rv()
        self._objects[key].history.append(new)
        stored = self._objects[key].raw
        if meta.get("ownerReferences") != old["metadata"].get("ownerReferences") or meta.get(
            "labels"
        ) != old["metadata"].get("labels"):
            self._indexed().add_references(key, stored)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key, stored)
            return stored
        self._emit("MODIFIED", resource, old, stored)
        if controllers:
            self._run_controllers(key)
        return stored

    def _delete(self, key: ObjectKey, options: Any = None) -> Body:
        resource, _, name = key
        obj = self._current(key)
        if obj is None:
            raise _not_found(resource, name)
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        for field in ("resourceVersion", "uid"):
            expected = preconditions.get(field)
            if expected is not None and str(expected) != obj["metadata"].get(field):
                raise _conflict(resource, name, f"Precondition failed: {field} in precondition: "
                                f"{expected}, {field} in object meta: {obj['metadata'].get(field)}")
        if obj["metadata"].get("deletionTimestamp"):
            return obj  # already being deleted, waiting for its finalizers
        if obj["metadata"].get("finalizers"):
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = _now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[key].history.append(new)
            stored = self._objects[key].raw
            self._emit("MODIFIED", resource, obj, stored)
            return stored
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = self._next_rv()
        self._remove(key, final)
        return final

    def _remove(self, key: ObjectKey, final: Body) -> None:
        """Finally remove an object (its resourceVersion already bumped), then collect garbage."""
        self._objects[key].delete()
        self._emit("DELETED", key[0], final, final)
        uid = final["metadata"].get("uid")
        if uid:
            self._collect_garbage(uid)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background propagation: delete the dependents left with no existing owner."""
        for key, obj in self._dependents(owner_uid):
            refs: list[Body] = obj["metadata"].get("ownerReferences") or []
            current = self._current(key)
            if current is None:
                continue  # already collected in this cascade
            if any(self._exists(ref.get("uid")) for ref in refs if ref.get("uid") != owner_uid):
                new = copy.deepcopy(current)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                self._commit(key, current, new)
            else:
                self._delete(key)

    # -- serving writes (kmock fallbacks) --------------------------------------------------------

    def _check_write(self, request: kmock.Request) -> None:
        if request.params.get("dryRun"):
            raise ApiError(400, "BadRequest", "the emulator does not implement dryRun")

    def _key(self, request: kmock.Request) -> ObjectKey:
        assert request.resource is not None
        assert request.name is not None
        if not self._known(request.resource):
            raise _not_found_resource(request.resource)
        namespace = request.namespace if self._namespaced(request.resource) else None
        return (request.resource, namespace, request.name)

    def _existing(self, key: ObjectKey, subresource: str | None) -> Body:
        obj = self._current(key)
        if obj is None:
            raise _not_found(key[0], key[2])
        if subresource not in (None, "status") or (
            subresource == "status" and not self._has_status(key[0])
        ):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource "
                           f"({_qualified(key[0])}/{subresource})")
        return obj

    async def _serve_create(self, request: kmock.Request) -> rendering.Response:
        assert request.resource is not None
        self._check_write(request)
        obj = self._create(request.resource, request.namespace, request.data)
        return rendering.Response(status=201, payload=obj)

    async def _serve_update(self, request: kmock.Request) -> Body:
        """PATCH, by the patch type in the Content-Type header."""
        content_type = _content_type(request.headers)
        if content_type == APPLY_PATCH:  # before anything else: SSA may also create objects
            raise ApiError(415, "UnsupportedMediaType",
                           "the emulator in tests/emulator.py does not implement server-side apply "
                           f"({APPLY_PATCH}); use a merge or JSON patch, or test this on a real "
                           "cluster (tests/e2e)")
        key = self._key(request)
        self._check_write(request)
        old = self._existing(key, request.subresource)
        resource, _, name = key
        patch = request.data
        if content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            if not isinstance(patch, dict):
                raise ApiError(400, "BadRequest", f"a {content_type} body must be a JSON object")
            if content_type == STRATEGIC_MERGE_PATCH and _has_directives(patch):
                raise _invalid(resource, name, "the emulator treats strategic merge patches as "
                               "merge patches and does not implement $-directives")
            new = merge_patch(old, patch)
        elif content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value "
                               "of type jsonpatch.Patch")
            try:
                new = jsonpatch.JsonPatch(patch).apply(copy.deepcopy(old))
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                raise _invalid(resource, name, f"the JSON patch cannot be applied: {e}") from e
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an "
                           f"unknown format ({content_type}) - accepted media types include: "
                           f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}")
        return self._commit(key, old, self._updated(key, old, new, request.subresource))

    async def _serve_replace(self, request: kmock.Request) -> Body:
        """PUT: replace the whole object (or its status)."""
        if request.resource is None or request.name is None:
            raise kmock.KubernetesEndpointNotFoundError()
        key = self._key(request)
        self._check_write(request)
        old = self._existing(key, request.subresource)
        return self._commit(key, old, self._updated(key, old, request.data, request.subresource))

    async def _serve_delete(self, request: kmock.Request) -> Body:
        key = self._key(request)
        self._check_write(request)
        self._existing(key, request.subresource)
        return self._delete(key, request.data)

    # -- serving reads (kmock fallbacks) ---------------------------------------------------------

    async def _serve_fetch(self, request: kmock.Request) -> Body:
        key = self._key(request)
        return self._existing(key, request.subresource)

    def _selector(self, request: kmock.Request) -> _Selector:
        try:
            return parse_selector(
                request.params.get("labelSelector", ""), request.params.get("fieldSelector", "")
            )
        except ValueError as e:
            raise ApiError(400, "BadRequest", str(e)) from e

    def _visible(
        self, request: kmock.Request, selector: _Selector, resource: kmock.resource, obj: Body
    ) -> bool:
        meta = obj.get("metadata", {})
        return (
            resource == request.resource
            and (request.namespace is None or meta.get("namespace") == request.namespace)
            and (request.name is None or meta.get("name") == request.name)
            and selector.matches(obj)
        )

    async def _serve_list(self, request: kmock.Request) -> Body:
        assert request.resource is not None
        if not self._known(request.resource):
            raise _not_found_resource(request.resource)
        selector = self._selector(request)
        items = [
            obj for key, obj in self._live_in(request.resource, request.namespace, selector)
            if self._visible(request, selector, key[0], obj)
        ]
        return {
            "apiVersion": self._api_version(request.resource),
            "kind": f"{self._kind(request.resource)}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        # Validate before the stream starts (a plain function, not a generator), so that
        # errors are plain Status answers.
        assert request.resource is not None
        if not self._known(request.resource):
            raise _not_found_resource(request.resource)
        selector = self._selector(request)
        timeout = request.params.get("timeoutSeconds")
        return self._watch(request, selector, float(timeout) if timeout else None)

    async def _watch(
        self, request: kmock.Request, selector: _Selector, timeout: float | None
    ) -> AsyncIterator[Any]:
        # Take the starting point before the headers go out: a client may write as soon as it
        # sees them, and that write must be in this stream.
        assert request.resource is not None
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        since = request.params.get("resourceVersion", "")
        initial = request.params.get("sendInitialEvents") == "true"
        position = len(self._log)
        snapshot: list[Body] = []
        if since in ("", "0") or initial:
            snapshot = [{"type": "ADDED", "object": obj} for key, obj
                        in self._live_in(request.resource, request.namespace)
                        if self._visible(request, selector, key[0], obj)]
            if initial:
                snapshot.append({"type": "BOOKMARK", "object": self._bookmark(request.resource)})
        elif since.isdigit() and int(since) <= self._rv:
            position = bisect.bisect_right(self._log, int(since), key=lambda e: e.rv)
        else:  # not ours (e.g. from an earlier emulator): make the client list again
            snapshot = [{"type": "ERROR", "object": _gone(since)}]
        try:
            yield b""  # send the headers now, even if nothing happens for a while
            for event in snapshot:
                yield event
                if event["type"] == "ERROR":
                    return
            while not self._closed:
                while position < len(self._log):
                    logged = self._log[position]
                    position += 1
                    translated = self._translate(request, selector, logged)
                    if translated is not None:
                        yield translated
                wakeup.clear()
                remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
                if remaining is not None and remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await wakeup.wait()
        finally:
            self._wakeups.discard(wakeup)

    def _translate(
        self, request: kmock.Request, selector: _Selector, event: _WatchEvent
    ) -> Body | None:
        """What a filtered watch sees: objects entering/leaving the selector are ADDED/DELETED."""
        now = self._visible(request, selector, event.resource, event.new)
        before = event.old is not None and self._visible(request, selector, event.resource, event.old)
        if event.type == "MODIFIED" and now and not before:
            return {"type": "ADDED", "object": event.new}
        if event.type == "MODIFIED" and before and not now:
            return {"type": "DELETED", "object": event.new}
        if event.type == "DELETED":
            return {"type": "DELETED", "object": event.new} if before else None
        return {"type": event.type, "object": event.new} if now else None

    def _bookmark(self, resource: kmock.resource | None) -> Body:
        assert resource is not None
        return {
            "apiVersion": self._api_version(resource),
            "kind": self._kind(resource),
            "metadata": {
                "resourceVersion": str(self._rv),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        }

    def close(self) -> None:
        """End every open watch stream (done by :func:`run_emulator` on exit)."""
        self._closed = True
        for wakeup in self._wakeups:
            wakeup.set()


def _with_metadata(key: ObjectKey, raw: Body) -> Body:
    """Objects seeded kmock-style (``emulator.objects[...] = {...}``) may lack metadata."""
    meta = raw.get("metadata")
    if isinstance(meta, dict) and meta.get("name") == key[2]:
        return raw
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["name"] = key[2]
    if key[1] is not None:
        meta["namespace"] = key[1]
    return {**raw, "metadata": meta}


def _details(resource: kmock.resource, name: str) -> Body:
    return {"name": name, "group": resource.group, "kind": resource.plural}


def _not_found(resource: kmock.resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource)} "{name}" not found',
                    _details(resource, name))


def _not_found_resource(resource: kmock.resource) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource "
                    f"({_resource_id(resource)} is not declared in the emulator)")


def _conflict(resource: kmock.resource, name: str, why: str | None = None) -> ApiError:
    message = why or ("the object has been modified; please apply your changes "
                      "to the latest version and try again")
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": {message}',
                    _details(resource, name))


def _invalid(resource: kmock.resource, name: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f'{_qualified(resource)} "{name}" is invalid: {message}',
                    _details(resource, name))


def _gone(since: str) -> Body:
    return {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "code": 410, "reason": "Expired",
        "message": f"too old or unknown resource version: {since}",
    }


def _deployment_status(obj: Mapping[str, Any], *, ready: bool) -> Body:
    """The status the Deployment controller writes once the pods are (or are not yet) ready."""
    name = obj["metadata"]["name"]
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    old = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    now = _now()

    def condition(type_: str, status: str, reason: str, message: str) -> Body:
        previous = old.get(type_) or {}
        unchanged = previous.get("status") == status
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastUpdateTime": previous.get("lastUpdateTime", now) if unchanged else now,
            "lastTransitionTime": previous.get("lastTransitionTime", now) if unchanged else now,
        }

    counts = {
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas if ready else 0,
        "availableReplicas": replicas if ready else 0,
        "unavailableReplicas": 0 if ready else replicas,
    }
    status: Body = {"observedGeneration": obj["metadata"].get("generation", 1)}
    status.update({k: v for k, v in counts.items() if v})  # the API omits zero counts
    if ready:
        status["conditions"] = [
            condition("Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability."),
            condition("Progressing", "True", "NewReplicaSetAvailable",
                      f'ReplicaSet "{name}" has successfully progressed.'),
        ]
    else:
        status["conditions"] = [
            condition("Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability."),
            condition("Progressing", "True", "ReplicaSetUpdated",
                      f'ReplicaSet "{name}" is progressing.'),
        ]
    return status


def _pod_status(template: Mapping[str, Any], *, ready: bool) -> Body:
    """A scheduled pod whose init containers completed and whose containers run."""
    spec = template.get("spec") or {}
    flag = "True" if ready else "False"
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": flag},
            {"type": "Ready", "status": flag},
        ],
        "initContainerStatuses": [
            {"name": c["name"], "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            for c in spec.get("initContainers") or []
        ],
        "containerStatuses": [
            {"name": c["name"], "ready": ready, "started": True, "restartCount": 0,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
            for c in spec.get("containers") or []
        ],
    }  # fmt: skip


def _same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def essence(status: Mapping[str, Any]) -> Body:
        conditions = [
            (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
        ]
        return {**{k: v for k, v in status.items() if k != "conditions"}, "conditions": conditions}

    return essence(old) == essence(new)


# -- running it ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def run_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    resources: Iterable[ResourceSpec] = DEFAULT_RESOURCES,
    deployments_become_available: bool = False,
) -> AsyncIterator[KubeEmulator]:
    """Serve a :class:`KubeEmulator` over HTTP; ``emulator.url`` is where (port 0: any free one)."""
    emulator = KubeEmulator()
    emulator.declare(*resources)
    emulator.deployments_become_available = deployments_become_available
    async with emulator, kmock.Server(emulator, host=host, port=port or None):
        try:
            yield emulator
        finally:
            emulator.close()
            await asyncio.sleep(0)  # let the watch streams see it and end


def kubeconfig(url: str, *, namespace: str = "default") -> Body:
    """A kubeconfig for the emulator: plain http, no credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": str(url).rstrip("/")}}],
        "users": [{"name": "emulator", "user": {}}],
        "contexts": [{"name": "emulator", "context": {
            "cluster": "emulator", "user": "emulator", "namespace": namespace}}],
        "current-context": "emulator",
        "preferences": {},
    }


def write_kubeconfig(path: str | Path, url: object, *, namespace: str = "default") -> Path:
    """Write :func:`kubeconfig` to ``path`` (for ``KUBECONFIG=path kopf run ...``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(str(url), namespace=namespace), sort_keys=False))
    return target


async def _serve_forever(args: argparse.Namespace) -> None:
    specs = [*DEFAULT_RESOURCES, *(ResourceSpec.parse(text) for text in args.resources)]
    async with run_emulator(
        args.host, args.port, resources=specs,
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
        prog="python -m tests.emulator",
        description="Run the emulated Kubernetes API until interrupted; prints its URL first.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument(
        "--resources", nargs="*", default=[], metavar="SPEC",
        help="more resources: [group/]version/plural[:Kind][:cluster][:status]",
    )
    parser.add_argument(
        "--no-deployments-available", action="store_true",
        help="leave Deployment status alone (by default they become available, as in a demo)",
    )
    asyncio.run(_serve_forever(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
