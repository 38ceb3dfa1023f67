"""A local stand-in for the Hugging Face Hub's download endpoint, for tests that must not touch the network.

It answers what huggingface_hub sends for a file: HEAD and GET `/{repo}/resolve/{revision}/{path}`, with the
headers it reads (X-Repo-Commit, ETag, Content-Length; X-Linked-Etag/X-Linked-Size for LFS files, whose
ETag is the content's sha256, while a git file's ETag is its git blob sha1), Range requests (206, 416), and
Hub-style errors (404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound).

Faults, each armed per file: drop the connection after N bytes once (`cut_once`), answer GETs with a 500
(`fail_gets`), serve one flipped byte under the true hashes (`tamper`); `rate_limit` paces every body, as a
slow link does. `bytes_served` counts body bytes per
file and `requests` logs every request, so tests can tell a resumed transfer from a restarted one.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".onnx", ".onnx_data", ".bin", ".safetensors")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_WRITE_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HubFile:
    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def git_sha1(self) -> str:
        header = f"blob {len(self.content)}\0".encode()
        return hashlib.sha1(header + self.content).hexdigest()


@dataclass
class HubRepo:
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HubRequest:
    method: str
    repo: str
    revision: str
    path: str
    range: str | None
    status: int


class HubServer:
    """Start with `with HubServer.running() as hub:`; `hub.url` is the endpoint (HF_ENDPOINT)."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.bytes_served: Counter[str] = Counter()
        self.requests: list[HubRequest] = []
        self._cuts: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._tampered: set[str] = set()
        #: Body bytes per second for every response (None: as fast as the socket goes).
        self.bytes_per_second: float | None = None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- content -------------------------------------------------------------------------------------

    def add_commit(
        self, repo: str, files: Mapping[str, bytes], *, branch: str = "main", lfs: Iterable[str] | None = None
    ) -> str:
        """Add a commit with exactly `files` and move `branch` to it; returns the commit hash."""
        lfs_paths = set(lfs) if lfs is not None else {p for p in files if p.endswith(LFS_SUFFIXES)}
        tree = {path: HubFile(content, path in lfs_paths) for path, content in files.items()}
        digest = hashlib.sha1()
        for path in sorted(tree):
            digest.update(f"{path}\0{tree[path].git_sha1}\n".encode())
        commit = digest.hexdigest()
        with self._lock:
            hub_repo = self.repos.setdefault(repo, HubRepo())
            hub_repo.commits[commit] = tree
            hub_repo.branches[branch] = commit
        return commit

    def file(self, repo: str, path: str, revision: str = "main") -> HubFile:
        hub_repo = self.repos[repo]
        return hub_repo.commits[hub_repo.branches.get(revision, revision)][path]

    # --- faults --------------------------------------------------------------------------------------

    def cut_once(self, repo: str, path: str, after_bytes: int) -> None:
        """The next GET of this file sends `after_bytes` body bytes, then the connection drops."""
        with self._lock:
            self._cuts[f"{repo}/{path}"] = after_bytes

    def fail_gets(self, repo: str, path: str, times: int) -> None:
        """After any pending cut, the next `times` GETs of this file get a 500 (HEADs still work)."""
        with self._lock:
            self._failures[f"{repo}/{path}"] = times

    def tamper(self, repo: str, path: str) -> None:
        """Serve this file with its middle byte flipped, under the headers (hashes) of the true content."""
        with self._lock:
            self._tampered.add(f"{repo}/{path}")

    def rate_limit(self, bytes_per_second: float | None) -> None:
        """Send bodies at this rate from now on (None: unlimited)."""
        self.bytes_per_second = bytes_per_second

    def gets_of(self, repo: str, path: str) -> list[HubRequest]:
        return [r for r in self.requests if r.method == "GET" and r.repo == repo and r.path == path]

    # --- lifecycle -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        hub = self

        class Handler(_HubHandler):
            server_state = hub

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[HubServer]:
        hub = cls()
        hub.start()
        try:
            yield hub
        finally:
            hub.stop()


class _HubHandler(BaseHTTPRequestHandler):
    server_state: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _error(self, status: int, code: str, message: str, record: tuple[str, str, str]) -> None:
        body = f'{{"error": "{message}"}}'.encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(*record, status)

    def _record(self, repo: str, revision: str, path: str, status: int) -> None:
        hub = self.server_state
        with hub._lock:
            hub.requests.append(
                HubRequest(self.command, repo, revision, path, self.headers.get("Range"), status)
            )

    def _serve(self, *, head: bool) -> None:
        hub = self.server_state
        raw_path = urlsplit(self.path).path
        marker = raw_path.find("/resolve/")
        if marker < 0:
            self._error(404, "RepoNotFound", "not a resolve URL", ("", "", raw_path))
            return
        repo = unquote(raw_path[1:marker])
        revision_raw, _, file_raw = raw_path[marker + len("/resolve/") :].partition("/")
        revision, path = unquote(revision_raw), unquote(file_raw)
        record = (repo, revision, path)
        hub_repo = hub.repos.get(repo)
        if hub_repo is None:
            self._error(404, "RepoNotFound", f"Repository {repo} not found", record)
            return
        commit = hub_repo.branches.get(revision, revision)
        tree = hub_repo.commits.get(commit)
        if tree is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", record)
            return
        hub_file = tree.get(path)
        if hub_file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist on {revision}", record)
            return
        key = f"{repo}/{path}"
        with hub._lock:
            cut = None if head else hub._cuts.pop(key, None)
            failing = cut is None and not head and hub._failures.get(key, 0) > 0
            if failing:
                hub._failures[key] -= 1
            tampered = key in hub._tampered
        if failing:
            self._error(500, "InternalError", "injected failure", record)
            return

        content = hub_file.content
        if tampered:
            middle = len(content) // 2
            content = content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]
        size = len(content)
        start, end, status = 0, size, 200
        requested = self.headers.get("Range")
        if requested is not None and not head:
            match = _RANGE.match(requested.strip())
            if match is None or int(match.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._record(*record, 416)
                return
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1, size) if match.group(2) else size
            status = 206

        self.send_response(status)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if hub_file.lfs:
            self.send_header("ETag", f'"{hub_file.sha256}"')
            self.send_header("X-Linked-Etag", f'"{hub_file.sha256}"')
            self.send_header("X-Linked-Size", str(len(hub_file.content)))
        else:
            self.send_header("ETag", f'"{hub_file.git_sha1}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        self._record(*record, status)
        if head:
            return
        stop = end if cut is None else min(end, start + cut)
        position = start
        try:
            while position < stop:
                rate = hub.bytes_per_second
                piece = _WRITE_CHUNK if rate is None else max(1024, min(_WRITE_CHUNK, int(rate / 20)))
                chunk = content[position : min(stop, position + piece)]
                self.wfile.write(chunk)
                self.wfile.flush()
                position += len(chunk)
                with hub._lock:
                    hub.bytes_served[key] += len(chunk)
                if rate is not None:
                    time.sleep(len(chunk) / rate)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if cut is not None and stop < end:
            # Drop the connection mid-body as a flaky network does: fewer bytes arrive than were declared.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
