"""Download progress a person can follow in `kubectl logs`: bytes, percent, rate, ETA, every N seconds.

It reads the cache, not the library: a background thread adds up, for each file, its snapshot file if
complete, else its blob, else its largest partial download (`<etag>*.incomplete`). So it sees whatever
does the downloading (our resumable path, the library's plain HTTP or its Xet client) without hooks
into either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from .layout import CacheLayout
from .output import human_duration, human_rate, human_size, log


@dataclass(frozen=True)
class Tracked:
    """A file being fetched: its name in the repo, its size, and the name of its blob."""

    name: str
    size: int
    etag: str


def bytes_on_disk(layout: CacheLayout, item: Tracked) -> int:
    """How much of one file is in the cache right now."""
    present = layout.present_size(item.name)
    if present == item.size:
        return item.size
    sizes = []
    for path in [layout.blob(item.etag), *layout.partials(item.etag)]:
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            continue
    return min(max(sizes, default=0), item.size)


def progress_line(done: int, total: int, fetched: int, elapsed: float) -> str:
    """`1.2 GiB / 15.3 GiB (7.8%), 98.1 MiB/s, ETA 2m27s`: `fetched` is what this run added."""
    percent = 100.0 * done / total if total else 100.0
    line = f"{human_size(done)} / {human_size(total)} ({percent:.1f}%)"
    if elapsed <= 0 or fetched <= 0:
        return line + ", waiting for data"
    rate = fetched / elapsed
    return f"{line}, {human_rate(rate)}, ETA {human_duration(max(total - done, 0) / rate)}"


class Progress:
    """Logs `progress_line` every `every` seconds while in its `with` block."""

    def __init__(
        self,
        layout: CacheLayout,
        items: Sequence[Tracked],
        every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.layout = layout
        self.items = tuple(items)
        self.every = every
        self.clock = clock
        self.total = sum(item.size for item in self.items)
        self.at_start = self.measure()
        self.started = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def measure(self) -> int:
        return sum(bytes_on_disk(self.layout, item) for item in self.items)

    def line(self) -> str:
        done = self.measure()
        return progress_line(done, self.total, done - self.at_start, self.clock() - self.started)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            log.info(self.line())

    def __enter__(self) -> Progress:
        self.started = self.clock()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
