"""`download`'s network side: the Hub's file list at one commit, then every file into the cache.

Everything on the wire goes through huggingface_hub's long-stable public API: `HfApi.model_info(...,
files_metadata=True)` for the file list and digests, `get_hf_file_metadata` / `hf_hub_url` for a
file's location, `file_download.http_get` for its bytes, `hf_hub_download` for the snapshot's symlinks
(and for the small git-stored files). Import this module only after the environment is set
(`HF_ENDPOINT`, `HF_HUB_DISABLE_PROGRESS_BARS`...): the library reads it once, on import.

Why LFS files are not simply `hf_hub_download`ed: since huggingface_hub 2.x it writes each download to a
file of its own process (`<etag>.<random>.incomplete`) and deletes it on failure, so an init container
that the kubelet restarts after a network outage would start every shard again from its first byte
(and a killed one leaves its partial file behind for good). Here a blob is fetched into
`blobs/<sha256>.incomplete`, the name older versions of the library use too, kept across attempts and
resumed with a `Range: bytes=N-` request; the library's own lock for that blob keeps two pods on one
volume from writing it at once. Files the Hub serves through Xet go to the library's Xet client.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import HfApi, ModelInfo, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers

from .failures import DownloadFailed, InvalidRevision, StepError, VerificationFailed
from .layout import CacheLayout
from .manifest import FileRecord, Manifest, apply_pins, missing_files, remove_marker, write_manifest
from .output import adopt_library_logging, human_duration, human_rate, human_size, log, one_line, plural
from .pins import FilePin, short
from .progress import Progress, Tracked, bytes_on_disk

adopt_library_logging()

LIBRARY_NAME = "qwenops-serve"
MAX_WORKERS = 8
"""Files fetched at once, as `snapshot_download` does."""
_BRIEF = 400
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RemoteFile:
    """A file of the repo at the commit, as the Hub lists it."""

    name: str
    size: int
    git_sha1: str
    """The git blob id; for an LFS file, the id of its pointer."""
    sha256: str | None = None
    """The LFS sha256; None for a file stored in git."""

    @property
    def etag(self) -> str:
        """The name of its blob in the cache: the Hub's ETag for it."""
        return self.sha256 if self.sha256 is not None else self.git_sha1

    def record(self) -> FileRecord:
        if self.sha256 is not None:
            return FileRecord(self.name, self.size, sha256=self.sha256)
        return FileRecord(self.name, self.size, git_sha1=self.git_sha1)


def remote_files(info: ModelInfo) -> list[RemoteFile]:
    """The files of a `model_info(..., files_metadata=True)` answer."""
    siblings = info.siblings
    if not siblings:
        raise DownloadFailed("the Hub's answer lists no files (no siblings)")
    files = []
    for sibling in siblings:
        lfs = sibling.lfs
        size = lfs.size if lfs is not None else sibling.size
        if size is None or sibling.blob_id is None:
            raise DownloadFailed(f"{sibling.rfilename}: the Hub's answer has no size or blob id for it")
        files.append(RemoteFile(sibling.rfilename, size, sibling.blob_id, lfs.sha256 if lfs else None))
    return sorted(files, key=lambda f: f.name)


def xet_enabled() -> bool:
    """Whether the library would fetch a Xet-backed file with its Xet client (its own rule)."""
    disabled = os.environ.get("HF_HUB_DISABLE_XET", "").strip().lower() in _TRUE
    return not disabled and importlib.util.find_spec("hf_xet") is not None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The library's lock file for a blob (it takes the same `flock`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _fetch_lfs_blob(layout: CacheLayout, remote: RemoteFile) -> None:
    """Fetch an LFS file's blob, resuming a partial download left by an earlier attempt."""
    assert remote.sha256 is not None
    url = hf_hub_url(layout.repo, remote.name, revision=layout.commit)
    meta = get_hf_file_metadata(url, library_name=LIBRARY_NAME)
    if meta.commit_hash != layout.commit:
        raise DownloadFailed(f"{remote.name}: the Hub served commit {meta.commit_hash}, not {layout.commit}")
    if meta.etag != remote.sha256:
        served = short(meta.etag or "")
        raise VerificationFailed.of(
            remote.name, f"the Hub serves sha256 {served}, its file list says {short(remote.sha256)}"
        )
    if meta.size is not None and meta.size != remote.size:
        raise VerificationFailed.of(
            remote.name, f"the Hub serves {meta.size} bytes, its file list says {remote.size}"
        )
    xet = getattr(meta, "xet_file_data", None) is not None
    if xet and xet_enabled():
        return  # `hf_hub_download` fetches it with the Xet client
    # As the library: the redirect's target (a signed CDN URL), except for a Xet-backed file fetched
    # over plain HTTP, which goes through the resolve URL.
    source = url if xet else meta.location
    headers = build_hf_headers(library_name=LIBRARY_NAME)
    if _origin(source) != _origin(url):
        # The token stays with the Hub, as the library does.
        for key in [k for k in headers if k.lower() == "authorization"]:
            del headers[key]
    with _locked(layout.lock(remote.etag)):
        blob = layout.blob(remote.etag)
        if blob.exists():
            return
        partial = layout.partial(remote.etag)
        have = partial.stat().st_size if partial.exists() else 0
        if have > remote.size:
            partial.unlink()
            have = 0
        if have:
            log.info(f"{remote.name}: resuming at {human_size(have)} of {human_size(remote.size)}")
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("ab") as out:
            http_get(
                source,
                out,
                resume_size=have,
                headers=headers,
                expected_size=remote.size,
                displayed_filename=remote.name,
            )
        partial.replace(blob)


