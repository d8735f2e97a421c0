"""One reconcile of one QwenDeployment: observe, decide, render, apply, write status.

Every trigger (create, update, resume, the resync timer, a child Deployment's
event) lands here. The object is re-read under a per-object lock, so two
triggers never act on the same stale snapshot, and status is written with the
resourceVersion it was read at, so a stale write fails instead of undoing a
newer one.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf

from qwenops import kube, metrics, naming, prom, startup, traffic
from qwenops.budget import cache_is_warm, startup_budget
from qwenops.config import OperatorConfig
from qwenops.diff import merge_patch
from qwenops.errors import InvalidSpecError
from qwenops.render import (
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
from qwenops.rollout import (
    DeploymentState,
    Event,
    Observed,
    Plan,
    analysis_due,
    decide,
    refuse,
    resolve_target,
    traffic_weight,
)
from qwenops.spec import QwenDeploymentSpec, parse_spec
from qwenops.status import AnalysisReading, QwenDeploymentStatus

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary revision, stable revision, now) -> reading."""

log = logging.getLogger(__name__)

_locks: dict[tuple[str, str], asyncio.Lock] = {}


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
    _locks.pop((namespace, name), None)
    metrics.forget(namespace, name)


async def reconcile(namespace: str, name: str, config: OperatorConfig, reader: Reader) -> timedelta | None:
    """Reconcile one object; returns when it wants to be looked at again (None: at the next resync)."""
    lock = _locks.setdefault((namespace, name), asyncio.Lock())
    async with lock:
        started = time.monotonic()
        try:
            body = await kube.get(kube.QWENDEPLOYMENTS, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return None
            return await _reconcile(body, config, reader, datetime.now(UTC))
        except kube.KubeError as exc:
            metrics.RECONCILE_ERRORS.labels("conflict" if exc.conflict else "api").inc()
            raise
        except Exception:
            metrics.RECONCILE_ERRORS.labels("internal").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)


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
    route = await _route(spec, namespace)
    live_pods = await kube.list_labelled(kube.PODS, namespace, {naming.LABEL_DEPLOYMENT: name})
    observed = Observed(
        generation=generation,
        deployments={rev: observe_deployment(rev, d) for rev, d in live_by_revision.items()},
        annotations=meta.get("annotations") or {},
        route_error=_route_error(spec, name, route, status),
        startups=startups_of(live_by_revision, live_pods),
    )
    # A person's undo may pin an earlier revision in place of the spec's own.
    resolved = resolve_target(spec, revision_of(spec), status, observed.annotations, now, generation)
    spec, target = resolved.spec, resolved.revision
    reading = None
    canary, stable = resolved.status.canary, resolved.status.stable
    if (
        canary is not None
        and stable is not None
        and canary.revision == target
        and analysis_due(spec, resolved.status, now)
    ):
        reading = await reader(spec, owner, canary.revision, stable.revision, now)
    plan = decide(spec, target, resolved.status, observed, now, reading)
    new_status, stage_change = _report_startup(spec, target, status, plan, observed, now)

    for wanted in plan.deployments:
        pods = _spec_of(spec, target, wanted.revision, plan.status)
        desired = desired_deployment(
            owner, pods, wanted.revision, track=wanted.track, replicas=wanted.replicas
        )
        outcome = await kube.ensure(desired, live_by_revision.get(wanted.revision), known=True)
        _log_outcome(outcome, desired)
    for service in desired_services(owner, stable=plan.stable_revision, canary=plan.canary_revision):
        _log_outcome(await kube.ensure(service), service)
    if route is not None:
        await _set_weights(route, name, plan.canary_weight)
    for revision in plan.delete:
        if await kube.delete(kube.DEPLOYMENTS, namespace, naming.deployment_name(name, revision)):
            log.info("deleted Deployment %s/%s", namespace, naming.deployment_name(name, revision))

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


async def _route(spec: QwenDeploymentSpec, namespace: str) -> Manifest | None:
    ref = spec.rollout.traffic_routing.http_route
    return None if ref is None else await kube.get(kube.HTTPROUTES, namespace, ref.name)


def _route_error(
    spec: QwenDeploymentSpec, name: str, route: Manifest | None, status: QwenDeploymentStatus
) -> str | None:
    """Why the HTTPRoute does not carry the weight last decided (None when it does, or none is used)."""
    ref = spec.rollout.traffic_routing.http_route
    if ref is None:
        return None
    if route is None:
        return f"HTTPRoute {ref.name} not found"
    carried = traffic.routed_weight(route, name)
    wanted = traffic_weight(status.canary)
    if carried is None:
        return f"HTTPRoute {ref.name} has no rule naming Services {name}-stable and {name}-canary"
    if carried != wanted:
        return f"HTTPRoute {ref.name} sends {carried}% to the canary, not {wanted}%"
    return None


async def _set_weights(route: Manifest, name: str, weight: int) -> None:
    """Set the canary's weight on the route (conditional on the version read) and check it took."""
    if traffic.routed_weight(route, name) == weight:
        return
    meta = route["metadata"]
    patched = await kube.patch(
        kube.HTTPROUTES, meta["namespace"], meta["name"],
        {"metadata": {"resourceVersion": meta["resourceVersion"]},
         "spec": {"rules": traffic.weighted_rules(route, name, weight)}},
    )  # fmt: skip
    if traffic.routed_weight(patched, name) != weight:
        log.warning("HTTPRoute %s/%s did not take weight %s%%", meta["namespace"], meta["name"], weight)


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
