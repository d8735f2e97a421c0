"""`verify`: hash every file of the snapshot, offline, against the digests it must have.

What is checked, in this order (cheap checks first, so a missing file is named at once rather than
after an hour of hashing):

1. the download manifest exists for exactly repo@commit, and every `--file` pin names a file of it and
   agrees with it;
2. every weight file (`*.safetensors`, `*.bin`, `*.pt`, `*.pth`, `*.gguf`) has a sha256 to check: a
   weight file kept in git (only a git sha1 known) is refused unless the spec pins it;
3. the `*.index.json` files are present, their size right, their bytes hashed; then every shard their
   `weight_map` names must be a file of the snapshot;
4. every other file is present with its size, then hashed: sha256 (and the git blob sha1 for files kept
   in git) streamed in 16 MiB reads.

A file that does not match is deleted from the cache (its snapshot link and its blob), so the next
download fetches it again, and the step fails naming it. When all match, the verified marker is written.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .failures import VerificationFailed
from .layout import CacheLayout
from .manifest import (
    FileRecord,
    Manifest,
    VerifiedMarker,
    apply_pins,
    read_manifest,
    remove_marker,
    write_marker,
)
from .output import human_duration, human_rate, human_size, log, plural
from .pins import FilePin, short

CHUNK_BYTES = 16 * 1024 * 1024
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
INDEX_SUFFIX = ".index.json"
MANIFEST = "the download manifest"


@dataclass(frozen=True)
class Digests:
    sha256: str | None = None
    git_sha1: str | None = None


def git_blob_sha1(data: bytes) -> str:
    """What `git hash-object` gives, and the Hub's `blobId` for a file kept in git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def hash_bytes(data: bytes, *, sha256: bool = True, git_sha1: bool = False) -> Digests:
    return Digests(
        sha256=hashlib.sha256(data).hexdigest() if sha256 else None,
        git_sha1=git_blob_sha1(data) if git_sha1 else None,
    )


def hash_file(path: Path, size: int, *, sha256: bool = True, git_sha1: bool = False) -> Digests:
    """One pass over the file for every digest asked for (the git sha1 prefixes the declared size)."""
    h256 = hashlib.sha256() if sha256 else None
    h1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False) if git_sha1 else None
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            chunk = view[:n]
            if h256 is not None:
                h256.update(chunk)
            if h1 is not None:
                h1.update(chunk)
    return Digests(
        sha256=h256.hexdigest() if h256 is not None else None,
        git_sha1=h1.hexdigest() if h1 is not None else None,
    )


def is_weight(name: str) -> bool:
    return name.lower().endswith(WEIGHT_SUFFIXES)


def index_shards(index_name: str, data: bytes) -> list[str]:
    """The files an index's `weight_map` names, as repo paths (relative to the index's folder)."""
    try:
        index = json.loads(data)
    except ValueError as exc:
        raise VerificationFailed.of(index_name, f"not valid JSON ({exc})") from exc
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if weight_map is None:
        return []
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise VerificationFailed.of(index_name, "its weight_map is not a map of tensor names to files")
    folder = posixpath.dirname(index_name)
    shards = []
    for shard in sorted(set(weight_map.values())):
        path = posixpath.normpath(posixpath.join(folder, shard))
        if shard.startswith("/") or path == ".." or path.startswith("../"):
            raise VerificationFailed.of(index_name, f"its weight_map names {shard!r}, outside the repo")
        shards.append(path)
    return shards


