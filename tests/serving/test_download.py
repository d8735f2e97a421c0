"""`qwenops-serve download` end to end against the fake Hub: what it fetches, asks, refuses and logs."""

from __future__ import annotations

import hashlib
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from images.serving.qwenops_serve.pins import short

from .conftest import COMMIT, REPO_ID, TOKEN, Pod, wait_for
from .hub import FakeHub, HubFile, MiB, shard_name, tiny_qwen

SHARD_1 = shard_name(1, 2)
SHARD_2 = shard_name(2, 2)
BIG = 10 * MiB + 200_000
"""The library reads (and writes) a download in 10 MiB chunks, so only a file past 10 MiB can leave a
partial download behind to resume."""
RESUME_AT = 10 * MiB
OTHER_SHA256 = "ab" * 32


def resolve_requests(hub: FakeHub) -> list[str]:
    return [seen.path for seen in hub.requests() if "/resolve/" in seen.path or seen.server == "cdn"]


def test_download_fetches_every_file_and_records_the_manifest(pod: Pod, hub: FakeHub) -> None:
    run = pod.download()

    assert run.returncode == 0, run.stderr
    assert run.termination is None
    layout = pod.layout
    for f in hub.files.values():
        assert layout.pointer(f.name).read_bytes() == f.data
        assert layout.pointer(f.name).is_symlink()
    manifest = json.loads(layout.manifest_path.read_text())
    assert manifest["repo"] == REPO_ID
    assert manifest["revision"] == COMMIT
    assert manifest["commit"] == COMMIT  # the Hub's resolved `sha`, checked equal
    records = {r["name"]: r for r in manifest["files"]}
    assert set(records) == set(hub.files)
    shard = hub.file(SHARD_1)
    assert records[SHARD_1] == {"name": SHARD_1, "size": len(shard.data), "sha256": shard.sha256}
    config = hub.file("config.json")
    assert records["config.json"] == {"name": "config.json", "size": len(config.data), "git_sha1": config.blob_id}
    # The model info with file metadata, once, at the pinned commit.
    infos = [s for s in hub.requests() if s.path.startswith("/api/")]
    assert [s.path for s in infos] == [f"/api/models/{REPO_ID}/revision/{COMMIT}?blobs=true"]
    # LFS bytes come from the CDN; nothing is asked at any other revision.
    assert {s.path.split("?")[0] for s in hub.requests("cdn")} == {
        f"/repos/{hub.file(n).sha256}" for n in (SHARD_1, SHARD_2)
    }
    assert all(f"/resolve/{COMMIT}/" in p for p in resolve_requests(hub) if "/resolve/" in p)
    assert not list(layout.blobs_dir.glob("*.incomplete"))
    assert not layout.marker_path.exists()


def test_download_logs_the_plan_progress_and_a_summary(pod: Pod, hub: FakeHub) -> None:
    hub.bytes_per_second = MiB // 2  # about 0.6 s for the largest file: several progress lines

    run = pod.download("--progress-every", "0.1")

    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert "download: 9 files, 493.1 KiB" in lines
    assert "download: in the cache: 0 files, 0 B; to fetch: 9 files, 493.1 KiB" in lines
    progress = [line for line in lines if re.fullmatch(r"download: \S+ \S+ / 493\.1 KiB \(\d+\.\d%\), .*", line)]
    assert len(progress) >= 2, run.stderr
    assert any(re.search(r", \d+\.\d (KiB|MiB)/s, ETA \S+$", line) for line in progress), progress
    assert f"download: fetched {SHARD_1} (293.0 KiB)" in lines
    assert re.search(r"^download: done: fetched 9 files, 493\.1 KiB in \S+ \(.*/s\); ", run.stderr, re.M)
    assert "\r" not in run.stderr and "it/s" not in run.stderr  # no progress bars


def test_a_warm_cache_sends_no_request(downloaded: Pod, hub: FakeHub) -> None:
    pod = downloaded
    pins = [f"--file={n}={hub.file(n).sha256}" for n in (SHARD_1, SHARD_2)]

    run = pod.download(*pins)

    assert run.returncode == 0, run.stderr
    assert hub.requests() == []
    assert "already in the cache: 9 files, 493.1 KiB" in run.stderr
    assert "no request sent" in run.stderr


def test_a_file_gone_from_the_cache_is_fetched_alone(downloaded: Pod, hub: FakeHub) -> None:
    pod = downloaded
    pod.layout.remove(SHARD_2)

    run = pod.download()

    assert run.returncode == 0, run.stderr
    assert "to fetch: 1 file, 195.3 KiB" in run.stderr
    assert [s.path.split("?")[0] for s in hub.requests("cdn")] == [f"/repos/{hub.file(SHARD_2).sha256}"]
    assert pod.layout.pointer(SHARD_2).read_bytes() == hub.file(SHARD_2).data


