"""What a person reads: plain log lines on stderr, sizes and durations, and the termination message.

Lines are plain text, one event each, so `kubectl logs` shows them as they are (no progress bars).
The termination message (`/dev/termination-log`) is what the operator reads when a step fails: its
first line is `<Reason>: <message>`, under 1 KiB, and it never holds the token.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

from .redact import Redactor

LOGGER_NAME = "qwenops-serve"
DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LOG_MAX_BYTES = 1000
"""The kubelet keeps 4 KiB of a termination message; the operator shows the first line. Stay well under."""

log = logging.getLogger(LOGGER_NAME)


class RedactingFormatter(logging.Formatter):
    """`<step>: <message>` for our lines, `<step>: [<library>] <message>` for the library's, token masked."""

    def __init__(self, step: str, redactor: Redactor) -> None:
        super().__init__("%(message)s")
        self.step = step
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not record.name.startswith(LOGGER_NAME):
            text = f"[{record.name.split('.')[0]}] {text}"
        lines = [f"{self.step}: {line}" if line else line for line in text.splitlines()]
        return self.redactor("\n".join(lines))


def setup_logging(step: str, redactor: Redactor) -> None:
    """Everything (ours, the library's, warnings) through one redacting handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(step, redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    logging.captureWarnings(True)


def adopt_library_logging(name: str = "huggingface_hub") -> None:
    """The library gives its logger a handler of its own on import; route it through ours instead."""
    library = logging.getLogger(name)
    for handler in list(library.handlers):
        library.removeHandler(handler)
    library.propagate = True


def one_line(text: str) -> str:
    return " ".join(text.split())


def termination_line(line: str, redactor: Redactor) -> str:
    """One line, token masked, cut to fit the termination message."""
    text = one_line(redactor(line))
    data = text.encode("utf-8")
    if len(data) < TERMINATION_LOG_MAX_BYTES:
        return text
    return data[: TERMINATION_LOG_MAX_BYTES - 4].decode("utf-8", errors="ignore") + "…"


def write_termination_log(path: Path, line: str) -> bool:
    """Write the message if the file can be written: the kubelet mounts it, elsewhere it may not exist.

    Creates the file only in an existing, writable directory; never raises.
    """
    try:
        if path.exists():
            if not os.access(path, os.W_OK):
                return False
        elif not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
            return False
        with path.open("w", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:
        return False
    return True


def plural(n: int, word: str) -> str:
    """1 file, 2 files."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{int(n)} B"
    exponent = min(int(math.log(n, 1024)), len(_UNITS) - 1)
    return f"{n / 1024**exponent:.1f} {_UNITS[exponent]}"


def human_rate(bytes_per_second: float) -> str:
    return human_size(bytes_per_second) + "/s"


def human_duration(seconds: float) -> str:
    """0.42 -> '0.4s', 75 -> '1m15s', 3725 -> '1h02m'."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
