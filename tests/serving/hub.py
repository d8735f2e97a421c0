"""A local stand-in for the Hugging Face Hub's HTTP API, as huggingface_hub 2.4 calls it.

Two threaded stdlib servers on loopback, each its own origin, as on the real Hub:

- the Hub (`HF_ENDPOINT`): `GET /api/models/{repo}/revision/{rev}[?blobs=true]` (model info: `sha`,
  `siblings` with `blobId`, `size` and `lfs: {sha256, size, pointerSize}` when blobs are asked for);
  `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: a file kept in git answers 200 with `ETag: "<git sha1>"`,
  `X-Repo-Commit`, `Content-Length` and Range support; an LFS file answers 302 to the CDN with
  `X-Linked-Etag: "<sha256>"`, `X-Linked-Size` and `X-Repo-Commit` (the library reads the metadata off
  the redirect and does not follow it for HEAD, since the CDN is another origin). Unknown repo, revision
  or file: 404 with `X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound`, as the library maps.
- the CDN: `GET /repos/<sha256>` serves an LFS file's bytes, with Range support (206, Content-Range).

No Xet headers (`X-Xet-Hash`, `Link: ...xet-auth`): the library downloads over plain HTTP.

Every request is recorded (server, method, path, Range, Authorization, User-Agent). Knobs:
`drop_after[name] = N` closes the connection after byte N of the file, once; `stall_after[name] = N`
sends N bytes then holds the connection until `release()`; `tampered` serves a file with flipped bytes
(same size) while the metadata keeps the true digest; `bytes_per_second` throttles bodies;
`reject_token` answers 401 to any request with a token, echoing it in the error, as a careless server
might; `xet` adds the Xet headers (`X-Xet-Hash`, `X-Xet-Refresh-Route`) to LFS redirects, for a client
told not to use Xet.

The repo is a list of `HubFile`s: `tiny_qwen()` makes one of random bytes; `directory_files(path)` serves
the files of a directory (a checkpoint a test built), its `*.safetensors` as LFS files.

`FakeHub(..., host=, ports=, public_host=)` listens elsewhere than loopback; `python hub.py --repo R --commit C`
(`main`) serves `tiny_qwen()` until SIGTERM, as the e2e suite runs it in a pod.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import json
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

MiB = 1024 * 1024
PIECE = 64 * 1024
LFS_PATTERNS = ("*.safetensors",)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class HubFile:
    name: str
    data: bytes
    lfs: bool = False

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @cached_property
    def blob_id(self) -> str:
        """The git blob id: of the LFS pointer for an LFS file, of the bytes otherwise."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    def sibling(self, blobs: bool) -> dict[str, Any]:
        if not blobs:
            return {"rfilename": self.name}
        entry: dict[str, Any] = {"rfilename": self.name, "blobId": self.blob_id, "size": len(self.data)}
        if self.lfs:
            entry["lfs"] = {"sha256": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer)}
        return entry


def shard_name(i: int, n: int) -> str:
    return f"model-{i:05d}-of-{n:05d}.safetensors"


def tiny_qwen(
    shard_sizes: Sequence[int] = (300_000, 200_000), missing_shards: int = 0, seed: int = 0
) -> list[HubFile]:
    """A small model repo: configs, tokenizer, a sharded safetensors index and its shards (random bytes).

    `missing_shards`: the index names that many more shards than the repo holds.
    """
    rng = random.Random(seed)
    n = len(shard_sizes) + missing_shards
    shards = [shard_name(i + 1, n) for i in range(n)]
    weight_map = {f"model.layers.{i}.weight": shards[i % n] for i in range(2 * n)}
    weight_map["model.embed_tokens.weight"] = shards[0]
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64}
    vocab = {f"tok{i}": i for i in range(300)}
    text = {
        ".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": "# tiny-qwen\n\nA test checkpoint.\n",
        "config.json": json.dumps(config, indent=2),
        "generation_config.json": json.dumps({"eos_token_id": 2}),
        "tokenizer.json": json.dumps({"model": {"type": "BPE", "vocab": vocab}}),
        "tokenizer_config.json": json.dumps({"eos_token": "<|im_end|>"}),
        "model.safetensors.index.json": json.dumps(
            {"metadata": {"total_size": sum(shard_sizes)}, "weight_map": weight_map}, indent=2
        ),
    }
    files = [HubFile(name, body.encode()) for name, body in text.items()]
    files += [HubFile(shards[i], rng.randbytes(size), lfs=True) for i, size in enumerate(shard_sizes)]
    return files


