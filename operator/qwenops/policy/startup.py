"""Where a revision's pods are on their way to serving, read from pod status alone.

A pod runs two init containers of the serving image, `download` then `verify`,
and then the `vllm` container. So its stage shows in its container statuses:
`download` running is Downloading, `verify` running is Verifying, `vllm`
running but not ready is Loading, ready is Ready. An init container that ends
with the serving image's exit code for a refused checkpoint (3: a digest does
not match, a file is missing; 2: the revision is not a commit) is terminal:
the kubelet would retry it forever, and its termination message names the
file. Everything here is pure; `reconcile.py` lists the pods.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from qwenops.api.naming import DOWNLOAD_CONTAINER, SERVING_CONTAINER, VERIFY_CONTAINER
from qwenops.api.status import ConditionType, QwenDeploymentStatus, StartupStatus, with_condition
from qwenops.render.startup_budget import StartupBudget

EXIT_INVALID_REVISION = 2
EXIT_VERIFICATION_FAILED = 3
EXIT_DOWNLOAD_FAILED = 4
EXIT_NOT_VERIFIED = 5
TERMINAL_EXIT_CODES = frozenset({EXIT_INVALID_REVISION, EXIT_VERIFICATION_FAILED})


class Stage(StrEnum):
    PENDING = "Pending"
    UNSCHEDULABLE = "Unschedulable"
    DOWNLOADING = "Downloading"
    DOWNLOAD_FAILED = "DownloadFailed"
    VERIFYING = "Verifying"
    VERIFICATION_FAILED = "VerificationFailed"
    LOADING = "Loading"
    CRASHING = "Crashing"
    READY = "Ready"


PROGRESS = (Stage.PENDING, Stage.DOWNLOADING, Stage.VERIFYING, Stage.LOADING, Stage.READY)
"""The way to serving, in order; a revision is as far as its slowest pod."""
TROUBLE = (Stage.VERIFICATION_FAILED, Stage.UNSCHEDULABLE, Stage.CRASHING, Stage.DOWNLOAD_FAILED)
"""Stages that need a person's eye, most serious first; each outranks any progress."""
WARNING_STAGES = frozenset(TROUBLE)


@dataclass(frozen=True)
class PodStage:
    stage: Stage
    message: str = ""
    terminal: bool = False


@dataclass(frozen=True)
class RevisionStartup:
    """The pods of one revision, summed up."""

    revision: str
    stage: Stage
    pods: Mapping[str, int] = field(default_factory=dict)
    """How many pods are at each stage."""
    message: str = ""
    failure: str | None = None
    """Set when a pod refused the checkpoint: the termination message, naming the file."""
    unschedulable: str = ""
    """The scheduler's message for a pod it could not place (PodScheduled=False), if one is."""


