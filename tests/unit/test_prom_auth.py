"""Prometheus behind auth: the reader sends a bearer token, a CA and extra headers to a real HTTP(S)
server that demands them, from the operator's files (read again when the token rotates) or a
QwenDeployment's Secret, and never says a credential in a reading, a log or a repr."""

import base64
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from qwenops.api.spec import QwenDeploymentSpec, parse_spec
from qwenops.api.status import AnalysisReading
from qwenops.controller.config import OperatorConfig
from qwenops.controller.reader import prometheus_reader
from qwenops.io import kube, kube_errors, prom
from qwenops.render.desired import Owner
from tests.unit.fake_kube import FakeKube

NS, NAME = "llm", "chat"
OWNER = Owner(name=NAME, namespace=NS, uid="uid-chat")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOKEN, TENANT = "s3cr3t-token-value", "team-a"
ANSWER = '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"500"]}]}}'


@dataclass
class Guarded:
    """A Prometheus that answers only a request with its bearer token and tenant header."""

    token: str
    tenant: str = TENANT
    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(
            {k: v for k, v in request.headers.items() if k in ("Authorization", "X-Scope-OrgID")}
        )
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="unauthorized")
        if request.headers.get("X-Scope-OrgID") != self.tenant:
            return web.Response(status=401, text="no org id")
        return web.Response(text=ANSWER, content_type="application/json")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def serve(ca: trustme.CA) -> AsyncIterator[Callable[..., Awaitable[Guarded]]]:
    runners: list[web.AppRunner] = []

    async def start(token: str = TOKEN, *, tls: bool = False) -> Guarded:
        guarded = Guarded(token)
        app = web.Application()
        app.router.add_get("/api/v1/query", guarded.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        runners.append(runner)
        guarded.url = f"{'https' if tls else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
        return guarded

    yield start
    for runner in runners:
        await runner.cleanup()


def spec(url: str, secret: str | None = None) -> QwenDeploymentSpec:
    prometheus: dict[str, Any] = {"url": url} | ({"secretRef": {"name": secret}} if secret else {})
    return parse_spec(
        NAME,
        {
            "model": {"name": "Qwen/Qwen3-8B", "revision": "a" * 40, "servedModelName": "qwen"},
            "rollout": {
                "steps": [{"weight": 10}],
                "analysis": {"prometheus": prometheus, "slos": {"maxErrorRate": 0.5}},
            },
        },
    )


def files(tmp_path: Path, token: str = TOKEN, ca_pem: str | None = None) -> dict[str, str]:
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "headers").write_text(f"# the tenant of Mimir\nX-Scope-OrgID: {TENANT}\n")
    found = {
        "prometheus_token_file": str(tmp_path / "token"),
        "prometheus_headers_file": str(tmp_path / "headers"),
    }
    if ca_pem is not None:
        (tmp_path / "ca.crt").write_text(ca_pem)
        found["prometheus_ca_file"] = str(tmp_path / "ca.crt")
    return found


def config(url: str, **paths: Any) -> OperatorConfig:
    return replace(OperatorConfig(metrics_port=0, prometheus_url=url, prometheus_timeout_seconds=5), **paths)


async def read(config: OperatorConfig, spec: QwenDeploymentSpec, client: Any = None) -> AnalysisReading:
    return await prometheus_reader(config, client)(spec, OWNER, "c1", "s1", NOW, NOW)


def secret(name: str, **keys: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in keys.items()},
    }


async def test_the_operator_files_reach_a_prometheus_that_demands_them(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path
) -> None:
    guarded = await serve()
    reading = await read(config(guarded.url, **files(tmp_path)), spec(guarded.url))
    assert reading.verdict != "Error", reading.message
    assert guarded.seen and all(
        s == {"Authorization": f"Bearer {TOKEN}", "X-Scope-OrgID": TENANT} for s in guarded.seen
    )


async def test_without_credentials_a_secured_prometheus_is_an_error(
    serve: Callable[..., Awaitable[Guarded]],
) -> None:
    guarded = await serve()
    reading = await read(config(guarded.url), spec(guarded.url))
    assert reading.verdict == "Error"
    assert "HTTP 401" in reading.message


async def test_a_rotated_token_is_read_again(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path
) -> None:
    guarded = await serve()
    reader = prometheus_reader(config(guarded.url, **files(tmp_path)))
    assert (await reader(spec(guarded.url), OWNER, "c1", "s1", NOW, NOW)).verdict != "Error"
    guarded.token = "rotated-token"  # the kubelet writes the projected token anew
    (tmp_path / "token").write_text("rotated-token")
    reading = await reader(spec(guarded.url), OWNER, "c1", "s1", NOW, NOW)
    assert reading.verdict != "Error", reading.message
    assert guarded.seen[-1]["Authorization"] == "Bearer rotated-token"


