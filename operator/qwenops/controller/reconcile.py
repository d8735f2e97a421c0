"""One reconcile of one QwenDeployment: observe, decide, render, apply, write status.

Every trigger (create, update, resume, the resync timer, a child Deployment's
or Pod's event) lands here. The object is re-read under a per-object lock, so two
triggers never act on the same stale snapshot, and status is written with the
resourceVersion it was read at, so a stale write fails instead of undoing a
newer one. A pass about to change a child first writes nothing to the status on
that same resourceVersion (:class:`_Fence`): a decision made on a status another
writer has since changed stops before it touches a child.

Child events come in bursts (a new Deployment's own event, its status, each pod
created, then each pod's status): :func:`poke` gives a burst one pass. The resync
timer counts from the last pass, whatever started it (:func:`when_due`): an
object is looked at again once a resync interval has passed without a look, or
when the last pass asked for it sooner.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf

from qwenops.api import naming
from qwenops.api.errors import InvalidSpecError
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import AnalysisReading, QwenDeploymentStatus
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube, metrics, prom
from qwenops.policy import startup
from qwenops.policy.rollout import (
    DeploymentState,
    Event,
    Observed,
    Plan,
    decide,
    reading_due,
    refuse,
    resolve_target,
)
from qwenops.render.desired import (
    Manifest,
    Owner,
    desired_deployment,
    desired_services,
    revision_of,
    with_hub,
    with_image,
    with_pods_of,
    with_prometheus,
)
from qwenops.render.diff import merge_patch
from qwenops.render.startup_budget import cache_is_warm, startup_budget
from qwenops.routing.registry import router_for
from qwenops.routing.router import ObservedRoute

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary revision, stable revision, now) -> reading."""

log = logging.getLogger(__name__)


@dataclass
class _Tracked:
    """What the operator keeps in memory for one QwenDeployment between passes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    due: float = 0.0
    """Event-loop time when the next pass is due: a resync interval after the last pass, or sooner."""
    poked: bool = False
    """A coalesced pass is waiting to start: a child event now rides along with it."""
    sooner: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when `due` moves earlier, to wake the resync timer."""


_tracked: dict[tuple[str, str], _Tracked] = {}


def _track(namespace: str, name: str) -> _Tracked:
    return _tracked.setdefault((namespace, name), _Tracked())


def prometheus_reader(config: OperatorConfig) -> Reader:
    """The Reader that asks the spec's Prometheus and judges the canary against its SLOs."""

    async def read(
        spec: QwenDeploymentSpec, owner: Owner, canary: str, stable: str, now: datetime
    ) -> AnalysisReading:
        analysis = spec.rollout.analysis
        assert analysis.prometheus is not None  # analysis_due() says no reading without one
        verdict = await prom.read_and_assess(
            analysis.prometheus.url, analysis,
            namespace=owner.namespace, deployment=owner.name, canary=canary, stable=stable,
            timeout=config.prometheus_timeout_seconds,
        )  # fmt: skip
        reading = verdict.as_status(now)
        if verdict.failed:  # the rollback event names each breached SLO, its value, threshold and query
            reading = reading.model_copy(update={"message": "; ".join(c.describe() for c in verdict.failed)})
        log.info("analysis of %s/%s canary %s: %s", owner.namespace, owner.name, canary, reading.message)
        return reading

    return read


def forget(namespace: str, name: str) -> None:
    """Drop what the operator keeps in memory for a deleted object."""
    _tracked.pop((namespace, name), None)
    metrics.forget(namespace, name)


