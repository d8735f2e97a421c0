"""`qwenops-serve verify` end to end: every byte hashed offline, a bad file named and removed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from images.serving.qwenops_serve.pins import short

from .conftest import COMMIT, REPO_ID, Pod
from .hub import FakeHub, HubFile, shard_name, tiny_qwen

SHARD_1 = shard_name(1, 2)
SHARD_2 = shard_name(2, 2)
INDEX = "model.safetensors.index.json"


def test_verify_hashes_every_file_and_writes_the_marker(downloaded: Pod, hub: FakeHub) -> None:
    run = downloaded.verify(env={"HF_ENDPOINT": "http://127.0.0.1:9"})  # offline: no endpoint needed

    assert run.returncode == 0, run.stderr
    assert hub.requests() == []
    lines = run.stderr.splitlines()
    index = hub.file(INDEX)
    assert re.fullmatch(
        rf"verify: \[1/9\] {re.escape(INDEX)}  {len(index.data)} B  git-sha1 {index.blob_id[:12]}  ok \(\S+\)", lines[1]
    ), lines[1]
    shard = hub.file(SHARD_1)
    assert any(
        re.fullmatch(rf"verify: \[\d/9\] {SHARD_1}  293\.0 KiB  sha256 {shard.sha256[:12]}  ok \(\S+\)", line)
        for line in lines
    ), run.stderr
    assert re.search(r"^verify: all 9 files verified: 493\.1 KiB in \S+ \(.*/s\)$", run.stderr, re.M)
    marker = json.loads(downloaded.layout.marker_path.read_text())
    assert marker["repo"] == REPO_ID
    assert marker["commit"] == COMMIT
    assert marker["bytes"] == sum(len(f.data) for f in hub.files.values())
    records = {r["name"]: r for r in marker["files"]}
    assert records[SHARD_1] == {"name": SHARD_1, "size": len(shard.data), "sha256": shard.sha256}


def test_a_tampered_file_is_refused_named_and_removed(pod: Pod, hub: FakeHub) -> None:
    hub.tampered.add(SHARD_2)
    assert pod.download().returncode == 0  # same size: only hashing can tell
    layout = pod.layout
    served = hashlib.sha256(hub.content(hub.file(SHARD_2))).hexdigest()
    blob = layout.blob(hub.file(SHARD_2).sha256)
    assert blob.exists()

    run = pod.verify()

    assert run.returncode == 3
    expected = f"VerificationFailed: {SHARD_2}: sha256 is {short(served)}, expected {short(hub.file(SHARD_2).sha256)}"
    assert run.reason_line == expected
    assert expected in run.stderr.splitlines()
    assert not blob.exists()
    assert not layout.pointer(SHARD_2).is_symlink()
    assert not layout.marker_path.exists()
    # The next download fetches that file alone, and then it verifies.
    hub.tampered.clear()
    hub.clear()
    assert pod.download().returncode == 0
    assert [s.path.split("?")[0] for s in hub.requests("cdn")] == [f"/repos/{hub.file(SHARD_2).sha256}"]
    assert pod.verify().returncode == 0


def test_a_tampered_git_file_is_refused_by_its_git_sha1(pod: Pod, hub: FakeHub) -> None:
    hub.tampered.add("tokenizer.json")
    assert pod.download().returncode == 0

    run = pod.verify()

    assert run.returncode == 3
    assert run.reason_line.startswith("VerificationFailed: tokenizer.json: git blob sha1 is ")
    assert run.reason_line.endswith(f"expected {short(hub.file('tokenizer.json').blob_id)}")


def test_a_shard_the_index_names_but_the_repo_lacks_is_refused(
    make_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    pod = Pod(tmp_path, make_hub(tiny_qwen(shard_sizes=(1000, 1000), missing_shards=1)))
    assert pod.download().returncode == 0

    run = pod.verify()

    assert run.returncode == 3
    assert run.reason_line == f"VerificationFailed: {shard_name(3, 3)}: missing (listed in {INDEX})"


def test_a_shard_gone_from_the_cache_is_refused(downloaded: Pod, hub: FakeHub) -> None:
    downloaded.layout.blob(hub.file(SHARD_1).sha256).unlink()  # a dangling snapshot link

    run = downloaded.verify()

    assert run.returncode == 3
    assert run.reason_line == f"VerificationFailed: {SHARD_1}: missing (listed in {INDEX})"
    assert not downloaded.layout.pointer(SHARD_1).is_symlink()


def test_a_file_of_the_wrong_size_is_refused_and_removed(downloaded: Pod) -> None:
    pointer = downloaded.layout.pointer("config.json")
    blob = pointer.resolve()
    blob.write_bytes(blob.read_bytes() + b"\n")

    run = downloaded.verify()

    assert run.returncode == 3
    assert re.fullmatch(r"VerificationFailed: config\.json: size is \d+ bytes, expected \d+", run.reason_line)
    assert not blob.exists()


def test_a_pin_that_disagrees_with_the_bytes_is_refused(downloaded: Pod, hub: FakeHub) -> None:
    wrong = "cd" * 32

    run = downloaded.verify(f"--file=config.json={wrong}")

    assert run.returncode == 3
    actual = hashlib.sha256(hub.file("config.json").data).hexdigest()
    assert run.reason_line == f"VerificationFailed: config.json: sha256 is {short(actual)}, expected {short(wrong)}"


def test_a_pin_that_disagrees_with_the_manifest_is_refused_before_hashing(downloaded: Pod) -> None:
    run = downloaded.verify(f"--file={SHARD_1}={'ef' * 32}")

    assert run.returncode == 3
    assert run.reason_line.startswith(f"VerificationFailed: {SHARD_1}: the download manifest has sha256 ")
    assert "[1/9]" not in run.stderr


def test_pins_that_agree_are_checked_and_recorded(downloaded: Pod, hub: FakeHub) -> None:
    config_sha256 = hashlib.sha256(hub.file("config.json").data).hexdigest()

    run = downloaded.verify(f"--file=config.json={config_sha256}", f"--file={SHARD_1}={hub.file(SHARD_1).sha256}")

    assert run.returncode == 0, run.stderr
    records = {r["name"]: r for r in json.loads(downloaded.layout.marker_path.read_text())["files"]}
    assert records["config.json"]["sha256"] == config_sha256
    assert records["config.json"]["git_sha1"] == hub.file("config.json").blob_id


def test_a_weight_file_with_no_sha256_is_refused_unless_pinned(
    make_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    weights = HubFile("pytorch_model.bin", b"\x01" * 2000)  # kept in git: only a git sha1 is known
    pod = Pod(tmp_path, make_hub([*tiny_qwen(shard_sizes=(1000, 1000)), weights]))
    assert pod.download().returncode == 0

    run = pod.verify()

    assert run.returncode == 3
    assert run.reason_line.startswith("VerificationFailed: pytorch_model.bin: a weight file with no sha256 to check")
    pinned = pod.verify(f"--file=pytorch_model.bin={hashlib.sha256(weights.data).hexdigest()}")
    assert pinned.returncode == 0, pinned.stderr


def test_verify_without_a_download_is_refused(pod: Pod) -> None:
    run = pod.verify()

    assert run.returncode == 3
    assert run.reason_line == (
        f"VerificationFailed: no completed download of {REPO_ID}@{COMMIT} in the cache (no download manifest)"
    )


def test_verify_refuses_a_branch_like_download(pod: Pod) -> None:
    run = pod.verify(revision="main")

    assert run.returncode == 2
    assert run.reason_line.startswith("InvalidRevision: ")


def test_a_failed_verify_removes_an_older_marker(downloaded: Pod) -> None:
    assert downloaded.verify().returncode == 0
    blob = downloaded.layout.pointer("README.md").resolve()
    blob.write_bytes(b"# tiny-qwen\n\nA test checkpoint!\n")  # same size, other bytes

    assert downloaded.verify().returncode == 3
    assert not downloaded.layout.marker_path.exists()
