"""The rows of vLLM's series per revision: traffic and errors, latency and load; the SLOs' panels among them.

Besides the series the analysis reads, the names are those the simulator serves
(`images.serving.vllm_sim`), which tests/contract checks against vLLM's own.
"""

from dashboards.panels import Json, target, timeseries
from dashboards.queries import BY_NAME, REVISION, REVISIONS, by_revision, rate_by_revision
from dashboards.slo_panels import slo_panels
from images.serving.vllm_sim import metrics as vllm
from qwenops.api.slos import REQUESTS, name_matcher


def traffic_row() -> list[Json]:
    rate = timeseries(
        "Request rate by revision",
        "Inference requests per second (the handlers the analysis counts), per revision.",
        [target(rate_by_revision(REQUESTS), BY_NAME)],
        "reqps",
    )
    return [rate, *slo_panels("errorRate")]


def latency_row() -> list[Json]:
    queue = timeseries(
        "Requests running and waiting by revision",
        "A growing queue explains a growing time to first token.",
        [
            target(by_revision(vllm.NUM_REQUESTS_RUNNING), f"running {BY_NAME}"),
            target(by_revision(vllm.NUM_REQUESTS_WAITING), f"waiting {BY_NAME}", "B"),
        ],
        "short",
    )
    kv_cache = timeseries(
        "KV-cache usage by revision",
        "The fullest pod of each revision (1 is full: requests are preempted or wait).",
        [
            target(
                f"max by ({REVISION}) ({{{name_matcher(vllm.KV_CACHE_USAGE_PERC)},{REVISIONS}}})",
                BY_NAME,
            )
        ],
        "percentunit",
        maximum=1,
    )
    return [*slo_panels("threshold"), queue, kv_cache]
