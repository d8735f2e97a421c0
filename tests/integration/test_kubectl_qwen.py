"""`kubectl qwen` as on call runs it: the real console entry, a subprocess, against the emulated API.

The objects are written straight into the emulator, status included, so no
operator is needed (one test runs the real one, to show a promote acted on
end to end); where a request waits for the operator, the test plays its part:
it records the annotation's value in status.handled, as the operator does.
"""

import asyncio
import copy
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from qwenops_testing.cluster import QWD_PATH, QWDS, Client, status_of
from qwenops_testing.emulator import KubeEmulator, write_kubeconfig
from qwenops_testing.manifests import expected_revision, qwen_deployment
from qwenops_testing.operator import Operator, eventually
from tests import status_fixtures as f

pytestmark = pytest.mark.integration

NS, NAME = f.NS, f.NAME
REPO = Path(__file__).resolve().parents[2]
OBJECT_PATH = f"{QWD_PATH.format(namespace=NS)}/{NAME}"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def kubeconfig(emulator: KubeEmulator, tmp_path: Path) -> Path:
    """A kubeconfig whose context's namespace is `llm`."""
    return write_kubeconfig(tmp_path / "kubeconfig", emulator.url, namespace=NS)


def _env(kubeconfig: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KUBECONFIG")}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


async def qwen(kubeconfig: Path | None, *args: str, timeout: float = 30) -> Run:
    """`kubectl qwen ARGS` (as `python -m qwenops.kubectl.plugin`), stdout and stderr piped."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops.kubectl.plugin", *args,
        env=_env(kubeconfig), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def store(emulator: KubeEmulator, client: Client, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Create the object as `kubectl apply` would, then write its status as the operator would."""
    body = copy.deepcopy(dict(obj))
    status = body.pop("status", None)
    body["metadata"] = {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}
    emulator.create_object(QWDS, body)
    if status is not None:
        await client.patch(f"{OBJECT_PATH}/status", {"status": status})
    stored = emulator.get_object(QWDS, NS, NAME)
    assert stored is not None
    return stored


def stored(emulator: KubeEmulator) -> dict[str, Any]:
    obj = emulator.get_object(QWDS, NS, NAME)
    assert obj is not None
    return obj


@pytest.fixture
async def playing_operator(emulator: KubeEmulator, client: Client) -> AsyncIterator[dict[str, Any]]:
    """Acts on each new request annotation as the operator does: records it in status.handled,
    with whatever status fields the test puts in the yielded dict."""
    result: dict[str, Any] = {}

    async def act() -> None:
        while True:
            obj = emulator.get_object(QWDS, NS, NAME) or {}
            annotations = obj.get("metadata", {}).get("annotations") or {}
            handled = (obj.get("status") or {}).get("handled") or {}
            for key, value in annotations.items():
                verb = key.removeprefix("qwenops.io/")
                if key.startswith("qwenops.io/") and handled.get(verb) != value:
                    await client.patch(f"{OBJECT_PATH}/status", {"status": {**result, "handled": {verb: value}}})
            await asyncio.sleep(0.05)

    task = asyncio.create_task(act())
    try:
        yield result
    finally:
        if task.done() and not task.cancelled() and (failed := task.exception()) is not None:
            raise failed  # e.g. a status the API server refused: say so rather than time out
        task.cancel()


# -- status and history ---------------------------------------------------------------------------


async def test_status_takes_the_namespace_from_the_context_and_prints_plain_text_when_piped(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())

    run = await qwen(kubeconfig, "status", NAME)

    assert (run.code, run.err) == (0, "")
    assert "\x1b" not in run.out  # piped: no colour even though NO_COLOR is unset
    assert run.out.isascii()
    lines = run.out.splitlines()
    assert lines[:3] == ["Name:          chat", "Namespace:     llm", "Phase:         Progressing"]
    for expected in (
        "Stable:        7d9f4c2a1b  Qwen/Qwen3-8B@9c925d6",
        "Canary:        a1b2c3d4e5  Qwen/Qwen3-8B@1f2e3d4  started ",
        "  Steps:       10% ok -> [50%] -> 80% -> 100%",
        "  Step:        2/3 (50% declared)",
        "  error rate               0.246%   <= 1%      ok",
        "  error rate vs stable     1.23x    <= 2x      ok",
        "Last rollback: b7c8d9e0f1 (Qwen/Qwen3-8B@eeeeeee), ",
    ):
        assert any(line.startswith(expected) for line in lines), f"{expected!r} not in\n{run.out}"


async def test_namespace_and_context_flags_before_or_after_the_command(
    emulator: KubeEmulator, client: Client, tmp_path: Path
) -> None:
    await store(emulator, client, f.healthy())
    elsewhere = write_kubeconfig(tmp_path / "default-ns", emulator.url)  # its context names `default`

    assert (await qwen(elsewhere, "status", NAME)).code == 3
    after = await qwen(elsewhere, "status", NAME, "-n", NS)
    before = await qwen(None, "--kubeconfig", str(elsewhere), "--context", "emulator", "--namespace", NS,
                        "status", NAME)  # fmt: skip
    assert after.code == before.code == 0
    assert "Phase:         Healthy" in after.out
    assert re.sub(r"\S+ ago", "", after.out) == re.sub(r"\S+ ago", "", before.out)

    unknown = await qwen(elsewhere, "--context", "nope", "status", NAME)
    assert unknown.code == 1
    assert unknown.err.startswith("error: cannot load the kubeconfig: ")
    assert len(unknown.err.splitlines()) == 1


async def test_history_is_a_table_newest_first(emulator: KubeEmulator, client: Client, kubeconfig: Path) -> None:
    await store(emulator, client, f.canary_at_step_2())

    run = await qwen(kubeconfig, "history", NAME)

    assert run.code == 0
    rows = run.out.splitlines()
    assert rows[0].split() == ["REVISION", "MODEL", "OUTCOME", "WHEN", "REASON"]
    assert [row[3:13] for row in rows[1:4]] == ["7d9f4c2a1b", "b7c8d9e0f1", "5e6f7a8b9c"]
    assert rows[1].startswith("*  7d9f4c2a1b  Qwen/Qwen3-8B@9c925d6  Promoted ")  # serving now
    assert "query:" not in run.out
    assert "query: histogram_quantile" in (await qwen(kubeconfig, "history", NAME, "--wide")).out


@pytest.mark.parametrize("args", [("status", "missing"), ("history", "missing"), ("promote", "missing"),
                                  ("status", "missing", "--watch")])  # fmt: skip
async def test_a_missing_object_exits_3_with_one_line(kubeconfig: Path, args: tuple[str, ...]) -> None:
    run = await qwen(kubeconfig, *args)
    assert (run.code, run.out, run.err) == (3, "", "error: QwenDeployment llm/missing not found\n")


async def test_usage_errors_exit_2(kubeconfig: Path) -> None:
    calls = [(), ("status",), ("frobnicate", NAME), ("promote", NAME, "--timeout", "soon")]
    runs = await asyncio.gather(*(qwen(kubeconfig, *args) for args in calls))
    for args, run in zip(calls, runs, strict=True):
        assert run.code == 2, args
        assert "usage: kubectl qwen" in run.err


async def test_an_api_server_that_does_not_answer_exits_1_with_one_line(tmp_path: Path) -> None:
    nowhere = write_kubeconfig(tmp_path / "nowhere", "http://127.0.0.1:9", namespace=NS)
    run = await qwen(nowhere, "status", NAME)
    assert run.code == 1
    assert run.err.startswith("error: cannot reach the API server: ")
    assert len(run.err.splitlines()) == 1
    assert "Traceback" not in run.err


async def test_watch_piped_prints_a_new_block_only_when_something_changed(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops.kubectl.plugin", "status", NAME, "--watch", "--interval", "0.2",
        env=_env(kubeconfig), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []

    async def read_until(marker: str, times: int = 1) -> None:
        while sum(marker in line for line in lines) < times:
            line = await asyncio.wait_for(process.stdout.readline(), 15)  # type: ignore[union-attr]
            assert line, "the watch ended"
            lines.append(line.decode())

    try:
        await read_until("Conditions:")
        await asyncio.sleep(1.0)  # five reads of an unchanged object: nothing new is printed
        await client.patch(f"{OBJECT_PATH}/status", {"status": {"phase": "Paused", "message": "paused now"}})
        await read_until("Conditions:", times=2)
    finally:
        process.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(process.communicate(), 15)
    text = "".join(lines) + rest.decode()
    assert process.returncode == 0, err
    assert sum(line.startswith("--- ") for line in text.splitlines()) == 2, text
    assert "Phase:         Progressing" in text.split("\n--- ")[0]
    assert "Phase:         Paused" in text.split("\n--- ")[1]
    assert "\x1b" not in text


# -- requests ---------------------------------------------------------------------------------------


REQUESTS = [("promote", f.canary_at_step_2), ("abort", f.canary_at_step_2), ("retry", f.rolled_back),
            ("undo", f.healthy)]  # fmt: skip


@pytest.mark.parametrize(("verb", "fixture"), REQUESTS)
async def test_a_request_sets_exactly_one_annotation_and_leaves_the_spec_alone(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, verb: str, fixture: Any
) -> None:
    before = await store(emulator, client, fixture())
    since = emulator.request_count

    run = await qwen(kubeconfig, verb, NAME, "--no-wait")

    assert run.code == 0, run.err
    after = stored(emulator)
    annotations = after["metadata"].get("annotations") or {}
    assert list(annotations) == [f"qwenops.io/{verb}"]
    value = annotations[f"qwenops.io/{verb}"]
    assert datetime.fromisoformat(value).microsecond or value.endswith(".000000Z")  # RFC 3339, microseconds
    assert json.dumps(after["spec"], sort_keys=False) == json.dumps(before["spec"], sort_keys=False)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["status"] == before["status"]
    (write,) = emulator.writes(since)
    assert (write.method, write.path, write.content_type) == ("PATCH", OBJECT_PATH, "application/merge-patch+json")
    assert write.body == {"metadata": {"annotations": {f"qwenops.io/{verb}": value}}}
    assert f"{verb} requested for QwenDeployment llm/chat: " in run.out
    assert f"annotation qwenops.io/{verb}={value}" in run.out


async def test_each_request_gets_a_fresh_value(emulator: KubeEmulator, client: Client, kubeconfig: Path) -> None:
    await store(emulator, client, f.canary_at_step_2())
    values = []
    for _ in range(2):
        assert (await qwen(kubeconfig, "promote", NAME, "--no-wait")).code == 0
        values.append(stored(emulator)["metadata"]["annotations"]["qwenops.io/promote"])
    assert values[0] != values[1]


async def test_promote_waits_until_the_operator_acted_and_says_what_it_did(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, playing_operator: dict[str, Any]
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    playing_operator.update(phase="Paused", message="step 3/3 at 80%: paused until promoted")

    run = await qwen(kubeconfig, "promote", NAME)

    assert run.code == 0, run.err
    value = stored(emulator)["metadata"]["annotations"]["qwenops.io/promote"]
    assert stored(emulator)["status"]["handled"]["promote"] == value
    assert run.out.splitlines() == [
        "promote requested for QwenDeployment llm/chat: end step 2/3 of canary a1b2c3d4e5 now and go on to step 3/3",
        f"  annotation qwenops.io/promote={value}",
        "acted on by the operator: Paused: step 3/3 at 80%: paused until promoted",
    ]


async def test_undo_waits_when_the_operator_reports_undo(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, playing_operator: dict[str, Any]
) -> None:
    healthy = f.healthy()  # the status has `previous`: an operator that knows undo
    await store(emulator, client, healthy)
    previous = healthy["status"]["previous"]  # what the override serves, whole as the CRD requires
    playing_operator.update(
        phase="Progressing", message="undo: serving revision 5e6f7a8b9c",
        override={**previous, "specRevision": f.STABLE, "at": "2026-03-01T03:00:00Z"},
    )  # fmt: skip

    run = await qwen(kubeconfig, "undo", NAME)

    assert run.code == 0, run.err
    assert "acted on by the operator: Progressing: undo: serving revision 5e6f7a8b9c" in run.out
    assert "serving revision 5e6f7a8b9c until the spec changes" in run.out


async def test_an_operator_that_never_acts_times_out_with_exit_4(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    started = time.monotonic()

    run = await qwen(kubeconfig, "abort", NAME, "--timeout", "1")

    assert run.code == 4
    assert 1 <= time.monotonic() - started < 10
    value = stored(emulator)["metadata"]["annotations"]["qwenops.io/abort"]
    assert run.err == (
        f"error: the operator did not act on qwenops.io/abort={value} within 1s "
        "(status.handled.abort is None); is the operator running?\n"
    )


@pytest.mark.parametrize(
    ("verb", "fixture", "why"),
    [
        ("promote", f.healthy, "no canary is running (phase Healthy)"),
        ("abort", f.rolled_back, "no canary is running (phase RolledBack)"),
        ("retry", f.canary_at_step_2, "nothing is rolled back (phase Progressing)"),
        ("undo", f.downloading, "there is no earlier promoted revision to go back to"),
    ],
)
async def test_a_request_that_makes_no_sense_is_refused_unless_forced(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, verb: str, fixture: Any, why: str
) -> None:
    await store(emulator, client, fixture())
    since = emulator.request_count

    refused = await qwen(kubeconfig, verb, NAME)

    assert refused.code == 1
    assert refused.err == f"error: refusing to {verb} QwenDeployment llm/chat: {why} (--force sends it anyway)\n"
    assert emulator.writes(since) == []

    forced = await qwen(kubeconfig, verb, NAME, "--force", "--no-wait")
    assert forced.code == 0, forced.err
    assert f"qwenops.io/{verb}" in stored(emulator)["metadata"]["annotations"]


# -- with the real operator -------------------------------------------------------------------------


async def test_promote_is_acted_on_by_the_real_operator(
    emulator: KubeEmulator, client: Client, operator: Operator, kubeconfig: Path
) -> None:
    emulator.deployments_become_available = True

    def manifest(commit: str) -> dict[str, Any]:
        return qwen_deployment(commit, namespace=NS, name=NAME, steps=[{"weight": 50}])  # no pause: waits

    await client.apply_qwd(manifest("a" * 40))
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Healthy", "Healthy", operator)
    await client.patch_qwd(NS, NAME, {"spec": {"model": {"revision": "b" * 40}}})
    await eventually(lambda: status_of(emulator, NS, NAME).get("phase") == "Paused", "Paused", operator)
    paused = await qwen(kubeconfig, "status", NAME)
    assert "Pause:       none: paused until promoted (kubectl qwen promote -n llm chat)" in paused.out

    run = await qwen(kubeconfig, "promote", NAME, "--timeout", "20")

    assert run.code == 0, run.err + operator.tail()
    assert "promote requested for QwenDeployment llm/chat: end step 1/1 of canary " in run.out
    assert "acted on by the operator: " in run.out
    promoted = expected_revision(manifest("b" * 40))
    await eventually(
        lambda: (status_of(emulator, NS, NAME).get("stable") or {}).get("revision") == promoted,
        "the canary promoted", operator,
    )  # fmt: skip
