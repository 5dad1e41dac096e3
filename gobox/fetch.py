"""HTTP downloads for gobox: JSON documents, and files verified by sha256 and size as they stream."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gobox import __version__
from gobox.errors import IntegrityError, NetworkError
from gobox.progress import Progress

if TYPE_CHECKING:
    import requests


class TooLarge(NetworkError):
    """A document over the size gobox reads (a setting raises it); exit 4, as other bad answers."""

_CONNECT_TIMEOUT = 10.0
_CHUNK = 1 << 20
# Manifests, indexes, configs and JSON indexes: what registries commonly accept for a manifest.
METADATA_LIMIT = 4 << 20
LIMIT_SETTING = "max-metadata-size"
LIMIT_ENV = "GOBOX_MAX_METADATA_SIZE"
# A file whose index gives no size (PEP 691 makes it optional) still has an end: no Go toolchain is near it.
UNSIZED_LIMIT = 2 << 30
# gobox's own name and version, and no link: PyPI's page named gobox is another project's.
USER_AGENT = f"gobox/{__version__}"


def _session() -> requests.Session:
    import requests  # lazy: keeps requests off the start-up path of commands that do not fetch

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def describe(exc: Exception) -> str:
    """A network failure in a few words, for one-line messages."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError)):
        return "no data received before the timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broken (download cut short)"
    if isinstance(exc, requests.exceptions.SSLError):  # before ConnectionError, its base class
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return "the server's TLS certificate failed verification (REQUESTS_CA_BUNDLE names extra CAs)"
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Read timed out" in text:
            return "no data received before the timeout"
        for marker in ("Connection refused", "Name or service not known", "No route to host",
                       "Temporary failure in name resolution", "Network is unreachable",
                       "Connection reset by peer", "RemoteDisconnected"):
            if marker in text:
                return marker.lower()
        return "connection failed"
    return str(exc) or type(exc).__name__


def read_capped(r: requests.Response, limit: int, what: str) -> bytes:
    """The body of a streamed response, refused once it passes `limit` bytes: never read whole, whatever it is.

    A Content-Length over the limit is refused before any byte is read; a body without one (or
    lying in it) is cut off as soon as it passes the limit.
    """
    length = r.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise too_large(what, int(length), limit)
    buf = bytearray()
    for chunk in r.iter_content(_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise too_large(what, None, limit)
    return bytes(buf)


def too_large(what: str, size: int | None, limit: int) -> TooLarge:
    said = f"{size} bytes, " if size is not None else ""
    return TooLarge(f"{what}: {said}over the {limit}-byte limit for manifests and indexes "
                    f"([network].{LIMIT_SETTING})",
                    hint=f"if it is really that large, raise [network].{LIMIT_SETTING} in the user config, "
                    f"or {LIMIT_ENV}")


def get_json(url: str, timeout: float, headers: Mapping[str, str] | None = None,
             limit: int = METADATA_LIMIT) -> Any:
    """GET a JSON document of at most `limit` bytes. NetworkError on failure, named by URL."""
    import json

    import requests

    try:
        with _session() as s, s.get(url, headers=dict(headers or {}), stream=True,
                                    timeout=(_CONNECT_TIMEOUT, timeout)) as r:
            if r.status_code != 200:
                raise NetworkError(f"GET {url}: HTTP {r.status_code} {r.reason}")
            data = read_capped(r, limit, f"GET {url}")
    except requests.exceptions.RequestException as e:
        raise NetworkError(f"GET {url}: {describe(e)}") from None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise NetworkError(f"GET {url}: the answer is not JSON") from None


def download(
    url: str, dest: Path, sha256: str, size: int | None, timeout: float, progress: Progress, label: str
) -> int:
    """Stream `url` into `dest`, checking size and sha256 on the way; the number of bytes it holds.

    On any failure `dest` is removed, so only a verified file is ever left.
    A wrong digest or size is an IntegrityError naming both values. A `size`
    of None (an index that does not say) bounds the download at UNSIZED_LIMIT.
    """
    import requests

    got = [0]

    def counted(n: int) -> None:
        got[0] += n
        if size is not None:  # a bar needs its end; without one the step line says it is not known
            progress.advance(n)

    of = f" of {size}" if size is not None else ""
    try:
        with _session() as s, s.get(url, stream=True, timeout=(_CONNECT_TIMEOUT, timeout)) as r:
            if r.status_code != 200:
                raise NetworkError(f"GET {url}: HTTP {r.status_code} {r.reason}")
            if size is None:
                progress.step(f"{label} (size not given by the index)")
                return save_verified(r.iter_content(_CHUNK), dest, sha256, size, url, counted)
            progress.start(label, size)
            try:
                return save_verified(r.iter_content(_CHUNK), dest, sha256, size, url, counted)
            finally:
                progress.finish()
    except requests.exceptions.RequestException as e:
        if got[0]:
            raise NetworkError(f"GET {url}: {describe(e)} after {got[0]}{of} bytes") from None
        raise NetworkError(f"GET {url}: {describe(e)}") from None


def save_verified(chunks: Iterable[bytes], dest: Path, sha256: str, size: int | None, what: str,
                  on_bytes: Callable[[int], None] | None = None, limit: int = UNSIZED_LIMIT) -> int:
    """Write `chunks` to `dest`, refusing more than `size` bytes, then check the size and sha256.

    `dest` is removed when anything fails, even a read of `chunks`, so only a verified file is ever
    left; `what` names the content in messages. Without a `size`, at most `limit` bytes are taken.
    Returns the number of bytes written.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return _write_checked(chunks, fd, sha256.lower(), size, what, on_bytes, limit)
    except BaseException:
        _remove(dest)
        raise


def _write_checked(chunks: Iterable[bytes], fd: int, sha256: str, size: int | None, what: str,
                   on_bytes: Callable[[int], None] | None, limit: int) -> int:
    digest = hashlib.sha256()
    received = 0
    cap = size if size is not None else limit
    try:
        for chunk in chunks:
            received += len(chunk)
            if received > cap:
                if size is None:
                    raise IntegrityError(f"{what}: more than {limit} bytes, and the index gave no size; refusing it")
                raise IntegrityError(f"{what}: more data than the expected {size} bytes; refusing it")
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            if on_bytes is not None:
                on_bytes(len(chunk))
    finally:
        os.close(fd)
    if size is not None and received != size:
        raise IntegrityError(
            f"{what}: download is truncated: got {received} of {size} bytes",
            hint="the server closed the connection early; try again",
        )
    actual = digest.hexdigest()
    if actual != sha256:
        raise IntegrityError(
            f"{what}: sha256 mismatch: expected {sha256}, got {actual}",
            hint="the file was not kept; the source or a proxy is serving other bytes",
        )
    return received


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
