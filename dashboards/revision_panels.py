"""The rows of vLLM's series per revision: traffic and errors, and latency; the SLOs' panels among them
(load, by track, is `track_panels`').

Besides the series the analysis reads, the names are those the simulator serves
(`images.serving.vllm_sim`), which tests/contract checks against vLLM's own.
"""

from dashboards.panels import Json, target, timeseries
from dashboards.queries import BY_NAME, rate_by_revision
from dashboards.slo_panels import slo_panels
from qwenops.api.slos import REQUESTS


def traffic_row() -> list[Json]:
    rate = timeseries(
        "Request rate by revision",
        "Inference requests per second (the handlers the analysis counts), per revision.",
        [target(rate_by_revision(REQUESTS), BY_NAME)],
        "reqps",
    )
    return [rate, *slo_panels("errorRate")]


def latency_row() -> list[Json]:
    return slo_panels("threshold")
