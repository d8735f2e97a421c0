"""The operator installed by its chart, on a real cluster, rolling simulated vLLM pods out.

`python -m tests.e2e.cluster up` (`make e2e`) installs what these tests stand on: the chart's operator, watching
the namespace `qwenops-e2e`; a Prometheus scraping the model pods every 2 s; the Hub stand-in serving a tiny
checkpoint; nodes labelled gpu-pool=e2e with (fake, on kind) GPUs. Every model pod runs the simulator's
image through the real steps: download from the Hub stand-in, verify, serve. `--rps 20` makes each pod record
20 requests a second with no client, so Prometheus has traffic to judge.

Each test makes its own QwenDeployment and deletes it; a wait that times out fails with the status, the
events, the Deployments and pods, and the operator's log.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.cluster import OPERATOR_NAMESPACE, RELEASE
from tests.e2e.support import (
    STARTUP_EVENTS,
    Kubectl,
    Manifest,
    Subject,
    event_time,
    in_order,
    parse_time,
    qwen_deployment,
)

pytestmark = pytest.mark.e2e

TRAFFIC = ["--rps", "20"]


def test_a_healthy_canary_is_promoted(subject: Subject) -> None:
    subject.apply(TRAFFIC)
    stable = subject.wait_healthy()["stable"]["revision"]

    subject.apply([*TRAFFIC, "--seed", "2"])  # another pod template: a new revision, rolled out as a canary

    canary = subject.wait_canary(stable)
    revision = canary["revision"]
    assert (canary["step"], canary["weight"]) == (0, 50), (
        "2 canary pods beside the 2 stable ones: half the traffic"
    )
    entry = subject.wait_history(revision, "Promoted", timeout=300)
    assert entry["reason"] == "every step passed"
    status = subject.wait_healthy(timeout=120)
    assert status["stable"]["revision"] == revision
    # The last step ends in Promoting, which says why: the pause is over and Prometheus' reading passed.
    assert (
        subject.count("Promoting", f"{revision} scaling to full size: pause over and analysis passed") == 1
    ), subject.report()

    def only_the_promoted() -> dict[str, Manifest] | None:
        deployments = subject.deployments()
        return deployments if set(deployments) == {revision} else None

    promoted = subject.wait("the old revision's Deployment deleted", only_the_promoted, timeout=120)[revision]
    assert promoted["spec"]["replicas"] == 2
    assert promoted["metadata"]["labels"]["qwenops.io/track"] == "stable"


def test_an_slo_breach_is_rolled_back(subject: Subject) -> None:
    subject.apply(TRAFFIC)
    stable = subject.wait_healthy()["stable"]["revision"]

    subject.apply([*TRAFFIC, "--error-rate", "0.5"], pause="10m")  # half of its requests answered 500

    def rolled_back() -> Manifest | None:
        status = subject.status()
        return status if status.get("phase") == "RolledBack" else None

    status = subject.wait("phase RolledBack", rolled_back, timeout=300)
    entry = next(h for h in reversed(status["history"]) if h["outcome"] == "RolledBack")
    assert entry["revision"] != stable
    assert entry["reason"].startswith("SLOBreached:"), entry
    assert "maxErrorRate" in entry["reason"], entry
    assert status["stable"]["revision"] == stable
    assert status["rejectedRevision"] == entry["revision"]
    assert status.get("canary") is None
    deployments = subject.deployments()
    assert deployments[stable]["spec"]["replicas"] == 2, "the stable revision kept its replicas"
    assert deployments[stable]["status"].get("readyReplicas") == 2, subject.report()
    assert deployments[entry["revision"]]["spec"]["replicas"] == 0, "the canary's Deployment stays, empty"
    assert subject.count("RolledBack", "SLOBreached") == 1, subject.report()


def _operator_pods(kubectl: Kubectl) -> list[Manifest]:
    selector = f"app.kubernetes.io/name=qwenops,app.kubernetes.io/instance={RELEASE}"
    pods: list[Manifest] = kubectl.json("-n", OPERATOR_NAMESPACE, "get", "pods", "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: Manifest) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_the_operator_restarted_mid_rollout_resumes_the_step(subject: Subject) -> None:
    subject.apply(TRAFFIC)
    stable = subject.wait_healthy()["stable"]["revision"]
    subject.apply([*TRAFFIC, "--seed", "3"], pause="120s")
    before = subject.wait_canary(stable)

    # The leader: the pod the Lease's holderIdentity (`<pod>_<suffix>`) names; the chart runs two.
    lease = subject.kubectl.json("-n", OPERATOR_NAMESPACE, "get", "lease", RELEASE)
    leader = lease["spec"]["holderIdentity"].rpartition("_")[0]
    (old,) = [p for p in _operator_pods(subject.kubectl) if p["metadata"]["name"] == leader]
    subject.kubectl.run("-n", OPERATOR_NAMESPACE, "delete", "pod", old["metadata"]["name"], "--wait=true",
                        "--timeout=120s", timeout=150)  # fmt: skip

    def new_operator() -> Manifest | None:
        pods = [p for p in _operator_pods(subject.kubectl) if p["metadata"]["uid"] != old["metadata"]["uid"]]
        holder = subject.kubectl.json("-n", OPERATOR_NAMESPACE, "get", "lease", RELEASE)["spec"]
        leading = (holder.get("holderIdentity") or "").rpartition("_")[0]
        return next((p for p in pods if _ready(p) and p["metadata"]["name"] == leading), None)

    subject.wait("another operator pod leading", new_operator, timeout=180)
    last = (subject.status().get("analysis") or {}).get("at")

    def read_again() -> Manifest | None:
        status = subject.status()
        return status if (status.get("analysis") or {}).get("at") not in (None, last) else None

    after = subject.wait("an analysis reading by the new operator", read_again, timeout=90).get("canary")
    assert after is not None, f"the rollout ended before it could be checked\n{subject.report()}"
    assert after["revision"] == before["revision"]
    assert after["step"] == before["step"], "the rollout resumed at the same step"
    assert parse_time(after["stepStartedAt"]) == parse_time(before["stepStartedAt"]), (
        "its pause not restarted"
    )

    subject.wait_history(before["revision"], "Promoted", timeout=120 + 240)
    subject.wait_healthy(timeout=120)
    revision = before["revision"]
    assert subject.count("StepStarted") == 1, subject.report()
    assert subject.count("Promoting", revision) == 1, subject.report()
    assert subject.count("Promoted", revision) == 1, subject.report()
    outcomes = [h["outcome"] for h in subject.status()["history"] if h["revision"] == revision]
    assert outcomes == ["Promoted"]


def _snapshot(subject: Subject) -> dict[str, Any]:
    """What a refused apply must leave alone: the stored spec and status, and the Deployments."""
    item = subject.get()
    status = item.get("status") or {}
    return {
        "generation": item["metadata"]["generation"],
        "spec": item["spec"],
        "phase": status.get("phase"),
        "stable": (status.get("stable") or {}).get("revision"),
        "deployments": {
            revision: (d["metadata"]["generation"], d["spec"]["replicas"])
            for revision, d in subject.deployments().items()
        },
    }


def test_a_branch_as_revision_is_refused_and_nothing_changes(subject: Subject) -> None:
    subject.apply(["--rps", "5"], replicas=1)
    subject.wait_healthy()
    before = _snapshot(subject)

    refused = subject.kubectl.apply(qwen_deployment(subject.name, ["--rps", "5"], replicas=1, revision="main"),
                                    check=False)  # fmt: skip

    assert refused.returncode != 0, f"kubectl apply admitted a branch as the revision:\n{refused.stdout}"
    assert "spec.model.revision" in refused.stderr, refused.stderr
    time.sleep(12)  # two of the operator's resyncs (the chart's resyncSeconds: 5)
    assert _snapshot(subject) == before, subject.report()


def test_the_first_revision_walks_its_startup_stages(subject: Subject) -> None:
    """Downloading (the Hub stand-in throttles its bodies: seconds), Verifying, Loading (the simulator answers
    /health 503 for `--load-seconds`), Ready; each stage change is an event.

    Verifying is asserted in order when it shows: the tiny checkpoint is hashed in milliseconds, faster than
    the kubelet reports an init container running, so on this checkpoint the operator may never see it.
    """
    subject.apply(["--rps", "5", "--load-seconds", "8"])
    seen: list[str] = []

    def healthy_noting_stages() -> Manifest | None:
        status = subject.status()
        stage = (status.get("startup") or {}).get("stage")
        if stage and (not seen or seen[-1] != stage):
            seen.append(stage)
        return status if status.get("phase") == "Healthy" else None

    status = subject.wait("phase Healthy", healthy_noting_stages, timeout=300, every=1)

    order = ["Pending", "Downloading", "Verifying", "Loading", "Ready"]
    assert set(seen) <= set(order), f"a stage of trouble: {seen}\n{subject.report()}"
    assert seen == sorted(seen, key=order.index), f"stages out of order: {seen}"
    assert {"Downloading", "Loading", "Ready"} <= set(seen), seen
    startup = status["startup"]
    assert (startup["revision"], startup["stage"], startup["pods"]) == (status["stable"]["revision"], "Ready",
                                                                        {"Ready": 2})  # fmt: skip
    times: dict[str, Any] = {}
    for event in subject.events():
        if event.get("reason") in STARTUP_EVENTS:
            times.setdefault(event["reason"], event_time(event))
    assert {"Downloading", "Loading", "ModelReady"} <= set(times), f"{sorted(times)}\n{subject.report()}"
    assert in_order(times, STARTUP_EVENTS), times
    for pod in subject.pods():
        ended = {
            c["name"]: c["state"].get("terminated") or {} for c in pod["status"]["initContainerStatuses"]
        }
        assert (ended["download"].get("exitCode"), ended["verify"].get("exitCode")) == (0, 0), ended
