"""Where things are in a Hugging Face cache directory, and where this image keeps its own records.

The library's layout (stable since huggingface_hub 0.x): `models--OWNER--NAME/` holds `blobs/<etag>`
(the bytes, named by sha256 for LFS files and by git blob sha1 for the others), `snapshots/<commit>/<file>`
(a symlink to its blob) and `refs/`. Partial downloads sit next to their blob as `<etag>.incomplete`
(this image and huggingface_hub before 2.x) or `<etag>.<random>.incomplete` (2.x). Our records live in
`models--OWNER--NAME/qwenops/<commit>/`: the library ignores the folder, and deleting the repo from the
cache deletes them too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RECORDS_DIR = "qwenops"
MANIFEST_FILE = "manifest.json"
MARKER_FILE = "verified.json"


def repo_folder(repo: str) -> str:
    """The library's folder name for a model repo (`repo_folder_name`)."""
    return "models--" + repo.replace("/", "--")


@dataclass(frozen=True)
class CacheLayout:
    """One repo@commit in one cache directory."""

    cache_dir: Path
    repo: str
    commit: str

    @property
    def repo_dir(self) -> Path:
        return self.cache_dir / repo_folder(self.repo)

    @property
    def snapshot_dir(self) -> Path:
        return self.repo_dir / "snapshots" / self.commit

    @property
    def blobs_dir(self) -> Path:
        return self.repo_dir / "blobs"

    @property
    def records_dir(self) -> Path:
        return self.repo_dir / RECORDS_DIR / self.commit

    @property
    def manifest_path(self) -> Path:
        return self.records_dir / MANIFEST_FILE

    @property
    def marker_path(self) -> Path:
        return self.records_dir / MARKER_FILE

    def pointer(self, name: str) -> Path:
        """The file as it appears in the snapshot (a symlink to its blob)."""
        return self.snapshot_dir.joinpath(*name.split("/"))

    def blob(self, etag: str) -> Path:
        return self.blobs_dir / etag

    def partial(self, etag: str) -> Path:
        """The partial download this image resumes (the same name older huggingface_hub resumes)."""
        return self.blobs_dir / f"{etag}.incomplete"

    def partials(self, etag: str) -> list[Path]:
        """Every partial download of a blob: ours and the library's per-process ones."""
        if not self.blobs_dir.is_dir():
            return []
        return sorted(self.blobs_dir.glob(f"{etag}*.incomplete"))

    def lock(self, etag: str) -> Path:
        """The lock file the library takes for a blob, so two pods on one volume never write it at once."""
        return self.cache_dir / ".locks" / repo_folder(self.repo) / f"{etag}.lock"

    def present_size(self, name: str) -> int | None:
        """Size of the file in the snapshot, following its symlink; None when absent or dangling."""
        try:
            return self.pointer(name).stat().st_size
        except OSError:
            return None

    def remove(self, name: str) -> list[Path]:
        """Delete a file from the snapshot and its blob, so the next download fetches it again."""
        pointer = self.pointer(name)
        removed: list[Path] = []
        if pointer.is_symlink():
            target = Path(os.path.realpath(pointer))
            if target.parent == Path(os.path.realpath(self.blobs_dir)) and target.exists():
                target.unlink()
                removed.append(target)
        if pointer.is_symlink() or pointer.exists():
            pointer.unlink()
            removed.append(pointer)
        return removed
