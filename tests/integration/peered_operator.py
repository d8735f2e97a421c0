"""The operator with kopf's peering instead of `--standalone`, for the fault drills.

    python -m tests.integration.peered_operator --priority 100 --lifetime 4 [--mandatory]

The same handlers as `qwenops run -A` (importing `qwenops.controller.handlers` registers them, and its
start-up handler names the peering "qwenops"), plus what `qwenops run` has no flag for: this
operator's peering priority, a short peering lifetime (kopf's default is a minute: the time a
killed peer's record keeps the others paused), and, with `--mandatory`, kopf's mandatory peering
(`kopf run --peering qwenops`), which holds every watch until the peers have been seen.
"""

import argparse
import asyncio
import logging
import sys
from typing import Any

import kopf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.peered_operator")
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument("--lifetime", type=int, default=60, help="seconds a peer's record stays alive")
    parser.add_argument("--mandatory", action="store_true", help="wait for the peers before acting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import qwenops.controller.handlers  # noqa: F401, PLC0415 - importing registers the handlers

    @kopf.on.startup(id="peering-lifetime")
    async def peering_lifetime(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.lifetime = args.lifetime

    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=False,
            priority=args.priority,
            peering_name="qwenops" if args.mandatory else None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