def _fetch_one(layout: CacheLayout, remote: RemoteFile) -> None:
    if layout.present_size(remote.name) == remote.size:
        return
    if remote.sha256 is not None and not layout.blob(remote.etag).exists():
        _fetch_lfs_blob(layout, remote)
    hf_hub_download(
        layout.repo,
        remote.name,
        revision=layout.commit,
        cache_dir=layout.cache_dir,
        library_name=LIBRARY_NAME,
    )
    size = layout.present_size(remote.name)
    if size != remote.size:
        layout.remove(remote.name)
        raise DownloadFailed(f"{remote.name}: got {size} bytes, the Hub lists {remote.size}; removed it")
    log.info(f"fetched {remote.name} ({human_size(remote.size)})")


def _fetch_all(layout: CacheLayout, todo: Sequence[RemoteFile]) -> None:
    """Fetch files in parallel; on a failure, start no new file and raise the first error once the
    running ones end (what they fetched stays in the cache for the next attempt)."""
    if not todo:
        return
    first: BaseException | None = None
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(todo)), thread_name_prefix="fetch") as pool:
        futures: list[Future[None]] = [pool.submit(_fetch_one, layout, remote) for remote in todo]
        for future in as_completed(futures):
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None and first is None:
                first = error
                for other in futures:
                    other.cancel()
    if first is not None:
        raise first


def _brief(exc: BaseException) -> str:
    text = one_line(str(exc)) or type(exc).__name__
    return text if len(text) <= _BRIEF else text[:_BRIEF] + "…"


def download(layout: CacheLayout, pins: Sequence[FilePin], progress_every: float) -> Manifest:
    """Fetch repo@commit into the cache and write its manifest; errors become `StepError`s."""
    try:
        return _download(layout, pins, progress_every)
    except StepError:
        raise
    except RevisionNotFoundError as exc:
        raise InvalidRevision(f"{layout.repo} has no commit {layout.commit}: {_brief(exc)}") from exc
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise DownloadFailed(
            f"{layout.repo}: not found, private or gated (such a repo needs HF_TOKEN with access): "
            f"{_brief(exc)}"
        ) from exc
    except HfHubHTTPError as exc:
        raise DownloadFailed(f"the Hub answered an error: {_brief(exc)}") from exc
    except Exception as exc:
        raise DownloadFailed(f"{type(exc).__name__}: {_brief(exc)}") from exc


def _download(layout: CacheLayout, pins: Sequence[FilePin], progress_every: float) -> Manifest:
    repo, commit = layout.repo, layout.commit
    log.info(f"asking the Hub for the files of {repo}@{commit}")
    info = HfApi(library_name=LIBRARY_NAME).model_info(repo, revision=commit, files_metadata=True)
    if info.sha != commit:
        raise InvalidRevision(f"the Hub resolved {repo}@{commit} to commit {info.sha}")
    files = remote_files(info)
    records = apply_pins([remote.record() for remote in files], pins, "the Hub's file list")

    todo = [remote for remote in files if layout.present_size(remote.name) != remote.size]
    if todo:
        remove_marker(layout)  # the snapshot changes: `verify` must run again before `serve`
    for remote in todo:
        present = layout.present_size(remote.name)
        if present is not None:
            log.warning(
                f"{remote.name}: {present} bytes in the cache, the Hub lists {remote.size}; fetching it again"
            )
            layout.remove(remote.name)
    total = sum(remote.size for remote in files)
    to_fetch = sum(remote.size for remote in todo)
    tracked = [Tracked(remote.name, remote.size, remote.etag) for remote in todo]
    partial = sum(bytes_on_disk(layout, item) for item in tracked)
    log.info(f"{plural(len(files), 'file')}, {human_size(total)}")
    resumed = f", {human_size(partial)} of it already downloaded (resumed)" if partial else ""
    log.info(
        f"in the cache: {plural(len(files) - len(todo), 'file')}, {human_size(total - to_fetch)}; "
        f"to fetch: {plural(len(todo), 'file')}, {human_size(to_fetch)}{resumed}"
    )

    started = time.monotonic()
    with Progress(layout, tracked, progress_every):
        _fetch_all(layout, todo)
    seconds = time.monotonic() - started

    missing = missing_files(layout, records)
    if missing:
        count = plural(len(missing), "file")
        raise DownloadFailed(f"{missing[0]}: not in the snapshot after the download ({count})")
    manifest = Manifest(repo=repo, revision=commit, commit=info.sha, files=records)
    write_manifest(layout, manifest)
    fetched = to_fetch - partial
    rate = f" ({human_rate(fetched / seconds)})" if seconds > 0 and fetched > 0 else ""
    log.info(
        f"done: fetched {plural(len(todo), 'file')}, {human_size(fetched)} "
        f"in {human_duration(seconds)}{rate}; "
        f"{repo}@{commit} is complete: {plural(len(files), 'file')}, {human_size(total)}"
    )
    return manifest
