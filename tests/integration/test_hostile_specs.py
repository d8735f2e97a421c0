"""Every invalid spec, fed to the running operator: none changes a running Deployment.

One operator (a short resync) serves a valid QwenDeployment until it is Healthy. Then every
manifest of tests/manifests/invalid/, every generated hostile spec an API server could store and
every spec only the models refuse (tests/hostile_specs.py) is written straight into the emulator,
as an object stored under an older CRD would be (the emulator serves QwenDeployments without their
schema meanwhile: nothing pruned, defaulted or refused). For each, the
operator must set InvalidSpec=True with a message naming the field, and nothing may change but
the QwenDeployment's status, kopf's annotations on it and Events: every Deployment and Service
keeps its resourceVersion. At the end the valid spec comes back and the same Deployment serves,
untouched.

A manifest whose only problem is `metadata.name` becomes an object of its own (a name is not
written over another object's); one whose name no API server stores (not a DNS subdomain:
upper case, `/`, Unicode) is skipped, with that reason.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from qwenops_testing.cluster import DEPLOYMENTS, QWD_PATH, QWDS, SERVICES, Client, deployments_of, status_of
from qwenops_testing.emulator import KubeEmulator, RecordedRequest
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from tests.hostile_specs import GENERATED, MODELS_ONLY

pytestmark = pytest.mark.integration

NS, NAME = "llm", "chat"
INVALID = Path(__file__).resolve().parents[1] / "manifests" / "invalid"
EXPECT = re.compile(r"^# expect: (\S+)\s*$", re.MULTILINE)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PER_CASE_TIMEOUT = 15.0
MAX_FAILURES = 10
CHILDREN = (DEPLOYMENTS, SERVICES, "v1/pods", "gateway.networking.k8s.io/v1/httproutes")
EVENTS = ("v1/events", "events.k8s.io/v1/events")
KOPF_METADATA = {"annotations", "finalizers", "resourceVersion"}
KOPF_PATHS = [["metadata", key] for key in sorted(KOPF_METADATA)]

VALID = qwen_deployment("a" * 40, replicas=2, nodePool={"nodeSelector": {"gpu-pool": "h100"}})


@dataclass(frozen=True)
class Case:
    name: str
    manifest: dict[str, Any]
    expect: str

    @property
    def own_object(self) -> bool:
        """A `metadata.name` problem: the case is an object of its own, under that name."""
        return bool(self.manifest["metadata"]["name"] != NAME)


def corpus() -> tuple[list[Case], list[tuple[str, str]]]:
    cases, skipped = [], []
    for path in sorted(INVALID.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        manifest = yaml.safe_load(text)
        (expect,) = EXPECT.findall(text)
        name = manifest["metadata"]["name"]
        if not DNS_SUBDOMAIN.fullmatch(name) or len(name) > 253:
            skipped.append((path.stem, f"no API server stores the name {name!r} (not a DNS subdomain)"))
            continue
        cases.append(Case(f"invalid/{path.stem}", manifest, expect))
    for hostile in (*GENERATED, *MODELS_ONLY):
        if hostile.in_cluster:
            cases.append(Case(f"generated/{hostile.name}", hostile.manifest(NAME, NS), hostile.expect))
        else:
            skipped.append((hostile.name, "no API server stores it (size, depth or a number past float64); unit-tested"))
    return cases, skipped


def children(emulator: KubeEmulator) -> dict[str, tuple[str, Any]]:
    """Every object the operator may own, by kind and name: its resourceVersion and spec."""
    return {
        f"{resource}/{obj['metadata'].get('namespace')}/{obj['metadata']['name']}": (
            obj["metadata"]["resourceVersion"],
            obj.get("spec"),
        )
        for resource in CHILDREN
        for obj in emulator.list_objects(resource)
    }


def invalid_spec(emulator: KubeEmulator, name: str) -> dict[str, Any] | None:
    obj = emulator.get_object(QWDS, NS, name) or {}
    status: dict[str, Any] = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if c["type"] == "InvalidSpec"]
    if conditions and conditions[0]["status"] == "True" and status.get("observedGeneration") == (
        obj.get("metadata", {}).get("generation")
    ):
        return {"status": status, "message": conditions[0]["message"]}
    return None


def gone(emulator: KubeEmulator, name: str) -> bool:
    return emulator.get_object(QWDS, NS, name) is None


def forbidden_writes(writes: list[RecordedRequest], names: set[str]) -> list[str]:
    """Writes other than the QwenDeployments' status, kopf's own metadata on them, and Events."""
    found = []
    for write in writes:
        qwd_write = write.resource == QWDS and write.name in names
        if qwd_write and write.subresource == "status":
            continue
        if qwd_write and write.method == "PATCH" and isinstance(write.body, dict):  # a merge patch
            metadata = write.body.get("metadata") or {}
            if set(write.body) <= {"metadata"} and set(metadata) <= KOPF_METADATA:
                continue
        if qwd_write and write.method == "PATCH" and isinstance(write.body, list):  # a JSON patch
            paths = [str(op.get("path", "")) for op in write.body if isinstance(op, dict)]
            if len(paths) == len(write.body) and all(p.split("/")[1:3] in KOPF_PATHS for p in paths):
                continue
        if write.resource in EVENTS and write.method == "POST":
            continue
        found.append(f"{write.method} {write.path} {str(write.body)[:200]}")
    return found


async def replace_spec(http: aiohttp.ClientSession, name: str, spec: Any) -> None:
    """Write `spec` over the stored object's, keeping its metadata (optimistic: retried on 409)."""
    path = f"{QWD_PATH.format(namespace=NS)}/{name}"
    for _ in range(20):
        async with http.get(path) as answer:
            current = await answer.json()
        current["spec"] = spec
        async with http.put(path, json=current) as answer:
            if answer.status == 409:
                continue
            assert answer.status < 400, f"PUT {path}: {answer.status} {await answer.text()}"
            return
    raise AssertionError(f"PUT {path}: conflicts all along")


