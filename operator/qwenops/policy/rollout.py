"""The rollout state machine: what should run, how much traffic the canary gets, and why.

`decide` is a pure function of the spec, the status written last time, what
the API shows now, the analysis reading taken for this reconcile (if one was
due, see `reading_due`) and the time. The caller renders and applies the plan
and writes `plan.status`; nothing here reads a clock or talks to a server.

A canary walks the declared steps. At each step it first gets the pods that
carry the step's weight, and the weight counts only once they are ready; the
step's pause runs from then. It advances when the pause is over and the
latest analysis reading of the step passed (a person's `promote` skips both).
After the last step it scales up to full size and takes over as the stable
revision: the same Deployment, so no pod loads its model twice.
`failureLimit` consecutive failed readings, a person's `abort`, or pods not
ready within `progressDeadline` roll it back: its Deployment marked rejected
before anything moves, then weight 0 and 0 pods at once, and its revision is not
tried again until the spec changes or a person asks (`retry`); a restart whose
status write was lost finds the mark and does not undo it. Inconclusive and
Error readings hold the step; they never promote and never roll back. While
the router's object (an HTTPRoute) does not carry the weight in effect, the
canary holds where it is. A declared bake then judges the new stable on, with
pods of the previous revision warm for a way back (`bake`).

The transitions live beside this module (canary, steps, promotion, rollback,
requests, readings, undo, steady); `conclude` writes each outcome down.
"""

from dataclasses import replace
from datetime import datetime

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import AnalysisReading, QwenDeploymentStatus, StableRevision
from qwenops.policy import bake as bakes
from qwenops.policy import canary as canaries
from qwenops.policy import requests, rollback
from qwenops.policy.canary import CanaryState
from qwenops.policy.conclude import conclude_canary, conclude_steady, refuse
from qwenops.policy.observed import DeploymentState, Observed, Situation
from qwenops.policy.outcome import CanaryOutcome, Said
from qwenops.policy.plan import DeploymentPlan, Event, Plan, short, traffic_weight
from qwenops.policy.promotion import promoting
from qwenops.policy.readings import Comparison, analysis_due, reading_due, record
from qwenops.policy.steady import steady
from qwenops.policy.steps import route_hold, walk
from qwenops.policy.undo import Target, resolve_target, undo_destination

__all__ = [
    "Comparison",
    "DeploymentPlan",
    "DeploymentState",
    "Event",
    "Observed",
    "Plan",
    "Target",
    "analysis_due",
    "decide",
    "reading_due",
    "refuse",
    "resolve_target",
    "short",
    "traffic_weight",
    "undo_destination",
]


def decide(
    spec: QwenDeploymentSpec,
    target: str,
    status: QwenDeploymentStatus,
    observed: Observed,
    now: datetime,
    reading: AnalysisReading | None = None,
) -> Plan:
    """Move one step towards serving revision `target` (the hash of the current spec)."""
    stable = status.stable
    if stable is None:
        stable = StableRevision(
            revision=target,
            model=spec.model,
            engine=spec.engine,
            node_pool=spec.node_pool,
            pod=spec.pod,
        )
        serving = f"serving {spec.model.name}@{short(spec.model.revision)} as revision {target}"
        first: tuple[Event, ...] = (Event("Normal", "Serving", serving),)
    else:
        first = ()
    status, bake_ended = bakes.ended_by(status, target)
    if bake_ended is not None:
        first = (*first, bake_ended)
    sit = Situation.of(spec, target, status, stable, observed, now)
    if status.bake is not None:
        return bakes.decide(sit, status.bake, reading)
    if target == stable.revision:
        return conclude_steady(sit, *steady(sit, first))
    return conclude_canary(sit, *_canary(sit, reading, first))


def _canary(
    sit: Situation, reading: AnalysisReading | None, first: tuple[Event, ...]
) -> tuple[CanaryOutcome, Said]:
    """The canary's next transition, and what the pass handled, recorded and said before it."""
    asked = requests.take(sit.status.handled, sit.observed.annotations)
    canary = canaries.derive(sit, retry=asked.retry)
    events = (*first, *canary.events)
    said = Said(asked.handled, sit.status.conditions, sit.status.analysis, events, canary.recorded)
    if canary.state == CanaryState.ROLLED_BACK:
        return rollback.recorded(sit, canary), said
    if (rolled_back := rollback.before_reading(sit, canary, abort=asked.abort)) is not None:
        return rolled_back, said
    if reading is not None:
        recorded = record(reading, sit.status.analysis, said.conditions, sit.now, sit.generation)
        said = replace(said, conditions=recorded.conditions, analysis=recorded.analysis)
        if (rolled_back := rollback.on_reading(sit, canary, recorded.analysis)) is not None:
            return rolled_back, said
    if (held := route_hold(sit, canary.revision)) is not None:
        return held, said
    if canary.state == CanaryState.PROMOTING:
        return promoting(sit, canary.revision), said
    return walk(sit, canary.revision, said.analysis, promote=asked.promote), said
