"""How a pass reads the canary's SLOs: a :data:`Reader`, and the one that asks Prometheus."""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import AnalysisReading
from qwenops.controller.config import OperatorConfig
from qwenops.io import prom
from qwenops.render.desired import Owner

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary, stable, when the step started, now) -> reading."""

log = logging.getLogger(__name__)


def prometheus_reader(config: OperatorConfig) -> Reader:
    """The Reader that asks the spec's Prometheus and judges the canary against its SLOs."""

    async def read(
        spec: QwenDeploymentSpec,
        owner: Owner,
        canary: str,
        stable: str,
        step_started_at: datetime,
        now: datetime,
    ) -> AnalysisReading:
        analysis = spec.rollout.analysis
        assert analysis.prometheus is not None  # analysis_due() says no reading without one
        verdict = await prom.read_and_assess(
            analysis.prometheus.url, analysis,
            namespace=owner.namespace, deployment=owner.name, canary=canary, stable=stable,
            timeout=config.prometheus_timeout_seconds, step_age=now - step_started_at,
        )  # fmt: skip
        reading = verdict.as_status(now)
        if verdict.failed:  # the rollback event names each breached SLO, its value, threshold and query
            reading = reading.model_copy(update={"message": "; ".join(c.describe() for c in verdict.failed)})
        log.info("analysis of %s/%s canary %s: %s", owner.namespace, owner.name, canary, reading.message)
        return reading

    return read
