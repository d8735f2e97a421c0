from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from qwenops_testing.cluster import Client
from qwenops_testing.emulator import KubeEmulator, run_emulator
from qwenops_testing.operator import Operator, operator_running


@pytest.fixture
async def emulator() -> AsyncIterator[KubeEmulator]:
    async with run_emulator() as running:
        running.create_object("v1/namespaces", {"metadata": {"name": "llm"}})
        yield running


@pytest.fixture
async def client(emulator: KubeEmulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(str(emulator.url).rstrip("/")) as session:
        yield Client(session)


@pytest.fixture
async def operator(emulator: KubeEmulator, tmp_path: Path) -> AsyncIterator[Operator]:
    async with operator_running(emulator.url, tmp_path) as running:
        yield running