async def test_no_invalid_or_hostile_spec_changes_a_running_deployment(
    emulator: KubeEmulator, client: Client, tmp_path: Path
) -> None:
    cases, skipped = corpus()
    assert len(cases) >= 200 and len(skipped) < 15, (len(cases), skipped)
    emulator.deployments_become_available = True
    operator = Operator(emulator.url, tmp_path, resync_seconds=0.5)
    await operator.start()
    try:
        await client.apply_qwd(VALID)
        revision = expected_revision(VALID)
        await eventually(
            lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy"
            and set(deployments_of(emulator, NS, NAME)) == {revision},
            "Healthy on the valid spec", operator, timeout=60,
        )  # fmt: skip
        await asyncio.sleep(2)  # the last events and kopf's bookkeeping
        before = children(emulator)
        kinds = sorted(key.rsplit("/", 2)[0] for key in before)
        assert kinds.count(DEPLOYMENTS) == 1 and kinds.count(SERVICES) == 3, kinds

        failures: list[str] = []
        timings: dict[str, float] = {}
        with emulator.without_schema(QWDS):  # as stored under an older, looser CRD
            for case in cases:
                started = time.monotonic()
                since = emulator.request_count
                name = case.manifest["metadata"]["name"]
                if case.own_object:
                    await client.apply_qwd(case.manifest)
                else:
                    await replace_spec(client.session, NAME, case.manifest.get("spec"))
                try:
                    refused = await eventually(
                        functools.partial(invalid_spec, emulator, name), f"{case.name}: InvalidSpec", operator,
                        timeout=PER_CASE_TIMEOUT,
                    )  # fmt: skip
                except AssertionError as exc:
                    failures.append(str(exc).split("\n--- operator log")[0])
                    continue
                finally:
                    timings[case.name] = time.monotonic() - started
                flat_message = re.sub(r"\[(\d+)\]", r".\1", refused["message"])
                if case.expect not in flat_message:
                    failures.append(f"{case.name}: InvalidSpec does not name {case.expect}: {refused['message'][:300]}")
                if refused["status"].get("phase") != "Degraded":
                    failures.append(f"{case.name}: phase {refused['status'].get('phase')}")
                mine = [
                    w for w in emulator.writes(since, include_events=True)
                    if not (w.method in ("PUT", "POST") and w.resource == QWDS and w.name in (name, None))
                ]  # fmt: skip
                if bad := forbidden_writes(mine, {NAME, name}):
                    failures.append(f"{case.name}: writes other than status and events: {bad}")
                if (now := children(emulator)) != before:
                    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
                    failures.append(f"{case.name}: children changed: {changed}")
                if case.own_object:
                    await client.delete(f"{QWD_PATH.format(namespace=NS)}/{name}")
                    await eventually(functools.partial(gone, emulator, name), f"{name} deleted", operator)
                if len(failures) >= MAX_FAILURES:
                    failures.append(f"... stopped after {len(timings)} of {len(cases)} specs")
                    break

        slowest = sorted(timings.items(), key=lambda item: -item[1])[:3]
        print(
            f"\n{len(timings)} invalid specs in {sum(timings.values()):.1f}s "
            f"(median {sorted(timings.values())[len(timings) // 2]:.2f}s, slowest {slowest}); "
            f"skipped {len(skipped)}: {skipped}"
        )
        assert failures == [], "\n".join(failures)

        await replace_spec(client.session, NAME, VALID["spec"])
        await eventually(
            lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy"
            and not invalid_spec(emulator, NAME),
            "Healthy again on the valid spec", operator,
        )  # fmt: skip
        assert children(emulator) == before, "the valid spec back: the same Deployment, untouched"
        assert not [r for r in emulator.request_log() if "/secrets" in r.path], "the operator asked for a Secret"
    finally:
        await operator.stop()
