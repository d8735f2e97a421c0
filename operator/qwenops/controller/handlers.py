"""kopf wiring: one short function per event, each with an explicit id.

The start-up handler builds the API client and the :class:`Triggers` around it once, and keeps
them in kopf's operator-wide memo, which every handler gets (kopf copies it for each object,
shallowly: all share the one Triggers). The first QwenDeployment the watch shows starts the
Triggers' resync loop, inside kopf's handling of an object: the loop's passes post events with
`kopf.event`, which only works in such a context (a task started at start-up has none).

Several operators may run at once (the chart's `replicas`); kopf runs each standalone (its peering
is no leader election) and a Lease elects the one that acts (:mod:`qwenops.controller.leader`):
every operator watches, only the leader runs passes, and its client writes only while it leads.

No handler here makes kopf put a finalizer on a QwenDeployment (a daemon, a timer or a delete
handler that is not optional would): deleting one never waits for a running operator, and the
children go with it by their ownerReferences. kopf removes the finalizer (named in `configure`)
that an earlier version of the operator put on objects, since no handler needs it any more.
"""

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from qwenops.api import naming
from qwenops.controller import election
from qwenops.controller.config import OperatorConfig
from qwenops.controller.leader import Elector
from qwenops.controller.reader import prometheus_reader
from qwenops.controller.triggers import Triggers
from qwenops.io import kube, metrics
from qwenops.io.lease import Leases

CONFIG = OperatorConfig.from_env()
QWD = (naming.GROUP, naming.VERSION, naming.PLURAL)
CHILDREN: dict[str, Any] = {
    naming.LABEL_MANAGED_BY: naming.MANAGER,
    naming.LABEL_DEPLOYMENT: kopf.PRESENT,
}

CHILD_RESOURCES = (("apps", "v1", "deployments"), ("", "v1", "pods"))


@kopf.on.startup(id="configure")
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Keep kopf's own bookkeeping in annotations under our prefix; status belongs to the schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=naming.GROUP, key="last-handled-configuration"
    )
    # No handler needs a finalizer; kopf removes one of this name (put by earlier versions) on sight.
    settings.persistence.finalizer = f"{naming.GROUP}/finalizer"
    settings.posting.level = logging.INFO
    # Filtered by the API server: only our children are listed, watched and held in memory, never
    # every Deployment and Pod of the cluster (the handlers' `labels=` alone filter after receipt).
    selector = ",".join(key if value is kopf.PRESENT else f"{key}={value}" for key, value in CHILDREN.items())
    for child in CHILD_RESOURCES:
        settings.watching.label_selectors[child] = selector
    client = kube.Kube.connect(threads=CONFIG.api_threads)
    reader = prometheus_reader(CONFIG, client)
    if CONFIG.leader_election:
        timing = election.Timing(CONFIG.lease_seconds, CONFIG.renew_deadline_seconds, CONFIG.retry_seconds)
        elector = Elector(Leases(client), CONFIG.lease_namespace, CONFIG.lease_name, CONFIG.identity, timing)
        memo.elector = elector
        memo.election = asyncio.create_task(elector.run(), name="leader-election")
        memo.triggers = Triggers(client.guarded(elector.check), CONFIG, reader, leadership=elector)
    else:
        memo.triggers = Triggers(client, CONFIG, reader)
    metrics.serve(CONFIG.metrics_port)


@kopf.on.cleanup(id="stop-resync")
async def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    await _triggers(memo).stop_resync()
    if (task := memo.get("election")) is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        elector = memo.elector
        assert isinstance(elector, Elector)
        await elector.release()


# A pass that failed (the API answered 5xx, a 409 on a child) is tried again in 5 s, not kopf's 60.
@kopf.on.create(*QWD, id="create", backoff=5)
@kopf.on.update(*QWD, id="update", backoff=5)
@kopf.on.resume(*QWD, id="resume", backoff=5)
async def spec_changed(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    assert namespace is not None  # QwenDeployments are namespaced
    await _triggers(memo).reconcile(namespace, name)


@kopf.on.event(*QWD, id="seen")
async def seen(namespace: str | None, name: str, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Every QwenDeployment the watch shows (the initial listing too) is looked at by the resync
    loop; one deleted is forgotten. Children carry ownerReferences: the API's garbage collector
    removes them."""
    assert namespace is not None  # QwenDeployments are namespaced
    triggers = _triggers(memo)
    triggers.start_resync()
    if type == "DELETED":
        triggers.forget(namespace, name)
        metrics.forget(namespace, name)
    else:
        triggers.register(namespace, name)


@kopf.on.event(*CHILD_RESOURCES[0], labels=CHILDREN, id="child-changed")
async def child_changed(
    namespace: str | None, labels: kopf.Labels, type: str, memo: kopf.Memo, **_: Any
) -> None:
    if not type or namespace is None:  # the initial listing: resume and the resync loop cover it
        return
    await _triggers(memo).poke(namespace, labels[naming.LABEL_DEPLOYMENT])


@kopf.on.event(*CHILD_RESOURCES[1], labels=CHILDREN, id="pod-changed")
async def pod_changed(
    namespace: str | None, labels: kopf.Labels, type: str, memo: kopf.Memo, **_: Any
) -> None:
    """A serving pod moved (downloading, verifying, loading, ready, failed): report it soon."""
    if not type or namespace is None:
        return
    await _triggers(memo).poke(namespace, labels[naming.LABEL_DEPLOYMENT])


def _triggers(memo: kopf.Memo) -> Triggers:
    """The one Triggers the start-up handler put in the memo."""
    triggers = memo.triggers
    assert isinstance(triggers, Triggers)
    return triggers