async def test_tls_with_the_given_ca_and_refused_without_it(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path, ca: trustme.CA
) -> None:
    guarded = await serve(tls=True)
    pem = ca.cert_pem.bytes().decode()
    with_ca = await read(config(guarded.url, **files(tmp_path, ca_pem=pem)), spec(guarded.url))
    assert with_ca.verdict != "Error", with_ca.message
    without = await read(config(guarded.url, **files(tmp_path)), spec(guarded.url))
    assert without.verdict == "Error"
    assert "certificate" in without.message.lower()
    (tmp_path / "ca.crt").write_text("not a certificate")
    broken = await read(
        config(guarded.url, **files(tmp_path) | {"prometheus_ca_file": str(tmp_path / "ca.crt")}),
        spec(guarded.url),
    )
    assert broken.verdict == "Error"
    assert "CA bundle is no PEM certificate" in broken.message


async def test_the_operators_credentials_go_to_its_own_prometheus_only(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path
) -> None:
    """A spec names any URL it likes: the operator's token must not be handed to it."""
    own, chosen = await serve(), await serve()
    reading = await read(config(own.url, **files(tmp_path)), spec(chosen.url))
    assert reading.verdict == "Error"
    assert chosen.seen and all(s == {} for s in chosen.seen)
    assert not own.seen


async def test_a_qwendeployments_secret_is_sent_and_never_said(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    guarded = await serve("per-deployment-token")
    client = FakeKube(secret("prom-creds", token="per-deployment-token", headers=f"X-Scope-OrgID: {TENANT}"))
    reading = await read(config(""), spec(guarded.url, "prom-creds"), client)
    assert reading.verdict != "Error", reading.message
    assert guarded.seen[-1]["Authorization"] == "Bearer per-deployment-token"
    guarded.token = "another"  # refused now: the message says 401, never the token sent
    refused = await read(config(""), spec(guarded.url, "prom-creds"), client)
    assert refused.verdict == "Error"
    said = refused.model_dump_json() + caplog.text
    assert "per-deployment-token" not in said
    assert base64.b64encode(b"per-deployment-token").decode() not in said


class Forbidding(FakeKube):
    async def get(self, resource: kube.Resource, namespace: str, name: str) -> Any:
        if resource == kube.SECRETS:
            raise kube_errors.KubeError(403, f'secrets "{name}" is forbidden')
        return await super().get(resource, namespace, name)


@pytest.mark.parametrize(
    ("client", "said"),
    [
        (
            Forbidding(),
            "cannot read Secret llm/prom-creds (analysis.prometheus.secretRef): forbidden: "
            "the chart grants get only on prometheus.secretNames",
        ),
        (FakeKube(), "Secret llm/prom-creds (analysis.prometheus.secretRef) does not exist"),
        (
            FakeKube(secret("prom-creds", other="x")),
            "Secret llm/prom-creds has none of the keys token, ca.crt, headers",
        ),
        (
            FakeKube(secret("prom-creds", headers="Authorization: Bearer x")),
            "Authorization may not be set as an extra header",
        ),
    ],
)
async def test_a_secret_that_cannot_be_used_is_an_error_reading_that_says_why(
    serve: Callable[..., Awaitable[Guarded]], client: FakeKube, said: str
) -> None:
    guarded = await serve()
    reading = await read(config(""), spec(guarded.url, "prom-creds"), client)
    assert reading.verdict == "Error"
    assert said in reading.message
    assert not guarded.seen, "nothing is asked without the credentials the spec named"


def test_headers_are_parsed_as_http_writes_them() -> None:
    assert prom.parse_headers("X-Scope-OrgID: a\n\n# c\nX-Extra:  b c \n", "f") == {
        "X-Scope-OrgID": "a",
        "X-Extra": "b c",
    }
    for bad in ("no colon", "Bad Name: x", "Host: evil"):
        with pytest.raises(prom.CredentialsError, match="f line 1"):
            prom.parse_headers(bad, "f")


def test_no_repr_shows_a_credential() -> None:
    credentials = prom.Credentials(token=TOKEN, ca_pem="pem", headers={"X-Scope-OrgID": TENANT})
    assert TOKEN not in repr(credentials) and TENANT not in repr(credentials)


def test_the_spec_accepts_a_secret_reference_and_only_a_name() -> None:
    assert spec("http://prom:9090", "prom-creds").rollout.analysis.prometheus.secret_ref.name == "prom-creds"  # type: ignore[union-attr]
    with pytest.raises(Exception, match="secretRef"):
        spec("http://prom:9090", "Not_A_Name")


async def test_a_token_file_that_cannot_be_read_is_an_error_reading_that_names_it(
    serve: Callable[..., Awaitable[Guarded]], tmp_path: Path
) -> None:
    """As before the kubelet has written a mounted Secret: nothing is asked without the token."""
    guarded = await serve()
    missing = str(tmp_path / "not-yet" / "token")
    reading = await read(config(guarded.url, prometheus_token_file=missing), spec(guarded.url))
    assert reading.verdict == "Error"
    assert f"cannot read {missing}: No such file or directory" in reading.message
    assert not guarded.seen


def test_a_token_with_a_line_break_inside_is_refused_without_being_repeated(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\nX-Injected: 1\n")
    with pytest.raises(prom.CredentialsError, match="line break") as refused:
        prom.CredentialFiles(token_file=str(tmp_path / "token")).load()
    assert TOKEN not in str(refused.value)
    with pytest.raises(prom.CredentialsError, match="Secret llm/x key token: the token holds a line break"):
        prom.credentials_from_secret(secret("x", token="a\rb"), "Secret llm/x")
