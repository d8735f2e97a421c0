"""The row of what vLLM's own dashboard shows, split by track (stable, canary): tokens per second,
inter-token latency, queue length and KV-cache use.

vLLM's series carry the revision; the operator's `qwenops_revision_info` names each revision's
track, and `queries.on_track` joins the two. The names are those the simulator serves
(`images.serving.vllm_sim`), which tests/contract checks against vLLM 0.32's own.
"""

from dashboards.panels import Json, target, timeseries
from dashboards.queries import BY_TRACK, REVISION, REVISIONS, TRACK, on_track
from images.serving.vllm_sim import metrics as vllm
from qwenops.api.slos import name_matcher


def _series(name: str) -> str:
    return f"{{{name_matcher(name)},{REVISIONS}}}"


def _per_track(aggregate: str, per_revision: str) -> str:
    return f"{aggregate} by ({TRACK}) ({on_track(per_revision)})"


def _tokens_per_second(counter: str) -> str:
    per_revision = f"sum by ({REVISION}) (rate({_series(counter + '_total')}[$__rate_interval]))"
    return _per_track("sum", per_revision)


def _quantile(quantile: float, histogram: str) -> str:
    per_revision = f"sum by (le, {REVISION}) (rate({_series(histogram + '_bucket')}[$__rate_interval]))"
    return f"histogram_quantile({quantile:g}, sum by (le, {TRACK}) ({on_track(per_revision)}))"


def track_row() -> list[Json]:
    tokens = timeseries(
        "Tokens per second by track",
        "Generated (output) and prompt (input) tokens per second, summed over each track's pods.",
        [
            target(_tokens_per_second(vllm.GENERATION_TOKENS), f"generated {BY_TRACK}"),
            target(_tokens_per_second(vllm.PROMPT_TOKENS), f"prompt {BY_TRACK}", "B"),
        ],
        "short",
    )
    inter_token = timeseries(
        "Inter-token latency by track",
        "Time between two output tokens of a request (vLLM's inter_token_latency_seconds), p50 and p95.",
        [
            target(_quantile(0.5, vllm.INTER_TOKEN_LATENCY), f"p50 {BY_TRACK}"),
            target(_quantile(0.95, vllm.INTER_TOKEN_LATENCY), f"p95 {BY_TRACK}", "B"),
        ],
        "s",
    )
    queue = timeseries(
        "Requests running and waiting by track",
        "A growing queue (waiting) explains a growing time to first token.",
        [
            target(
                _per_track("sum", f"sum by ({REVISION}) ({_series(vllm.NUM_REQUESTS_RUNNING)})"),
                f"running {BY_TRACK}",
            ),
            target(
                _per_track("sum", f"sum by ({REVISION}) ({_series(vllm.NUM_REQUESTS_WAITING)})"),
                f"waiting {BY_TRACK}",
                "B",
            ),
        ],
        "short",
    )
    kv_cache = timeseries(
        "KV-cache usage by track",
        "The fullest pod of each track (1 is full: requests are preempted or wait).",
        [target(_per_track("max", f"max by ({REVISION}) ({_series(vllm.KV_CACHE_USAGE_PERC)})"), BY_TRACK)],
        "percentunit",
        maximum=1,
    )
    return [tokens, inter_token, queue, kv_cache]
