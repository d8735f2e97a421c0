"""What a pin is: a full commit, a repo id that maps to one cache folder, and `NAME=SHA256` file digests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .failures import InvalidRevision

COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
# The Hub's own rule (huggingface_hub's validate_repo_id), owner required: it becomes a folder name.
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def check_revision(revision: str) -> str:
    """Return the revision if it is a full 40-hex lowercase commit, else refuse it (before any request)."""
    if COMMIT_PATTERN.fullmatch(revision):
        return revision
    if _HEX.fullmatch(revision) and len(revision) == 40:
        looks = "uppercase hex: write the commit in lowercase"
    elif _HEX.fullmatch(revision) and len(revision) < 40:
        looks = "looks like a short SHA"
    else:
        looks = "looks like a branch or a tag"
    shown = revision if len(revision) <= 80 else revision[:80] + "…"
    raise InvalidRevision(
        f"--revision {shown!r} is not a full 40-hex lowercase commit ({looks}); "
        "a branch, a tag or a short SHA is not a pin: it can move or match another commit"
    )


def check_repo_id(repo: str) -> str:
    """An `owner/name` repo id; refuses what could escape the cache folder (`..`, `--`, slashes)."""
    owner, slash, name = repo.partition("/")
    if not slash or not _REPO_PART.fullmatch(owner) or not _REPO_PART.fullmatch(name):
        raise ValueError(f"{repo!r} is not a Hugging Face repo id (owner/name)")
    if "--" in repo or ".." in repo or repo.endswith((".", ".git")):
        raise ValueError(f"{repo!r} is not a Hugging Face repo id ('--', '..' and a final '.' are refused)")
    return repo


def check_file_name(name: str) -> str:
    """A relative path inside the repo, `/`-separated."""
    parts = name.split("/")
    if not name or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{name!r} is not a relative path inside the repo")
    return name


@dataclass(frozen=True)
class FilePin:
    """`--file NAME=SHA256`: the spec's digest for one file; it wins over anything the Hub says."""

    name: str
    sha256: str

    @classmethod
    def parse(cls, value: str) -> FilePin:
        name, equals, digest = value.rpartition("=")
        if not equals:
            raise ValueError(f"{value!r} is not NAME=SHA256")
        if not SHA256_PATTERN.fullmatch(digest):
            raise ValueError(f"{value!r}: the sha256 must be 64 lowercase hex characters")
        return cls(check_file_name(name), digest)


def short(digest: str) -> str:
    """The start of a digest, as people compare them."""
    return digest[:12] + "…"
