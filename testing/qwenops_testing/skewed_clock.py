"""Run the operator with its clock off the API server's: ``python -m qwenops_testing.skewed_clock
SECONDS run -A --standalone`` is ``qwenops run -A --standalone`` whose passes take their time
SECONDS later (earlier when negative) than this machine's clock, as on a node whose clock drifted.

A pass takes the time as an argument from `controller/triggers.py` (`datetime.now(UTC)`), so that
is the one clock moved; kopf's own bookkeeping keeps the machine's. It fails loudly if that module
no longer reads the clock so, rather than run a drill on an unskewed clock.
"""

from __future__ import annotations

import datetime as _datetime
import runpy
import sys

from qwenops.controller import triggers


def skewed(seconds: float) -> type[_datetime.datetime]:
    offset = _datetime.timedelta(seconds=seconds)

    class Skewed(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> Skewed:
            return cls.fromtimestamp((_datetime.datetime.now(tz) + offset).timestamp(), tz)

    return Skewed


def main() -> None:
    seconds, args = float(sys.argv[1]), sys.argv[2:]
    if getattr(triggers, "datetime", None) is not _datetime.datetime:
        raise SystemExit("controller/triggers.py no longer takes a pass's time from datetime.now")
    triggers.datetime = skewed(seconds)  # type: ignore[attr-defined]
    sys.argv = ["qwenops", *args]
    runpy.run_module("qwenops.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
