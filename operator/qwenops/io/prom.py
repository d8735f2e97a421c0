"""The Prometheus HTTP API: the only module that talks to Prometheus.

`read_revision` runs one revision's queries (built by `analysis.queries.build_queries`,
one per query of the SLO registry) as instant queries against `/api/v1/query`,
concurrently, and returns an `analysis.queries.Reading`. It never raises for anything
Prometheus or the network does: connection refused, a timeout, an HTTP error, `status:
error`, an unparsable body or an answer of several series all become a `Measurement` with
an `error` string, which `analysis.verdict.assess` turns into an `Error` verdict (never a
failure). An empty result or NaN (a quantile of a window
without observations) is no data: `value` None, `note` saying which.

`read_and_assess` does the whole reading of a canary step: the canary's and
the stable's queries at once (with their counts since the step started, for the
always-valid tests), then `analysis.verdict.assess`.

A secured Prometheus (or Thanos, Cortex, Mimir in front of it) is reached with `Credentials`: a
bearer token, a CA bundle, extra headers such as `X-Scope-OrgID`. They come from files
(`CredentialFiles`, the operator's own, mounted from a Secret by the chart and read again at each
reading, so a rotated token is used as soon as the kubelet writes it) or from a QwenDeployment's
Secret (`credentials_from_secret`). No credential is ever put in a message, a log or a repr.
"""

import asyncio
import base64
import binascii
import json
import math
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from qwenops.analysis.probe_checks import ProbeRun
from qwenops.analysis.queries import Measurement, Queries, Reading, build_queries, build_step_queries
from qwenops.analysis.verdict import Verdict, assess
from qwenops.api.spec import Analysis

QUERY_PATH = "api/v1/query"
_SNIPPET = 200

TOKEN_KEY, CA_KEY, HEADERS_KEY = "token", "ca.crt", "headers"
"""The keys of a QwenDeployment's Secret (`analysis.prometheus.secretRef`) the operator reads."""
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "transfer-encoding", "connection"})


class CredentialsError(Exception):
    """Credentials that cannot be read or are malformed; the message names files or keys, never values."""


