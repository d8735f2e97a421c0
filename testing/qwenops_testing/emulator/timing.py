"""Time as the simulated controllers take it: an argument, never read by them from a clock.

An :class:`Instant` carries both clocks a controller needs: the event loop's monotonic time, for
delays shorter than a second (a pod's load time), and the wall clock, for the RFC 3339 timestamps
the API shows and the deadlines it states in them (``progressDeadlineSeconds``).
"""

from __future__ import annotations

import dataclasses
import datetime


@dataclasses.dataclass(frozen=True)
class Instant:
    mono: float
    """Seconds on the event loop's clock."""
    wall: datetime.datetime
    """The same moment in UTC."""

    @property
    def stamp(self) -> str:
        return stamp(self.wall)

    def later(self, seconds: float) -> datetime.datetime:
        return self.wall + datetime.timedelta(seconds=seconds)


def stamp(moment: datetime.datetime) -> str:
    """RFC 3339 in whole seconds, as the API writes ``metav1.Time``."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str | None) -> datetime.datetime | None:
    """A ``metav1.Time`` as the API writes it; None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
