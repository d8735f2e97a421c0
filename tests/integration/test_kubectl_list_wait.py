"""`kubectl qwen list`, `-o json|yaml|wide` and `wait --for`: the console entry against the emulated API."""

import asyncio
import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops_testing.cluster import QWD_PATH, QWDS, Client
from qwenops_testing.emulator import KubeEmulator, write_kubeconfig
from qwenops_testing.operator import eventually
from tests import status_fixtures as f
from tests.integration.test_kubectl_qwen import OBJECT_PATH, REPO, _env, qwen, store

pytestmark = pytest.mark.integration

NS, NAME = f.NS, f.NAME


@pytest.fixture
def kubeconfig(emulator: KubeEmulator, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", emulator.url, namespace=NS)


async def store_as(
    emulator: KubeEmulator, client: Client, obj: Mapping[str, Any], namespace: str, name: str
) -> None:
    """`obj` created as `namespace/name`, its status written as the operator would."""
    body = copy.deepcopy(dict(obj))
    status = body.pop("status", None)
    body["metadata"] = {"name": name, "namespace": namespace}
    emulator.create_object(QWDS, body)
    if status is not None:
        await client.patch(f"{QWD_PATH.format(namespace=namespace)}/{name}/status", {"status": status})


# -- -o -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
async def test_status_o_json_or_yaml_is_the_object_as_the_api_returns_it(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, fmt: str
) -> None:
    await store(emulator, client, f.canary_at_step_2())

    run = await qwen(kubeconfig, "status", NAME, "-o", fmt)

    assert (run.code, run.err) == (0, "")
    printed = json.loads(run.out) if fmt == "json" else yaml.safe_load(run.out)
    assert printed == emulator.get_object(QWDS, NS, NAME)


async def test_status_o_wide_has_the_message_in_full_and_the_history(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())

    plain, wide = await asyncio.gather(
        qwen(kubeconfig, "status", NAME), qwen(kubeconfig, "status", NAME, "-o", "wide")
    )

    assert wide.code == 0, wide.err
    assert wide.out.startswith(plain.out.split("\nMessage:")[0])
    assert "REVISION" not in plain.out
    assert any(line.split()[:3] == ["REVISION", "MODEL", "OUTCOME"] for line in wide.out.splitlines())
    assert "query: histogram_quantile" in wide.out  # the breached SLO's query, as history --wide


# -- list -----------------------------------------------------------------------------------------


async def test_list_shows_a_row_per_qwendeployment_of_the_namespace_or_of_all(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    emulator.create_object("v1/namespaces", {"metadata": {"name": "team-b"}})
    await store_as(emulator, client, f.canary_at_step_2(), NS, "chat")
    await store_as(emulator, client, f.healthy(), NS, "embed")
    await store_as(emulator, client, f.rolled_back(), "team-b", "code")

    here, everywhere, there = await asyncio.gather(
        qwen(kubeconfig, "list"), qwen(kubeconfig, "list", "-A"), qwen(kubeconfig, "list", "-n", "team-b")
    )

    assert here.code == everywhere.code == there.code == 0, here.err + everywhere.err + there.err
    rows = [line.split() for line in here.out.splitlines()]
    assert rows[0] == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "AGE", "MESSAGE"]
    assert [row[:5] for row in rows[1:]] == [
        ["chat", "Progressing", f.STABLE, f.CANARY, "50%"],
        ["embed", "Healthy", f.STABLE, "<none>", "-"],
    ]
    rows = [line.split() for line in everywhere.out.splitlines()]
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert [row[:3] for row in rows[1:]] == [
        ["llm", "chat", "Progressing"], ["llm", "embed", "Healthy"], ["team-b", "code", "RolledBack"],
    ]  # fmt: skip
    assert [line.split()[:2] for line in there.out.splitlines()[1:]] == [["code", "RolledBack"]]
    assert "rolled back (SLOBreached)" in there.out

    listed = json.loads((await qwen(kubeconfig, "list", "-A", "-o", "json")).out)
    assert listed["kind"] == "List"
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["chat", "code", "embed"]
    empty = await qwen(kubeconfig, "list", "-n", "default")
    assert (empty.code, empty.out) == (0, "No resources found in default namespace.\n")


# -- wait -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition", ["condition=Available", "jsonpath={.status.phase}=Healthy", "phase=Healthy", "promoted",
                  "jsonpath={.status.conditions[0].status}=True"],
)  # fmt: skip
async def test_wait_for_a_condition_already_met_exits_0(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, condition: str
) -> None:
    await store(emulator, client, f.healthy())
    run = await qwen(kubeconfig, "wait", NAME, f"--for={condition}", "--timeout", "10s")
    assert (run.code, run.err) == (0, "")
    assert run.out == f"qwendeployment.qwenops.io/{NAME} condition met ({condition})\n"


async def test_wait_waits_until_the_rollout_reaches_it(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    since = emulator.request_count
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwenops.kubectl.plugin", "wait", NAME, "--for=phase=Healthy", "--timeout", "30s",
        env=_env(kubeconfig), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await eventually(lambda: emulator.request_count > since + 1, "the wait reading twice", timeout=15)
    assert process.returncode is None
    await client.patch(f"{OBJECT_PATH}/status", {"status": {"phase": "Healthy", "canary": None}})
    out, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err
    assert out.decode() == f"qwendeployment.qwenops.io/{NAME} condition met (phase=Healthy)\n"


async def test_wait_times_out_with_exit_1_as_kubectl_says_it(
    emulator: KubeEmulator, client: Client, kubeconfig: Path
) -> None:
    await store(emulator, client, f.canary_at_step_2())
    run = await qwen(kubeconfig, "wait", NAME, "--for=phase=Healthy", "--timeout", "1s")
    assert run.code == 1
    assert run.err.startswith(
        "error: timed out waiting for the condition on qwendeployments/chat (it is Progressing: "
    )
    assert len(run.err.splitlines()) == 1


@pytest.mark.parametrize("condition", ["promoted", "phase=Healthy", "condition=Progressing"])
async def test_a_rollout_that_ended_where_the_condition_cannot_be_met_exits_5_at_once(
    emulator: KubeEmulator, client: Client, kubeconfig: Path, condition: str
) -> None:
    await store(emulator, client, f.rolled_back())
    run = await qwen(kubeconfig, "wait", NAME, f"--for={condition}", "--timeout", "1m")
    assert run.code == 5, run.err
    assert run.err.startswith(
        f"error: llm/chat: {condition} can never be met: the rollout ended RolledBack: revision "
    )


async def test_wait_usage(kubeconfig: Path) -> None:
    bad = await qwen(kubeconfig, "wait", NAME, "--for=bogus")
    assert bad.code == 2
    assert "condition=TYPE[=STATUS]" in bad.err
    missing = await qwen(kubeconfig, "wait", "missing", "--for=promoted")
    assert (missing.code, missing.err) == (3, "error: QwenDeployment llm/missing not found\n")