@dataclass(frozen=True)
class Credentials:
    """What is sent to a secured Prometheus: a bearer token, a CA bundle (PEM) and extra headers."""

    token: str | None = field(default=None, repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def request_headers(self) -> dict[str, str]:
        sent = dict(self.headers)
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        return sent

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context trusting the CAs of `ca_pem` only; None: the system's trust store."""
        if not self.ca_pem:
            return None
        try:
            return ssl.create_default_context(cadata=self.ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise CredentialsError(f"the CA bundle is no PEM certificate ({type(exc).__name__})") from None


NO_CREDENTIALS = Credentials()


def _token(text: str | None, where: str) -> str | None:
    """A bearer token as stored (surrounding whitespace dropped); one with a line break or another
    control character inside would break the request, and is refused without being repeated."""
    token = (text or "").strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        raise CredentialsError(f"{where}: the token holds a line break or another control character")
    return token or None


def parse_headers(text: str, where: str) -> dict[str, str]:
    """`Name: value` per line (blank lines and `#` comments skipped), as HTTP writes headers."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _HEADER_NAME.match(name) or any(c in value for c in "\r\n\0"):
            raise CredentialsError(f"{where} line {number}: not a header (Name: value)")
        if name.lower() in _RESERVED_HEADERS:
            raise CredentialsError(f"{where} line {number}: {name} may not be set as an extra header")
        headers[name] = value.strip()
    return headers


@dataclass(frozen=True)
class CredentialFiles:
    """The operator's own credentials, as files (a mounted Secret); read again at each `load`."""

    token_file: str | None = None
    ca_file: str | None = None
    headers_file: str | None = None

    def load(self) -> Credentials:
        token = _read(self.token_file)
        headers = _read(self.headers_file)
        return Credentials(
            token=_token(token, self.token_file or ""),
            ca_pem=_read(self.ca_file),
            headers=parse_headers(headers, self.headers_file or "") if headers is not None else {},
        )


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(
            f"cannot read {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None


def credentials_from_secret(secret: Mapping[str, Any], where: str) -> Credentials:
    """The credentials of a core/v1 Secret as the API returns it (`data` base64): keys `token`,
    `ca.crt`, `headers`, each optional. `where` names the Secret in messages."""
    data = secret.get("data") or {}
    texts: dict[str, str] = {}
    for key in (TOKEN_KEY, CA_KEY, HEADERS_KEY):
        if key not in data:
            continue
        try:
            texts[key] = base64.b64decode(data[key], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
            raise CredentialsError(f"{where}: key {key} is not base64 UTF-8 text") from None
    if not texts:
        raise CredentialsError(f"{where} has none of the keys {TOKEN_KEY}, {CA_KEY}, {HEADERS_KEY}")
    return Credentials(
        token=_token(texts.get(TOKEN_KEY), f"{where} key {TOKEN_KEY}"),
        ca_pem=texts.get(CA_KEY) or None,
        headers=parse_headers(texts[HEADERS_KEY], f"{where} key {HEADERS_KEY}")
        if HEADERS_KEY in texts
        else {},
    )


def same_origin(url: str, other: str | None) -> bool:
    """Whether two URLs share scheme, host and port: credentials meant for one go to no other."""
    if not other:
        return False
    a, b = URL(url), URL(other)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def session_for(credentials: Credentials) -> aiohttp.ClientSession:
    """A session sending `credentials` with every request (raises CredentialsError for a bad CA)."""
    context = credentials.ssl_context()
    connector = aiohttp.TCPConnector(ssl=context) if context is not None else None
    return aiohttp.ClientSession(headers=credentials.request_headers(), connector=connector)


async def read_revision(
    url: str,
    queries: Queries,
    *,
    timeout: float,
    at: datetime | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Reading:
    """Run the queries of one revision concurrently; every failure is inside the Reading.

    `url` is Prometheus' base URL (a path prefix is kept: `http://host/prometheus`);
    `timeout` bounds each query (it is also passed to Prometheus as its evaluation
    timeout); `at` is the evaluation time (default: Prometheus' now); `session` lets a
    caller share one connection pool, otherwise one is opened for this reading.
    """
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await read_revision(url, queries, timeout=timeout, at=at, session=own)
    measurements = await asyncio.gather(
        *(query(session, url, promql, timeout=timeout, at=at) for promql in queries.promql.values())
    )
    return Reading(dict(zip(queries.promql, measurements, strict=True)))


async def read_and_assess(
    url: str,
    analysis: Analysis,
    *,
    namespace: str,
    deployment: str,
    canary: str,
    stable: str | None,
    timeout: float,
    at: datetime | None = None,
    credentials: Credentials = NO_CREDENTIALS,
    probes: ProbeRun | None = None,
    step_age: timedelta | None = None,
) -> Verdict:
    """Read the canary and (if any) the stable revision at once, and judge the canary's SLOs
    (and its `probes`' answers, sent beforehand).

    With `step_age` (how long the step has run), each revision's counts since the step started
    are read as well, for the always-valid tests (`analysis.sequential`). A CA bundle that is no
    certificate is an `Error` verdict saying so, as any failed query is."""
    where = {"namespace": namespace, "deployment": deployment}
    revisions = [canary] if stable is None else [canary, stable]
    batches = [build_queries(analysis, **where, revision=revision) for revision in revisions]
    if step_age is not None and step_age > timedelta(0):
        batches += [build_step_queries(analysis, **where, revision=r, age=step_age) for r in revisions]
    try:
        session = session_for(credentials)
    except CredentialsError as exc:
        return unreadable(str(exc))
    async with session:
        readings = await asyncio.gather(
            *(read_revision(url, queries, timeout=timeout, at=at, session=session) for queries in batches)
        )
    windows, steps = readings[: len(revisions)], readings[len(revisions) :]
    return assess(
        analysis,
        windows[0],
        windows[1] if stable is not None else None,
        probes,
        canary_step=steps[0] if steps else None,
        stable_step=steps[1] if len(steps) > 1 else None,
    )


def unreadable(error: str) -> Verdict:
    """The verdict of a reading that could not be taken (no credentials): `Error`, saying why once."""
    return Verdict(outcome="Error", message=f"cannot judge: {error}", checks=())


async def query(
    session: aiohttp.ClientSession, url: str, promql: str, *, timeout: float, at: datetime | None = None
) -> Measurement:
    """One instant query; never raises for what the server or the network does."""
    base = URL(url)
    endpoint = base.with_path(base.path.rstrip("/") + "/" + QUERY_PATH)
    params = {"query": promql, "timeout": f"{timeout:g}s"}
    if at is not None:
        params["time"] = f"{at.timestamp():.3f}"
    where = str(base.with_user(None).with_password(None).with_query(None))
    try:
        async with session.get(
            endpoint, params=params, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as answer:
            body = await answer.read()
            status = answer.status
    except TimeoutError:
        return Measurement(promql, error=f"no answer from Prometheus at {where} within {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:
        return Measurement(
            promql, error=f"cannot connect to Prometheus at {where}: {exc.os_error.strerror or exc}"
        )
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Measurement(promql, error=f"Prometheus at {where}: {type(exc).__name__}: {_snippet(str(exc))}")
    return parse_answer(promql, status, body)


def parse_answer(promql: str, status: int, body: bytes) -> Measurement:
    """Turn an HTTP status and body from `/api/v1/query` into a Measurement (pure)."""
    text = body.decode("utf-8", errors="replace")
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        data = None
    if not isinstance(data, dict):
        if status != 200:
            return Measurement(promql, error=f"HTTP {status}: {_snippet(text)}")
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")
    if data.get("status") == "error":
        kind = _snippet(str(data.get("errorType", "error")))
        return Measurement(
            promql, error=f"Prometheus {kind} (HTTP {status}): {_snippet(str(data.get('error', '')))}"
        )
    if status != 200:
        return Measurement(promql, error=f"HTTP {status}: {_snippet(text)}")
    if data.get("status") != "success":
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")
    try:
        return _value(promql, data["data"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError):
        return Measurement(promql, error=f"unparsable answer: {_snippet(text)}")


def _value(promql: str, data: Any) -> Measurement:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        sample = result
    elif kind == "vector":
        if not result:
            return Measurement(promql, None, note="empty result")
        if len(result) > 1:
            labels = ", ".join(json.dumps(series.get("metric", {}), sort_keys=True) for series in result[:3])
            return Measurement(
                promql,
                error=f"{len(result)} series where one was expected (aggregate the query, e.g. with sum): "
                f"{_snippet(labels)}",
            )
        sample = result[0]["value"]
    else:
        return Measurement(
            promql, error=f"result type {_snippet(repr(kind))}; an instant query of one value was expected"
        )
    if isinstance(sample[1], bool):  # Prometheus writes sample values as strings; true is no number
        raise TypeError(f"sample value {sample[1]!r}")
    value = float(sample[1])
    if math.isnan(value):
        return Measurement(promql, None, note="NaN: no samples in the window")
    return Measurement(promql, value)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[:_SNIPPET] + "..."
