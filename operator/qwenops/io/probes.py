"""Answer-quality probes over HTTP: the only module that sends prompts to a revision's pods.

`send_probes` sends each probe of `spec.rollout.analysis.probes` to one revision's own Service,
one at a time (so a reading adds at most one request in flight to each revision, and as many
requests as there are probes, ten at most), each bounded by the probes' `timeout`. It never
raises for anything the network or the server does: a refused connection or a timeout is an
`Answer` with an `error`, a non-JSON body an `Answer` whose body is None; `analysis.answers`
judges them.
"""

import asyncio
import json
from collections.abc import Sequence

import aiohttp

from qwenops.analysis.answers import Answer, request_body
from qwenops.api.probes import Probe

CHAT_PATH = "/v1/chat/completions"
MAX_BODY_BYTES = 1 << 20
"""An answer's body is read up to this size; a longer one is not JSON to the checks."""


async def send_probe(
    session: aiohttp.ClientSession, base_url: str, probe: Probe, *, timeout: float
) -> Answer:
    """One probe's request to `base_url` (a revision's Service), and what came back."""
    url = base_url.rstrip("/") + CHAT_PATH
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, json=request_body(probe)) as response:
                raw = await _read_at_most(response.content, MAX_BODY_BYTES + 1)
                status = response.status
    except TimeoutError:
        return Answer(error=f"no answer in {timeout:g}s")
    except aiohttp.ClientError as exc:
        return Answer(error=f"{type(exc).__name__}: {str(exc)[:160]}")
    if len(raw) > MAX_BODY_BYTES:
        return Answer(status=status)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past what Python's parser takes
        body = None
    return Answer(status=status, body=body)


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of `stream` (one `read(n)` returns what has arrived, maybe less)."""
    data = bytearray()
    while len(data) < limit and (chunk := await stream.read(limit - len(data))):
        data += chunk
    return bytes(data)


async def send_probes(
    base_url: str,
    probes: Sequence[Probe],
    *,
    timeout: float,
    session: aiohttp.ClientSession | None = None,
) -> list[Answer]:
    """Every probe to `base_url`, one after the other, in order."""
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await send_probes(base_url, probes, timeout=timeout, session=own)
    return [await send_probe(session, base_url, probe, timeout=timeout) for probe in probes]
