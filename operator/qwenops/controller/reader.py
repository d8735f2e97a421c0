"""How a pass reads the canary's SLOs: a :data:`Reader`, and the one that asks Prometheus.

The credentials sent with the queries: those of the QwenDeployment's own Secret when
`analysis.prometheus.secretRef` names one (read at each reading, where the chart grants `get` on
its name); else the operator's own files, only to the origin of its default Prometheus
(QWENOPS_PROMETHEUS_URL), never to a URL a spec chose; else none. Credentials that cannot be had
make an `Error` reading that says why (names only): the canary is held, not judged.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from qwenops.api.spec import PrometheusRef, QwenDeploymentSpec
from qwenops.api.status import AnalysisReading
from qwenops.controller.config import OperatorConfig
from qwenops.io import kube, prom
from qwenops.render.desired import Owner

Reader = Callable[[QwenDeploymentSpec, Owner, str, str, datetime], Awaitable[AnalysisReading]]
"""Reads the canary's SLOs: (spec, owner, canary revision, stable revision, now) -> reading."""

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
        except kube.KubeError as exc:
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
        spec: QwenDeploymentSpec, owner: Owner, canary: str, stable: str, now: datetime
    ) -> AnalysisReading:
        analysis = spec.rollout.analysis
        assert analysis.prometheus is not None  # analysis_due() says no reading without one
        try:
            sent = await credentials(analysis.prometheus, owner.namespace)
        except prom.CredentialsError as exc:
            verdict = prom.unreadable(str(exc))
        else:
            verdict = await prom.read_and_assess(
                analysis.prometheus.url, analysis,
                namespace=owner.namespace, deployment=owner.name, canary=canary, stable=stable,
                timeout=config.prometheus_timeout_seconds, credentials=sent,
            )  # fmt: skip
        reading = verdict.as_status(now)
        if verdict.failed:  # the rollback event names each breached SLO, its value, threshold and query
            reading = reading.model_copy(update={"message": "; ".join(c.describe() for c in verdict.failed)})
        log.info("analysis of %s/%s canary %s: %s", owner.namespace, owner.name, canary, reading.message)
        return reading

    return read
