"""What a test may change while a simulator runs (`GET`/`PUT /sim/config`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .answers import FAULTS

Exposition = Literal["negotiate", "text"]
EXPOSITIONS: tuple[str, ...] = ("negotiate", "text")


class ConfigError(ValueError):
    """A change to the configuration that names an unknown field or a value out of range."""


@dataclass(frozen=True)
class SimConfig:
    """The simulator's knobs. Every field can be set by `PUT /sim/config` with a partial JSON object.

    - `error_rate`: probability (0..1) that a completion request fails with HTTP 500.
    - `latency_seconds`, `latency_jitter_seconds`: end-to-end latency of a successful request, drawn
      uniformly from latency ± jitter (never below 0 nor below its time to first token).
    - `ttft_seconds`, `ttft_jitter_seconds`: time to first token, the same way.
    - `healthy`: False makes `/health` answer 503 (a dead engine) while requests are still served.
    - `load_seconds`: how long the model takes to load after start; setting it while running
      starts a new load of that length now (`/health` and the API answer 503 until it ends).
    - `rps`: synthetic requests per second recorded into the metrics with no client
      (as `POST /v1/chat/completions`), each drawing error and latencies like a real request.
    - `prompt_tokens`, `output_tokens`: token counts of synthetic requests; `output_tokens` is also the
      length of every real answer (capped by the request's `max_tokens`).
    - `sleep`: real requests wait their drawn latency before answering; False answers at once and
      records the drawn latency all the same.
    - `exposition`: how `/metrics` picks its format. "text" (default) always answers
      `generate_latest()` as text (`vllm:` colons kept, no gzip), whatever the Accept header, as
      prometheus-fastapi-instrumentator's `expose()` route does: that is the route a real vLLM answers
      `/metrics` with (checked against vLLM 0.32 by tests/contract). "negotiate" does what
      prometheus-client's own servers and `make_asgi_app` do: `choose_encoder(Accept)`, gzip if
      accepted (so Prometheus 2.x gets `vllm_` names); vLLM answers so only under `/metrics/...`.
    - `answer_fault`: how whole chat answers go wrong while staying 200s in normal time (`answers.py`):
      "none" (default), "leaked-token", "truncated-tool-call", "invalid-json", "empty-content", "length".
    """

    error_rate: float = 0.0
    latency_seconds: float = 0.5
    latency_jitter_seconds: float = 0.0
    ttft_seconds: float = 0.05
    ttft_jitter_seconds: float = 0.0
    healthy: bool = True
    load_seconds: float = 0.0
    rps: float = 0.0
    prompt_tokens: int = 32
    output_tokens: int = 16
    sleep: bool = True
    exposition: Exposition = "text"
    answer_fault: str = "none"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, changes: Mapping[str, object]) -> SimConfig:
        """A copy with `changes` applied; raises ConfigError naming the first bad field."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ConfigError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            values[name] = _check(name, value, type(getattr(self, name)))
        return dataclasses.replace(self, **values)


_MAX_TOKENS = 1_000_000


def _check(name: str, value: object, kind: type) -> object:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {value!r}")
        return value
    if kind is str:
        allowed = FAULTS if name == "answer_fault" else EXPOSITIONS
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, not {value!r}")
    if name == "error_rate" and number > 1:
        raise ConfigError(f"error_rate must be between 0 and 1, not {value!r}")
    if kind is int:
        if number != int(number) or number < 1 or number > _MAX_TOKENS:
            raise ConfigError(f"{name} must be a whole number from 1 to {_MAX_TOKENS}, not {value!r}")
        return int(number)
    return number


def config_from(mapping: Mapping[str, object], base: SimConfig | None = None) -> SimConfig:
    """A configuration from JSON-like values (e.g. the `VLLM_SIM_CONFIG` environment variable)."""
    return (base or SimConfig()).updated(mapping)
