"""The operator's own settings, read from its environment once at start-up."""

import os
from dataclasses import dataclass

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
            probe_url=os.environ.get("QWENOPS_PROBE_URL", DEFAULT_PROBE_URL),
        )
