"""How times read on a screen: ages as kubectl prints them, and precise spans for budgets and pauses.

The time a screen is drawn at is always an argument (`now`): nothing here reads a clock.
"""

import math
from datetime import datetime, timedelta


def human_duration(span: timedelta) -> str:
    """A span as kubectl prints ages: `45s`, `3m20s`, `12m`, `5h3m`, `20h`, `2d4h`, `9d`."""
    seconds = max(0, int(span.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def ago(then: datetime | None, now: datetime) -> str:
    """`3m ago`, `in 2m` for a time ahead of `now` (a skewed clock), `?` when unknown."""
    if then is None:
        return "?"
    if then > now + timedelta(seconds=1):
        return f"in {human_duration(then - now)}"
    return f"{human_duration(now - then)} ago"


def span(seconds: float) -> str:
    """A precise span for budgets and pauses: `25m50s`, `2h34m`, `45s`."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"
