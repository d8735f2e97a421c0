"""The stage of the vLLM contract suite: one real vLLM (started as a pod starts it), one simulator, one
Prometheus, for the module."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.contract.harness import Stage, contract_python, interpreter_problem, run_stage, unavailable

_TIMINGS: dict[str, float] = {}
_CLIENTS: set[str] = set()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stage]:
    problem = interpreter_problem()
    if problem is not None:
        unavailable(problem)
    python = contract_python()
    assert python is not None
    began = time.monotonic()
    async with run_stage(tmp_path_factory.mktemp("contract"), python) as running:
        yield running
        _TIMINGS.update(running.timings)
        download = running.pod.steps["download"]
        _CLIENTS.update(seen.user_agent for seen in download.requests if seen.user_agent)
    _TIMINGS["stage, tests and teardown"] = time.monotonic() - began


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TIMINGS:
        terminalreporter.section("vLLM contract timings")
        for name, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
        for client in sorted(_CLIENTS):
            terminalreporter.write_line(f"download's User-Agent: {client}")
