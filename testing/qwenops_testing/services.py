"""Services for the operator's probes, outside a cluster: `/<namespace>/<service>/...` is passed on
to whatever a test put behind that Service (a simulator's URL).

The operator reaches a revision's own Service at `QWENOPS_PROBE_URL`; in a cluster that is the
Service's DNS name, here `ServiceProxy.probe_url` (`http://127.0.0.1:<port>/{namespace}/{service}`).
A Service with nothing behind it answers 503, as one without ready endpoints refuses connections.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web


class ServiceProxy:
    def __init__(self) -> None:
        self.backends: dict[tuple[str, str], str] = {}
        self.url = ""
        self.requests: list[tuple[str, str, str]] = []
        """(namespace, service, path) of every request passed on, in order."""

    @property
    def probe_url(self) -> str:
        return self.url + "/{namespace}/{service}"

    def route(self, namespace: str, service: str, url: str | None) -> None:
        """Send `namespace/service`'s requests to `url` (None: to nothing)."""
        if url is None:
            self.backends.pop((namespace, service), None)
        else:
            self.backends[(namespace, service)] = url.rstrip("/")

    async def _forward(self, request: web.Request) -> web.Response:
        namespace, service, path = (
            request.match_info["ns"],
            request.match_info["svc"],
            request.match_info["path"],
        )
        backend = self.backends.get((namespace, service))
        if backend is None:
            return web.Response(status=503, text=f"no endpoints for {namespace}/{service}")
        self.requests.append((namespace, service, "/" + path))
        async with aiohttp.ClientSession() as session, session.request(
            request.method, f"{backend}/{path}", data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as answer:  # fmt: skip
            body = await answer.read()
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)


@asynccontextmanager
async def service_proxy(host: str = "127.0.0.1") -> AsyncIterator[ServiceProxy]:
    proxy = ServiceProxy()
    app = web.Application()
    app.router.add_route("*", "/{ns}/{svc}/{path:.*}", proxy._forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    proxy.url = f"http://{host}:{port}"
    try:
        yield proxy
    finally:
        await runner.cleanup()