class _Verifier:
    """One run of `verify`: counts files as it goes and fails on the first mismatch."""

    def __init__(self, layout: CacheLayout, records: Sequence[FileRecord]) -> None:
        self.layout = layout
        self.records = list(records)
        self.count = 0
        self.hashed_bytes = 0
        self.listed_in: dict[str, str] = {}

    def refuse(self, record: FileRecord, detail: str) -> VerificationFailed:
        """Delete the file from the cache so the next download fetches it again."""
        if self.layout.remove(record.name):
            log.warning(f"{record.name}: removed from the cache, so the next download fetches it again")
        return VerificationFailed.of(record.name, detail)

    def check_present(self, record: FileRecord) -> None:
        size = self.layout.present_size(record.name)
        if size is None:
            raise self.refuse(record, f"missing (listed in {self.listed_in.get(record.name, MANIFEST)})")
        if size != record.size:
            raise self.refuse(record, f"size is {size} bytes, expected {record.size}")

    def check_bytes(self, record: FileRecord) -> bytes | None:
        """Hash one file; an index (small) is read whole, and the bytes hashed are the bytes returned."""
        started = time.monotonic()
        path = self.layout.pointer(record.name)
        wanted = {"sha256": record.sha256 is not None, "git_sha1": record.git_sha1 is not None}
        data = None
        try:
            if record.name.endswith(INDEX_SUFFIX):
                data = path.read_bytes()
                digests = hash_bytes(data, **wanted)
            else:
                digests = hash_file(path, record.size, **wanted)
        except OSError as exc:
            raise VerificationFailed.of(record.name, f"cannot be read ({exc.strerror or exc})") from exc
        if record.sha256 is not None and digests.sha256 != record.sha256:
            actual = short(digests.sha256 or "")
            raise self.refuse(record, f"sha256 is {actual}, expected {short(record.sha256)}")
        if record.git_sha1 is not None and digests.git_sha1 != record.git_sha1:
            raise self.refuse(
                record, f"git blob sha1 is {short(digests.git_sha1 or '')}, expected {short(record.git_sha1)}"
            )
        self.count += 1
        self.hashed_bytes += record.size
        shown = f"sha256 {record.sha256[:12]}" if record.sha256 else f"git-sha1 {str(record.git_sha1)[:12]}"
        log.info(
            f"[{self.count}/{len(self.records)}] {record.name}  {human_size(record.size)}  {shown}  ok"
            f" ({human_duration(time.monotonic() - started)})"
        )
        return data

    def run(self) -> None:
        names = {record.name for record in self.records}
        indexes = [record for record in self.records if record.name.endswith(INDEX_SUFFIX)]
        others = [record for record in self.records if not record.name.endswith(INDEX_SUFFIX)]
        for record in indexes:
            self.check_present(record)
        for record in indexes:
            data = self.check_bytes(record)
            for shard in index_shards(record.name, data or b""):
                self.listed_in.setdefault(shard, record.name)
        for shard, index in sorted(self.listed_in.items()):
            if shard not in names:
                raise VerificationFailed.of(shard, f"missing (listed in {index})")
        for record in others:
            self.check_present(record)
        for record in others:
            self.check_bytes(record)


def _manifest(layout: CacheLayout) -> Manifest:
    try:
        manifest = read_manifest(layout)
    except ValueError as exc:
        raise VerificationFailed(f"the download manifest of {layout.repo}@{layout.commit}: {exc}") from exc
    if manifest is None:
        raise VerificationFailed(
            f"no completed download of {layout.repo}@{layout.commit} in the cache (no download manifest)"
        )
    return manifest


def verify(layout: CacheLayout, pins: Sequence[FilePin]) -> VerifiedMarker:
    """Check every byte of repo@commit; write and return the verified marker.

    A marker from an earlier run stays while this one hashes (another pod on the same volume may be
    starting vLLM on it) and is removed as soon as a file is refused.
    """
    try:
        return _verify(layout, pins)
    except VerificationFailed:
        remove_marker(layout)
        raise


def _verify(layout: CacheLayout, pins: Sequence[FilePin]) -> VerifiedMarker:
    manifest = _manifest(layout)
    records = apply_pins(manifest.files, pins, MANIFEST)
    for record in records:
        if is_weight(record.name) and record.sha256 is None:
            raise VerificationFailed.of(
                record.name,
                "a weight file with no sha256 to check (kept in git, not LFS): pin it in model.files",
            )
    total = sum(record.size for record in records)
    log.info(f"{layout.repo}@{layout.commit}: {plural(len(records), 'file')}, {human_size(total)} to hash")
    started = time.monotonic()
    verifier = _Verifier(layout, records)
    verifier.run()
    seconds = time.monotonic() - started
    marker = VerifiedMarker(repo=layout.repo, commit=layout.commit, files=records, seconds=seconds)
    write_marker(layout, marker)
    rate = f" ({human_rate(total / seconds)})" if seconds > 0 else ""
    done = f"{human_size(total)} in {human_duration(seconds)}{rate}"
    log.info(f"all {plural(len(records), 'file')} verified: {done}")
    return marker
