"""Every step passed: the canary grows to full size, then takes over as the stable revision.

It is the same Deployment, scaled up, so no pod loads its model twice; the old
stable goes once the canary is available at full size.
"""

from qwenops.api.status import CanaryRevision
from qwenops.policy import pending, warm
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import Progressing, Promoted
from qwenops.policy.plan import Event


def start_promoting(
    sit: Situation, canary: CanaryRevision, why: str, events: tuple[Event, ...] = ()
) -> Progressing | Promoted:
    """The last step is over (`why`): scale to full size, waiting for those pods from now."""
    canary = canary.model_copy(update={"promoting": True, "waiting_since": sit.now})
    said = Event("Normal", "Promoting", f"canary {sit.target} scaling to full size: {why}")
    return promoting(sit, canary, (*events, said))


def promoting(
    sit: Situation, canary: CanaryRevision, events: tuple[Event, ...] = ()
) -> Progressing | Promoted:
    """Promoted once the canary is available at full size (less the warm pods of a bake beyond a
    budget's surge); until then, waiting for its pods."""
    state, full = sit.target_state, warm.promotion_pods(sit.spec)[0]
    if state is not None and state.available and state.replicas >= full:
        return Promoted(canary, events)
    message = f"promoting {sit.target}: {sit.target_ready}/{full} replicas ready"
    if (stuck := pending.unschedulable(sit.spec, sit.observed.startups.get(sit.target))) is not None:
        message += f": {stuck}"
    return Progressing(canary, message, sit.spec.replicas, events=events)
