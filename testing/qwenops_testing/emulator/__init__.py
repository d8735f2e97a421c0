"""An emulated Kubernetes API for the operator's tests, the demo and the benchmarks.

``kmock.KubernetesEmulator`` (kmock 0.8) is a plain JSON store: no uid,
resourceVersion or generation, PUT merges, a PATCH on ``/status`` also changes
``spec``, no label selectors, no garbage collection, no admission, and a
server-side-apply PATCH answers 200 while changing nothing. :class:`KubeEmulator`
keeps kmock's server, DSL, request recording and ``objects`` store, and replaces
what it does on writes, lists and watches with what a Kubernetes 1.35 API server
does that an operator relies on:

* object metadata: ``uid``, ``creationTimestamp``, a global monotonically
  increasing ``resourceVersion`` (bumped on every write that changes
  something), ``generation`` (1 on create, +1 when anything outside
  ``metadata``/``status`` changes, or outside ``metadata`` for resources
  without a status subresource, and when a deletion is marked; a Deployment's
  also when its annotations change, as apps/v1 does) (objects.py, store.py);
* admission on every create and update, over HTTP or through
  :meth:`KubeEmulator.create_object` / :meth:`KubeEmulator.patch_object`
  (admission.py): a CRD's pruning, structural defaults, OpenAPI schema and CEL
  rules, ratcheted on updates (:meth:`KubeEmulator.install_crd`; the
  QwenDeployment CRD is installed by :func:`run_emulator`), with
  ``fieldValidation`` (``Strict``: unknown fields a 400; ``Warn``, the default:
  a ``Warning`` header, kept in :attr:`RecordedRequest.warnings`; ``Ignore``);
  the status subresource checked against the status schema; errors as the API
  server words them (``Invalid`` with ``details.causes``); a namespaced create
  only in an existing namespace; at most one ``controller: true``
  ownerReference; the defaults of Services (with a cluster IP), Deployments,
  pod templates and pods, and their resource quantities canonical
  (defaults.py, quantity.py). :meth:`KubeEmulator.without_schema` stores a
  custom resource as written, as an older, looser CRD would have;
* the ``status`` subresource, for resources declared with it; ``scale`` for Deployments and
  ReplicaSets (workload_scale.py);
* the ``scale`` subresource of a CRD declaring one (scale.py): an ``autoscaling/v1`` Scale read
  and written (PUT, merge or JSON patch) at the CRD's replica paths, through the object's admission;
* optimistic concurrency: 409 Conflict on a stale ``metadata.resourceVersion``
  (in a PUT/PATCH body or in the DeleteOptions' preconditions);
* the patch types by ``Content-Type`` (patches.py): merge patch (RFC 7386), JSON patch
  (RFC 6902, a failing ``test`` answers 422), strategic merge patch of the built-in kinds by
  the merge keys and strategies of Kubernetes 1.35's definitions, with its ``$``-directives
  (strategic.py; a custom resource's answers 415), server-side apply with ``managedFields``,
  conflicts and ``force`` (apply.py; lists atomic, the built-in kinds' too); PUT replaces the
  whole object; ``dryRun=All`` on every write (dry_run.py); RBAC for the bearer tokens
  :meth:`KubeEmulator.enforce_rbac` names (rbac.py: a 403 for what the stored Roles and
  ClusterRoles bound to their users do not allow; off by default);
* ``labelSelector`` and ``fieldSelector`` (``metadata.name``, ``metadata.namespace``, and the
  field labels of Events, pods, nodes and namespaces) on lists and watches (selectors.py);
  watches resume from a ``resourceVersion``, honour ``sendInitialEvents`` and
  ``timeoutSeconds`` (watches.py), typed ``application/json;stream=watch``;
* what real clients read (clients.py), so that kubectl 1.35 works against it (tests/clients):
  discovery as a 1.35 server answers it (discovery.py: the core group ``v1``, subresources as
  ``name/sub`` entries, ``/version`` 1.35; aggregated discovery answered as by a server without
  it, so clients fall back to the group documents), OpenAPI v3 (openapi.py: the CRD's schema,
  and Kubernetes 1.35's definitions from kubernetes-validate's package data for the built-in
  kinds), Tables (tables.py: a CRD's ``additionalPrinterColumns``, the built-in kinds' usual
  columns in columns.py, ``includeObject``, watches too); one store for ``v1`` and
  ``events.k8s.io/v1`` Events (events.py); ``fieldValidation=Strict`` refusing an unknown field
  of a built-in kind (builtin_fields.py); CRDs as ``apiextensions.k8s.io/v1`` objects where
  :data:`CRD_RESOURCE` is declared (crds.py: a CRD written through the API is served); the kinds
  `helm install` of the chart writes, as plain objects, where :data:`PLATFORM_RESOURCES` are;
* finalizers, and deletion as the garbage collector carries it out (collector.py): background,
  foreground (the ``foregroundDeletion`` finalizer until no dependent with ``blockOwnerDeletion``
  is left) and orphan propagation, from the DeleteOptions or the query; a running pod terminates
  gracefully, keeping its deletionTimestamp until its containers stop or its grace period ends;
* ``/api/v1/namespaces`` (kmock's path parser crashes on it; dispatch.py);
  :func:`run_emulator` starts with the namespace ``default``, and the suites
  create theirs;
* a change log compacted as etcd compacts (:meth:`KubeEmulator.compact`,
  :attr:`KubeEmulator.compaction_window`): a watch from a compacted resourceVersion, or an open
  stream a compaction expires, gets an ERROR event with a 410 ``Expired`` Status; periodic
  BOOKMARKs with ``allowWatchBookmarks=true`` (:attr:`KubeEmulator.bookmark_interval`);
* the cluster's controllers, simulated and asynchronous (controllers.py; they run in the event
  loop after the request that woke them is answered, so ``observedGeneration`` lags): the
  Deployment controller (deployments.py: a ReplicaSet ``<deployment>-<pod-template-hash>`` per
  template, rolled out within the strategy's ``maxSurge``/``maxUnavailable``, or recreated; the
  real status counts and ``Available``/``Progressing`` conditions, ``ProgressDeadlineExceeded``
  included), the ReplicaSet controller (replicasets.py: pods ``<replicaset>-<suffix>`` created one
  after another), the scheduler (scheduler.py: unlimited without Node objects; with nodes from
  :meth:`KubeEmulator.add_nodes`, finite ``nvidia.com/gpu``, taints and tolerations,
  ``nodeSelector`` and required node affinity, and kube-scheduler's ``Unschedulable`` message when
  a pod fits nowhere; pods retried as room frees) and the kubelets (kubelet.py: each pod starts,
  loads and becomes ready on its own clock, :attr:`KubeEmulator.pod_timing`). Nobody runs a
  Deployment's pods until :attr:`KubeEmulator.deployments_become_available` or
  :meth:`KubeEmulator.set_deployment_ready` says so; :meth:`KubeEmulator.set_pod_status` gives
  them a status of the test's own. Evictions: the Eviction subresource,
  :meth:`KubeEmulator.evict_pod` and :meth:`KubeEmulator.drain_node` (nodes.py);
* a request log: :meth:`KubeEmulator.request_log` and :meth:`KubeEmulator.writes`; every
  stored version of an object: :meth:`KubeEmulator.versions`.

Start it with :func:`run_emulator`; give a subprocess (e.g. ``kopf run``) a
kubeconfig from :func:`write_kubeconfig`; run it standalone with
``python -m qwenops_testing.emulator --port 0 --kubeconfig PATH`` (server.py).

Deliberately left out (a real cluster shows these): the validation of built-in
objects (a Deployment or Service is defaulted, never refused, and, unless the write
asks for ``Strict`` or ``Warn``, keeps fields its type does not have; names are not
checked as DNS names), the defaults of
kinds other than Services, Deployments and pods (an HTTPRoute's, for one), what
admission plugins add to pods (service account, tolerations, priority),
NodePort allocation, validating and mutating webhooks, admission policies,
authentication and RBAC but as rbac.py has it, ``date-time`` and other formats, duplicate JSON
keys, managedFields beyond apply.py's, protobuf bodies but a Secret's, a ConfigMap's, a
Namespace's and DeleteOptions (protobuf.py: what helm's release storage and ``kubectl create
namespace`` write; ``kubectl create deployment`` is not understood) and CBOR bodies, aggregated
discovery, OpenAPI v2, pagination (``limit``/``continue`` are ignored, lists are
whole), ``resourceVersion`` on lists (always the latest state), namespace
deletion cascading to the objects in it, Endpoints and EndpointSlices,
PodDisruptionBudgets (an eviction is never refused), priorities and preemption (no pod is ever
a victim), CPU and memory pressure (a node has room for any CPU and memory asked), failing
probes and restarts (but as :meth:`KubeEmulator.set_pod_status` writes them), and every
controller but the four above. The garbage collector acts within the request, where the real one
acts a moment later.
"""

from qwenops_testing.emulator.api import KubeEmulator
from qwenops_testing.emulator.errors import ApiError
from qwenops_testing.emulator.patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    merge_patch,
)
from qwenops_testing.emulator.request_log import RecordedRequest
from qwenops_testing.emulator.resources import (
    CRD_RESOURCE,
    DEFAULT_RESOURCES,
    DEPLOYMENTS,
    PLATFORM_RESOURCES,
    PODS,
    SERVICES,
    ResourceSpec,
)
from qwenops_testing.emulator.server import (
    DEFAULT_NAMESPACES,
    default_crds,
    kubeconfig,
    run_emulator,
    write_kubeconfig,
)

__all__ = [
    "APPLY_PATCH",
    "CRD_RESOURCE",
    "DEFAULT_NAMESPACES",
    "DEFAULT_RESOURCES",
    "DEPLOYMENTS",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PLATFORM_RESOURCES",
    "PODS",
    "SERVICES",
    "STRATEGIC_MERGE_PATCH",
    "ApiError",
    "KubeEmulator",
    "RecordedRequest",
    "ResourceSpec",
    "default_crds",
    "kubeconfig",
    "merge_patch",
    "run_emulator",
    "write_kubeconfig",
]