async def reconcile(
    namespace: str, name: str, config: OperatorConfig, reader: Reader, *, when_due: bool = False
) -> timedelta | None:
    """Reconcile one object; returns when it wants to be looked at again (None: at the next resync).

    With `when_due`, only if no pass since the last one made it not due yet (see :func:`when_due`).
    """
    tracked = _track(namespace, name)
    async with tracked.lock:
        if when_due and asyncio.get_running_loop().time() < tracked.due:
            return None  # another trigger looked while this one waited for the lock
        tracked.poked = False  # read afresh from here on: a later child event needs a pass of its own
        started = time.monotonic()
        try:
            body = await kube.get(kube.QWENDEPLOYMENTS, namespace, name)
            if body is None:
                _tracked.pop((namespace, name), None)  # e.g. poked by an orphan's event: keep nothing
                return None
            if body["metadata"].get("deletionTimestamp"):
                return None
            requeue = await _reconcile(body, config, reader, datetime.now(UTC))
        except kube.KubeError as exc:
            metrics.RECONCILE_ERRORS.labels("conflict" if exc.conflict else "api").inc()
            raise
        except Exception:
            metrics.RECONCILE_ERRORS.labels("internal").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        _schedule(tracked, config.resync_seconds if requeue is None else requeue.total_seconds(), config)
        return requeue


async def poke(namespace: str, name: str, config: OperatorConfig, reader: Reader) -> None:
    """Reconcile soon, once for a burst of child events.

    The first event waits `config.coalesce_seconds`, then for the object's lock;
    events arriving meanwhile return at once, since that pass reads everything
    afresh once it holds the lock. An event after that point gets a pass of its own.
    """
    tracked = _track(namespace, name)
    if tracked.poked:
        return
    tracked.poked = True
    try:
        await asyncio.sleep(config.coalesce_seconds)
        await reconcile(namespace, name, config, reader)
    except BaseException:
        tracked.poked = False  # never leave later events riding on a pass that will not come
        raise


def when_due(namespace: str, name: str) -> tuple[float, asyncio.Event]:
    """Seconds until the object's next resync pass is due (<= 0: now), and an event set if that
    moves earlier meanwhile (cleared here, so a waiter misses no change after this call)."""
    tracked = _track(namespace, name)
    tracked.sooner.clear()
    return tracked.due - asyncio.get_running_loop().time(), tracked.sooner


def defer_if_due(namespace: str, name: str, config: OperatorConfig) -> None:
    """After a resync pass that did not say when to look next (it failed, or the object is being
    deleted): in a resync interval, never in a tight loop."""
    tracked = _track(namespace, name)
    if asyncio.get_running_loop().time() >= tracked.due:
        _schedule(tracked, config.resync_seconds, config)


def _schedule(tracked: _Tracked, seconds: float, config: OperatorConfig) -> None:
    seconds = min(config.resync_seconds, max(seconds, config.min_requeue_seconds))
    due = asyncio.get_running_loop().time() + seconds
    if due < tracked.due:
        tracked.sooner.set()
    tracked.due = due


