"""A throttled API server's Retry-After: read from its answer, and waited out by the next pass,
whatever triggers it (tests/integration/test_api_drills.py drills it against the real operator)."""

import asyncio
from typing import Any

import pytest

from qwenops.controller.config import OperatorConfig
from qwenops.controller.triggers import Triggers
from qwenops.io import kube_errors
from tests.unit.fake_kube import FakeKube

NS, NAME = "llm", "chat"
CONFIG = OperatorConfig(
    resync_seconds=30, first_look_seconds=0.05, min_requeue_seconds=0.05, coalesce_seconds=0.0, metrics_port=0
)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "2"}, b"", 2.0),
        ({"Retry-After": "0.5"}, b'{"details": {"retryAfterSeconds": 9}}', 0.5),  # the header first
        ({}, b'{"kind": "Status", "details": {"retryAfterSeconds": 3}}', 3.0),
        ({}, b'{"kind": "Status", "code": 429}', None),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, b"", None),  # a date: not the API server's
        (None, b"<html>busy</html>", None),
        ({}, b'{"details": {"retryAfterSeconds": "soon"}}', None),
    ],
)
def test_retry_after_is_read_from_the_header_else_the_status_details(
    headers: dict[str, str] | None, body: bytes, expected: float | None
) -> None:
    assert kube_errors.retry_after(headers, body) == expected


class Throttled:
    """A pass whose first run the API server answers 429 with Retry-After; when each started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: list[float] = []

    async def run(self, *_: Any) -> None:
        self.started.append(asyncio.get_running_loop().time())
        if len(self.started) == 1:
            raise kube_errors.KubeError(429, "too many requests", retry_after=self.seconds)


async def test_after_a_429_the_next_pass_waits_for_retry_after_whatever_triggers_it() -> None:
    throttled = Throttled(0.4)
    qwd = {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"namespace": NS, "name": NAME},
    }
    triggers = Triggers(FakeKube(qwd), CONFIG, lambda *_: None, run_pass=throttled.run)  # type: ignore[arg-type]
    with pytest.raises(kube_errors.KubeError):
        await triggers.reconcile(NS, NAME)
    await triggers.poke(NS, NAME)  # a child event at once: its pass waits as the server asked
    first, second = throttled.started
    assert second - first >= 0.4
    await triggers.reconcile(NS, NAME)  # answered without a Retry-After since: no wait
    assert throttled.started[2] - throttled.started[1] < 0.2
