"""`spec.pod` in the rendered Deployments: the model container's resources beside its GPUs, the
pods' pull secrets, runtime and priority class, labels and annotations; a new revision when they
change, none for objects that never set them, and the records that re-create a revision keep them."""

from typing import Any

import pytest

from qwenops.api import naming
from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import StableRevision
from qwenops.render.defaults import revision_of, with_image, with_pods_of
from qwenops.render.desired import Owner, desired_deployment
from qwenops.render.diff import drift_patch, is_derivative
from tests.unit.test_render import FULL, MINIMAL

OWNER = Owner(name="chat", namespace="llm", uid="uid-chat")
IMAGE = "registry.example/qwenops/serving:1.0"
POD = {
    "resources": {"requests": {"cpu": "8", "memory": "48Gi"}, "limits": {"memory": "64Gi"}},
    "imagePullSecrets": [{"name": "registry-credentials"}],
    "runtimeClassName": "nvidia",
    "priorityClassName": "inference-high",
    "labels": {"team": "ml-platform", "example.com/tier": "gold"},
    "annotations": {"sidecar.istio.io/inject": "false"},
}


def spec_of(raw: dict[str, Any]) -> QwenDeploymentSpec:
    return with_image(parse_spec("chat", raw), IMAGE)


def template(spec: QwenDeploymentSpec, track: str = naming.TRACK_STABLE) -> dict[str, Any]:
    deployment = desired_deployment(OWNER, spec, revision_of(spec), track=track, replicas=2)
    rendered: dict[str, Any] = deployment["spec"]["template"]
    return rendered


def vllm(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == naming.SERVING_CONTAINER]
    return container


@pytest.mark.parametrize("track", [naming.TRACK_STABLE, naming.TRACK_CANARY])
def test_the_pod_settings_reach_the_pods_of_either_track(track: str) -> None:
    pod = template(spec_of({**FULL, "pod": POD}), track)
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["spec"]["runtimeClassName"] == "nvidia"
    assert pod["spec"]["priorityClassName"] == "inference-high"
    assert pod["metadata"]["labels"]["team"] == "ml-platform"
    assert pod["metadata"]["labels"]["example.com/tier"] == "gold"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"  # the operator's stay


def test_cpu_and_memory_sit_beside_the_gpus_of_the_model_container_only() -> None:
    pod = template(spec_of({**FULL, "pod": POD}))
    assert vllm(pod)["resources"] == {
        "requests": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "64Gi", "nvidia.com/gpu": "2"},
    }
    for init in pod["spec"]["initContainers"]:  # download and verify keep their own
        assert init["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}


def test_the_operators_labels_select_the_pods_whatever_the_spec_adds() -> None:
    spec = spec_of({**FULL, "pod": POD})
    deployment = desired_deployment(OWNER, spec, revision_of(spec), track=naming.TRACK_STABLE, replicas=1)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "team" not in deployment["metadata"]["labels"]  # the pods', not the Deployment's


def test_without_pod_settings_the_pods_are_as_before() -> None:
    pod = template(spec_of(FULL))
    assert not {"imagePullSecrets", "runtimeClassName", "priorityClassName"} & set(pod["spec"])
    assert vllm(pod)["resources"] == {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}


@pytest.mark.parametrize(
    "pod",
    [
        {"labels": {"team": "search"}},
        {"annotations": {"example.com/owner": "me"}},
        {"resources": {"requests": {"cpu": "4"}}},
        {"imagePullSecrets": [{"name": "other"}]},
        {"runtimeClassName": "nvidia-cdi"},
        {"priorityClassName": "batch"},
    ],
)
def test_each_pod_setting_starts_a_new_revision(pod: dict[str, Any]) -> None:
    assert revision_of(spec_of({**MINIMAL, "pod": pod})) != revision_of(spec_of(MINIMAL))


def test_an_empty_pod_section_keeps_the_revision_of_objects_written_before_it() -> None:
    before = revision_of(spec_of(MINIMAL))
    assert revision_of(spec_of({**MINIMAL, "pod": {}})) == before
    assert revision_of(spec_of({**MINIMAL, "pod": {"resources": {}, "labels": {}}})) == before


def test_a_revision_recorded_in_status_is_recreated_with_its_pod_settings() -> None:
    """The stable's Deployment, lost while the spec asks for other pod settings, comes back as it ran."""
    started = spec_of({**MINIMAL, "pod": POD})
    record = StableRevision(
        revision=revision_of(started), model=started.model, engine=started.engine,
        node_pool=started.node_pool, pod=started.pod,
    )  # fmt: skip
    record = StableRevision.model_validate(record.model_dump(mode="json", by_alias=True))  # via status
    now = spec_of({**MINIMAL, "pod": {"labels": {"team": "other"}}})
    assert template(with_pods_of(now, record)) == template(started)
    assert revision_of(with_pods_of(now, record)) == record.revision


def test_a_status_record_without_pod_settings_reads_as_none() -> None:
    """Records written before `spec.pod` existed."""
    spec = spec_of(MINIMAL)
    raw = {
        "revision": revision_of(spec),
        "model": MINIMAL["model"],
        "engine": spec.engine.model_dump(mode="json", by_alias=True, exclude_none=True),
        "nodePool": {},
    }
    record = StableRevision.model_validate(raw)
    assert record.pod.is_empty()
    assert revision_of(with_pods_of(spec, record)) == revision_of(spec)


@pytest.mark.parametrize(
    ("written", "stored"),
    [("0.5", "500m"), (".5", "500m"), ("1000m", "1"), ("1.5Gi", "1536Mi"), ("1e3", "1k"), ("64G", "64G"), ("1000P", "1E")],
)
def test_a_quantity_the_api_server_stored_canonical_is_no_drift(written: str, stored: str) -> None:
    """The API server keeps quantities in canonical form: a pass must not patch the Deployment for it."""
    desired = {"resources": {"requests": {"cpu": written}, "limits": {"memory": written}}}
    live = {"resources": {"requests": {"cpu": stored}, "limits": {"memory": stored}}}
    assert is_derivative(desired, live)
    assert drift_patch(desired, live) == {}


@pytest.mark.parametrize(("written", "stored"), [("1", "2"), ("1Gi", "1G"), ("500m", "5"), ("8", "eight")])
def test_a_different_quantity_is_drift(written: str, stored: str) -> None:
    desired = {"requests": {"cpu": written}}
    assert not is_derivative(desired, {"requests": {"cpu": stored}})
