"""HTTP downloads for gobox: JSON documents, and files verified by sha256 and size as they stream."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gobox.errors import IntegrityError, NetworkError
from gobox.progress import Progress

if TYPE_CHECKING:
    import requests

_CONNECT_TIMEOUT = 10.0
_CHUNK = 1 << 20
USER_AGENT = "gobox (+https://pypi.org/project/gobox/)"


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


def get_json(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> Any:
    """GET a JSON document. NetworkError on failure, named by URL."""
    import requests

    try:
        with _session() as s:
            r = s.get(url, headers=dict(headers or {}), timeout=(_CONNECT_TIMEOUT, timeout))
            if r.status_code != 200:
                raise NetworkError(f"GET {url}: HTTP {r.status_code} {r.reason}")
            return r.json()
    except requests.exceptions.JSONDecodeError:
        raise NetworkError(f"GET {url}: the answer is not JSON") from None
    except requests.exceptions.RequestException as e:
        raise NetworkError(f"GET {url}: {describe(e)}") from None


def download(
    url: str, dest: Path, sha256: str, size: int, timeout: float, progress: Progress, label: str
) -> None:
    """Stream `url` into `dest`, checking size and sha256 on the way.

    On any failure `dest` is removed, so only a verified file is ever left.
    A wrong digest or size is an IntegrityError naming both values.
    """
    import requests

    got = [0]

    def counted(n: int) -> None:
        got[0] += n
        progress.advance(n)

    try:
        with _session() as s, s.get(url, stream=True, timeout=(_CONNECT_TIMEOUT, timeout)) as r:
            if r.status_code != 200:
                raise NetworkError(f"GET {url}: HTTP {r.status_code} {r.reason}")
            progress.start(label, size)
            try:
                save_verified(r.iter_content(_CHUNK), dest, sha256, size, url, counted)
            finally:
                progress.finish()
    except requests.exceptions.RequestException as e:
        if got[0]:
            raise NetworkError(f"GET {url}: {describe(e)} after {got[0]} of {size} bytes") from None
        raise NetworkError(f"GET {url}: {describe(e)}") from None


def save_verified(chunks: Iterable[bytes], dest: Path, sha256: str, size: int, what: str,
                  on_bytes: Callable[[int], None] | None = None) -> None:
    """Write `chunks` to `dest`, refusing more than `size` bytes, then check the size and sha256.

    `dest` is removed when anything fails, even a read of `chunks`, so only a verified file is ever
    left; `what` names the content in messages.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_checked(chunks, fd, sha256, size, what, on_bytes)
    except BaseException:
        _remove(dest)
        raise


def _write_checked(chunks: Iterable[bytes], fd: int, sha256: str, size: int, what: str,
                   on_bytes: Callable[[int], None] | None) -> None:
    digest = hashlib.sha256()
    received = 0
    try:
        for chunk in chunks:
            received += len(chunk)
            if received > size:
                raise IntegrityError(f"{what}: more data than the expected {size} bytes; refusing it")
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            if on_bytes is not None:
                on_bytes(len(chunk))
    finally:
        os.close(fd)
    if received != size:
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


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
