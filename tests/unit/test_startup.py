"""Pod stages from pod status, the revision's summary, and how status and events report it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api.checkpoint import ModelRef
from qwenops.api.status import ConditionType, QwenDeploymentStatus, condition
from qwenops.policy.startup import RevisionStartup, Stage, report, stage_of, summarize
from qwenops.render.startup_budget import startup_budget

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
MODEL = ModelRef(name="Qwen/Qwen3-8B", revision="9c925d64d72725edaf899c6cb9c377fd0709d9c5", served_model_name="q")
REFUSED = "VerificationFailed: model-00002-of-00004.safetensors: sha256 is 5f3a1c…, expected 9c1b2d…"


def running() -> dict[str, Any]:
    return {"running": {"startedAt": "2026-11-29T02:59:00Z"}}


def done() -> dict[str, Any]:
    return {"terminated": {"exitCode": 0, "reason": "Completed"}}


def failed(code: int, message: str = "") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Error", "message": message}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


def pod(
    download: dict[str, Any] | None = None,
    verify: dict[str, Any] | None = None,
    vllm: dict[str, Any] | None = None,
    *,
    ready: bool = False,
    last: dict[str, dict[str, Any]] | None = None,
    scheduled: bool = True,
    deleting: bool = False,
) -> dict[str, Any]:
    """A serving pod's status as the kubelet writes it; `last` holds lastState per container."""
    last = last or {}

    def container(name: str, state: dict[str, Any] | None) -> dict[str, Any]:
        return {"name": name, "state": state or {}, "lastState": last.get(name, {}), "ready": ready}

    status: dict[str, Any] = {
        "conditions": [{"type": "PodScheduled", "status": "True"}]
        if scheduled
        else [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ]
    }
    inits = [container(n, s) for n, s in (("download", download), ("verify", verify)) if s is not None]
    if inits:
        status["initContainerStatuses"] = inits
    if vllm is not None:
        status["containerStatuses"] = [container("vllm", vllm)]
    metadata: dict[str, Any] = {"name": "p", "labels": {"qwenops.io/revision": "r1"}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-29T03:00:00Z"
    return {"metadata": metadata, "status": status}


@pytest.mark.parametrize(
    ("case", "status", "stage", "message_has", "terminal"),
    [
        ("not scheduled: no GPU free", pod(scheduled=False), Stage.UNSCHEDULABLE, "Insufficient nvidia.com/gpu", False),
        ("scheduled, nothing started", pod(), Stage.PENDING, "not started", False),
        ("image pulling", pod(waiting("PodInitializing")), Stage.PENDING, "PodInitializing", False),
        ("image missing", pod(waiting("ImagePullBackOff", "Back-off pulling image")), Stage.PENDING,
         "ImagePullBackOff: Back-off pulling image", False),
        ("download running", pod(running(), waiting("PodInitializing")), Stage.DOWNLOADING, "fetching", False),
        ("download retried after a network error",
         pod(running(), last={"download": failed(4, "DownloadFailed: connection reset")}),
         Stage.DOWNLOADING, "again, after: DownloadFailed: connection reset", False),
        ("download failing, backing off",
         pod(waiting("CrashLoopBackOff"), last={"download": failed(4, "DownloadFailed: 503 from the Hub")}),
         Stage.DOWNLOAD_FAILED, "DownloadFailed: 503 from the Hub", False),
        ("verify running", pod(done(), running()), Stage.VERIFYING, "digest", False),
        ("verify refused a file", pod(done(), failed(3, REFUSED + "\nmore detail")), Stage.VERIFICATION_FAILED,
         REFUSED, True),
        ("verify refused a file, kubelet backing off",
         pod(done(), waiting("CrashLoopBackOff"), last={"verify": failed(3, REFUSED)}),
         Stage.VERIFICATION_FAILED, REFUSED, True),
        ("download refused a branch name",
         pod(failed(2, "InvalidRevision: 'main' is a branch, not a commit")),
         Stage.VERIFICATION_FAILED, "InvalidRevision", True),
        ("verify died without a message (OOM)", pod(done(), waiting("CrashLoopBackOff"),
         last={"verify": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}),
         Stage.CRASHING, "verify: exit code 137 (OOMKilled)", False),
        ("vllm starting", pod(done(), done(), waiting("ContainerCreating")), Stage.PENDING, "ContainerCreating", False),
        ("vllm loading", pod(done(), done(), running()), Stage.LOADING, "loading", False),
        ("vllm ready", pod(done(), done(), running(), ready=True), Stage.READY, "", False),
        ("vllm crash-looping", pod(done(), done(), waiting("CrashLoopBackOff"),
         last={"vllm": failed(1, "torch.OutOfMemoryError: CUDA out of memory")}),
         Stage.CRASHING, "CUDA out of memory", False),
        ("vllm restarted and loading again",
         pod(done(), done(), running(), last={"vllm": failed(137)}), Stage.LOADING, "loading", False),
    ],
)
def test_stage_of_a_pod(case: str, status: dict[str, Any], stage: Stage, message_has: str, terminal: bool) -> None:
    found = stage_of(status)
    assert found is not None, case
    assert (found.stage, found.terminal) == (stage, terminal), case
    assert message_has in found.message, (case, found.message)


def test_a_pod_being_deleted_has_no_stage() -> None:
    assert stage_of(pod(done(), done(), running(), ready=True, deleting=True)) is None


@pytest.mark.parametrize(
    ("pods", "stage", "counts"),
    [
        ([], Stage.PENDING, {}),
        ([pod(running()), pod(done(), done(), running(), ready=True)], Stage.DOWNLOADING,
         {"Downloading": 1, "Ready": 1}),
        ([pod(done(), running()), pod(done(), done(), running())], Stage.VERIFYING,
         {"Verifying": 1, "Loading": 1}),
        ([pod(done(), done(), running(), ready=True)] * 3, Stage.READY, {"Ready": 3}),
        ([pod(scheduled=False), pod(done(), done(), running(), ready=True)], Stage.UNSCHEDULABLE,
         {"Unschedulable": 1, "Ready": 1}),
        ([pod(scheduled=False), pod(done(), failed(3, REFUSED))], Stage.VERIFICATION_FAILED,
         {"Unschedulable": 1, "VerificationFailed": 1}),
    ],
)
def test_a_revision_is_its_most_serious_trouble_else_its_slowest_pod(
    pods: list[dict[str, Any]], stage: Stage, counts: dict[str, int]
) -> None:
    summary = summarize("r1", pods)
    assert summary.stage == stage
    assert dict(summary.pods) == counts
    for name, n in counts.items():
        assert f"{n} {name}" in summary.message


def test_a_refused_checkpoint_is_named_in_the_summary() -> None:
    summary = summarize("r1", [pod(done(), done(), running(), ready=True), pod(done(), failed(3, REFUSED))])
    assert summary.failure == REFUSED
    assert summarize("r1", [pod(done(), running())]).failure is None


def budget(warm: bool = False) -> Any:
    return startup_budget(MODEL, warm_cache=warm)


def test_report_sets_status_condition_and_one_event_per_stage() -> None:
    status = QwenDeploymentStatus()
    downloading = RevisionStartup("r1", Stage.DOWNLOADING, {"Downloading": 2}, "2 Downloading")
    status, change = report(status, downloading, budget(), now=NOW, generation=3)
    assert status.startup is not None
    assert (status.startup.revision, status.startup.stage, status.startup.since) == ("r1", "Downloading", NOW)
    assert status.startup.deadline_seconds == int(budget().deadline.total_seconds())
    ready_condition = condition(status.conditions, ConditionType.MODEL_READY)
    assert ready_condition is not None
    assert (ready_condition.status, ready_condition.reason) == ("False", "Downloading")
    assert change is not None and (change.warning, change.reason) == (False, "Downloading")

    later = NOW + timedelta(minutes=1)
    again, change = report(status, downloading, budget(), now=later, generation=3)
    assert change is None and again.startup is not None and again.startup.since == NOW

    ready = RevisionStartup("r1", Stage.READY, {"Ready": 2}, "2 Ready")
    done_status, change = report(again, ready, budget(), now=later, generation=3)
    assert change is not None and change.reason == "ModelReady" and not change.warning
    ready_condition = condition(done_status.conditions, ConditionType.MODEL_READY)
    assert ready_condition is not None and ready_condition.status == "True"


def test_troubles_are_warnings_and_pending_posts_nothing() -> None:
    _, change = report(
        QwenDeploymentStatus(), RevisionStartup("r1", Stage.PENDING, {}, "no pods yet"), budget(),
        now=NOW, generation=1,
    )  # fmt: skip
    assert change is None
    refused = RevisionStartup("r1", Stage.VERIFICATION_FAILED, {"VerificationFailed": 1}, REFUSED, REFUSED)
    _, change = report(QwenDeploymentStatus(), refused, budget(), now=NOW, generation=1)
    assert change is not None and change.warning and change.reason == "VerificationFailed"
    assert REFUSED in change.message


def test_a_new_revision_at_the_same_stage_is_a_new_stage() -> None:
    status, _ = report(
        QwenDeploymentStatus(), RevisionStartup("r1", Stage.LOADING, {}, ""), budget(), now=NOW, generation=1
    )
    status, change = report(
        status, RevisionStartup("r2", Stage.LOADING, {}, ""), budget(), now=NOW + timedelta(1), generation=1
    )
    assert change is not None
    assert status.startup is not None and status.startup.since == NOW + timedelta(1)


def test_no_pods_wanted_clears_the_report() -> None:
    status, _ = report(
        QwenDeploymentStatus(), RevisionStartup("r1", Stage.LOADING, {}, ""), budget(), now=NOW, generation=1
    )
    cleared, change = report(status, None, None, now=NOW, generation=1)
    assert cleared.startup is None and change is None
