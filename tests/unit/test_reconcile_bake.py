"""The order of a pass's writes on the way back during a bake (tests/unit/fake_kube.py's API).

A breach during the bake decides a rollback: the decision goes first onto the new revision's
Deployment (its mark, its pods untouched), then the Services move traffic to the previous
revision's warm pods, and only then do the Deployments scale. An operator lost after any of these
writes finds either nothing done, or the mark that keeps the decision.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from qwenops.api import naming
from qwenops.api.spec import parse_spec
from qwenops.api.status import AnalysisReading, BakeStatus, Phase, QwenDeploymentStatus, StableRevision
from qwenops.controller import reconcile
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.desired import Manifest, Owner, desired_deployment, desired_services
from tests.unit.fake_kube import FakeKube

CONFIG = OperatorConfig(serving_image="registry.example/qwenops/serving:test", metrics_port=0)
NS, NAME = "llm", "chat"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = Owner(name=NAME, namespace=NS, uid="uid-chat")


def spec_dict(commit: str) -> dict[str, Any]:
    return {
        "model": {"name": "Qwen/Qwen3-8B", "revision": commit, "servedModelName": "qwen"},
        "replicas": 2,
        "rollout": {
            "analysis": {"prometheus": {"url": "http://prometheus:9090"}},
            "bake": {"duration": "30m", "warmReplicas": 1},
        },
    }


NEW_SPEC, OLD_SPEC = (
    with_image(parse_spec(NAME, spec_dict(c)), CONFIG.serving_image) for c in ("b" * 40, "a" * 40)
)
NEW, OLD = revision_of(NEW_SPEC), revision_of(OLD_SPEC)


def ready(manifest: Manifest, replicas: int) -> Manifest:
    manifest["status"] = {
        "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas, "updatedReplicas": replicas,
        "conditions": [{"type": "Available", "status": "True"}],
    }  # fmt: skip
    return manifest


def baking() -> FakeKube:
    def recorded(spec: Any, revision: str) -> StableRevision:
        return StableRevision(
            revision=revision, model=spec.model, engine=spec.engine, node_pool=spec.node_pool
        )

    status = QwenDeploymentStatus(
        phase=Phase.BAKING, stable=recorded(NEW_SPEC, NEW), previous=recorded(OLD_SPEC, OLD),
        bake=BakeStatus(revision=OLD, warm_replicas=1, started_at=T0 - timedelta(minutes=1),
                        until=T0 + timedelta(minutes=29)),
    )  # fmt: skip
    qwd = {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": NAME, "namespace": NS, "uid": OWNER.uid, "generation": 1},
        "spec": spec_dict("b" * 40),
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    new = desired_deployment(OWNER, NEW_SPEC, NEW, track=naming.TRACK_STABLE, replicas=2)
    old = desired_deployment(OWNER, OLD_SPEC, OLD, track=naming.TRACK_WARM, replicas=1)
    services = desired_services(OWNER, stable=NEW, canary=None)  # the warm revision in none
    return FakeKube(qwd, ready(new, 2), ready(old, 1), *services)


async def test_a_breach_during_the_bake_is_marked_before_traffic_moves_and_traffic_before_pods() -> None:
    fake = baking()

    async def breached(*_: Any) -> AnalysisReading:
        return AnalysisReading(at=T0, verdict="Failed", conclusive=True, message="errors 50% > 1%")

    body = fake.stored(kube.QWENDEPLOYMENTS, NS, NAME)
    assert body is not None
    await reconcile.reconcile(fake, body, CONFIG, breached, T0, post=lambda *_: None)
    writes = [(str(w), w.body) for w in fake.writes]
    new_name, old_name = naming.deployment_name(NAME, NEW), naming.deployment_name(NAME, OLD)
    assert [w for w, _ in writes] == [
        f"patch_status qwendeployments/{NAME}",  # the fence
        f"patch deployments/{new_name}",  # the mark, and nothing else
        f"patch services/{NAME}",
        f"patch services/{NAME}-stable",
        f"patch services/{NAME}-canary",
        f"patch deployments/{old_name}",  # the warm revision given its replicas back
        f"patch deployments/{new_name}",  # the rejected revision to 0
        f"patch_status qwendeployments/{NAME}",
    ]
    mark = writes[1][1]
    assert naming.ANNOTATION_REJECTED in mark["metadata"]["annotations"]
    assert "replicas" not in (mark.get("spec") or {}), "the mark moves no pod"
    assert writes[2][1]["spec"]["selector"][naming.LABEL_REVISION] == OLD
    assert writes[5][1]["spec"]["replicas"] == 2 and writes[6][1]["spec"]["replicas"] == 0
    status = (fake.stored(kube.QWENDEPLOYMENTS, NS, NAME) or {})["status"]
    assert (status["phase"], status["stable"]["revision"], status["rejectedRevision"]) == (
        "RolledBack",
        OLD,
        NEW,
    )
