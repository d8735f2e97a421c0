"""How long a pod may take to download, verify and load its model: derived, not a fixed number.

A fixed startup budget either kills a 235B model mid-load or hides a stuck
0.5B one for an hour. The budget here grows with the size of the weights
(`spec.model.size`, else estimated from the parameter count in the repo name)
at deliberately pessimistic rates, and drops the download when the cache
volume already holds this checkpoint.

The startup probe covers only the `vllm` container, so its budget is the load
time alone, a function of the model: it stays the same for the life of a
revision, and a pod template never changes under running pods. The progress
deadline covers download, verification and load.
"""

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from qwenops.api.checkpoint import ModelRef
from qwenops.api.durations import parse_duration
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus

GB = 1000**3
DOWNLOAD_BYTES_PER_SECOND = 50 * 1000**2
"""About 400 Mbit/s: what a busy node pulling from the Hub or a mirror sustains."""
VERIFY_BYTES_PER_SECOND = 200 * 1000**2
"""sha256 on one core, reading from a network volume."""
LOAD_BYTES_PER_SECOND = 100 * 1000**2
"""Safetensors from the cache volume into GPU memory."""
DOWNLOAD_OVERHEAD = timedelta(minutes=1)
VERIFY_OVERHEAD = timedelta(seconds=30)
LOAD_OVERHEAD = timedelta(minutes=5)
"""vLLM's own start: workers, profiling, CUDA graph capture, before the first byte matters."""
DEADLINE_MARGIN = timedelta(minutes=10)
"""Scheduling, image pull and slack on top of the three phases."""
UNKNOWN_SIZE_BYTES = 16 * GB
"""Assumed when neither spec.model.size nor the repo name tells (an 8B model in bf16)."""

_SUFFIXES = {
    "": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
}  # fmt: skip
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_PARAMETERS = re.compile(r"(?:^|[-_.])(\d+(?:\.\d+)?)([BM])(?=$|[-_.])", re.IGNORECASE)
_FOUR_BIT = re.compile(r"int4|awq|4bit|w4a16|q4|nf4|bnb", re.IGNORECASE)
_EIGHT_BIT = re.compile(r"fp8|int8|8bit|w8a8|w8a16|q8", re.IGNORECASE)


def parse_quantity(quantity: str) -> int:
    """Bytes in a Kubernetes quantity such as `16Gi` or `15G` (the spec's pattern admits no other)."""
    match = _QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a quantity")
    return math.ceil(float(match.group(1)) * _SUFFIXES[match.group(2) or ""])


def model_size(model: ModelRef) -> tuple[int, str]:
    """Bytes of the weights, and where that figure comes from (said in status and events)."""
    if model.size is not None:
        return parse_quantity(model.size), "spec.model.size"
    repo = model.name.split("/", 1)[-1]
    match = _PARAMETERS.search(repo)
    if match is None:
        return UNKNOWN_SIZE_BYTES, "assumed: the repo name gives no parameter count; set spec.model.size"
    parameters = float(match.group(1)) * (1e9 if match.group(2).upper() == "B" else 1e6)
    if _FOUR_BIT.search(repo):
        per_parameter, precision = 0.5, "4-bit"
    elif _EIGHT_BIT.search(repo):
        per_parameter, precision = 1.0, "8-bit"
    else:
        per_parameter, precision = 2.0, "16-bit"
    return (
        math.ceil(parameters * per_parameter),
        f"estimated from the name: {match.group(1)}{match.group(2).upper()} parameters at {precision}",
    )


def _seconds_for(size: int, rate: float, overhead: timedelta) -> timedelta:
    return overhead + timedelta(seconds=math.ceil(size / rate))


@dataclass(frozen=True)
class StartupBudget:
    model_bytes: int
    size_source: str
    warm_cache: bool
    download: timedelta
    verify: timedelta
    load: timedelta

    @property
    def deadline(self) -> timedelta:
        """From a revision's start until its pods must be ready."""
        return self.download + self.verify + self.load + DEADLINE_MARGIN

    def describe(self) -> str:
        cache = "warm cache" if self.warm_cache else "cold cache"
        download = "no download" if self.warm_cache else f"download {_minutes(self.download)}"
        return (
            f"{self.model_bytes / GB:.1f} GB ({self.size_source}), {cache}: {download}, "
            f"verify {_minutes(self.verify)}, load {_minutes(self.load)}"
        )


def _minutes(span: timedelta) -> str:
    return f"{math.ceil(span.total_seconds() / 60)}m"


def load_budget(model: ModelRef) -> timedelta:
    """How long the `vllm` container may take to answer /health: the startup probe's budget."""
    size, _ = model_size(model)
    return _seconds_for(size, LOAD_BYTES_PER_SECOND, LOAD_OVERHEAD)


def startup_budget(model: ModelRef, *, warm_cache: bool) -> StartupBudget:
    size, source = model_size(model)
    download = _seconds_for(size, DOWNLOAD_BYTES_PER_SECOND, DOWNLOAD_OVERHEAD)
    return StartupBudget(
        model_bytes=size,
        size_source=source,
        warm_cache=warm_cache,
        download=timedelta(0) if warm_cache else download,
        verify=_seconds_for(size, VERIFY_BYTES_PER_SECOND, VERIFY_OVERHEAD),
        load=load_budget(model),
    )


def cache_is_warm(model: ModelRef, status: QwenDeploymentStatus) -> bool:
    """Whether pods of `model` will find it on their cache volume: a shared claim that already served it.

    An emptyDir is new with every pod. A claim is warm for a checkpoint that was
    the stable revision or was promoted before; a rolled-back one may have been
    cut short, so it does not count.
    """
    if model.cache is None:
        return False
    if status.stable is not None and status.stable.model == model:
        return True
    return any(entry.outcome == "Promoted" and entry.model == model for entry in status.history)


def progress_deadline(spec: QwenDeploymentSpec, status: QwenDeploymentStatus) -> tuple[timedelta, str]:
    """The canary's progress deadline and how it was set: declared in the spec, or derived."""
    declared = spec.rollout.progress_deadline
    if declared is not None:
        return parse_duration(declared), f"spec.rollout.progressDeadline {declared}"
    budget = startup_budget(spec.model, warm_cache=cache_is_warm(spec.model, status))
    return budget.deadline, f"derived: {budget.describe()}"
