"""A vLLM simulator: one async HTTP server that answers like one vLLM pod.

It serves `/health`, `/v1/models`, `/v1/completions`, `/v1/chat/completions` and `/metrics` (vLLM's real
metric names, types, labels and buckets, through prometheus-client's own exposition), and lets a test
change its error rate, latency, health and synthetic traffic while it runs (`/sim/config`).

    from images.serving.vllm_sim import run_simulator

    async with run_simulator(model_name="qwen3-8b", revision="a1b2c3", rps=20, seed=1) as sim:
        sim.configure(error_rate=0.3)            # or PUT {sim.url}/sim/config

    python -m images.serving.vllm_sim --port 0 --model-name qwen3-8b --revision a1b2c3   # prints its URL
"""

from .config import ConfigError, Exposition, SimConfig, config_from
from .metrics import (
    E2E_REQUEST_LATENCY,
    HTTP_METRICS,
    HTTP_REQUESTS,
    METRIC_NAMES,
    METRICS,
    METRICS_BY_NAME,
    REQUEST_SUCCESS,
    RUNTIME_METRIC_NAMES,
    SERIES_NAMES,
    TIME_TO_FIRST_TOKEN,
    VLLM_METRICS,
    Finished,
    MetricSpec,
    VllmMetrics,
    escaped,
)
from .server import CHAT, COMPLETIONS, MODELS, REVISION_HEADER, Simulator, Timing, run_simulator

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "E2E_REQUEST_LATENCY",
    "HTTP_METRICS",
    "HTTP_REQUESTS",
    "METRICS",
    "METRICS_BY_NAME",
    "METRIC_NAMES",
    "MODELS",
    "REQUEST_SUCCESS",
    "REVISION_HEADER",
    "RUNTIME_METRIC_NAMES",
    "SERIES_NAMES",
    "TIME_TO_FIRST_TOKEN",
    "VLLM_METRICS",
    "ConfigError",
    "Exposition",
    "Finished",
    "MetricSpec",
    "SimConfig",
    "Simulator",
    "Timing",
    "VllmMetrics",
    "config_from",
    "escaped",
    "run_simulator",
]