def _terminated(container: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The container's failed run, now or last time (None when it never failed)."""
    if container is None:
        return None
    for key in ("state", "lastState"):
        ended = (container.get(key) or {}).get("terminated")
        if ended and ended.get("exitCode", 0) != 0:
            return dict(ended)
    return None


def _why(ended: Mapping[str, Any]) -> str:
    message = (ended.get("message") or "").strip().splitlines()
    if message:
        return message[0]
    return f"exit code {ended.get('exitCode')} ({ended.get('reason') or 'Error'})"


def _succeeded(container: Mapping[str, Any] | None) -> bool:
    ended = ((container or {}).get("state") or {}).get("terminated") or {}
    return bool(ended) and ended.get("exitCode", 1) == 0


def _waiting(container: Mapping[str, Any] | None) -> str:
    waiting = ((container or {}).get("state") or {}).get("waiting") or {}
    reason, message = waiting.get("reason", ""), waiting.get("message", "")
    return f"{reason}: {message}" if reason and message else reason or message


def _init_stage(
    container: Mapping[str, Any] | None, running: Stage, failed: Stage, what: str
) -> PodStage | None:
    """The stage an init container puts the pod in, or None once it has succeeded."""
    if _succeeded(container):
        return None
    if container is None:
        return PodStage(Stage.PENDING, "containers not started yet")
    if ((container.get("state") or {}).get("running")) is not None:
        ended = _terminated(container)
        retry = f" (again, after: {_why(ended)})" if ended else ""
        return PodStage(running, f"{what}{retry}")
    ended = _terminated(container)
    if ended is not None:
        return PodStage(failed, f"{container.get('name')}: {_why(ended)}")
    return PodStage(Stage.PENDING, _waiting(container) or "waiting to start")


def stage_of(pod: Mapping[str, Any]) -> PodStage | None:
    """Where one pod is; None for a pod on its way out."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    status = pod.get("status") or {}
    inits = {c.get("name"): c for c in status.get("initContainerStatuses") or []}
    for name in (DOWNLOAD_CONTAINER, VERIFY_CONTAINER):
        ended = _terminated(inits.get(name))
        if ended is not None and ended.get("exitCode") in TERMINAL_EXIT_CODES:
            return PodStage(Stage.VERIFICATION_FAILED, _why(ended), terminal=True)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return PodStage(Stage.UNSCHEDULABLE, condition.get("message") or condition.get("reason", ""))
    download = _init_stage(
        inits.get(DOWNLOAD_CONTAINER), Stage.DOWNLOADING, Stage.DOWNLOAD_FAILED, "fetching the checkpoint"
    )
    if download is not None:
        return download
    verify = _init_stage(
        inits.get(VERIFY_CONTAINER), Stage.VERIFYING, Stage.CRASHING, "checking each file's digest"
    )
    if verify is not None:
        return verify
    serving = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == SERVING_CONTAINER), None
    )
    if serving is None:
        return PodStage(Stage.PENDING, "serving container not started yet")
    if serving.get("ready"):
        return PodStage(Stage.READY)
    if ((serving.get("state") or {}).get("running")) is not None:
        return PodStage(Stage.LOADING, "vLLM loading the weights")
    ended = _terminated(serving)
    if ended is not None:
        return PodStage(Stage.CRASHING, _why(ended))
    return PodStage(Stage.PENDING, _waiting(serving) or "waiting to start")


def summarize(revision: str, pods: Iterable[Mapping[str, Any]]) -> RevisionStartup:
    """The stage of a revision: its most serious trouble, else its slowest pod."""
    stages = [s for s in (stage_of(p) for p in pods) if s is not None]
    if not stages:
        return RevisionStartup(revision, Stage.PENDING, {}, "no pods yet")
    counts = Counter(s.stage for s in stages)
    terminal = next((s for s in stages if s.terminal), None)
    trouble = next((t for t in TROUBLE if counts[t]), None)
    stage = trouble if trouble is not None else next(p for p in PROGRESS if counts[p])
    example = next(s for s in stages if s.stage == stage)
    breakdown = ", ".join(f"{counts[s]} {s}" for s in (*TROUBLE, *PROGRESS) if counts[s])
    message = f"{breakdown}" + (f": {example.message}" if example.message else "")
    return RevisionStartup(
        revision=revision,
        stage=stage,
        pods={str(s): n for s, n in counts.items()},
        message=message,
        failure=terminal.message if terminal is not None else None,
        unschedulable=next((s.message for s in stages if s.stage == Stage.UNSCHEDULABLE), ""),
    )


@dataclass(frozen=True)
class StageChange:
    """An event to post: the revision's stage moved."""

    warning: bool
    reason: str
    message: str


def report(
    status: QwenDeploymentStatus,
    startup: RevisionStartup | None,
    budget: StartupBudget | None,
    *,
    now: datetime,
    generation: int | None,
) -> tuple[QwenDeploymentStatus, StageChange | None]:
    """Put the revision's stage in `status.startup` and the ModelReady condition; say when it moved."""
    if startup is None or budget is None:
        return status.model_copy(update={"startup": None}), None
    previous = status.startup
    same = previous is not None and previous.revision == startup.revision and previous.stage == startup.stage
    since = previous.since if same and previous is not None else now
    recorded = StartupStatus(
        revision=startup.revision,
        stage=str(startup.stage),
        pods=dict(startup.pods),
        message=startup.message,
        since=since,
        model_bytes=budget.model_bytes,
        warm_cache=budget.warm_cache,
        deadline_seconds=int(budget.deadline.total_seconds()),
        budget=budget.describe(),
    )
    ready = startup.stage == Stage.READY
    message = f"revision {startup.revision}: {startup.message}" if startup.message else ""
    conditions = with_condition(
        status.conditions,
        ConditionType.MODEL_READY,
        "True" if ready else "False",
        str(startup.stage),
        message,
        now=now,
        generation=generation,
    )
    change = None
    if not same and startup.stage != Stage.PENDING:
        reason = "ModelReady" if ready else str(startup.stage)
        change = StageChange(startup.stage in WARNING_STAGES, reason, message or reason)
    return status.model_copy(update={"startup": recorded, "conditions": conditions}), change
