"""Leader election on a `coordination.k8s.io/v1` Lease, decided: pure functions, no I/O, no clock.

The semantics of client-go's `leaderelection` package, which Kubernetes' own controllers use:

* The Lease says who holds it (`holderIdentity`), for how long a holder that stops renewing keeps
  it (`leaseDurationSeconds`), since when it holds it (`acquireTime`), when it last renewed it
  (`renewTime`), and how many times it changed hands (`leaseTransitions`).
* A candidate never compares the Lease's times with its own clock: the operator's and the API
  server's clocks may disagree by any amount. It remembers the record it last observed and the
  moment, on its own *monotonic* clock, that record first appeared; another holder's Lease has
  expired once that record has not changed for a lease duration, measured on that clock.
* It takes the Lease when it is absent, has no holder, or has expired so; it renews its own. Every
  write carries the resourceVersion read (a create fails if the Lease exists), so of two candidates
  that both saw it free, the API server lets one win and answers the other 409.
* A leader acts only while its last successful renewal started less than a renew deadline ago
  (shorter than the lease duration): it stops acting at once when it cannot renew, before any
  other candidate may take the Lease over.

The times given to :func:`decide` are the caller's: `now` (monotonic seconds) for expiry, and
`wall` (UTC) only to write `acquireTime` and `renewTime` for people to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

Manifest = dict[str, Any]

API_VERSION = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts unrenewed, how long a leader keeps acting without renewing it, and
    how often a candidate tries (client-go's defaults: 15 s, 10 s, 2 s)."""

    lease_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_seconds < self.renew_deadline_seconds < self.lease_seconds:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_seconds} s, {self.renew_deadline_seconds} s, {self.lease_seconds} s"
            )


@dataclass(frozen=True)
class Record:
    """The Lease's spec: what decides who leads."""

    holder: str = ""
    lease_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Lease:
    """A Lease as read: its record and the resourceVersion a write of it must carry."""

    record: Record
    resource_version: str


@dataclass(frozen=True)
class Memory:
    """What a candidate keeps between tries: the record it last observed, and when (on its
    monotonic clock) it first observed that record."""

    record: Record | None = None
    since: float = 0.0


Action = Literal["create", "update", "wait"]


@dataclass(frozen=True)
class Decision:
    """What to do now: create the Lease with `record`, update it to `record` at `resource_version`,
    or wait while `holder`'s Lease has not expired (a leader that sees another holder stands down)."""

    action: Action
    memory: Memory
    record: Record | None = None
    resource_version: str | None = None
    holder: str = ""


def micro_time(when: datetime) -> str:
    """A `metav1.MicroTime`, as the API server writes one: RFC 3339 with microseconds, in UTC."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(obj: Manifest | None) -> Lease | None:
    """A Lease object as the API returns it (None: there is none)."""
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    record = Record(
        holder=spec.get("holderIdentity") or "",
        lease_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
        transitions=int(spec.get("leaseTransitions") or 0),
    )
    return Lease(record, str(obj["metadata"]["resourceVersion"]))


def decide(observed: Lease | None, memory: Memory, identity: str, timing: Timing, now: float,
           wall: datetime) -> Decision:  # fmt: skip
    """One try of `identity` at the Lease `observed` (None: absent), at monotonic `now`."""
    stamp = micro_time(wall)
    if observed is None:
        record = Record(identity, timing.lease_seconds, stamp, stamp, 0)
        return Decision("create", Memory(record, now), record)
    found = observed.record
    if memory.record != found:
        memory = Memory(found, now)  # it changed: its holder's lease duration runs from now
    if found.holder and found.holder != identity and now < memory.since + found.lease_seconds:
        return Decision("wait", memory, holder=found.holder)
    if found.holder == identity:
        record = replace(found, lease_seconds=timing.lease_seconds, renew_time=stamp)
        return Decision("update", memory, record, observed.resource_version, identity)
    record = Record(identity, timing.lease_seconds, stamp, stamp, found.transitions + 1)
    return Decision("update", memory, record, observed.resource_version, identity)


def written(decision: Decision, now: float) -> Memory:
    """What the candidate remembers once its write succeeded: its own record, seen at `now`."""
    return Memory(decision.record, now)


def released(observed: Lease, identity: str, wall: datetime) -> Record | None:
    """The record a leader that stops writes so that another may take over at once (client-go's
    ReleaseOnCancel): no holder, a lease of one second. None: `identity` does not hold it."""
    if observed.record.holder != identity:
        return None
    stamp = micro_time(wall)
    return replace(observed.record, holder="", lease_seconds=1, renew_time=stamp)


def leading_until(renewal_started: float | None, timing: Timing) -> float | None:
    """Until when (monotonic) a leader may act after the renewal that started at
    `renewal_started` succeeded: a renew deadline later (None: it does not lead)."""
    return None if renewal_started is None else renewal_started + timing.renew_deadline_seconds


def manifest(name: str, namespace: str, record: Record, resource_version: str | None = None) -> Manifest:
    """The Lease object to create or update (with the resourceVersion it was read at)."""
    spec: Manifest = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.lease_seconds,
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = record.acquire_time
    if record.renew_time is not None:
        spec["renewTime"] = record.renew_time
    metadata: Manifest = {"name": name, "namespace": namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}
