"""`python -m images.serving.vllm_sim`: run one simulator until SIGINT/SIGTERM; its URL is the first line.

It takes vLLM's own server flags that matter here (`--model`, `--served-model-name`, `--revision`,
`--max-model-len`, `--host`, `--port`) and ignores the others (`--tensor-parallel-size`, extra args ...),
so it can stand in for `python3 -m vllm.entrypoints.openai.api_server` with the operator's arguments.
Simulator settings come from the flags below and from `VLLM_SIM_CONFIG` (a JSON object of
/sim/config fields), which wins over the flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

from .config import ConfigError, SimConfig, config_from
from .server import Simulator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m images.serving.vllm_sim", description="A simulated vLLM.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--model-name", "--served-model-name", dest="model_name", help="served model name")
    p.add_argument("--model", dest="model_root", help="the model's repo id or path (the card's `root`)")
    p.add_argument("--revision", default="unknown")
    p.add_argument("--max-model-len", type=int, default=32768)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--latency-seconds", type=float, default=0.5)
    p.add_argument("--latency-jitter-seconds", type=float, default=0.0)
    p.add_argument("--ttft-seconds", type=float, default=0.05)
    p.add_argument("--ttft-jitter-seconds", type=float, default=0.0)
    p.add_argument("--load-seconds", type=float, default=0.0)
    p.add_argument("--rps", type=float, default=0.0, help="synthetic requests per second")
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--output-tokens", type=int, default=16)
    p.add_argument("--unhealthy", action="store_true", help="/health answers 503")
    p.add_argument("--no-sleep", action="store_true", help="answer at once, record the drawn latency")
    p.add_argument("--exposition", choices=("text", "negotiate"), default="text")
    return p


def _config(args: argparse.Namespace) -> SimConfig:
    config = SimConfig().updated(
        {
            "error_rate": args.error_rate,
            "latency_seconds": args.latency_seconds,
            "latency_jitter_seconds": args.latency_jitter_seconds,
            "ttft_seconds": args.ttft_seconds,
            "ttft_jitter_seconds": args.ttft_jitter_seconds,
            "load_seconds": args.load_seconds,
            "rps": args.rps,
            "prompt_tokens": args.prompt_tokens,
            "output_tokens": args.output_tokens,
            "healthy": not args.unhealthy,
            "sleep": not args.no_sleep,
            "exposition": args.exposition,
        }
    )
    raw = os.environ.get("VLLM_SIM_CONFIG")
    if raw:
        changes = json.loads(raw)
        if not isinstance(changes, dict):
            raise ConfigError("VLLM_SIM_CONFIG must be a JSON object")
        config = config_from(changes, config)
    return config


async def _serve(args: argparse.Namespace, config: SimConfig) -> None:
    model_name = args.model_name or args.model_root or "qwen"
    simulator = Simulator(
        model_name=model_name,
        revision=args.revision,
        model_root=args.model_root,
        max_model_len=args.max_model_len,
        seed=args.seed,
        config=config,
    )
    url = await simulator.start(args.host, args.port)
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


def main(argv: list[str] | None = None) -> int:
    args, ignored = _parser().parse_known_args(argv)
    try:
        config = _config(args)
    except (ConfigError, ValueError) as exc:
        print(f"vllm_sim: {exc}", file=sys.stderr)
        return 2
    if ignored:
        print(f"vllm_sim: ignoring {' '.join(ignored)}", file=sys.stderr, flush=True)
    asyncio.run(_serve(args, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
