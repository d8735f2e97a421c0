"""kopf wiring: one short function per event, each with an explicit id."""

import logging
from typing import Any

import kopf

from qwenops import kube, metrics, naming, reconcile
from qwenops.config import OperatorConfig

log = logging.getLogger(__name__)

CONFIG = OperatorConfig.from_env()
READER = reconcile.prometheus_reader(CONFIG)
QWD = (naming.GROUP, naming.VERSION, naming.PLURAL)
CHILDREN: dict[str, Any] = {
    naming.LABEL_MANAGED_BY: naming.MANAGER,
    naming.LABEL_DEPLOYMENT: kopf.PRESENT,
}


@kopf.on.startup(id="configure")
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's own bookkeeping in annotations under our prefix; status belongs to the schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=naming.GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{naming.GROUP}/finalizer"
    settings.peering.name = "qwenops"
    settings.posting.level = logging.INFO
    kube.configure()
    metrics.serve(CONFIG.metrics_port)


@kopf.on.create(*QWD, id="create")
@kopf.on.update(*QWD, id="update")
@kopf.on.resume(*QWD, id="resume")
async def spec_changed(namespace: str | None, name: str, **_: Any) -> None:
    assert namespace is not None  # QwenDeployments are namespaced
    await reconcile.reconcile(namespace, name, CONFIG, READER)


@kopf.daemon(*QWD, id="resync", initial_delay=1)
async def resync(stopped: kopf.DaemonStopped, namespace: str | None, name: str, **_: Any) -> None:
    """Re-read the children every resync interval, sooner when a pause ends or a reading is due."""
    assert namespace is not None
    while not stopped:
        wait = CONFIG.resync_seconds
        try:
            due = await reconcile.reconcile(namespace, name, CONFIG, READER)
        except Exception:  # logged and counted; the next pass tries again
            log.exception("reconcile of %s/%s failed", namespace, name)
        else:
            if due is not None:
                wait = min(wait, max(due.total_seconds(), 0.5))
        await stopped.wait(wait)


@kopf.on.event("apps", "v1", "deployments", labels=CHILDREN, id="child-changed")
async def child_changed(namespace: str | None, labels: kopf.Labels, type: str, **_: Any) -> None:
    if not type or namespace is None:  # the initial listing: resume and the resync daemon cover it
        return
    await reconcile.reconcile(namespace, labels[naming.LABEL_DEPLOYMENT], CONFIG, READER)


@kopf.on.event("", "v1", "pods", labels=CHILDREN, id="pod-changed")
async def pod_changed(namespace: str | None, labels: kopf.Labels, type: str, **_: Any) -> None:
    """A serving pod moved (downloading, verifying, loading, ready, failed): report it now."""
    if not type or namespace is None:
        return
    await reconcile.reconcile(namespace, labels[naming.LABEL_DEPLOYMENT], CONFIG, READER)


@kopf.on.delete(*QWD, id="delete", optional=True)
async def deleted(namespace: str | None, name: str, **_: Any) -> None:
    assert namespace is not None
    # Children carry owner references: the API's garbage collector removes them.
    reconcile.forget(namespace, name)
