"""Why a canary rolls back, in the order they are asked: weight 0 at once, scaled to 0.

A person's abort, a pod refusing the checkpoint, pods not ready within the
progress deadline, and `failureLimit` consecutive failed readings (or one whose
breach is conclusive on everything since the step started) each roll it back;
its revision is then held at zero pods (see `outcome.Held`) until the
spec changes or a person asks to retry. Its Deployment is marked rejected before
the pass moves traffic or pods (`conclude`), so that the decision survives a status
write lost with the operator that made it (`recorded`).
"""

from qwenops.api.status import AnalysisReading, Rejection
from qwenops.policy.canary import Canary
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import Held, RolledBack
from qwenops.policy.steps import late


def recorded(sit: Situation, canary: Canary) -> RolledBack | Held:
    """A revision rolled back on an earlier pass: held at zero pods. When only its Deployment's
    mark says so (the status write after it was lost), the rollback is written down now, as the
    mark records it: whatever the canary's readings say since, it has no pods to be judged on."""
    if sit.status.rejected_revision == sit.target:
        return Held(canary.rejection or _from_history(sit))
    mark = canary.rejection
    assert mark is not None, "derive: rejected by the status or by the mark"
    return RolledBack(canary.revision, mark.reason, mark.message, at=mark.at)


def _from_history(sit: Situation) -> Rejection:
    """The mark for a rollback only the status records (an operator that knew no marks made it)."""
    entry = next(
        (h for h in reversed(sit.status.history) if h.revision == sit.target and h.outcome == "RolledBack"),
        None,
    )
    if entry is None:
        return Rejection(reason="RolledBack", message=sit.status.message, at=sit.now)
    reason, _, why = entry.reason.partition(": ")
    return Rejection(reason=reason, message=why, at=entry.at)


def before_reading(sit: Situation, canary: Canary, *, abort: bool) -> RolledBack | None:
    """A rollback asked for, or forced by the canary's pods (None: none is)."""
    if abort:
        return RolledBack(canary.revision, "Aborted", "aborted by a person (annotation qwenops.io/abort)")
    refused = sit.observed.refused(sit.target)
    if refused is not None:
        return RolledBack(
            canary.revision, "VerificationFailed", f"a canary pod refused the checkpoint: {refused}"
        )
    if (too_late := late(sit, canary)) is not None:
        return RolledBack(canary.revision, "ProgressDeadlineExceeded", too_late)
    return None


def on_reading(sit: Situation, canary: Canary, recorded: AnalysisReading) -> RolledBack | None:
    """The reading just recorded ends a run of `failureLimit` failures, or failed conclusively.

    None: it does neither."""
    if breached(sit, recorded):
        return RolledBack(canary.revision, "SLOBreached", recorded.message)
    return None


def breached(sit: Situation, recorded: AnalysisReading) -> bool:
    """The reading just recorded ends a run of `failureLimit` failures, or failed conclusively."""
    conclusive = recorded.verdict == "Failed" and recorded.conclusive
    return conclusive or recorded.consecutive_failures >= sit.spec.rollout.analysis.failure_limit