@pytest.mark.parametrize(
    "revision",
    ["main", "v1.0", "refs/pr/1", COMMIT[:7], COMMIT[:39], COMMIT + "0", COMMIT.upper(), ""],
    ids=["branch", "tag", "pr-ref", "short-sha", "39-hex", "41-hex", "uppercase", "empty"],
)
def test_a_revision_that_is_not_a_commit_is_refused_before_any_request(
    pod: Pod, hub: FakeHub, revision: str
) -> None:
    run = pod.download(revision=revision)

    assert run.returncode == 2
    assert run.reason_line.startswith("InvalidRevision: --revision ")
    assert "a branch, a tag or a short SHA is not a pin" in run.reason_line
    assert run.reason_line in run.stderr.splitlines()
    assert hub.requests() == []
    assert not pod.cache.exists()


def test_a_short_sha_is_named_as_such(pod: Pod) -> None:
    run = pod.download(revision=COMMIT[:7])

    assert f"--revision '{COMMIT[:7]}' is not a full 40-hex lowercase commit (looks like a short SHA)" in (
        run.reason_line
    )


def test_a_commit_the_repo_does_not_have_is_an_invalid_revision(pod: Pod, hub: FakeHub) -> None:
    run = pod.download(revision="f" * 40)

    assert run.returncode == 2
    assert run.reason_line.startswith(f"InvalidRevision: {REPO_ID} has no commit {'f' * 40}")
    assert len(hub.requests()) == 1


def test_a_pin_that_disagrees_with_the_hub_is_refused_before_fetching(pod: Pod, hub: FakeHub) -> None:
    run = pod.download(f"--file={SHARD_1}={OTHER_SHA256}")

    assert run.returncode == 3
    assert run.reason_line == (
        f"VerificationFailed: {SHARD_1}: the Hub's file list has sha256 {short(hub.file(SHARD_1).sha256)}, "
        f"model.files pins {short(OTHER_SHA256)}"
    )
    assert resolve_requests(hub) == []
    assert not pod.layout.manifest_path.exists()


def test_a_pin_that_disagrees_with_a_warm_cache_is_refused_without_a_request(
    downloaded: Pod, hub: FakeHub
) -> None:
    run = downloaded.download(f"--file={SHARD_2}={OTHER_SHA256}")

    assert run.returncode == 3
    assert run.reason_line.startswith(f"VerificationFailed: {SHARD_2}: the download manifest has sha256 ")
    assert hub.requests() == []


def test_a_pin_naming_a_file_the_repo_lacks_is_refused(pod: Pod) -> None:
    run = pod.download(f"--file=model-00009-of-00009.safetensors={OTHER_SHA256}")

    assert run.returncode == 3
    assert run.reason_line == (
        "VerificationFailed: model-00009-of-00009.safetensors: pinned in model.files but not in the Hub's file list"
    )


def test_a_pin_on_a_git_file_is_recorded_beside_its_git_sha1(pod: Pod, hub: FakeHub) -> None:
    config = hub.file("config.json")
    digest = hashlib.sha256(config.data).hexdigest()

    run = pod.download(f"--file=config.json={digest}")

    assert run.returncode == 0, run.stderr
    records = {r["name"]: r for r in json.loads(pod.layout.manifest_path.read_text())["files"]}
    assert records["config.json"] == {
        "name": "config.json", "size": len(config.data), "sha256": digest, "git_sha1": config.blob_id,
    }  # fmt: skip


def test_an_unreachable_hub_is_a_transient_download_failure(pod: Pod) -> None:
    run = pod.download(env={"HF_ENDPOINT": "http://127.0.0.1:9"})

    assert run.returncode == 4
    assert run.reason_line.startswith("DownloadFailed: ")
    assert "ConnectError" in run.reason_line


def test_bad_arguments_exit_2_with_the_error_first(pod: Pod, hub: FakeHub) -> None:
    for args in (["--file", "config.json"], ["--file", "../x=" + OTHER_SHA256], ["--progress-every", "0"]):
        run = pod.download(*args)
        assert run.returncode == 2, args
        assert run.stderr.startswith("qwenops-serve download: error: argument "), run.stderr
    run = pod.download(f"--file=a={OTHER_SHA256}", f"--file=a={OTHER_SHA256}")
    assert run.returncode == 2
    assert "--file names a more than once" in run.stderr
    run = pod.run("download", "--", "--port", "8000")
    assert run.returncode == 2
    assert hub.requests() == []


# -- resuming ----------------------------------------------------------------------------------------


@pytest.fixture
def big_hub(make_hub: Callable[..., FakeHub]) -> FakeHub:
    return make_hub(tiny_qwen(shard_sizes=(BIG, 200_000)))


@pytest.fixture
def big_pod(tmp_path: Path, big_hub: FakeHub) -> Pod:
    return Pod(tmp_path, big_hub)


def cdn_gets(hub: FakeHub, name: str) -> list[str | None]:
    sha = hub.file(name).sha256
    return [s.range for s in hub.requests("cdn") if s.method == "GET" and sha in s.path]


def test_a_dropped_connection_resumes_with_a_range_request(big_pod: Pod, big_hub: FakeHub) -> None:
    big_hub.drop_after[SHARD_1] = RESUME_AT + 100_000

    run = big_pod.download()

    assert run.returncode == 0, run.stderr
    assert cdn_gets(big_hub, SHARD_1) == [None, f"bytes={RESUME_AT}-"]
    assert "[huggingface_hub] " in run.stderr  # the library's retry, through our log
    assert big_pod.verify().returncode == 0


