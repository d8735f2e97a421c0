"""How a pass reads the canary: a :data:`Reader`, and the one that asks Prometheus and sends the probes.

The probes (when the spec declares any) go to the canary's and the stable's own Services first,
then Prometheus is read, and both are judged into one verdict."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from qwenops.analysis.answers import Context, ProbeResult, judge_answer
from qwenops.analysis.probe_checks import ProbeRun
from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import AnalysisReading
from qwenops.controller.config import OperatorConfig
from qwenops.io import metrics, probes, prom
from qwenops.render.desired import Owner

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary revision, stable revision, now) -> reading."""

log = logging.getLogger(__name__)


def prometheus_reader(config: OperatorConfig) -> Reader:
    """The Reader that asks the spec's Prometheus and judges the canary against its SLOs."""

    async def read(
        spec: QwenDeploymentSpec, owner: Owner, canary: str, stable: str, now: datetime
    ) -> AnalysisReading:
        analysis = spec.rollout.analysis
        assert analysis.prometheus is not None  # analysis_due() says no reading without one
        run = await probe(config, spec, owner, canary) if analysis.probes is not None else None
        verdict = await prom.read_and_assess(
            analysis.prometheus.url, analysis,
            namespace=owner.namespace, deployment=owner.name, canary=canary, stable=stable,
            timeout=config.prometheus_timeout_seconds, probes=run,
        )  # fmt: skip
        reading = verdict.as_status(now)
        if verdict.failed:  # the rollback event names each breached SLO, its value, threshold and query
            reading = reading.model_copy(update={"message": "; ".join(c.describe() for c in verdict.failed)})
        log.info("analysis of %s/%s canary %s: %s", owner.namespace, owner.name, canary, reading.message)
        return reading

    return read


async def probe(config: OperatorConfig, spec: QwenDeploymentSpec, owner: Owner, canary: str) -> ProbeRun:
    """Send the spec's probes to the canary's and the stable's Services at once, and check the answers.

    A failed answer is logged by its probe, its first failed check and its first characters only
    (`ProbeResult.describe`): an answer may carry user-like data.
    """
    declared = spec.rollout.analysis.probes
    assert declared is not None
    timeout = parse_duration(declared.timeout).total_seconds()
    context = Context.of(spec.engine.extra_args)

    async def track(name: str) -> tuple[ProbeResult, ...]:
        service = naming.service_name(owner.name, name)
        url = config.probe_url.format(service=service, namespace=owner.namespace, port=naming.SERVING_PORT)
        answers = await probes.send_probes(url, declared.prompts, timeout=timeout)
        results = tuple(judge_answer(p, a, context) for p, a in zip(declared.prompts, answers, strict=True))
        for result in results:
            metrics.record_probe(owner.namespace, owner.name, name, result)
            if result.result != "Passed":
                log.info("probe of %s/%s %s (%s): %s", owner.namespace, owner.name, name,
                         canary if name == naming.TRACK_CANARY else "stable", result.describe())  # fmt: skip
        return results

    canary_results, stable_results = await asyncio.gather(
        track(naming.TRACK_CANARY), track(naming.TRACK_STABLE)
    )
    return ProbeRun(canary=canary_results, stable=stable_results)
