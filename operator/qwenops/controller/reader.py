"""How a pass reads the canary: a :data:`Reader`, and the one that asks Prometheus and sends the probes.

The probes (when the spec declares any) go to the canary's and the stable's own Services first,
then Prometheus is read, and both are judged into one verdict.

The credentials sent with the queries: those of the QwenDeployment's own Secret when
`analysis.prometheus.secretRef` names one (read at each reading, where the chart grants `get` on
its name); else the operator's own files, only to the origin of its default Prometheus
(QWENOPS_PROMETHEUS_URL), never to a URL a spec chose; else none. Credentials that cannot be had
make an `Error` reading that says why (names only): the canary is held, not judged.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from qwenops.analysis.answers import Context, ProbeResult, judge_answer
from qwenops.analysis.probe_checks import ProbeRun
from qwenops.api import naming
from qwenops.api.durations import parse_duration
from qwenops.api.spec import PrometheusRef, QwenDeploymentSpec
from qwenops.api.status import AnalysisReading
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube, kube_errors, metrics, probes, prom
from qwenops.render.desired import Owner

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary, stable, when the step started, now) -> reading."""

log = logging.getLogger(__name__)


def prometheus_reader(config: OperatorConfig, client: kube.KubeClient | None = None) -> Reader:
    """The Reader that asks the spec's Prometheus and judges the canary against its SLOs.

    `client` reads a QwenDeployment's Secret; None: a `secretRef` is an Error reading."""
    files = prom.CredentialFiles(
        config.prometheus_token_file, config.prometheus_ca_file, config.prometheus_headers_file
    )

    async def credentials(ref: PrometheusRef, namespace: str) -> prom.Credentials:
        if ref.secret_ref is None:
            return files.load() if prom.same_origin(ref.url, config.prometheus_url) else prom.NO_CREDENTIALS
        where = f"Secret {namespace}/{ref.secret_ref.name}"
        if client is None:
            raise prom.CredentialsError(f"cannot read {where}: no API client")
        try:
            secret = await client.get(kube.SECRETS, namespace, ref.secret_ref.name)
        except kube_errors.KubeError as exc:
            because = (
                "forbidden: the chart grants get only on prometheus.secretNames"
                if exc.status == 403
                else (f"HTTP {exc.status}" if exc.status else "the API server is not reachable")
            )
            raise prom.CredentialsError(
                f"cannot read {where} (analysis.prometheus.secretRef): {because}"
            ) from None
        if secret is None:
            raise prom.CredentialsError(f"{where} (analysis.prometheus.secretRef) does not exist")
        return prom.credentials_from_secret(secret, where)

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
        try:
            sent = await credentials(analysis.prometheus, owner.namespace)
        except prom.CredentialsError as exc:
            verdict = prom.unreadable(str(exc))
        else:
            run = await probe(config, spec, owner, canary) if analysis.probes is not None else None
            verdict = await prom.read_and_assess(
                analysis.prometheus.url, analysis,
                namespace=owner.namespace, deployment=owner.name, canary=canary, stable=stable,
                timeout=config.prometheus_timeout_seconds, credentials=sent, probes=run,
                step_age=now - step_started_at,
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