async def _reconcile(
    body: Manifest, config: OperatorConfig, reader: Reader, now: datetime
) -> timedelta | None:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = meta.get("generation")
    status = read_status(body.get("status"))
    try:
        parsed = with_image(parse_spec(name, body.get("spec")), config.serving_image)
        spec = with_prometheus(with_hub(parsed, config.hf_endpoint), config.prometheus_url)
    except InvalidSpecError as exc:
        refused, event = refuse(status, exc.problems, generation, now)
        if await _write_status(body, status, refused) and event is not None:
            _post(body, event)
        return None

    owner = Owner(name=name, namespace=namespace, uid=meta["uid"])
    live = [
        d for d in await kube.list_labelled(kube.DEPLOYMENTS, namespace, {naming.LABEL_DEPLOYMENT: name})
        if _owned_by(d, owner)
    ]  # fmt: skip
    live_by_revision = {d["metadata"]["labels"][naming.LABEL_REVISION]: d for d in live}
    route = await _route(spec, namespace, name)
    live_pods = await kube.list_labelled(kube.PODS, namespace, {naming.LABEL_DEPLOYMENT: name})
    live_services = {
        s["metadata"]["name"]: s
        for s in await kube.list_labelled(kube.SERVICES, namespace, {naming.LABEL_DEPLOYMENT: name})
        if _owned_by(s, owner)
    }
    observed = Observed(
        generation=generation,
        deployments={rev: observe_deployment(rev, d) for rev, d in live_by_revision.items()},
        annotations=meta.get("annotations") or {},
        route=route,
        startups=startups_of(live_by_revision, live_pods),
    )
    # A person's undo may pin an earlier revision in place of the spec's own.
    resolved = resolve_target(spec, revision_of(spec), status, observed.annotations, now, generation)
    spec, target = resolved.spec, resolved.revision
    reading = None
    if (due := reading_due(spec, target, resolved.status, now)) is not None:
        reading = await reader(spec, owner, due.canary, due.stable, now)
    plan = decide(spec, target, resolved.status, observed, now, reading)
    new_status, stage_change = _report_startup(spec, target, status, plan, observed, now)

    fence = _Fence(body)
    try:
        for wanted in plan.deployments:
            pods = _spec_of(spec, target, wanted.revision, plan.status)
            desired = desired_deployment(
                owner, pods, wanted.revision, track=wanted.track, replicas=wanted.replicas
            )
            current = live_by_revision.get(wanted.revision)
            _log_outcome(await kube.ensure(desired, current, known=True, before_write=fence.check), desired)
        for service in desired_services(owner, stable=plan.stable_revision, canary=plan.canary_revision):
            # One labelled list reads all three; one missing from it is looked up by name, as it
            # may exist without the labels.
            found = live_services.get(service["metadata"]["name"])
            outcome = await kube.ensure(service, found, known=found is not None, before_write=fence.check)
            _log_outcome(outcome, service)
        if route is not None:
            await _set_weights(spec, route, plan.canary_weight, fence.check)
        for revision in plan.delete:  # each one is live: they come from the Deployments listed
            await fence.check()
            if await kube.delete(kube.DEPLOYMENTS, namespace, naming.deployment_name(name, revision)):
                log.info("deleted Deployment %s/%s", namespace, naming.deployment_name(name, revision))
    except _StaleReadError:
        log.info("%s/%s changed since it was read; will decide again", namespace, name)
        return timedelta(0)

    if await _write_status(body, status, new_status):
        for event in (*resolved.events, *plan.events):
            _post(body, event)
        if stage_change is not None:
            _post(body, Event("Warning" if stage_change.warning else "Normal", stage_change.reason,
                              stage_change.message))  # fmt: skip
        _count(namespace, name, status, plan, now)
    return plan.requeue_after


def startups_of(
    deployments: Mapping[str, Manifest], pods: list[Manifest]
) -> dict[str, startup.RevisionStartup]:
    """Each live revision's pods, summed up by where they are on their way to serving."""
    by_revision: dict[str, list[Manifest]] = {revision: [] for revision in deployments}
    for pod in pods:
        revision = (pod["metadata"].get("labels") or {}).get(naming.LABEL_REVISION)
        if revision in by_revision:
            by_revision[revision].append(pod)
    return {revision: startup.summarize(revision, found) for revision, found in by_revision.items()}


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
    model = _spec_of(spec, target, revision, plan.status).model
    budget = startup_budget(model, warm_cache=cache_is_warm(model, before))
    return startup.report(plan.status, found, budget, now=now, generation=observed.generation)


async def _route(spec: QwenDeploymentSpec, namespace: str, name: str) -> ObservedRoute | None:
    """The object the router keeps the weights on, as read now (None: the router reads none)."""
    watched = router_for(spec.rollout.traffic_routing).watched()
    if watched is None:
        return None
    resource = kube.Resource(watched.group, watched.version, watched.plural)
    return ObservedRoute(owner=name, found=await kube.get(resource, namespace, watched.name))


async def _set_weights(
    spec: QwenDeploymentSpec, route: ObservedRoute, weight: int, before_write: kube.BeforeWrite
) -> None:
    """Set the canary's weight on the router's object (conditional on the version read) and check it took."""
    router = router_for(spec.rollout.traffic_routing)
    patch, watched = router.weights_patch(route, weight), router.watched()
    if patch is None or watched is None or route.found is None:
        return
    await before_write()
    meta = route.found["metadata"]
    resource = kube.Resource(watched.group, watched.version, watched.plural)
    patched = await kube.patch(resource, meta["namespace"], meta["name"], patch)
    if router.not_carried(ObservedRoute(route.owner, patched), weight) is not None:
        where = f"{meta['namespace']}/{meta['name']}"
        log.warning("%s %s did not take weight %s%%", watched.kind, where, weight)