def test_a_killed_download_resumes_where_it_stopped(big_pod: Pod, big_hub: FakeHub) -> None:
    big_hub.stall_after[SHARD_1] = RESUME_AT + 100_000
    layout = big_pod.layout
    partial = layout.partial(big_hub.file(SHARD_1).sha256)

    first = big_pod.start("download")
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size >= RESUME_AT, what="a partial download")
    finally:
        first.send_signal(signal.SIGKILL)  # a pod evicted, a node lost: no clean-up of any kind
        first.communicate(timeout=10)
    big_hub.release()
    assert partial.stat().st_size == RESUME_AT
    assert not layout.manifest_path.exists()
    big_hub.clear()

    run = big_pod.download()

    assert run.returncode == 0, run.stderr
    assert cdn_gets(big_hub, SHARD_1) == [f"bytes={RESUME_AT}-"]
    assert f"{SHARD_1}: resuming at 10.0 MiB of 10.2 MiB" in run.stderr
    assert "10.0 MiB of it already downloaded (resumed)" in run.stderr
    assert not partial.exists()
    assert layout.pointer(SHARD_1).read_bytes() == big_hub.file(SHARD_1).data
    assert big_pod.verify().returncode == 0


def test_a_partial_download_longer_than_the_file_starts_over(big_pod: Pod, big_hub: FakeHub) -> None:
    shard = big_hub.file(SHARD_2)
    partial = big_pod.layout.partial(shard.sha256)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * (len(shard.data) + 1))

    run = big_pod.download()

    assert run.returncode == 0, run.stderr
    assert cdn_gets(big_hub, SHARD_2) == [None]
    assert big_pod.verify().returncode == 0


def test_two_pods_downloading_into_one_volume_fetch_each_blob_once(big_pod: Pod, big_hub: FakeHub) -> None:
    big_hub.bytes_per_second = 40 * MiB  # slow enough for the two to overlap

    first, second = big_pod.start("download"), big_pod.start("download")
    outputs = [p.communicate(timeout=30) for p in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert len(cdn_gets(big_hub, SHARD_1)) == 1  # the other waited on the blob's lock, then linked it
    assert not list(big_pod.layout.blobs_dir.glob("*.incomplete"))
    assert big_pod.verify().returncode == 0


def test_a_download_with_nothing_to_fetch_keeps_the_verified_marker(verified: Pod, hub: FakeHub) -> None:
    verified.layout.manifest_path.unlink()  # the files are all there: only the record is gone

    run = verified.download()

    assert run.returncode == 0, run.stderr
    assert resolve_requests(hub) == []
    assert verified.layout.marker_path.exists()
    assert verified.layout.manifest_path.exists()


# -- the token ---------------------------------------------------------------------------------------


def test_the_token_goes_to_the_hub_only_and_never_to_the_log(pod: Pod, hub: FakeHub) -> None:
    run = pod.download(env={"HF_TOKEN": TOKEN})

    assert run.returncode == 0, run.stderr
    hub_requests = hub.requests("hub")
    assert hub_requests
    assert {s.authorization for s in hub_requests} == {f"Bearer {TOKEN}"}
    assert {s.authorization for s in hub.requests("cdn")} == {None}  # a signed CDN URL gets no token
    assert TOKEN not in run.output


def test_a_xet_file_without_xet_comes_through_the_resolve_url(pod: Pod, hub: FakeHub) -> None:
    hub.xet = True  # the Hub offers Xet; the pod is told not to use it

    run = pod.download(env={"HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1"})

    assert run.returncode == 0, run.stderr
    path = f"/{REPO_ID}/resolve/{COMMIT}/{SHARD_1}"
    gets = [s for s in hub.requests() if s.method == "GET" and (s.path == path or hub.file(SHARD_1).sha256 in s.path)]
    assert [(s.server, s.authorization) for s in gets] == [("hub", f"Bearer {TOKEN}"), ("cdn", None)]
    assert pod.verify().returncode == 0


def test_the_token_is_masked_in_errors_that_echo_it(pod: Pod, hub: FakeHub) -> None:
    hub.reject_token = True

    run = pod.download(env={"HF_TOKEN": TOKEN})

    assert run.returncode == 4
    assert run.reason_line.startswith("DownloadFailed: ")
    assert "401" in run.reason_line
    assert "Bearer ***" in run.reason_line  # the server's echo, masked
    assert TOKEN not in run.output
    assert TOKEN not in (run.termination or "")
    assert TOKEN[3:] not in run.output + (run.termination or "")


def test_a_weight_file_kept_in_git_is_downloaded_like_any_file(
    make_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    hub = make_hub([*tiny_qwen(), HubFile("pytorch_model.bin", b"\x00" * 1000)])
    pod = Pod(tmp_path, hub)

    assert pod.download().returncode == 0
    assert pod.layout.present_size("pytorch_model.bin") == 1000
