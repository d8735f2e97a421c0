"""One reconcile pass of one QwenDeployment: observe, decide, render, apply, write status.

The pass is handed the object as just read (:mod:`qwenops.controller.triggers` reads it under
a per-object lock, so two triggers never act on the same stale snapshot), the API client, and
the time. Status is written with the resourceVersion it was read at, so a stale write fails
instead of undoing a newer one. A pass about to change a child first writes nothing to the
status on that same resourceVersion (:class:`_Fence`): a decision made on a status another
writer has since changed stops before it touches a child.

A child is the QwenDeployment's only when its `controller: true` ownerReference carries the
QwenDeployment's uid. Whatever else holds a child's name (another QwenDeployment's child, a
Service Helm made, another controller's object) is never patched, adopted or deleted: the pass
leaves it as it is and names it in the status (`ChildConflict`).
"""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import cast

import kopf

from qwenops.api import naming
from qwenops.api.errors import InvalidSpecError
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import QwenDeploymentStatus
from qwenops.controller.accounting import record_pass, spec_of
from qwenops.controller.config import OperatorConfig
from qwenops.controller.observe import (
    conflict,
    controls,
    dump_status,
    observe_deployment,
    pod_counts,
    read_status,
    rejection_of,
    startups_of,
    with_scale,
)
from qwenops.controller.pools import pool_children, remove_strays
from qwenops.controller.reader import Reader
from qwenops.io import kube, kube_errors
from qwenops.policy import startup
from qwenops.policy.conclude import report_conflicts, without_conflicts
from qwenops.policy.rollout import (
    Event,
    Observed,
    Plan,
    decide,
    reading_due,
    refuse,
    resolve_target,
)
from qwenops.render.defaults import revision_of, with_hub, with_image, with_prometheus
from qwenops.render.desired import Manifest, Owner, desired_deployment, desired_services
from qwenops.render.diff import ensure_action, merge_patch
from qwenops.render.pools import desired_pool_objects
from qwenops.render.startup_budget import cache_is_warm, startup_budget
from qwenops.routing.registry import router_for
from qwenops.routing.router import ObservedRoute

PostEvent = Callable[[Manifest, Event], None]
"""Posts a Kubernetes Event about the QwenDeployment `body`."""

log = logging.getLogger(__name__)


def post_event(body: Manifest, event: Event) -> None:
    """Through kopf, which posts it in the background."""
    owner = kopf.Body(cast(kopf.RawBody, body))
    kopf.event(owner, type=event.type, reason=event.reason, message=event.message)


