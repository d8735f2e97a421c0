"""What the emulated API fills into the built-in objects the operator writes, as a Kubernetes 1.35
API server does (qwenops_testing/emulator/defaults.py, quantity.py), checked over real HTTP: the
defaults of Services, Deployments, pod templates and pods, canonical quantities, a Deployment's
generation, and the operator's rendered children still derivative of what is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.render import desired
from qwenops.render.defaults import revision_of, with_image
from qwenops.render.diff import is_derivative
from qwenops_testing.emulator import MERGE_PATCH
from qwenops_testing.manifests import SERVING_IMAGE
from tests.unit.emulator_http import (
    CORPUS_NS,
    DEPLOY,
    NS,
    SERVICES,
    Http,
    Json,
    bare_deployment,
    emulator,
    http,
)

__all__ = ["emulator", "http"]  # the fixtures
EXTRA_NAMESPACES = (CORPUS_NS,)

VALID = sorted((Path(__file__).resolve().parents[1] / "manifests" / "valid").glob("*.yaml"))


# -- built-in objects: defaults and quantities ------------------------------------------------------


async def test_a_service_gets_its_defaults_and_a_cluster_ip(http: Http) -> None:
    body = {"metadata": {"name": "s"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
    first = await http.ok("POST", SERVICES, body)
    second = await http.ok("POST", SERVICES, {**body, "metadata": {"name": "t"}})
    spec = first["spec"]
    expected = {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}  # fmt: skip
    assert {k: spec[k] for k in expected} == expected
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["clusterIP"].startswith("10.96.") and spec["clusterIPs"] == [spec["clusterIP"]]
    assert second["spec"]["clusterIP"] != spec["clusterIP"]
    replaced = await http.ok("PUT", f"{SERVICES}/s", {**body, "metadata": first["metadata"]})
    assert replaced["spec"]["clusterIP"] == spec["clusterIP"]  # kept when a PUT leaves it out


async def test_a_deployment_and_its_pod_template_get_their_defaults(http: Http) -> None:
    probe = {"httpGet": {"port": 8000}}
    container = {"name": "c", "image": "registry.example/c:1.0", "ports": [{"containerPort": 8000}],
                 "readinessProbe": probe}  # fmt: skip
    stored = await http.ok("POST", DEPLOY, bare_deployment(containers=[container]))
    spec = stored["spec"]
    assert {k: spec[k] for k in ("replicas", "revisionHistoryLimit", "progressDeadlineSeconds", "strategy")} == {
        "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    }  # fmt: skip
    pod = spec["template"]["spec"]
    expected = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "terminationGracePeriodSeconds": 30, "securityContext": {}}  # fmt: skip
    assert {k: pod[k] for k in expected} == expected
    (stored_container,) = pod["containers"]
    assert stored_container == {
        **container, "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"port": 8000, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
    }  # fmt: skip


@pytest.mark.parametrize(("image", "policy"), [
    ("registry.example/c", "Always"), ("registry.example/c:latest", "Always"),
    ("registry.example:5000/c", "Always"), ("registry.example/c:1.0", "IfNotPresent"),
    ("registry.example/c@sha256:" + "0" * 64, "IfNotPresent"),
])  # fmt: skip
async def test_the_pull_policy_follows_the_tag(http: Http, image: str, policy: str) -> None:
    stored = await http.ok("POST", DEPLOY, bare_deployment(containers=[{"name": "c", "image": image}]))
    assert stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize(("written", "stored"), [
    ("1000m", "1"), ("0.5", "500m"), (0.5, "500m"), (2, "2"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"),
    ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"), ("2000", "2k"), ("1e3", "1e3"), ("100u", "1m"),
])  # fmt: skip
async def test_quantities_are_stored_canonical(http: Http, written: Any, stored: str) -> None:
    container = {"name": "c", "image": "i:1", "resources": {"requests": {"cpu": written}, "limits": {"cpu": written}}}
    answer = await http.ok("POST", DEPLOY, bare_deployment(containers=[container]))
    assert answer["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": stored}, "limits": {"cpu": stored}}


async def test_a_size_limit_is_canonical_and_not_rounded_to_a_milli(http: Http) -> None:
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16384Mi"}}
    answer = await http.ok("POST", DEPLOY, bare_deployment(volumes=[volume, {"name": "bare"}]))
    assert answer["spec"]["template"]["spec"]["volumes"] == [
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}, {"name": "bare", "emptyDir": {}}]


async def test_a_value_that_is_no_quantity_cannot_be_decoded(http: Http) -> None:
    container = {"name": "c", "image": "i:1", "resources": {"limits": {"memory": "lots"}}}
    status, answer, _ = await http.call("POST", DEPLOY, bare_deployment(containers=[container]))
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"].startswith(
        'Deployment in version "v1" cannot be handled as a Deployment: quantities must match the regular expression')


async def test_a_pod_gets_requests_from_its_limits(http: Http) -> None:
    container = {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}}
    pod = await http.ok("POST", f"/api/v1/namespaces/{NS}/pods", {"metadata": {"name": "p"},
                                                                  "spec": {"containers": [container]}})  # fmt: skip
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    assert pod["spec"]["enableServiceLinks"] is True


async def test_writing_back_what_is_stored_changes_nothing(http: Http) -> None:
    created = await http.ok("POST", DEPLOY, bare_deployment())
    again = await http.ok("PUT", f"{DEPLOY}/web", bare_deployment() | {"metadata": created["metadata"]})
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# -- a Deployment's generation ----------------------------------------------------------------------


async def test_a_deployments_generation_follows_its_spec_and_annotations_not_labels(http: Http) -> None:
    """apps/v1's PrepareForUpdate (pkg/registry/apps/deployment/strategy.go, 1.35): a change of the
    spec or of the annotations bumps it, as annotations are copied to the ReplicaSets."""
    await http.ok("POST", DEPLOY, bare_deployment())

    async def generation(patch: Json, subresource: str = "") -> int:
        answer = await http.ok("PATCH", f"{DEPLOY}/web{subresource}", patch, MERGE_PATCH)
        return int(answer["metadata"]["generation"])

    assert await generation({"metadata": {"labels": {"tier": "web"}}}) == 1
    assert await generation({"status": {"replicas": 1}}, "/status") == 1
    assert await generation({"metadata": {"annotations": {"note": "x"}}}) == 2
    assert await generation({"spec": {"replicas": 3}}) == 3
    assert await generation({"spec": {"replicas": 3}}) == 3  # nothing changed


# -- what the operator renders, against the defaults ---------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
async def test_the_operators_children_stay_derivative_of_what_the_api_stores(http: Http, path: Path) -> None:
    """The operator writes nothing when every field it renders is stored as rendered
    (render/diff.py's is_derivative): so it must hold against the API server's defaults, for every
    valid manifest of the corpus."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    stored_qwd = await http.ok("POST", f"/apis/qwenops.io/v1alpha1/namespaces/{manifest['metadata']['namespace']}"
                               "/qwendeployments", manifest)  # fmt: skip
    parsed = with_image(QwenDeploymentSpec.model_validate(stored_qwd["spec"]), SERVING_IMAGE)
    meta = stored_qwd["metadata"]
    owner = desired.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
    revision = revision_of(parsed)
    children = [
        ("apps/v1/deployments", desired.desired_deployment(owner, parsed, revision, track="stable", replicas=2)),
        *(("v1/services", service) for service in desired.desired_services(owner, stable=revision, canary=None)),
    ]
    for resource, child in children:
        group_version, plural = resource.rsplit("/", 1)
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        stored = await http.ok("POST", f"{prefix}/namespaces/{meta['namespace']}/{plural}", child)
        assert stored["spec"] != child["spec"], "the API server added nothing: the test would prove nothing"
        assert is_derivative(child, stored), child["metadata"]["name"]
