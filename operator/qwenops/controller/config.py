"""The operator's own settings, read from its environment once at start-up."""

import os
import secrets
import socket
from dataclasses import dataclass, field

DEFAULT_SERVING_IMAGE = "ghcr.io/qwenops/serving:0.1.0"
DEFAULT_PROBE_URL = "http://{service}.{namespace}.svc:{port}"


@dataclass(frozen=True)
class OperatorConfig:
    serving_image: str = DEFAULT_SERVING_IMAGE
    """Image of the vLLM pods when a spec names none (`engine.image`)."""
    resync_seconds: float = 30.0
    """How often every QwenDeployment's children are re-read, so drift is corrected: this long after
    the last look at the object, whatever started it."""
    first_look_seconds: float = 1.0
    """How long after the operator first sees a QwenDeployment its resync loop looks at it: the
    create or resume handler's pass normally comes first, and then the object is not due yet."""
    min_requeue_seconds: float = 0.5
    """The shortest wait before a look the last pass asked for (a pause ending, a reading due)."""
    coalesce_seconds: float = 0.25
    """How long a child Deployment's or Pod's event waits for the rest of its burst: one pass for all."""
    api_threads: int = 32
    """Kubernetes API calls in flight at once (each waits in a thread of its own)."""
    metrics_port: int = 9808
    """Where the operator's own /metrics are served (0: not served)."""
    prometheus_timeout_seconds: float = 10.0
    hf_endpoint: str | None = None
    """Hugging Face Hub mirror of a QwenDeployment that names none (`spec.model.hubEndpoint`)."""
    prometheus_url: str | None = None
    """Prometheus of a QwenDeployment that declares SLOs but no `analysis.prometheus`."""
    leader_election: bool = True
    """Act only while holding the Lease (false: `qwenops run --standalone`, always acting)."""
    lease_name: str = "qwenops"
    lease_namespace: str = "default"
    """Where the Lease is: the operator's own namespace (the chart's POD_NAMESPACE) unless set."""
    identity: str = field(default_factory=lambda: candidate_identity(None))
    """This operator's `holderIdentity`: its pod's name and a random suffix, so that a restarted
    pod of the same name never takes the Lease its predecessor held for its own."""
    lease_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0
    prometheus_token_file: str | None = None
    """A bearer token for `prometheus_url` (read again at each reading: projected tokens rotate)."""
    prometheus_ca_file: str | None = None
    """CA bundle (PEM) that `prometheus_url`'s certificate is checked against, instead of the system's."""
    prometheus_headers_file: str | None = None
    """Extra headers for `prometheus_url`, `Name: value` per line (e.g. `X-Scope-OrgID: team-a`)."""
    probe_url: str = DEFAULT_PROBE_URL
    """Where a revision's own Service answers probes: `{service}`, `{namespace}` and `{port}` are
    filled in (the default is the Service's cluster DNS name)."""

    def __post_init__(self) -> None:
        # A template naming another placeholder would fail at the first reading, not at start-up.
        try:
            self.probe_url.format(service="s", namespace="n", port=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"QWENOPS_PROBE_URL {self.probe_url!r}: {exc!r}") from None

    @classmethod
    def from_env(cls) -> "OperatorConfig":
        return cls(
            serving_image=os.environ.get("QWENOPS_SERVING_IMAGE", DEFAULT_SERVING_IMAGE),
            resync_seconds=float(os.environ.get("QWENOPS_RESYNC_SECONDS", "30")),
            api_threads=int(os.environ.get("QWENOPS_API_THREADS", "32")),
            metrics_port=int(os.environ.get("QWENOPS_METRICS_PORT", "9808")),
            prometheus_timeout_seconds=float(os.environ.get("QWENOPS_PROMETHEUS_TIMEOUT_SECONDS", "10")),
            prometheus_url=os.environ.get("QWENOPS_PROMETHEUS_URL") or None,
            hf_endpoint=os.environ.get("QWENOPS_HF_ENDPOINT") or None,
            leader_election=os.environ.get("QWENOPS_LEADER_ELECTION", "true").lower() != "false",
            lease_name=os.environ.get("QWENOPS_LEASE_NAME", "qwenops"),
            lease_namespace=(
                os.environ.get("QWENOPS_LEASE_NAMESPACE") or os.environ.get("POD_NAMESPACE") or "default"
            ),  # the operator's own namespace, as the chart gives it from the downward API
            identity=candidate_identity(os.environ.get("POD_NAME")),
            lease_seconds=int(os.environ.get("QWENOPS_LEASE_DURATION_SECONDS", "15")),
            renew_deadline_seconds=float(os.environ.get("QWENOPS_LEASE_RENEW_DEADLINE_SECONDS", "10")),
            retry_seconds=float(os.environ.get("QWENOPS_LEASE_RETRY_SECONDS", "2")),
            prometheus_token_file=os.environ.get("QWENOPS_PROMETHEUS_TOKEN_FILE") or None,
            prometheus_ca_file=os.environ.get("QWENOPS_PROMETHEUS_CA_FILE") or None,
            prometheus_headers_file=os.environ.get("QWENOPS_PROMETHEUS_HEADERS_FILE") or None,
            probe_url=os.environ.get("QWENOPS_PROBE_URL", DEFAULT_PROBE_URL),
        )


def candidate_identity(pod_name: str | None) -> str:
    """`<pod>_<random>` (the host name outside a pod), as client-go's candidates name themselves."""
    return f"{pod_name or socket.gethostname()}_{secrets.token_hex(4)}"
