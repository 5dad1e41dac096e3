"""Hostile servers for the tests: a loopback registry that serves whatever a test tells it to, and a small tmpfs.

`HostileRegistry` speaks just enough of the distribution API (GET /v2/, manifests and blobs, Basic or
Bearer auth with its own token realm) to serve images made by tests/support/ocilayout.py, and lets a test put
any answer at any path: a manifest of the wrong shape, an endless body, a Retry-After nobody can read,
a redirect of blob GETs to another server. It records every request with its headers, and how many
body bytes it got out, so a test can see that gobox stopped reading. The real registry
(tests/support/registry.py) is for what a registry does right; this one is for what one may do wrong.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import re
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .ocilayout import OCI_MANIFEST, Image, sha256_digest

ENDLESS_LIMIT = 256 << 20  # bytes an endless body sends at most, should nobody stop reading


@dataclass
class Answer:
    """One canned answer: `body` is bytes, or a function giving chunks (sent without a Content-Length)."""

    status: int = 200
    body: bytes | Callable[[], Iterator[bytes]] = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    host: str  # the server that got it, host:port


def endless(unit: bytes = b'{"a": [1, 2, 3]}, ', opening: bytes = b'{"schemaVersion": 2, "x": [') -> Callable[
        [], Iterator[bytes]]:
    """A JSON document that never closes, sent piece by piece until ENDLESS_LIMIT."""

    def chunks() -> Iterator[bytes]:
        yield opening
        block = unit * max(1, (64 << 10) // len(unit))
        sent = len(opening)
        while sent < ENDLESS_LIMIT:
            yield block
            sent += len(block)

    return chunks


def nested(depth: int) -> bytes:
    """JSON nested `depth` deep: what makes a recursive parser give up."""
    return b'{"errors": ' + b"[" * depth + b"]" * depth + b"}"


class HostileRegistry:
    """A loopback HTTP server on `host` (any 127.x address) that plays a registry; auth none, basic or bearer."""

    def __init__(self, host: str = "127.0.0.1", auth: str = "none", user: str = "gobox",
                 password: str | None = None) -> None:
        if auth not in ("none", "basic", "bearer"):
            raise ValueError(f"auth is none, basic or bearer, not {auth!r}")
        self.auth = auth
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.answers: dict[str, Answer] = {}  # by path, without the query
        self.hits: list[Hit] = []
        self.sent: collections.Counter[str] = collections.Counter()  # body bytes written, by path
        self.redirect_blobs: str | None = None  # base URL blob GETs are sent on to (307)
        self.tokens: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def host(self) -> str:
        return f"{self._server.server_address[0]}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def __enter__(self) -> HostileRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def docker_config(self, directory: Path) -> dict[str, str]:
        """A docker config.json holding this registry's credentials; the environment that names it."""
        directory.mkdir(parents=True, exist_ok=True)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        (directory / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        return {"DOCKER_CONFIG": str(directory)}

    # --- content ---------------------------------------------------------------------------------

    def serve(self, path: str, answer: Answer | bytes) -> None:
        self.answers[path] = answer if isinstance(answer, Answer) else Answer(body=answer)

    def add_image(self, name: str, tag: str, image: Image, manifest: bytes | None = None,
                  config: bytes | None = None) -> str:
        """Serve `image` as name:tag (and by digest); `manifest` or `config` replace its own bytes. The digest."""
        config = image.config_bytes() if config is None else config
        if manifest is None:
            doc = image.manifest()
            doc["config"]["digest"], doc["config"]["size"] = sha256_digest(config), len(config)
            manifest = json.dumps(doc).encode()
        digest = sha256_digest(manifest)
        headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}
        for ref in (tag, digest):
            self.serve(f"/v2/{name}/manifests/{ref}", Answer(200, manifest, headers))
        self.serve(f"/v2/{name}/blobs/{sha256_digest(config)}", config)
        for layer in image.layers:
            self.serve(f"/v2/{name}/blobs/{layer.digest}", layer.blob)
        return digest

    def hits_for(self, pattern: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if re.search(pattern, h.path)]

    # --- HTTP ------------------------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        if self.auth == "basic":
            return header == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if self.auth == "bearer":
            return header.startswith("Bearer ") and header[7:] in self.tokens
        return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, a: Answer, path: str) -> None:
                self.send_response(a.status)
                for k, v in a.headers.items():
                    self.send_header(k, v)
                if callable(a.body):
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        for chunk in a.body():
                            if reg._stop.is_set():
                                return
                            self.wfile.write(chunk)
                            with reg._lock:
                                reg.sent[path] += len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if not any(k.lower() == "content-length" for k in a.headers):
                    self.send_header("Content-Length", str(len(a.body)))
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(a.body)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    with reg._lock:
                        reg.sent[path] += len(a.body)

            def _challenge(self) -> Answer:
                if reg.auth == "basic":
                    www = 'Basic realm="hostile"'
                else:
                    www = f'Bearer realm="{reg.realm}",service="hostile"'
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
                return Answer(401, body.encode(), {"WWW-Authenticate": www, "Content-Type": "application/json"})

            def _token(self) -> Answer:
                given = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
                if given and given != expected:
                    return Answer(401, b'{"errors": [{"code": "UNAUTHORIZED"}]}')
                token = secrets.token_urlsafe(16)
                reg.tokens.add(token)
                return Answer(200, json.dumps({"token": token, "expires_in": 300}).encode(),
                              {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with reg._lock:
                    reg.hits.append(Hit(self.command, path, dict(self.headers.items()), reg.host))
                if path == "/token" and ("/token" in reg.answers or reg.auth == "bearer"):
                    return self._answer(reg.answers.get("/token") or self._token(), path)
                if not reg._authorized(self.headers.get("Authorization", "")):
                    return self._answer(self._challenge(), path)
                if reg.redirect_blobs and "/blobs/" in path:
                    return self._answer(Answer(307, b"", {"Location": reg.redirect_blobs + path}), path)
                if path in reg.answers:
                    return self._answer(reg.answers[path], path)
                if path == "/v2/":
                    return self._answer(Answer(200, b"{}", {"Content-Type": "application/json"}), path)
                body = json.dumps({"errors": [{"code": "NOT_FOUND", "message": "nothing here"}]}).encode()
                self._answer(Answer(404, body, {"Content-Type": "application/json"}), path)

            do_HEAD = do_GET

        return Handler


# --- disk full ------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's spelling: 4m) mounted at `path`; needs root, so the caller skips without it."""
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs at {path}: {p.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def can_mount_tmpfs(scratch: Path) -> bool:
    try:
        with tmpfs(scratch / "probe", "64k"):
            return True
    except (PermissionError, FileNotFoundError):
        return False