def directory_files(root: Path, lfs: Sequence[str] = LFS_PATTERNS) -> list[HubFile]:
    """Every file under `root` as a file of the repo (its path relative to `root`, `/`-separated), read
    now; a name matching one of the `lfs` patterns is an LFS file, as the repo's `.gitattributes` would
    have it."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        is_lfs = any(fnmatch.fnmatchcase(path.name, pattern) for pattern in lfs)
        files.append(HubFile(name, path.read_bytes(), lfs=is_lfs))
    return files


@dataclass(frozen=True)
class Seen:
    server: str
    method: str
    path: str
    range: str | None
    authorization: str | None
    user_agent: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub, role: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hub = hub
        self.role = role
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{self.hub.public_host}:{self.server_address[1]}"


class FakeHub:
    def __init__(
        self,
        repo_id: str,
        commit: str,
        files: Iterable[HubFile],
        *,
        host: str = "127.0.0.1",
        ports: tuple[int, int] = (0, 0),
        public_host: str | None = None,
    ) -> None:
        """Both servers listen on `host`, the Hub on `ports[0]` and the CDN on `ports[1]` (0: any free
        port); `public_host` is the name clients reach them by, in `url` and the CDN redirects."""
        self.repo_id = repo_id
        self.public_host = public_host or host
        self.commit = commit
        self.files = {f.name: f for f in files}
        self.drop_after: dict[str, int] = {}
        self.stall_after: dict[str, int] = {}
        self.tampered: set[str] = set()
        self.bytes_per_second: float | None = None
        self.reject_token = False
        self.xet = False
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._servers = [_Server(self, "hub", host, ports[0]), _Server(self, "cdn", host, ports[1])]
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
            for s in self._servers
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        return self._servers[0].url

    @property
    def cdn_url(self) -> str:
        return self._servers[1].url

    def file(self, name: str) -> HubFile:
        return self.files[name]

    def by_sha256(self, sha256: str) -> HubFile | None:
        return next((f for f in self.files.values() if f.lfs and f.sha256 == sha256), None)

    def content(self, f: HubFile) -> bytes:
        if f.name in self.tampered:
            return bytes(b ^ 0xFF for b in f.data[:64]) + f.data[64:]
        return f.data

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def requests(self, server: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if server is None or s.server == server]

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def take_once(self, knob: dict[str, int], name: str) -> int | None:
        with self._lock:
            return knob.pop(name, None)

    def release(self) -> None:
        self._released.set()

    def wait_released(self, timeout: float) -> None:
        self._released.wait(timeout)

    def close(self) -> None:
        self.release()
        for server in self._servers:
            server.shutdown()
            server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(body=True)

    def do_HEAD(self) -> None:
        self._handle(body=False)

    # -- routing -----------------------------------------------------------------------------------

    def _handle(self, body: bool) -> None:
        hub = self.server.hub
        auth = self.headers.get("Authorization")
        agent = self.headers.get("User-Agent")
        hub.record(Seen(self.server.role, self.command, self.path, self.headers.get("Range"), auth, agent))
        url = urlsplit(self.path)
        if self.server.role == "cdn":
            match = re.fullmatch(r"/repos/([0-9a-f]{64})", url.path)
            found = hub.by_sha256(match[1]) if match else None
            if found is None:
                return self._error(404, body, "Not found")
            return self._content(found, body, {"ETag": f'"{found.sha256}"'})
        if hub.reject_token and auth:
            return self._error(
                401, body, f"Invalid credentials in Authorization header: {auth}",
                message="Invalid credentials in Authorization header",
            )  # fmt: skip
        if url.path.startswith("/api/models/"):
            return self._model_info(url.path[len("/api/models/") :], parse_qs(url.query), body)
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", url.path)
        if match:
            return self._resolve(unquote(match[1]), unquote(match[2]), unquote(match[3]), body)
        return self._error(404, body, "Not found")

    def _revision(self, repo: str, revision: str, body: bool) -> str | None:
        hub = self.server.hub
        if repo != hub.repo_id:
            self._error(404, body, "Repository not found", code="RepoNotFound")
            return None
        if revision not in (hub.commit, "main"):
            self._error(404, body, f"Invalid rev id: {revision}", code="RevisionNotFound")
            return None
        return hub.commit

    def _model_info(self, rest: str, query: dict[str, list[str]], body: bool) -> None:
        hub = self.server.hub
        repo, _, revision = rest.partition("/revision/")
        commit = self._revision(unquote(repo), unquote(revision) or "main", body)
        if commit is None:
            return
        blobs = query.get("blobs", ["false"])[-1].lower() in ("true", "1")
        info = {
            "_id": "0" * 24,
            "id": hub.repo_id,
            "modelId": hub.repo_id,
            "author": hub.repo_id.split("/")[0],
            "sha": commit,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "private": False,
            "disabled": False,
            "gated": False,
            "tags": ["transformers", "safetensors", "qwen2"],
            "library_name": "transformers",
            "siblings": [f.sibling(blobs) for f in hub.files.values()],
        }
        self._json(200, info, body)

    def _resolve(self, repo: str, revision: str, name: str, body: bool) -> None:
        hub = self.server.hub
        commit = self._revision(repo, revision, body)
        if commit is None:
            return
        found = hub.files.get(name)
        if found is None:
            self._error(404, body, "Entry not found", code="EntryNotFound", headers={"X-Repo-Commit": commit})
            return
        if not found.lfs:
            self._content(found, body, {"ETag": f'"{found.blob_id}"', "X-Repo-Commit": commit})
            return
        self.send_response(302)
        self.send_header("Location", f"{hub.cdn_url}/repos/{found.sha256}?X-Amz-Signature={quote('fake sig')}")
        self.send_header("ETag", f'"{found.blob_id}"')
        self.send_header("X-Linked-Etag", f'"{found.sha256}"')
        self.send_header("X-Linked-Size", str(len(found.data)))
        self.send_header("X-Repo-Commit", commit)
        if hub.xet:
            self.send_header("X-Xet-Hash", hashlib.sha256(found.sha256.encode()).hexdigest())
            self.send_header("X-Xet-Refresh-Route", f"/api/models/{repo}/xet-read-token/{commit}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- answers -----------------------------------------------------------------------------------

    def _json(self, status: int, data: Any, body: bool, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _error(
        self,
        status: int,
        body: bool,
        error: str,
        code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        extra = dict(headers or {})
        if code:
            extra["X-Error-Code"] = code
        extra["X-Error-Message"] = message or error
        self._json(status, {"error": error}, body, extra)

    def _content(self, f: HubFile, body: bool, headers: dict[str, str]) -> None:
        hub = self.server.hub
        data = hub.content(f)
        size = len(data)
        start, stop, status = 0, size, 200
        wanted = self.headers.get("Range")
        if wanted:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if match is None:
                self._error(400, body, f"bad range {wanted}")
                return
            start = int(match[1])
            if start >= size:
                self._error(416, body, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
                return
            stop = min(int(match[2]) + 1, size) if match[2] else size
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self._stream(f.name, data, start, stop)

    def _stream(self, name: str, data: bytes, start: int, stop: int) -> None:
        hub = self.server.hub
        drop = hub.take_once(hub.drop_after, name)
        stall = hub.take_once(hub.stall_after, name)
        cut = next((at for at in (drop, stall) if at is not None and start < at < stop), None)
        pos = start
        while pos < (cut if cut is not None else stop):
            piece = data[pos : min(pos + PIECE, cut if cut is not None else stop)]
            self.wfile.write(piece)
            pos += len(piece)
            if hub.bytes_per_second:
                time.sleep(len(piece) / hub.bytes_per_second)
        if cut is None:
            return
        self.wfile.flush()
        if cut == stall:
            hub.wait_released(timeout=60)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def main(argv: Sequence[str] | None = None) -> int:
    """`python hub.py --repo OWNER/NAME --commit SHA ...`: serve `tiny_qwen()` at that commit until SIGTERM.

    It needs only the standard library, so it runs as a plain script wherever Python 3.11 is: the e2e suite
    runs it in a pod of the simulator's image (tests/e2e/cluster.py), listening on every address, with the
    Service's name as `--public-host` so that the CDN redirects name an address the model pods can reach.
    """
    parser = argparse.ArgumentParser(prog="hub.py", description="A stand-in for the Hugging Face Hub.")
    parser.add_argument("--repo", required=True, help="the repo id it serves (OWNER/NAME)")
    parser.add_argument("--commit", required=True, help="the commit it serves the repo at (40 hex)")
    parser.add_argument("--host", default="127.0.0.1", help="the address both servers listen on")
    parser.add_argument("--port", type=int, default=0, help="the Hub's port (0: a free one)")
    parser.add_argument("--cdn-port", type=int, default=0, help="the CDN's port (0: a free one)")
    parser.add_argument("--public-host", help="the host name clients reach both by (default: --host)")
    parser.add_argument("--bytes-per-second", type=float, help="throttle every body to this rate")
    parser.add_argument("--seed", type=int, default=0, help="the seed of the shards' random bytes")
    args = parser.parse_args(argv)
    hub = FakeHub(
        args.repo, args.commit, tiny_qwen(seed=args.seed),
        host=args.host, ports=(args.port, args.cdn_port), public_host=args.public_host,
    )  # fmt: skip
    hub.bytes_per_second = args.bytes_per_second
    print(f"hub {hub.url}", f"cdn {hub.cdn_url}", sep="\n", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    hub.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
