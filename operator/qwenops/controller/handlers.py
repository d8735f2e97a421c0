"""kopf wiring: one short function per event, each with an explicit id.

The start-up handler builds the API client and the :class:`Triggers` around it once, and keeps
them in kopf's operator-wide memo, which every handler gets (kopf copies it for each object,
shallowly: all share the one Triggers).
"""

import asyncio
import logging
from typing import Any

import kopf

from qwenops.api import naming
from qwenops.controller.config import OperatorConfig
from qwenops.controller.reader import prometheus_reader
from qwenops.controller.triggers import Triggers
from qwenops.io import kube, metrics

log = logging.getLogger(__name__)

CONFIG = OperatorConfig.from_env()
READER = prometheus_reader(CONFIG)
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
    settings.persistence.finalizer = f"{naming.GROUP}/finalizer"
    settings.peering.name = "qwenops"
    settings.posting.level = logging.INFO
    # Filtered by the API server: only our children are listed, watched and held in memory, never
    # every Deployment and Pod of the cluster (the handlers' `labels=` alone filter after receipt).
    selector = ",".join(key if value is kopf.PRESENT else f"{key}={value}" for key, value in CHILDREN.items())
    for child in CHILD_RESOURCES:
        settings.watching.label_selectors[child] = selector
    memo.triggers = Triggers(kube.Kube.connect(threads=CONFIG.api_threads), CONFIG, READER)
    metrics.serve(CONFIG.metrics_port)


# A pass that failed (the API answered 5xx, a 409 on a child) is tried again in 5 s, not kopf's 60.
@kopf.on.create(*QWD, id="create", backoff=5)
@kopf.on.update(*QWD, id="update", backoff=5)
@kopf.on.resume(*QWD, id="resume", backoff=5)
async def spec_changed(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    assert namespace is not None  # QwenDeployments are namespaced
    await _triggers(memo).reconcile(namespace, name)


@kopf.daemon(*QWD, id="resync", initial_delay=1)
async def resync(
    stopped: kopf.DaemonStopped, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    """Re-read the children once a resync interval passed without a look, sooner when a pause ends
    or a reading is due."""
    assert namespace is not None
    triggers = _triggers(memo)
    while not stopped:
        wait, sooner = triggers.when_due(namespace, name)
        if wait > 0:
            await _sleep(stopped, sooner, wait)
            continue
        try:
            await triggers.reconcile(namespace, name, when_due=True)
        except Exception:  # logged and counted; the next pass tries again
            log.exception("reconcile of %s/%s failed", namespace, name)
        triggers.defer_if_due(namespace, name)


async def _sleep(stopped: kopf.DaemonStopped, sooner: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when the daemon is stopped or `sooner` is set."""
    waiters = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(sooner.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@kopf.on.event(*CHILD_RESOURCES[0], labels=CHILDREN, id="child-changed")
async def child_changed(
    namespace: str | None, labels: kopf.Labels, type: str, memo: kopf.Memo, **_: Any
) -> None:
    if not type or namespace is None:  # the initial listing: resume and the resync daemon cover it
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


@kopf.on.delete(*QWD, id="delete", optional=True)
async def deleted(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    assert namespace is not None
    # Children carry owner references: the API's garbage collector removes them.
    _triggers(memo).forget(namespace, name)
    metrics.forget(namespace, name)


def _triggers(memo: kopf.Memo) -> Triggers:
    """The one Triggers the start-up handler put in the memo."""
    triggers = memo.triggers
    assert isinstance(triggers, Triggers)
    return triggers