def _count(namespace: str, name: str, before: QwenDeploymentStatus, plan: Plan, now: datetime) -> None:
    metrics.record_state(namespace, name, plan.status.phase, plan.canary_weight)
    if plan.rollback_reason is None:
        return
    metrics.ROLLBACKS.labels(namespace, name, plan.rollback_reason).inc()
    first_failed = before.analysis.first_failed_at if before.analysis else None
    if plan.rollback_reason == "SLOBreached" and first_failed is not None:
        metrics.BREACH_TO_ROLLBACK.observe((now - first_failed).total_seconds())


def _spec_of(
    spec: QwenDeploymentSpec, target: str, revision: str, status: QwenDeploymentStatus
) -> QwenDeploymentSpec:
    """The spec a revision's pods come from: the current one, or the one recorded in status."""
    if revision == target:
        return spec
    for recorded in (status.stable, status.canary):
        if recorded is not None and recorded.revision == revision:
            return with_pods_of(spec, recorded)
    raise LookupError(f"revision {revision} is neither the spec's nor recorded in status")


def read_status(raw: Mapping[str, Any] | None) -> QwenDeploymentStatus:
    """The stored status; one that no longer parses (an older operator's) starts over, logged."""
    try:
        return QwenDeploymentStatus.model_validate(raw or {})
    except ValueError as exc:
        log.warning("ignoring a status that does not parse: %s", exc)
        return QwenDeploymentStatus()


def observe_deployment(revision: str, deployment: Manifest) -> DeploymentState:
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    current = status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    available_condition = any(
        c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    ready = int(status.get("readyReplicas") or 0)
    available = (
        current
        and available_condition
        and int(status.get("availableReplicas") or 0) >= wanted
        and int(status.get("updatedReplicas") or 0) >= wanted
    )
    return DeploymentState(revision=revision, replicas=wanted, ready_replicas=ready, available=available)


def _owned_by(child: Manifest, owner: Owner) -> bool:
    return any(ref.get("uid") == owner.uid for ref in child["metadata"].get("ownerReferences") or [])


def dump_status(status: QwenDeploymentStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


class _StaleReadError(Exception):
    """The QwenDeployment changed since this pass read it."""


class _Fence:
    """Before a pass's first write to a child, a write of nothing to the QwenDeployment's status,
    conditional on the resourceVersion the pass read: a pass that decided on a status someone has
    since changed (another operator's promotion, a person's request) stops there (409) instead of
    undoing it. Passes that change no child write nothing, so a steady state stays write-free.
    """

    def __init__(self, body: Manifest) -> None:
        self.body = body
        self.checked = False

    async def check(self) -> None:
        if self.checked:
            return
        meta = self.body["metadata"]
        try:
            await kube.patch_status(
                kube.QWENDEPLOYMENTS, meta["namespace"], meta["name"], {}, meta["resourceVersion"]
            )
        except kube.KubeError as exc:
            if exc.conflict:
                raise _StaleReadError from exc
            raise
        self.checked = True


async def _write_status(body: Manifest, old: QwenDeploymentStatus, new: QwenDeploymentStatus) -> bool:
    """Patch status when it changed; False when another writer got there first."""
    patch = merge_patch(dump_status(old), dump_status(new))
    if not patch:
        return True
    meta = body["metadata"]
    try:
        await kube.patch_status(
            kube.QWENDEPLOYMENTS, meta["namespace"], meta["name"], patch, meta["resourceVersion"]
        )
    except kube.KubeError as exc:
        if exc.conflict:
            log.info("status of %s/%s changed meanwhile; will decide again", meta["namespace"], meta["name"])
            return False
        raise
    return True


def _post(body: Manifest, event: Event) -> None:
    owner = kopf.Body(cast(kopf.RawBody, body))
    kopf.event(owner, type=event.type, reason=event.reason, message=event.message)


def _log_outcome(outcome: kube.Outcome, manifest: Manifest) -> None:
    if outcome != "unchanged":
        meta = manifest["metadata"]
        log.info("%s %s %s/%s", outcome, manifest["kind"], meta["namespace"], meta["name"])
