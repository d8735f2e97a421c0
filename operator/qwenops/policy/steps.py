"""Walking the declared steps: each step's pods, its pause, and the progress deadline.

At each step the canary first gets the pods that carry the step's weight (the
router says how many), and the weight counts only once they are ready; the
step's pause runs from then. It advances when the pause is over and the latest
reading of the step passed, or at once on a person's promote. A step whose pods
are ready may end in the same pass, and the next one start.
"""

from datetime import timedelta

from qwenops.api.durations import parse_duration
from qwenops.api.status import AnalysisReading, CanaryRevision, Phase
from qwenops.policy import budget, pending
from qwenops.policy.canary import Canary, CanaryState
from qwenops.policy.observed import Situation
from qwenops.policy.outcome import Progressing, Promoted
from qwenops.policy.plan import Event, traffic_weight
from qwenops.policy.promotion import start_promoting
from qwenops.policy.readings import step_passed
from qwenops.render.startup_budget import progress_deadline


def step_pods(sit: Situation, canary: CanaryRevision) -> int:
    """Canary pods for the canary's step (all of them at 100%: no steps declared)."""
    steps = sit.spec.rollout.steps
    weight = steps[min(canary.step, len(steps) - 1)].weight if steps else 100
    return sit.spec.replicas if weight >= 100 else pods_for(sit, weight)


def pods_for(sit: Situation, weight: int) -> int:
    """Canary pods a step of `weight` needs: its share of `replicas` within a budget (they replace
    the stable's), else as many as the router needs beside the whole stable."""
    if sit.bounds is not None:
        return budget.step_pods(sit.spec.replicas, weight)
    return sit.router.canary_pods(sit.spec.replicas, weight)


def carried(sit: Situation, wanted: int, weight: int) -> int:
    """The weight a step's `wanted` ready canary pods carry: their share of the ready serving pods
    within a budget, else what the router gives them."""
    if sit.bounds is not None:
        stable = sit.observed.pods_of(sit.stable.revision).ready
        return budget.serving_weight(stable, sit.target_ready)
    return sit.router.carried_weight(sit.spec.replicas, wanted, weight)


def late(sit: Situation, canary: Canary) -> str | None:
    """Why the pods the canary waits for are past their progress deadline (None: they are not,
    or it waits for none: a step whose pods are ready counts its pause, not the deadline)."""
    state, ready = sit.target_state, sit.target_ready
    if canary.state == CanaryState.PROMOTING:
        waiting = not (state is not None and state.available)
    else:
        waiting = canary.state == CanaryState.WAITING_FOR_PODS and ready < step_pods(sit, canary.revision)
    if not waiting:
        return None
    deadline, how = progress_deadline(sit.spec, sit.status)
    started = canary.revision.waiting_since or canary.revision.started_at or sit.now
    if sit.now - started < deadline:
        return None
    startup = sit.observed.startups.get(sit.target)
    where = f" ({startup.message})" if startup is not None and startup.message else ""
    return (
        f"canary pods not ready within {_span(deadline)} ({how}): "
        f"{ready} ready, asked for at {started:%H:%M:%S}{where}"
    )


def route_hold(sit: Situation, canary: CanaryRevision) -> Progressing | None:
    """Hold while the router's object does not carry the weight in effect (None: it does)."""
    route = sit.observed.route
    if route is None or canary.step_started_at is None:
        return None
    why = sit.router.not_carried(route.between(sit.stable.revision, sit.target), traffic_weight(canary))
    if why is None:
        return None
    pods = sit.spec.replicas if canary.promoting else step_pods(sit, canary)
    return Progressing(canary, f"holding: traffic weights not in effect: {why}", pods)


def walk(
    sit: Situation, canary: CanaryRevision, analysis: AnalysisReading | None, *, promote: bool
) -> Progressing | Promoted:
    """From the canary's step on: start it once its pods are ready, end it when its pause and
    reading allow (or on `promote`), and go on until a step must wait or promotion starts."""
    steps = sit.spec.rollout.steps
    events: list[Event] = []
    while True:
        if not steps or canary.step >= len(steps):
            return start_promoting(sit, canary, "no canary steps declared", tuple(events))
        step = steps[canary.step]
        wanted = pods_for(sit, step.weight)
        numbered = f"step {canary.step + 1}/{len(steps)}"
        if canary.step_started_at is None:
            if sit.target_ready < wanted:
                message = (
                    f"{numbered}: waiting for {wanted} canary pods "
                    f"({sit.target_ready} ready) before moving {step.weight}% of traffic"
                )
                if (
                    stuck := pending.unschedulable(sit.spec, sit.observed.startups.get(sit.target))
                ) is not None:
                    message += f": {stuck}"
                # A promote asked for now ends the step as soon as it starts: keep it for then.
                return Progressing(canary, message, wanted, events=tuple(events), promote_kept=promote)
            weight = carried(sit, wanted, step.weight)
            canary = canary.model_copy(update={"step_started_at": sit.now, "weight": weight})
            events.append(Event("Normal", "StepStarted", f"{numbered}: canary at {weight}%"))
        elif sit.bounds is None and (share := carried(sit, wanted, step.weight)) != canary.weight:
            # spec.replicas changed mid-step (an autoscaler's scale): the share the pods carry moved.
            canary = canary.model_copy(update={"weight": share})

        started = canary.step_started_at
        assert started is not None
        pause = None if step.pause is None else parse_duration(step.pause)
        elapsed = sit.now - started
        passed = step_passed(sit.spec, analysis, started)
        if not (promote or (pause is not None and elapsed >= pause and passed)):
            return _in_step(sit, canary, analysis, numbered, wanted, pause, elapsed, tuple(events))
        analysed = sit.spec.rollout.analysis.prometheus is not None
        why = (
            "promoted by a person" if promote else "pause over" + (" and analysis passed" if analysed else "")
        )
        following = canary.step + 1
        if following >= len(steps):
            return start_promoting(sit, canary.model_copy(update={"step": following}), why, tuple(events))
        canary = canary.model_copy(
            update={"step": following, "step_started_at": None, "waiting_since": sit.now}
        )
        events.append(Event("Normal", "StepAdvanced", f"step {following}/{len(steps)} done: {why}"))
        promote = False  # acted on: the next step waits for its own pause


def _in_step(
    sit: Situation,
    canary: CanaryRevision,
    analysis: AnalysisReading | None,
    numbered: str,
    wanted: int,
    pause: timedelta | None,
    elapsed: timedelta,
    events: tuple[Event, ...],
) -> Progressing:
    """The step goes on: paused until promoted, or waiting for its pause or a passing reading."""
    if pause is None:
        message = f"{numbered} at {canary.weight}%: paused until promoted"
        return Progressing(canary, message, wanted, phase=Phase.PAUSED, events=events)
    waiting = "pause" if elapsed < pause else "a passing analysis reading"
    message = f"{numbered} at {canary.weight}%: waiting for {waiting}"
    assert canary.step_started_at is not None
    if analysis is not None and analysis.at >= canary.step_started_at:
        message += f"; last reading {analysis.verdict}: {analysis.message}"
    requeue = pause - elapsed if elapsed < pause else None
    return Progressing(canary, message, wanted, requeue=requeue, events=events)


def _span(duration: timedelta) -> str:
    minutes, seconds = divmod(int(duration.total_seconds()), 60)
    return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"
