"""How a Kubernetes API call failed: :class:`KubeError` (with the wait a 429 or 503 asked for) and
:class:`FencedError`, and the reading of an error answer's body and headers."""

import json
from collections.abc import Mapping


class KubeError(Exception):
    """An API call that failed; `status` is the HTTP status (0 when the server was not reached).

    `retry_after`: the seconds the API server asked the client to wait before it asks again (a
    429 or 503's ``Retry-After``, as the client library's own retries left it), else None.
    """

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def not_found(self) -> bool:
        return self.status == 404


class FencedError(Exception):
    """A write the client's guard stopped before it was sent: this operator may no longer act."""


def retry_after(headers: Mapping[str, str] | None, data: bytes | str | None) -> float | None:
    """The seconds an answer asks to wait before asking again: its ``Retry-After`` header in
    seconds (the API server never sends a date), else its Status' ``details.retryAfterSeconds``."""
    header = (headers or {}).get("Retry-After")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    try:
        details = json.loads(data or b"{}").get("details") or {}
    except (ValueError, AttributeError):
        return None
    seconds = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    return float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None


def message_of(data: bytes | None) -> str:
    """The Status message of an error answer, else its body as it came."""
    try:
        return str(json.loads(data or b"{}").get("message", data))
    except ValueError:
        return repr(data)
