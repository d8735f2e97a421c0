"""The Kubernetes client's errors: whatever the network does, a call fails with a KubeError."""

import socket

import kubernetes
import pytest

from qwenops.io import kube, kube_errors


def unreachable() -> kube.Kube:
    """A client of a loopback port nothing listens on (bound, then closed: refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = kubernetes.client.Configuration(host=f"http://127.0.0.1:{port}")
    return kube.Kube(kubernetes.client.ApiClient(configuration))


async def test_an_unreachable_api_server_is_a_kube_error_with_status_0() -> None:
    # urllib3 retries a refused connection, then raises MaxRetryError, which is no OSError.
    with pytest.raises(kube_errors.KubeError) as raised:
        await unreachable().get(kube.QWENDEPLOYMENTS, "llm", "chat")
    assert raised.value.status == 0
    assert raised.value.message.startswith("cannot reach the API server: ")
    assert "refused" in raised.value.message.lower()
