"""The distribution API v2 on a registry Transport: manifests, verified blobs, and pushes.

One Client per registry host; gobox.oci.transport sends its requests, answers
auth challenges and retries what is temporary.

Pushing a blob is HEAD, then POST (or a cross-repository mount), then one
PUT of the whole file to the upload URL the registry gave. A PUT cut off
midway is not resent to the same upload, whose state is then unknown: the
blob starts over with a new POST.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from gobox.errors import IntegrityError
from gobox.fetch import describe, save_verified
from gobox.oci import auth
from gobox.oci.manifest import ACCEPT
from gobox.oci.transport import (
    MAX_WAIT,
    RETRYABLE,
    Interrupted,
    Options,  # noqa: F401 - re-exported: callers name it with the Client
    RegistryError,
    Transport,
    all_digits,
    backoff,
    redact,
    registry_error,
    retry_after,
)
from gobox.values import dataclass

if TYPE_CHECKING:
    import requests

CHUNK = 1 << 20
PUSH = ("pull", "push")  # the actions a push asks for: distribution wants pull too, to HEAD what is there


@dataclass(frozen=True)
class Fetched:
    data: bytes
    media_type: str
    digest: str  # the registry's Docker-Content-Digest, or "" when it sent none


class Client(Transport):
    """The distribution API of one registry host: manifests and blobs pulled, blobs and manifests pushed."""

    def manifest(self, repository: str, ref: str, accept: str = ACCEPT) -> Fetched:
        r = self._request("GET", repository, f"manifests/{ref}", headers={"Accept": accept})
        with r:
            what = f"{self.registry}/{repository}:{ref}" if ":" not in ref else f"{self.registry}/{repository}@{ref}"
            self._check(r, what, "manifest")
            data = self._read(r, f"the manifest of {what}")
            media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
            return Fetched(data, media_type, r.headers.get("Docker-Content-Digest", ""))

    def download_blob(self, repository: str, digest: str, size: int, dest: Path,
                      on_bytes: Callable[[int], None] | None = None) -> None:
        """The blob into `dest`, verified by size and sha256 while it streams; `dest` is removed on failure.

        A connection cut midway is retried from the start (up to the attempts
        allowed); the bytes already counted are taken back from `on_bytes`.
        """
        import requests

        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256":
            raise IntegrityError(f"{digest}: only sha256 blobs are supported")
        what = f"{self.registry}/{repository}@{digest}"
        for attempt in range(self.options.attempts):
            got = [0]

            def counted(n: int, got: list[int] = got) -> None:
                got[0] += n
                if on_bytes is not None:
                    on_bytes(n)

            try:
                r = self._request("GET", repository, f"blobs/{digest}")
                with r:
                    self._check(r, what, "blob")
                    save_verified(r.iter_content(CHUNK), dest, hexdigest, size, what, counted)
                return
            except requests.exceptions.RequestException as e:
                if on_bytes is not None and got[0]:
                    on_bytes(-got[0])
                if attempt == self.options.attempts - 1:
                    raise RegistryError(f"GET {what}: {describe(e)} after {got[0]} of {size} bytes",
                                        hint="the registry stopped answering midway; run the pull again: "
                                        "finished blobs are kept") from None
                self.options.sleep(backoff(attempt))

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of `digest` in `repository` by HEAD: None when it is not there, -1 when the size is not said."""
        r = self._push_request("HEAD", repository, f"blobs/{digest}")
        with r:
            if r.status_code == 404:
                return None
            self._check_push(r, repository, f"HEAD {self.registry}/{repository}@{digest}", ok=(200,))
            length = r.headers.get("Content-Length", "")
            return int(length) if all_digits(length) else -1

    def upload_blob(self, repository: str, digest: str, size: int, path: Path,
                    on_bytes: Callable[[int], None] | None = None, mount_from: str | None = None) -> str:
        """Put the blob in `path` into `repository`: "mounted" from `mount_from`, or "uploaded" by one PUT.

        An upload cut off midway (or answered with a temporary error) starts over with a new
        POST, up to the attempts allowed; the bytes already counted are taken back from `on_bytes`.
        """
        what = f"{self.registry}/{repository}@{digest}"
        sent = [0]

        def counted(n: int) -> None:
            sent[0] += n
            if on_bytes is not None:
                on_bytes(n)

        for attempt in range(self.options.attempts):
            # The PUT that was cut off may have landed all the same.
            if attempt and self.blob_size(repository, digest) == size:
                return "uploaded"
            location = self._start_upload(repository, digest, mount_from if attempt == 0 else None)
            if location is None:
                return "mounted"
            sent[0] = 0
            try:
                self._put_upload(location, repository, digest, size, path, counted)
                return "uploaded"
            except Interrupted as e:
                if on_bytes is not None and sent[0]:
                    on_bytes(-sent[0])
                self._cancel(location, repository)
                if attempt == self.options.attempts - 1:
                    raise RegistryError(f"PUT {what}: {e.message} after {sent[0]} of {size} bytes "
                                        f"({self.options.attempts} attempts)", status=e.status,
                                        hint="the registry stopped taking the upload midway; run the push again: "
                                        "blobs already uploaded are not sent again") from None
                wait = e.wait if e.wait is not None and e.wait <= MAX_WAIT else backoff(attempt)
                self.options.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest or index under a tag or digest; the Docker-Content-Digest the registry answered, or ""."""
        r = self._push_request("PUT", repository, f"manifests/{reference}", headers={"Content-Type": media_type},
                               body=lambda: data)
        with r:
            sep = "@" if ":" in reference else ":"
            self._check_push(r, repository, f"PUT {self.registry}/{repository}{sep}{reference}", ok=(200, 201))
            return r.headers.get("Docker-Content-Digest", "")

    def _start_upload(self, repository: str, digest: str, mount_from: str | None) -> str | None:
        """The URL of a new upload session; None when the registry mounted the blob from `mount_from` instead."""
        if mount_from and mount_from != repository:
            query = urlencode({"mount": digest, "from": mount_from})
            r = self._push_request("POST", repository, f"blobs/uploads/?{query}", headers={"Content-Length": "0"},
                                   also=(auth.scope_for(mount_from, ("pull",)),))
            with r:
                if r.status_code == 201:
                    return None
                if r.status_code == 202 and r.headers.get("Location"):
                    # The registry could not mount it (not there, or not ours to read) and opened an upload.
                    return urljoin(r.url, r.headers["Location"])
            # Refused (no pull on mount_from) or not understood: a mount is only a shortcut, an upload still works.
        r = self._push_request("POST", repository, "blobs/uploads/", headers={"Content-Length": "0"})
        with r:
            self._check_push(r, repository, f"POST {self.registry}/{repository}/blobs/uploads/", ok=(202,))
            location = r.headers.get("Location")
            if not location:
                raise RegistryError(f"POST {self.registry}/{repository}/blobs/uploads/: the registry opened an "
                                    "upload without saying where to send it (no Location header)")
            return urljoin(r.url, location)

    def _put_upload(self, location: str, repository: str, digest: str, size: int, path: Path,
                    on_bytes: Callable[[int], None]) -> None:
        """One PUT of the whole file to the upload at `location`; Interrupted when it may be worth starting over."""
        r = self._push_request("PUT", repository, "", url=upload_url(location, digest), once=True,
                               headers={"Content-Type": "application/octet-stream"},
                               body=lambda: _FileBody(path, size, on_bytes))
        with r:
            if r.status_code in RETRYABLE:
                raise Interrupted(f"HTTP {r.status_code}", wait=retry_after(r.headers.get("Retry-After")),
                                  status=r.status_code)
            what = f"PUT {self.registry}/{repository}@{digest}"
            if r.status_code == 400:
                code, _ = registry_error(r)
                if code in ("DIGEST_INVALID", "SIZE_INVALID"):
                    raise IntegrityError(f"{what}: the registry says the bytes sent do not match ({code})",
                                         hint=f"the store's copy of {digest} is damaged; remove it and pull "
                                         "the image again")
            self._check_push(r, repository, what, ok=(201,))

    def _cancel(self, location: str, repository: str) -> None:
        """Best effort: tell the registry an upload is abandoned, so it can free the space at once."""
        import requests

        try:
            self._push_request("DELETE", repository, "", url=location, once=True).close()
        except (RegistryError, requests.exceptions.RequestException):
            pass  # the registry times abandoned uploads out by itself

    def _push_request(self, method: str, repository: str, path: str, **kwargs: Any) -> requests.Response:
        """A request with push scope; an auth failure while answering a challenge names the push and repository."""
        try:
            return self._request(method, repository, path, actions=PUSH, **kwargs)
        except Interrupted:
            raise
        except RegistryError as e:
            if e.status not in (401, 403):
                raise
            raise RegistryError(f"push to {self.registry}/{repository} refused: {e.message}", hint=e.hint,
                                status=e.status, code=e.code) from None

    def _check_push(self, r: requests.Response, repository: str, what: str, ok: tuple[int, ...]) -> None:
        if r.status_code in ok:
            return
        code, message = registry_error(r)
        detail = f"HTTP {r.status_code}{', ' + code if code else ''}{': ' + message if message else ''}"
        if r.status_code in (401, 403):
            creds = self._creds
            if creds is None or creds.anonymous:
                raise RegistryError(f"push to {self.registry}/{repository} refused anonymously ({detail})",
                                    status=r.status_code, code=code, hint=self._login_hint())
            raise RegistryError(f"push to {self.registry}/{repository} refused for {creds.username!r} ({detail})",
                                status=r.status_code, code=code,
                                hint=f"check that {creds.username!r} may push to {repository}, or log in as "
                                f"someone who may: `gobox login {self.registry}`")
        raise RegistryError(f"{what}: {detail}", status=r.status_code, code=code)

    def _check(self, r: requests.Response, what: str, kind: str) -> None:
        if r.status_code == 200:
            return
        code, message = registry_error(r)
        if r.status_code == 404:
            raise RegistryError(f"{what}: {kind} not found ({code or 'HTTP 404'})", status=404, code=code,
                                hint="check the name and tag" if kind == "manifest" else None)
        if r.status_code in (401, 403) and not self._ours(r.url):
            raise RegistryError(f"{what}: access denied by {redact(r.url)}, where the registry redirected gobox "
                                f"(HTTP {r.status_code}); the credentials for {self.registry} are not sent there",
                                status=r.status_code, code=code)
        if r.status_code in (401, 403):
            creds = self._creds
            who = "anonymously" if creds is None or creds.anonymous else f"as {creds.username!r}"
            raise RegistryError(f"{what}: access denied {who} (HTTP {r.status_code}"
                                f"{', ' + code if code else ''}{': ' + message if message else ''})",
                                status=r.status_code, code=code,
                                hint=f"log in with `gobox login {self.registry}` (or docker login {self.registry}) "
                                "or check the repository name")
        raise RegistryError(f"{what}: HTTP {r.status_code}{' ' + code if code else ''}"
                            f"{': ' + message if message else ''}", status=r.status_code, code=code)


def upload_url(location: str, digest: str) -> str:
    """The URL that completes an upload: the registry's Location, whose own query is kept, plus digest=."""
    sep = "&" if urlsplit(location).query else ("" if location.endswith("?") else "?")
    return f"{location}{sep}digest={quote(digest, safe=':')}"


class _FileBody:
    """A blob file as a request body, read piece by piece and counted.

    Its length is known up front, so requests sends Content-Length rather than
    chunked encoding; urllib3 reads it in blocks, so a large layer never sits
    in memory whole.
    """

    def __init__(self, path: Path, size: int, on_bytes: Callable[[int], None]) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by _request once the body is sent
        self._size = size
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        if data:
            self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._file.close()
