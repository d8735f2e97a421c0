"""The pure parts of `qwenops-serve`: pins, records, hashing, redaction, output, progress, arguments."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from images.serving.qwenops_serve import verify as verify_module
from images.serving.qwenops_serve.cli import build_parser, split_vllm_args
from images.serving.qwenops_serve.failures import InvalidRevision, VerificationFailed
from images.serving.qwenops_serve.layout import CacheLayout, repo_folder
from images.serving.qwenops_serve.manifest import (
    FileRecord,
    Manifest,
    VerifiedMarker,
    apply_pins,
    read_manifest,
    write_manifest,
)
from images.serving.qwenops_serve.output import (
    TERMINATION_LOG_MAX_BYTES,
    human_duration,
    human_size,
    termination_line,
    write_termination_log,
)
from images.serving.qwenops_serve.pins import FilePin, check_repo_id, check_revision, short
from images.serving.qwenops_serve.progress import Tracked, bytes_on_disk, progress_line
from images.serving.qwenops_serve.redact import Redactor
from images.serving.qwenops_serve.verify import git_blob_sha1, hash_file, index_shards, is_weight

from .conftest import COMMIT, TOKEN

SHA = "9c" * 32


# -- pins --------------------------------------------------------------------------------------------


def test_only_a_full_lowercase_commit_is_a_pin() -> None:
    assert check_revision(COMMIT) == COMMIT
    for revision, looks in [
        ("main", "looks like a branch or a tag"),
        ("v2.1", "looks like a branch or a tag"),
        ("9c925d6", "looks like a short SHA"),
        (COMMIT.upper(), "uppercase hex"),
        (COMMIT + "a", "looks like a branch or a tag"),
    ]:
        with pytest.raises(InvalidRevision, match="a branch, a tag or a short SHA is not a pin") as caught:
            check_revision(revision)
        assert looks in caught.value.message
        assert caught.value.exit_code == 2


def test_file_pins_and_repo_ids() -> None:
    assert FilePin.parse(f"model-00001-of-00002.safetensors={SHA}") == FilePin(
        "model-00001-of-00002.safetensors", SHA
    )
    assert FilePin.parse(f"sub/dir/a=b.bin={SHA}").name == "sub/dir/a=b.bin"
    for bad in ["config.json", f"={SHA}", f"../x={SHA}", f"/abs={SHA}", f"a//b={SHA}", "x=" + SHA.upper()]:
        with pytest.raises(ValueError):
            FilePin.parse(bad)
    assert check_repo_id("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B"
    for bad in ["Qwen3-8B", "Qwen/Qwen3/8B", "Qwen/../x", "a--b/c", "Qwen/x.", "/x", "Qwen/"]:
        with pytest.raises(ValueError):
            check_repo_id(bad)
    assert short(SHA) == "9c9c9c9c9c9c…"


# -- the cache layout and our records ----------------------------------------------------------------


def test_the_layout_is_the_librarys() -> None:
    layout = CacheLayout(Path("/models"), "Qwen/Qwen3-8B", COMMIT)
    assert repo_folder("Qwen/Qwen3-8B") == "models--Qwen--Qwen3-8B"
    assert layout.pointer("a/b.json") == Path(f"/models/models--Qwen--Qwen3-8B/snapshots/{COMMIT}/a/b.json")
    assert layout.blob(SHA) == Path(f"/models/models--Qwen--Qwen3-8B/blobs/{SHA}")
    assert layout.partial(SHA) == Path(f"/models/models--Qwen--Qwen3-8B/blobs/{SHA}.incomplete")
    assert layout.lock(SHA) == Path(f"/models/.locks/models--Qwen--Qwen3-8B/{SHA}.lock")
    assert layout.manifest_path == Path(f"/models/models--Qwen--Qwen3-8B/qwenops/{COMMIT}/manifest.json")
    assert layout.marker_path == Path(f"/models/models--Qwen--Qwen3-8B/qwenops/{COMMIT}/verified.json")


def test_a_manifest_round_trips_and_refuses_another_commit(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path, "Qwen/Qwen3-8B", COMMIT)
    files = (FileRecord("config.json", 10, git_sha1="a" * 40), FileRecord("m.safetensors", 99, sha256=SHA))
    write_manifest(layout, Manifest("Qwen/Qwen3-8B", COMMIT, COMMIT, files))

    manifest = read_manifest(layout)

    assert manifest is not None
    assert manifest.files == files
    assert manifest.total_bytes == 109
    assert read_manifest(CacheLayout(tmp_path, "Qwen/Qwen3-8B", "b" * 40)) is None
    data = json.loads(layout.manifest_path.read_text())
    data["commit"] = "c" * 40
    layout.manifest_path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="it is for"):
        read_manifest(layout)
    assert not list(layout.records_dir.glob(".manifest.json.*"))  # no temporary file left


@pytest.mark.parametrize(
    "record",
    [
        {"name": "a", "size": 1},
        {"name": "a", "size": -1, "sha256": SHA},
        {"name": "a", "size": True, "sha256": SHA},
        {"name": "../a", "size": 1, "sha256": SHA},
        {"name": "a", "size": 1, "sha256": "xyz"},
        {"name": "a", "size": 1, "git_sha1": "abc"},
    ],
)
def test_a_bad_file_record_is_refused(record: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FileRecord.from_json(record)


def test_a_verified_marker_round_trips() -> None:
    marker = VerifiedMarker("Qwen/Qwen3-8B", COMMIT, (FileRecord("m.safetensors", 9, sha256=SHA),), 1.5)
    again = VerifiedMarker.from_json(json.loads(json.dumps(marker.to_json())))
    assert (again.repo, again.commit, again.files, again.seconds) == (marker.repo, COMMIT, marker.files, 1.5)


def test_pins_win_and_must_agree() -> None:
    files = [FileRecord("config.json", 10, git_sha1="a" * 40), FileRecord("m.safetensors", 99, sha256=SHA)]
    pinned = apply_pins(files, [FilePin("config.json", "ab" * 32), FilePin("m.safetensors", SHA)], "the list")
    assert pinned[0] == FileRecord("config.json", 10, sha256="ab" * 32, git_sha1="a" * 40)
    assert pinned[1] == files[1]
    with pytest.raises(VerificationFailed, match=r"^m\.safetensors: the list has sha256 9c9c9c9c9c9c…, model"):
        apply_pins(files, [FilePin("m.safetensors", "ab" * 32)], "the list")
    with pytest.raises(VerificationFailed, match=r"^other: pinned in model\.files but not in the list$"):
        apply_pins(files, [FilePin("other", SHA)], "the list")


# -- hashing -----------------------------------------------------------------------------------------


def test_git_blob_sha1_is_gits() -> None:
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_hash_file_streams_across_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "CHUNK_BYTES", 7)
    data = os.urandom(1000)
    path = tmp_path / "f"
    path.write_bytes(data)

    digests = hash_file(path, len(data), sha256=True, git_sha1=True)

    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.git_sha1 == git_blob_sha1(data)
    assert hash_file(path, len(data)).git_sha1 is None


def test_index_shards_are_repo_paths() -> None:
    index = json.dumps({"weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors", "c": "m-1.safetensors"}})
    assert index_shards("model.safetensors.index.json", index.encode()) == ["m-1.safetensors", "m-2.safetensors"]
    assert index_shards("sub/model.safetensors.index.json", index.encode()) == [
        "sub/m-1.safetensors",
        "sub/m-2.safetensors",
    ]
    assert index_shards("x.index.json", b'{"metadata": {}}') == []
    with pytest.raises(VerificationFailed, match="outside the repo"):
        index_shards("x.index.json", b'{"weight_map": {"a": "../../outside.safetensors"}}')
    with pytest.raises(VerificationFailed, match=r"^x\.index\.json: not valid JSON"):
        index_shards("x.index.json", b"{")
    with pytest.raises(VerificationFailed, match="not a map"):
        index_shards("x.index.json", b'{"weight_map": ["a"]}')


def test_weight_files() -> None:
    assert all(is_weight(n) for n in ["a.safetensors", "pytorch_model.bin", "x.PT", "y.pth", "q4.gguf"])
    assert not any(is_weight(n) for n in ["config.json", "model.safetensors.index.json", "tokenizer.model"])


# -- redaction and output ----------------------------------------------------------------------------


def test_the_token_is_masked_wherever_it_appears() -> None:
    redact = Redactor.from_env({"HF_TOKEN": TOKEN, "HUGGING_FACE_HUB_TOKEN": "x"})

    assert redact(f"GET /x Authorization: Bearer {TOKEN}") == "GET /x Authorization: Bearer ***"
    assert redact(f"token={TOKEN}!") == "token=***!"
    assert redact("another hf_abcdefghijklmnop token") == "another hf_*** token"
    assert redact("authorization: bearer sometoken, next") == "authorization: bearer ***, next"
    assert redact("x marks the spot") == "x marks the spot"  # too short to be a secret


def test_the_termination_line_is_one_short_masked_line() -> None:
    redact = Redactor.from_env({"HF_TOKEN": TOKEN})
    line = termination_line("DownloadFailed: the Hub said\n\n" + f"bad token {TOKEN} " + "é" * 2000, redact)

    assert "\n" not in line
    assert line.startswith("DownloadFailed: the Hub said bad token *** éé")
    assert len((line + "\n").encode()) <= TERMINATION_LOG_MAX_BYTES
    assert line.endswith("…")
    assert termination_line("NotVerified: short", redact) == "NotVerified: short"


def test_the_termination_log_is_written_only_where_it_can_be(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    assert write_termination_log(path, "VerificationFailed: x: missing")
    assert path.read_text() == "VerificationFailed: x: missing\n"
    missing = tmp_path / "no-such-dir" / "termination-log"
    assert not write_termination_log(missing, "x")
    assert not missing.parent.exists()


def test_sizes_and_durations_for_people() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 10 * 2**20, 16.4 * 2**30)] == [
        "0 B", "1023 B", "1.5 KiB", "10.0 MiB", "16.4 GiB",
    ]  # fmt: skip
    assert [human_duration(s) for s in (0.42, 12.4, 75, 3725)] == ["0.4s", "12s", "1m15s", "1h02m"]


# -- progress ----------------------------------------------------------------------------------------


def test_progress_lines() -> None:
    assert progress_line(0, 2**30, 0, 0.0) == "0 B / 1.0 GiB (0.0%), waiting for data"
    assert progress_line(2**29, 2**30, 2**29, 8.0) == "512.0 MiB / 1.0 GiB (50.0%), 64.0 MiB/s, ETA 8.0s"
    # Bytes found on disk at the start (a resumed partial) count as done, not in the rate.
    assert progress_line(2**29, 2**30, 2**28, 4.0).endswith("64.0 MiB/s, ETA 8.0s")


def test_bytes_on_disk_counts_blobs_and_partial_downloads(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path, "Qwen/Qwen3-8B", COMMIT)
    item = Tracked("m.safetensors", 100, SHA)
    assert bytes_on_disk(layout, item) == 0
    layout.blobs_dir.mkdir(parents=True)
    layout.partial(SHA).write_bytes(b"x" * 30)
    (layout.blobs_dir / f"{SHA}.1a2b3c4d.incomplete").write_bytes(b"x" * 40)  # the library's own name
    assert bytes_on_disk(layout, item) == 40
    layout.blob(SHA).write_bytes(b"x" * 100)
    assert bytes_on_disk(layout, item) == 100


# -- arguments ---------------------------------------------------------------------------------------


def test_vllm_arguments_follow_the_first_double_dash() -> None:
    assert split_vllm_args(["serve", "--model", "a/b"]) == (["serve", "--model", "a/b"], None)
    assert split_vllm_args(["serve", "--", "--port", "1", "--", "x"]) == (["serve"], ["--port", "1", "--", "x"])


def test_the_parser_takes_the_contract() -> None:
    parser = build_parser()
    common = ["--model", "Qwen/Qwen3-8B", "--revision", COMMIT, "--cache-dir", "/models"]

    download = parser.parse_args(["download", *common, "--file", f"a.bin={SHA}", "--progress-every", "2.5"])
    assert (download.files, download.progress_every) == ([FilePin("a.bin", SHA)], 2.5)
    assert str(download.termination_log) == "/dev/termination-log"
    assert parser.parse_args(["download", *common]).progress_every == 10.0
    assert parser.parse_args(["verify", *common, "--file", f"a.bin={SHA}"]).files == [FilePin("a.bin", SHA)]
    assert parser.parse_args(["serve", *common, "--launcher", "module"]).launcher == "module"
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["serve", *common, "--file", f"a.bin={SHA}"])
    assert caught.value.code == 2
