"""Our two records per repo@commit, small JSON files next to the library's cache folders.

`manifest.json`, written by `download` once every file is in the cache: what the snapshot holds and the
digest each file must have (sha256 for LFS files, from the Hub's metadata or the spec's `--file`; the
git blob sha1 for small files kept in git). A manifest whose files are all present is a warm cache:
`download` then sends no request at all.

`verified.json`, written by `verify` once every byte was hashed and matched: the only thing `serve`
trusts. Both are written atomically (a temporary file renamed over the old one).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .failures import VerificationFailed
from .layout import CacheLayout
from .output import log, plural
from .pins import COMMIT_PATTERN, SHA256_PATTERN, FilePin, check_file_name, short

FORMAT = 1
_SHA1 = 40


@dataclass(frozen=True)
class FileRecord:
    """One file of the snapshot: its size and the digests it must have."""

    name: str
    size: int
    sha256: str | None = None
    git_sha1: str | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "size": self.size}
        if self.sha256 is not None:
            record["sha256"] = self.sha256
        if self.git_sha1 is not None:
            record["git_sha1"] = self.git_sha1
        return record

    @classmethod
    def from_json(cls, data: Any) -> FileRecord:
        if not isinstance(data, dict):
            raise ValueError("a file record is not an object")
        name, size = data.get("name"), data.get("size")
        sha256, git_sha1 = data.get("sha256"), data.get("git_sha1")
        if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"bad file record {data!r}")
        if sha256 is not None and not (isinstance(sha256, str) and SHA256_PATTERN.fullmatch(sha256)):
            raise ValueError(f"bad sha256 in {data!r}")
        if git_sha1 is not None and not (isinstance(git_sha1, str) and len(git_sha1) == _SHA1):
            raise ValueError(f"bad git_sha1 in {data!r}")
        if sha256 is None and git_sha1 is None:
            raise ValueError(f"no digest in {data!r}")
        return cls(check_file_name(name), size, sha256, git_sha1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ours(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("repo"), str)


def _files(data: Mapping[str, Any]) -> tuple[FileRecord, ...]:
    files = data.get("files")
    if not isinstance(files, list):
        raise ValueError("no file list")
    records = tuple(FileRecord.from_json(item) for item in files)
    if len({r.name for r in records}) != len(records):
        raise ValueError("a file is listed twice")
    return records


def _commit(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not COMMIT_PATTERN.fullmatch(value):
        raise ValueError(f"bad {key}")
    return value


@dataclass(frozen=True)
class Manifest:
    """`download`'s record of a complete snapshot."""

    repo: str
    revision: str
    """The commit asked for."""
    commit: str
    """The commit the Hub resolved it to (checked equal to `revision`)."""
    files: tuple[FileRecord, ...]
    downloaded_at: str = ""

    def by_name(self) -> dict[str, FileRecord]:
        return {record.name: record for record in self.files}

    @property
    def total_bytes(self) -> int:
        return sum(record.size for record in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "repo": self.repo,
            "revision": self.revision,
            "commit": self.commit,
            "downloaded_at": self.downloaded_at or _now(),
            "files": [record.to_json() for record in self.files],
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not _ours(data):
            raise ValueError("not a manifest of this format")
        return cls(
            repo=data["repo"],
            revision=_commit(data, "revision"),
            commit=_commit(data, "commit"),
            files=_files(data),
            downloaded_at=str(data.get("downloaded_at", "")),
        )


@dataclass(frozen=True)
class VerifiedMarker:
    """`verify`'s record: every file of repo@commit hashed and matched, with the digests it checked."""

    repo: str
    commit: str
    files: tuple[FileRecord, ...]
    seconds: float = 0.0
    verified_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "repo": self.repo,
            "commit": self.commit,
            "verified_at": self.verified_at or _now(),
            "seconds": round(self.seconds, 3),
            "bytes": sum(record.size for record in self.files),
            "files": [record.to_json() for record in self.files],
        }

    @classmethod
    def from_json(cls, data: Any) -> VerifiedMarker:
        if not _ours(data):
            raise ValueError("not a verified marker of this format")
        seconds = data.get("seconds", 0.0)
        return cls(
            repo=data["repo"],
            commit=_commit(data, "commit"),
            files=_files(data),
            seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
            verified_at=str(data.get("verified_at", "")),
        )


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_manifest(layout: CacheLayout) -> Manifest | None:
    """The manifest of exactly this repo@commit; None when absent. A corrupt one raises ValueError."""
    data = _read_json(layout.manifest_path)
    if data is None:
        return None
    manifest = Manifest.from_json(data)
    if manifest.repo != layout.repo or manifest.commit != layout.commit:
        raise ValueError(f"it is for {manifest.repo}@{manifest.commit}")
    return manifest


def read_marker(layout: CacheLayout) -> VerifiedMarker | None:
    """The verified marker of exactly this repo@commit; None when absent. A corrupt one raises ValueError."""
    data = _read_json(layout.marker_path)
    if data is None:
        return None
    marker = VerifiedMarker.from_json(data)
    if marker.repo != layout.repo or marker.commit != layout.commit:
        raise ValueError(f"it is for {marker.repo}@{marker.commit}")
    return marker


def write_manifest(layout: CacheLayout, manifest: Manifest) -> None:
    write_json(layout.manifest_path, manifest.to_json())


def write_marker(layout: CacheLayout, marker: VerifiedMarker) -> None:
    write_json(layout.marker_path, marker.to_json())


def remove_marker(layout: CacheLayout) -> None:
    layout.marker_path.unlink(missing_ok=True)


def missing_files(layout: CacheLayout, files: Iterable[FileRecord]) -> list[str]:
    """Files absent from the snapshot or of the wrong size: a cheap check, no hashing."""
    return [record.name for record in files if layout.present_size(record.name) != record.size]


def apply_pins(files: Sequence[FileRecord], pins: Sequence[FilePin], source: str) -> tuple[FileRecord, ...]:
    """The records with the spec's sha256 in place: each pin must name a file of the snapshot and agree
    with the sha256 `source` (the Hub's file list, the manifest) gives it, if any."""
    by_name = {record.name: record for record in files}
    for pin in pins:
        record = by_name.get(pin.name)
        if record is None:
            raise VerificationFailed.of(pin.name, f"pinned in model.files but not in {source}")
        if record.sha256 is not None and record.sha256 != pin.sha256:
            raise VerificationFailed.of(
                pin.name, f"{source} has sha256 {short(record.sha256)}, model.files pins {short(pin.sha256)}"
            )
        by_name[pin.name] = replace(record, sha256=pin.sha256)
    return tuple(by_name[record.name] for record in files)


def warm_manifest(layout: CacheLayout, pins: Sequence[FilePin]) -> Manifest | None:
    """The manifest of a previous complete download of repo@commit whose files are all still there.

    Looks at the disk only. A pin that disagrees with it is refused, as it would be against the Hub: a
    commit's files never change, so the manifest says what the Hub would say.
    """
    try:
        manifest = read_manifest(layout)
    except ValueError as exc:
        log.warning(f"ignoring {layout.manifest_path}: {exc}")
        return None
    if manifest is None:
        return None
    apply_pins(manifest.files, pins, "the download manifest")
    missing = missing_files(layout, manifest.files)
    if missing:
        count = plural(len(missing), "file")
        log.info(f"the last download is incomplete now: {missing[0]} is gone or changed ({count})")
        return None
    return manifest
