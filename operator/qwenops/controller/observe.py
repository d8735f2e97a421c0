"""What a pass sees, from the API's objects: pure functions, no I/O.

The stored status, and the children as the rollout policy wants them
(:class:`~qwenops.policy.rollout.DeploymentState` with the rollback a Deployment records,
each revision's pod startup).
Children are listed by label, and a label is no proof of ownership: only those whose
controller ownerReference names this QwenDeployment's uid count (:func:`controls`); any other
object at a child's name is a conflict to report (:func:`conflict`), never a child.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from qwenops.api import naming
from qwenops.api.status import QwenDeploymentStatus, Rejection
from qwenops.policy import startup
from qwenops.policy.budget import PodCount
from qwenops.policy.rollout import DeploymentState
from qwenops.render.desired import Manifest, Owner
from qwenops.render.diff import controlled_by, controller_of

log = logging.getLogger(__name__)


def read_status(raw: Mapping[str, Any] | None) -> QwenDeploymentStatus:
    """The stored status; one that no longer parses (an older operator's) starts over, logged."""
    try:
        return QwenDeploymentStatus.model_validate(raw or {})
    except ValueError as exc:
        log.warning("ignoring a status that does not parse: %s", exc)
        return QwenDeploymentStatus()


def dump_status(status: QwenDeploymentStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def pod_selector(name: str) -> str:
    """The label selector of every model pod of the QwenDeployment `name`, stable and canary alike
    (the scale subresource's `status.selector`: what an HPA averages pod metrics over)."""
    return f"{naming.LABEL_DEPLOYMENT}={name}"


def with_scale(
    status: QwenDeploymentStatus,
    name: str,
    deployments: Mapping[str, DeploymentState],
    serving: Iterable[str | None],
) -> QwenDeploymentStatus:
    """`status` with the scale subresource's fields: the ready pods of the `serving` revisions
    (the stable's and the canary's) as the pass found them, and the selector of every model pod."""
    ready = sum(deployments[r].ready_replicas for r in set(serving) if r is not None and r in deployments)
    return status.model_copy(update={"replicas": ready, "selector": pod_selector(name)})


def controls(owner: Owner, child: Manifest) -> bool:
    return controlled_by(child, owner.uid)


def conflict(kind: str, holder: Manifest) -> str:
    """What a person reads about a child's name held by `holder`, an object the QwenDeployment does
    not control: the object, and who controls it (or that nothing does)."""
    meta = holder["metadata"]
    where = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
    ref = controller_of(holder)
    if ref is not None:
        return f"{where} is controlled by {ref.get('kind')} {ref.get('name')}; rename one"
    remedy = "delete it or rename this QwenDeployment"
    owners = ", ".join(f"{r.get('kind')} {r.get('name')}" for r in meta.get("ownerReferences") or [])
    if owners:
        return f"{where} is owned by {owners}, none of them its controller: {remedy}"
    return f"{where} has no owner (made by hand or by a tool such as Helm): {remedy}"


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
    return DeploymentState(
        revision=revision, replicas=wanted, ready_replicas=ready, available=available,
        rejection=rejection_of(deployment),
    )  # fmt: skip


def rejection_of(deployment: Manifest) -> Rejection | None:
    """The rollback recorded on a Deployment (`qwenops.io/rejected`), if any.

    A mark that no longer parses (edited by hand, or written by a later operator) still says
    the revision was rolled back: it counts, and is written again as this operator writes it.
    """
    text = (deployment["metadata"].get("annotations") or {}).get(naming.ANNOTATION_REJECTED)
    if text is None:
        return None
    try:
        return Rejection.model_validate_json(text)
    except ValueError:
        name = deployment["metadata"].get("name")
        log.warning("unreadable %s on %s: %r", naming.ANNOTATION_REJECTED, name, text)
        return Rejection(reason="RolledBack", message=f"recorded as {text[:200]!r}")


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


def pod_counts(pods: list[Manifest]) -> dict[str, PodCount]:
    """Each revision's pods, counted as a budget counts them: live (any not finished nor on its way
    out, Pending ones too: they ask for a GPU), ready, and terminating (their GPUs not free yet)."""
    counts: dict[str, PodCount] = {}
    for pod in pods:
        revision = (pod["metadata"].get("labels") or {}).get(naming.LABEL_REVISION)
        status = pod.get("status") or {}
        if revision is None or status.get("phase") in ("Succeeded", "Failed"):
            continue
        was = counts.get(revision, PodCount())
        if pod["metadata"].get("deletionTimestamp"):
            counts[revision] = PodCount(was.live, was.ready, was.terminating + 1)
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        counts[revision] = PodCount(was.live + 1, was.ready + int(ready), was.terminating)
    return counts
