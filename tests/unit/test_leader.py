"""Leader election against the emulated API: the Lease served with optimistic concurrency (409 on a
stale update or a second create), and candidates (qwenops.controller.leader.Elector) over the real
client, each on a clock of its own that the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from qwenops.controller.election import Record as LeaseRecord
from qwenops.controller.election import Timing, manifest, parse
from qwenops.controller.leader import Elector
from qwenops.io import kube, kube_errors
from qwenops.io.lease import LeaseConflictError, Leases
from qwenops_testing.emulator import KubeEmulator, write_kubeconfig
from tests.unit.emulator_http import NS, emulator  # noqa: F401 - the fixture

NAME = "qwenops"
TIMING = Timing(lease_seconds=15, renew_deadline_seconds=10, retry_seconds=2)
WALL = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def leases(emulator: KubeEmulator, tmp_path: Path) -> AsyncIterator[Leases]:  # noqa: F811
    client, _ = kube.Kube.from_kubeconfig(str(write_kubeconfig(tmp_path / "kubeconfig", emulator.url)))
    yield Leases(client)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def candidate(store: Any, identity: str, clock: Clock) -> Elector:
    """A candidate whose wall clock moves with its monotonic one (renewTime changes as it renews)."""
    return Elector(store, NS, NAME, identity, TIMING, clock=clock,
                   wall=lambda: WALL + timedelta(seconds=clock.now))  # fmt: skip


def holder(emulator: KubeEmulator) -> str:  # noqa: F811
    return str(((emulator.get_object("coordination.k8s.io/v1/leases", NS, NAME) or {}).get("spec") or {})
               .get("holderIdentity"))  # fmt: skip


async def test_the_emulated_api_refuses_a_second_create_and_a_stale_update(leases: Leases) -> None:
    record = LeaseRecord("a", 15, None, None, 0)
    created = await leases.create(manifest(NAME, NS, record))
    with pytest.raises(LeaseConflictError):  # AlreadyExists
        await leases.create(manifest(NAME, NS, LeaseRecord("b", 15, None, None, 0)))
    version = created["metadata"]["resourceVersion"]
    updated = await leases.update(manifest(NAME, NS, LeaseRecord("a", 15, None, None, 1), version))
    assert updated["metadata"]["resourceVersion"] != version
    with pytest.raises(LeaseConflictError):  # written since `version` was read
        await leases.update(manifest(NAME, NS, LeaseRecord("b", 15, None, None, 2), version))
    found = parse(await leases.read(NS, NAME))
    assert found is not None and found.record.holder == "a" and found.record.transitions == 1


async def test_one_leads_the_other_takes_over_once_the_lease_went_unrenewed_for_its_duration(
    leases: Leases,
    emulator: KubeEmulator,  # noqa: F811
) -> None:
    one_clock, two_clock = Clock(1000.0), Clock(5.0)  # monotonic clocks share no origin
    one, two = candidate(leases, "one", one_clock), candidate(leases, "two", two_clock)
    await one.try_once()
    await two.try_once()
    assert one.leading() and not two.leading() and holder(emulator) == "one"
    one.check()
    with pytest.raises(kube_errors.FencedError):
        two.check()
    one_clock.now += 9.9
    assert one.leading()
    one_clock.now += 0.1  # a renew deadline since its renewal started: it stops, unasked
    assert not one.leading()
    with pytest.raises(kube_errors.FencedError):
        one.check()
    two_clock.now += 14.9
    await two.try_once()
    assert not two.leading()  # not yet a lease duration since it saw the record
    two_clock.now += 0.1
    await two.try_once()
    assert two.leading() and holder(emulator) == "two"
    await one.try_once()  # it comes back: it sees the new holder, and leads no more
    assert not one.leading() and holder(emulator) == "two"
    found = parse(await leases.read(NS, NAME))
    assert found is not None and found.record.transitions == 1


async def test_a_renewing_leader_keeps_the_lease(leases: Leases, emulator: KubeEmulator) -> None:  # noqa: F811
    one_clock, two_clock = Clock(), Clock()
    one, two = candidate(leases, "one", one_clock), candidate(leases, "two", two_clock)
    for _ in range(20):  # 40 s: longer than a lease duration, renewed every retry period
        await one.try_once()
        await two.try_once()
        assert one.leading() and not two.leading()
        one_clock.now += TIMING.retry_seconds
        two_clock.now += TIMING.retry_seconds
    assert holder(emulator) == "one"


class Racing:
    """Both candidates read the Lease before either writes it."""

    def __init__(self, store: Leases) -> None:
        self.store = store
        self.barrier = asyncio.Barrier(2)

    async def read(self, namespace: str, name: str) -> Any:
        found = await self.store.read(namespace, name)
        await self.barrier.wait()
        return found

    async def create(self, lease: Any) -> Any:
        return await self.store.create(lease)

    async def update(self, lease: Any) -> Any:
        return await self.store.update(lease)


@pytest.mark.parametrize("existing", [False, True], ids=["absent", "expired"])
async def test_two_candidates_that_both_see_it_free_cannot_both_win(leases: Leases, existing: bool) -> None:
    if existing:
        await leases.create(manifest(NAME, NS, LeaseRecord("", 1, None, None, 4)))
    racing = Racing(leases)
    one, two = candidate(racing, "one", Clock()), candidate(racing, "two", Clock())
    await asyncio.gather(one.try_once(), two.try_once())
    assert [one.leading(), two.leading()].count(True) == 1


async def test_a_released_lease_is_taken_at_once(leases: Leases, emulator: KubeEmulator) -> None:  # noqa: F811
    one, two = candidate(leases, "one", Clock()), candidate(leases, "two", Clock())
    await one.try_once()
    await two.try_once()
    await one.release()
    assert not one.leading() and holder(emulator) == ""
    await two.try_once()
    assert two.leading() and holder(emulator) == "two"


class Unreachable:
    def __init__(self, store: Leases) -> None:
        self.store = store
        self.down = False

    async def read(self, namespace: str, name: str) -> Any:
        if self.down:
            raise kube_errors.KubeError(0, "cannot reach the API server")
        return await self.store.read(namespace, name)

    async def create(self, lease: Any) -> Any:
        return await self.store.create(lease)

    async def update(self, lease: Any) -> Any:
        return await self.store.update(lease)


async def test_a_leader_that_cannot_renew_stops_at_its_renew_deadline(leases: Leases) -> None:
    store, clock = Unreachable(leases), Clock()
    one = candidate(store, "one", clock)
    await one.try_once()
    store.down = True
    for _ in range(4):
        clock.now += TIMING.retry_seconds
        await one.try_once()
        assert one.leading()  # 8 s without a renewal: within the deadline
    clock.now += TIMING.retry_seconds
    assert not one.leading()
    waited = asyncio.create_task(one.wait_not_leading())
    await asyncio.wait_for(waited, 1)


async def test_a_guarded_client_sends_no_write_the_guard_stops_and_reads_freely(
    leases: Leases,
    emulator: KubeEmulator,  # noqa: F811
) -> None:
    """Every write method of the operator's client asks the guard first (a pass that lost the Lease
    half-way sends nothing more); reads do not."""

    def not_leading() -> None:
        raise kube_errors.FencedError("not leading")

    client = leases.client.guarded(not_leading)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": NS},
               "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    writes: list[Any] = [
        client.ensure(service),
        client.delete(kube.SERVICES, NS, "s"),
        client.patch_status(kube.QWENDEPLOYMENTS, NS, "q", {"phase": "Healthy"}, "1"),
        client.check_version(kube.QWENDEPLOYMENTS, NS, "q", "1"),
        client.patch(kube.SERVICES, NS, "s", {"metadata": {"labels": {"a": "b"}}}),
        client.create(kube.SERVICES, NS, service),
        client.replace(kube.SERVICES, NS, "s", service),
    ]
    before = emulator.request_count
    for write in writes:
        with pytest.raises(kube_errors.FencedError):
            await write
    assert [r for r in emulator.request_log(before) if r.is_write] == []
    assert await client.get(kube.SERVICES, NS, "s") is None  # a read goes through
    assert await client.list_labelled(kube.SERVICES, NS, {"a": "b"}) == []


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {"POD_NAMESPACE": "ops", "POD_NAME": "qwenops-7c9d8-x2x4q"}, (True, "ops", "qwenops")),
        (["--lease-namespace", "llm", "--lease-name", "chat-operator"], {"POD_NAMESPACE": "ops"},
         (True, "llm", "chat-operator")),
        (["--standalone"], {}, (False, "default", "qwenops")),
    ],
)  # fmt: skip
def test_the_command_line_and_the_pod_name_the_lease_and_the_candidate(
    args: list[str], env: dict[str, str], expected: tuple[bool, str, str]
) -> None:
    from unittest import mock  # noqa: PLC0415

    from qwenops import cli  # noqa: PLC0415
    from qwenops.controller.config import OperatorConfig, candidate_identity  # noqa: PLC0415

    with (
        mock.patch.dict("os.environ", env, clear=True),
        mock.patch("asyncio.run"),
        mock.patch("logging.basicConfig"),
        mock.patch("kopf.operator", new_callable=mock.MagicMock) as operator,
    ):
        assert cli.main(["run", "-A", *args]) == 0
        config = OperatorConfig.from_env()
    assert operator.call_args.kwargs["standalone"] is True  # kopf never peers: the Lease elects
    assert (config.leader_election, config.lease_namespace, config.lease_name) == expected
    pod, _, suffix = config.identity.rpartition("_")
    assert len(suffix) == 8 and pod == env.get("POD_NAME", pod)
    assert candidate_identity(pod) != candidate_identity(pod)  # a restarted pod of one name: another