async def reconcile(
    client: kube.KubeClient,
    body: Manifest,
    config: OperatorConfig,
    reader: Reader,
    now: datetime,
    post: PostEvent = post_event,
) -> timedelta | None:
    """One pass over `body`; returns when it wants to be looked at again (None: at the next resync)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = meta.get("generation")
    stored = read_status(body.get("status"))
    try:
        parsed = with_image(parse_spec(name, body.get("spec")), config.serving_image)
        spec = with_prometheus(with_hub(parsed, config.hf_endpoint), config.prometheus_url)
    except InvalidSpecError as exc:
        refused, event = refuse(stored, exc.problems, generation, now)
        if await _write_status(client, body, stored, refused) and event is not None:
            post(body, event)
        return None
    status = without_conflicts(stored)  # the status as the rollout wrote it, decided on

    owner = Owner(name=name, namespace=namespace, uid=meta["uid"])
    listed = await _children(client, namespace, name)
    live_by_revision = {
        d["metadata"]["labels"][naming.LABEL_REVISION]: d
        for (kind, _), d in listed.items()
        if kind == "Deployment" and controls(owner, d)
    }  # only its own: a label proves nothing
    route = await _route(client, spec, namespace, name)
    listed_pools = await pool_children(client, spec, namespace, name)  # apart: no revision's Deployment
    live_pods = await client.list_labelled(kube.PODS, namespace, {naming.LABEL_DEPLOYMENT: name})
    observed = Observed(
        generation=generation,
        deployments={rev: observe_deployment(rev, d) for rev, d in live_by_revision.items()},
        annotations=meta.get("annotations") or {},
        route=route,
        startups=startups_of(live_by_revision, live_pods),
        pods=pod_counts(live_pods),
    )
    # A person's undo may pin an earlier revision in place of the spec's own.
    resolved = resolve_target(spec, revision_of(spec), status, observed.annotations, now, generation)
    spec, target = resolved.spec, resolved.revision
    reading = None
    if (due := reading_due(spec, target, resolved.status, now)) is not None:
        reading = await reader(spec, owner, due.canary, due.stable, due.step_started_at, now)
    plan = decide(spec, target, resolved.status, observed, now, reading)
    new_status, stage_change = _report_startup(spec, target, status, plan, observed, now)

    try:
        conflicts = await _apply(
            client, body, owner, spec, target, plan, (listed, listed_pools), live_by_revision, route
        )
    except _StaleReadError:
        log.info("%s/%s changed since it was read; will decide again", namespace, name)
        return timedelta(0)

    new_status, conflicted = report_conflicts(new_status, conflicts, now, generation)
    serving = (plan.stable_revision, plan.canary_revision)
    new_status = with_scale(new_status, name, observed.deployments, serving)
    if await _write_status(client, body, stored, new_status):
        for event in (*resolved.events, *plan.events, *([conflicted] if conflicted else [])):
            post(body, event)
        if stage_change is not None:
            post(body, Event("Warning" if stage_change.warning else "Normal", stage_change.reason,
                             stage_change.message))  # fmt: skip
        record_pass(namespace, name, spec, target, (status, new_status), plan, observed, now)
    return plan.requeue_after


async def _apply(
    client: kube.KubeClient,
    body: Manifest,
    owner: Owner,
    spec: QwenDeploymentSpec,
    target: str,
    plan: Plan,
    children: tuple[dict[tuple[str, str], Manifest], dict[tuple[str, str], Manifest]],
    live_by_revision: Mapping[str, Manifest],
    route: ObservedRoute | None,
) -> list[str]:
    """Make the children what `plan` says; the names held by objects this QwenDeployment does not
    control (left untouched). `children`: those listed, and apart the revisions' pools and pickers.
    Raises _StaleReadError when the object changed since it was read."""
    fence = _Fence(client, body)
    listed = {**children[0], **children[1]}
    conflicts: list[str] = []
    # The Services first: traffic leaves a revision before any of its pods does (a way back after
    # promotion sends it to the warm pods before the new revision's Deployment goes to 0).
    services = desired_services(
        owner, stable=plan.stable_revision, canary=plan.canary_revision, warm=plan.warm_revision
    )
    for service in services:
        found = await _stored(client, listed, service)
        outcome = await client.ensure(service, found, known=True, before_write=fence.check)
        await _settled(client, outcome, service, found, conflicts)
    for wanted in plan.deployments:
        pods = spec_of(spec, target, wanted.revision, plan.status)
        current = live_by_revision.get(wanted.revision)
        # A rollback is marked on the Deployment by the write that scales it to 0, before the
        # status says so: a pass whose status write is lost leaves the decision where the next
        # one reads it first.
        desired = desired_deployment(
            owner, pods, wanted.revision, track=wanted.track, replicas=wanted.replicas,
            rejection=wanted.rejection,
            marked=current is not None and rejection_of(current) is not None,
        )  # fmt: skip
        found = await _stored(client, listed, desired)
        outcome = await client.ensure(desired, found, known=True, before_write=fence.check)
        await _settled(client, outcome, desired, found, conflicts)
        for child in desired_pool_objects(owner, spec, wanted.revision, running=wanted.replicas > 0):
            found = await _stored(client, listed, child)
            outcome = await client.ensure(child, found, known=True, before_write=fence.check)
            await _settled(client, outcome, child, found, conflicts)
            if outcome == "conflict":
                break  # the pool comes last: it never names a picker that is not its revision's own
    if route is not None:
        serving = route.between(plan.stable_revision, plan.canary_revision)
        await _set_weights(client, spec, serving, plan.canary_weight, fence.check)
    # Each one controlled (they come from the Deployments listed), and deleted only if the object
    # at its name is still that one: one made meanwhile has another uid.
    for stray in (live_by_revision[revision]["metadata"] for revision in plan.delete):
        await fence.check()
        if await client.delete(kube.DEPLOYMENTS, owner.namespace, stray["name"], uid=stray["uid"]):
            log.info("deleted Deployment %s/%s", owner.namespace, stray["name"])
    await remove_strays(client, owner, children[1], {d.revision for d in plan.deployments}, fence.check)
    return conflicts


def _report_startup(
    spec: QwenDeploymentSpec,
    target: str,
    before: QwenDeploymentStatus,
    plan: Plan,
    observed: Observed,
    now: datetime,
) -> tuple[QwenDeploymentStatus, startup.StageChange | None]:
    """The plan's status, saying where the newest revision's pods are (the canary's, else the stable's)."""
    revision = plan.canary_revision or plan.stable_revision
    wanted = next((d.replicas for d in plan.deployments if d.revision == revision), 0)
    found = observed.startups.get(revision)
    if wanted == 0 or found is None:
        return startup.report(plan.status, None, None, now=now, generation=observed.generation)
    model = spec_of(spec, target, revision, plan.status).model
    budget = startup_budget(model, warm_cache=cache_is_warm(model, before))
    return startup.report(plan.status, found, budget, now=now, generation=observed.generation)


CHILDREN = {"Deployment": kube.DEPLOYMENTS, "Service": kube.SERVICES, "InferencePool": kube.INFERENCEPOOLS}
"""Where the API keeps each kind of child (the chart's RBAC test reads this)."""


async def _children(client: kube.KubeClient, namespace: str, name: str) -> dict[tuple[str, str], Manifest]:
    """Every Deployment and Service carrying the QwenDeployment's label, by kind and name: its own
    or not, for a child's name is taken by whatever holds it."""
    selector = {naming.LABEL_DEPLOYMENT: name}
    deployments = await client.list_labelled(kube.DEPLOYMENTS, namespace, selector)
    services = await client.list_labelled(kube.SERVICES, namespace, selector)
    return {
        **{("Deployment", d["metadata"]["name"]): d for d in deployments},
        **{("Service", s["metadata"]["name"]): s for s in services},
    }


async def _stored(
    client: kube.KubeClient, listed: dict[tuple[str, str], Manifest], desired: Manifest
) -> Manifest | None:
    """The object at `desired`'s name: as listed, else read by name (it may lack the labels)."""
    meta = desired["metadata"]
    found = listed.get((desired["kind"], meta["name"]))
    if found is None:
        found = await client.get(CHILDREN[desired["kind"]], meta["namespace"], meta["name"])
    return found


async def _settled(
    client: kube.KubeClient,
    outcome: kube.Outcome,
    desired: Manifest,
    found: Manifest | None,
    conflicts: list[str],
) -> None:
    """Log what `ensure` did; a name held by an object this QwenDeployment does not control is
    left alone, and the object named in `conflicts`."""
    meta = desired["metadata"]
    where = f"{desired['kind']} {meta['namespace']}/{meta['name']}"
    if outcome in ("created", "updated"):
        log.info("%s %s", outcome, where)
    elif outcome == "conflict":
        holder = found or await _stored(client, {}, desired)  # made meanwhile: by whom?
        if holder is None or ensure_action(desired, holder)[0] != "conflict":
            log.info("%s made meanwhile by another pass of this QwenDeployment", where)
        else:
            conflicts.append(conflict(desired["kind"], holder))
            log.warning("left alone: %s", conflicts[-1])


ROUTER_OBJECTS = {"HTTPRoute": kube.HTTPROUTES}
"""Where the API keeps each kind of object a router sets weights on (the chart's RBAC test reads this)."""


async def _route(
    client: kube.KubeClient, spec: QwenDeploymentSpec, namespace: str, name: str
) -> ObservedRoute | None:
    """The object the router keeps the weights on, as read now (None: the router reads none)."""
    watched = router_for(spec.rollout.traffic_routing).watched()
    if watched is None:
        return None
    found = await client.get(ROUTER_OBJECTS[watched.kind], namespace, watched.name)
    return ObservedRoute(owner=name, found=found)


async def _set_weights(
    client: kube.KubeClient,
    spec: QwenDeploymentSpec,
    route: ObservedRoute,
    weight: int,
    before_write: kube.BeforeWrite,
) -> None:
    """Set the canary's weight on the router's object (conditional on the version read) and check it took."""
    router = router_for(spec.rollout.traffic_routing)
    patch, watched = router.weights_patch(route, weight), router.watched()
    if patch is None or watched is None or route.found is None:
        return
    await before_write()
    meta = route.found["metadata"]
    patched = await client.patch(ROUTER_OBJECTS[watched.kind], meta["namespace"], meta["name"], patch)
    readback = ObservedRoute(route.owner, patched, route.stable, route.canary)
    if router.not_carried(readback, weight) is not None:
        where = f"{meta['namespace']}/{meta['name']}"
        log.warning("%s %s did not take weight %s%%", watched.kind, where, weight)


class _StaleReadError(Exception):
    """The QwenDeployment changed since this pass read it."""


class _Fence:
    """Before a pass's first write to a child, a write of nothing to the QwenDeployment's status,
    conditional on the resourceVersion the pass read: a pass that decided on a status someone has
    since changed (another operator's promotion, a person's request) stops there (409) instead of
    undoing it. Passes that change no child write nothing, so a steady state stays write-free.

    Nothing at all (`kube.check_version`): the object keeps its resourceVersion, so the pass's own
    status write, conditional on the same version, is not refused by its own fence.
    """

    def __init__(self, client: kube.KubeClient, body: Manifest) -> None:
        self.client = client
        self.body = body
        self.checked = False

    async def check(self) -> None:
        if self.checked:
            return
        meta = self.body["metadata"]
        try:
            await self.client.check_version(
                kube.QWENDEPLOYMENTS, meta["namespace"], meta["name"], meta["resourceVersion"]
            )
        except kube_errors.KubeError as exc:
            if exc.conflict:
                raise _StaleReadError from exc
            raise
        self.checked = True


async def _write_status(
    client: kube.KubeClient, body: Manifest, old: QwenDeploymentStatus, new: QwenDeploymentStatus
) -> bool:
    """Patch status when it changed; False when another writer got there first."""
    patch = merge_patch(dump_status(old), dump_status(new))
    if not patch:
        return True
    meta = body["metadata"]
    try:
        await client.patch_status(
            kube.QWENDEPLOYMENTS, meta["namespace"], meta["name"], patch, meta["resourceVersion"]
        )
    except kube_errors.KubeError as exc:
        if exc.conflict:
            log.info("status of %s/%s changed meanwhile; will decide again", meta["namespace"], meta["name"])
            return False
        raise
    return True
