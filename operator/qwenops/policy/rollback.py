"""Why a canary rolls back, in the order they are asked: weight 0 at once, scaled to 0.

A person's abort, a pod refusing the checkpoint, pods not ready within the
progress deadline, and `failureLimit` consecutive failed readings each roll it
back; its revision is then held at zero pods (see `outcome.Held`) until the
spec changes or a person asks to retry.
"""

from qwenops.api.status import AnalysisReading
from qwenops.policy.canary import Canary
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import RolledBack
from qwenops.policy.steps import late


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
    """The reading just recorded ends a run of `failureLimit` failures (None: it does not)."""
    if recorded.consecutive_failures >= sit.spec.rollout.analysis.failure_limit:
        return RolledBack(canary.revision, "SLOBreached", recorded.message)
    return None
