"""The distribution API v2 over requests: ping, Basic and Bearer auth, retries, manifests and verified blobs.

One Client per registry host, after go-containerregistry's transport: the
first request goes out anonymously (or with a token already held); a 401
names the auth scheme in its challenge, and the client answers it with
credentials from the auth files podman and docker keep (gobox.oci.authfile)
or a credential helper, fetching a token for the repository's scope when the
scheme is Bearer. Only temporary
failures are retried: 408, 429 (after its Retry-After), 5xx and broken
connections. No secret is ever part of a message.

Pushing a blob is HEAD, then POST (or a cross-repository mount), then one
PUT of the whole file to the upload URL the registry gave. A PUT cut off
midway is not resent to the same upload, whose state is then unknown: the
blob starts over with a new POST.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from gobox.errors import IntegrityError, NetworkError
from gobox.fetch import METADATA_LIMIT, USER_AGENT, TooLarge, describe, read_capped, save_verified
from gobox.jsonshape import ListOf, Obj, ShapeError, Str, check
from gobox.oci import auth
from gobox.oci.manifest import ACCEPT

if TYPE_CHECKING:
    import requests

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT = 60.0  # the longest Retry-After honoured; a longer one is an error to report, not to sit out
CONNECT_TIMEOUT = 10.0
CHUNK = 1 << 20
MAX_REDIRECTS = 5  # go-containerregistry and docker follow a few; a loop is an error, not a wait
ERROR_BODY_LIMIT = 64 << 10  # an error body is a few hundred bytes; only this much of one is read
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PUSH = ("pull", "push")  # the actions a push asks for: distribution wants pull too, to HEAD what is there


class RegistryError(NetworkError):
    """A registry answered with an error, or could not be reached; exit 4."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


class Interrupted(RegistryError):
    """A request the network cut off, or a temporary refusal, sent once: the caller decides how to start over."""

    def __init__(self, message: str, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.wait = wait  # the registry's Retry-After, when it gave one


@dataclass(frozen=True)
class Options:
    """How to reach registries: which may be plain HTTP, how long to wait, where credentials are."""

    insecure: tuple[str, ...] = ()
    timeout: float = 30.0
    attempts: int = 5
    max_metadata: int = METADATA_LIMIT  # bytes of a manifest, index or token answer read at most
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings) -> Options:  # noqa: ANN001 - gobox.config.Settings
        return cls(insecure=settings.insecure_registries, timeout=settings.timeout, environ=dict(os.environ),
                   max_metadata=getattr(settings, "max_metadata_size", METADATA_LIMIT))


@dataclass(frozen=True)
class Fetched:
    data: bytes
    media_type: str
    digest: str  # the registry's Docker-Content-Digest, or "" when it sent none


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    return host in ("localhost", "127.0.0.1", "[::1]") or host.startswith("127.")


class Client:
    """Requests to one registry host, sharing its scheme, credentials and tokens (thread-safe)."""

    def __init__(self, registry: str, options: Options, api_host: str | None = None) -> None:
        self.registry = registry  # as users name it: docker.io, 127.0.0.1:5000
        self.host = api_host or registry
        self.options = options
        self.plain_http_allowed = is_loopback(self.host) or self.host in options.insecure
        self._base: str | None = None
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._challenge: auth.Challenge | None = None
        self._tokens: dict[str, str] = {}  # scope -> bearer token
        self._creds: auth.Credentials | None = None  # the last ones used, for messages
        self._by_repository: dict[str, auth.Credentials] = {}  # logins may be per namespace (quay.io/team)
        self._basic: dict[str, auth.Credentials] = {}  # repository -> the credentials Basic sends for it

    # --- the public operations ---------------------------------------------------------

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
                self.options.sleep(_backoff(attempt))

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of `digest` in `repository` by HEAD: None when it is not there, -1 when the size is not said."""
        r = self._push_request("HEAD", repository, f"blobs/{digest}")
        with r:
            if r.status_code == 404:
                return None
            self._check_push(r, repository, f"HEAD {self.registry}/{repository}@{digest}", ok=(200,))
            length = r.headers.get("Content-Length", "")
            return int(length) if _digits(length) else -1

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
                wait = e.wait if e.wait is not None and e.wait <= MAX_WAIT else _backoff(attempt)
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
                raise Interrupted(f"HTTP {r.status_code}", wait=_retry_after(r.headers.get("Retry-After")),
                                  status=r.status_code)
            what = f"PUT {self.registry}/{repository}@{digest}"
            if r.status_code == 400:
                code, _ = _registry_error(r)
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
        code, message = _registry_error(r)
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

    # --- requests, auth and retries ------------------------------------------------------

    def _request(self, method: str, repository: str, path: str, headers: Mapping[str, str] | None = None,
                 actions: tuple[str, ...] = ("pull",), url: str | None = None,
                 body: Callable[[], Any] | None = None, once: bool = False,
                 also: tuple[str, ...] = ()) -> requests.Response:
        """Send one request, answering an auth challenge and retrying what is temporary.

        `url` replaces /v2/<repository>/<path> (an upload URL the registry gave); `body` makes
        the request body afresh for each sending. With `once`, a broken connection raises
        Interrupted and a temporary status is returned: the caller starts over its own way.
        `also` adds scopes to the token asked for (pull on the repository a blob is mounted from).
        The answer is streamed: its body is read by the caller, with a cap where it is a document.
        """
        import requests

        # A token is kept per scope set; scopes hold no spaces, so a joined key splits back apart.
        scope = " ".join((auth.scope_for(repository, actions), *also))
        url = url or f"{self._scheme_base()}/v2/{repository}/{path}"
        answered_challenge = False
        attempt = 0
        while True:
            try:
                # Credentials go to the registry's own origin only: not to storage a redirect or an
                # upload URL points at, whatever requests would keep (go-containerregistry does the same).
                r = self._send(method, url, headers or {}, body,
                               lambda hop: self._authorization(scope, repository) if self._ours(hop) else None)
            except requests.exceptions.RequestException as e:
                if once and _temporary(e):
                    raise Interrupted(_redact_in(describe(e), url)) from None
                attempt += 1
                if attempt >= self.options.attempts or not _temporary(e):
                    raise RegistryError(f"{method} {_redact(url)}: {_redact_in(describe(e), url)}",
                                        hint=f"is {self.registry} up and reachable?") from None
                self.options.sleep(_backoff(attempt - 1))
                continue
            if once and r.status_code in RETRYABLE:
                return r
            # Only the registry's own challenge is answered: another host that a redirect led to and that
            # asks for credentials would get a token fetched with the user's password from a realm it names.
            if r.status_code == 401 and not answered_challenge and self._ours(r.url):
                challenges = auth.parse_challenges(r.headers.get("WWW-Authenticate", ""))
                r.close()
                self._answer(challenges, scope, repository)
                answered_challenge = True
                continue
            if r.status_code in RETRYABLE and attempt + 1 < self.options.attempts:
                wait = _retry_after(r.headers.get("Retry-After"))
                r.close()
                attempt += 1
                if wait is not None and wait > MAX_WAIT:
                    raise RegistryError(f"{method} {_redact(url)}: HTTP {r.status_code}, asked to retry after "
                                        f"{wait:.0f} s", status=r.status_code, hint="try again later")
                self.options.sleep(wait if wait is not None else _backoff(attempt - 1))
                continue
            return r

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: Callable[[], Any] | None,
              authorization: Callable[[str], str | None], secret_body: bool = False) -> requests.Response:
        """One request, its redirects followed here rather than by requests, so that each hop's
        Authorization is `authorization(hop URL)` (None: no credentials there). A `secret_body`
        (a refresh token) is not sent on to another origin at all."""
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            value = authorization(url)
            if value:
                sent["Authorization"] = value
            data = body() if body is not None else None
            try:
                r = self._http().request(method, url, headers=sent, data=data, stream=True, allow_redirects=False,
                                         timeout=(CONNECT_TIMEOUT, self.options.timeout))
            finally:
                if hasattr(data, "close"):
                    data.close()
            location = r.headers.get("Location")
            if r.status_code not in REDIRECTS or not location:
                return r
            r.close()
            try:
                url = urljoin(url, location)
            except ValueError:
                raise RegistryError(f"{method} {_redact(first)}: redirected to a URL that is not one") from None
            if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None  # what browsers and requests do
            if secret_body and body is not None and not auth.same_origin(url, first):
                raise RegistryError(f"{method} {_redact(first)}: redirected to {_redact(url)}, another host; "
                                    "gobox does not send the refresh token there")
        raise RegistryError(f"{method} {_redact(first)}: more than {MAX_REDIRECTS} redirects")

    def _ours(self, url: str) -> bool:
        """Whether `url` is on the registry's own origin (scheme, host and port), where its credentials go."""
        return auth.same_origin(url, self._scheme_base())

    def _read(self, r: requests.Response, what: str) -> bytes:
        """A document's body, read with the cap of Options.max_metadata; a cut connection is a RegistryError."""
        import requests

        try:
            return read_capped(r, self.options.max_metadata, what)
        except requests.exceptions.RequestException as e:
            raise RegistryError(f"{what}: {describe(e)}", hint=f"is {self.registry} up and reachable?") from None

    def _scheme_base(self) -> str:
        """https, or plain http for loopback and configured insecure registries when https fails."""
        if self._base is not None:
            return self._base
        import requests

        with self._lock:
            if self._base is not None:
                return self._base
            base = f"https://{self.host}"
            if self.plain_http_allowed and is_loopback(self.host):
                # Loopback asks plain http first, as go-containerregistry does: a TLS handshake costs a CA
                # bundle load per connection, and a registry on 127.0.0.1 rarely has a certificate. A TLS
                # server answers plain http with 400 ("...to an HTTPS server"); /v2/ answers 200 or 401.
                try:
                    r = self._http().get(f"http://{self.host}/v2/", stream=True, allow_redirects=False,
                                         timeout=(CONNECT_TIMEOUT, self.options.timeout))
                    r.close()
                    if r.status_code in (200, 401):
                        base = f"http://{self.host}"
                except requests.exceptions.RequestException:
                    pass
            elif self.plain_http_allowed:
                try:
                    r = self._http().get(f"{base}/v2/", stream=True, allow_redirects=False,
                                         timeout=(CONNECT_TIMEOUT, self.options.timeout))
                    r.close()
                except requests.exceptions.SSLError:
                    base = f"http://{self.host}"
                except requests.exceptions.ConnectionError:
                    base = f"http://{self.host}"
            self._base = base
            return base

    def _http(self) -> requests.Session:
        if self._session is None:
            import requests

            s = requests.Session()
            s.headers["User-Agent"] = USER_AGENT
            self._session = s
        return self._session

    def _authorization(self, scope: str, repository: str) -> str | None:
        with self._lock:
            if scope in self._tokens:
                return f"Bearer {self._tokens[scope]}"
            if self._challenge is not None and self._challenge.scheme == "basic" and repository in self._basic:
                return auth.basic_header(self._basic[repository])
        return None

    def _credentials(self, repository: str) -> auth.Credentials:
        from gobox.oci import authfile

        with self._lock:
            if repository in self._by_repository:
                self._creds = self._by_repository[repository]
                return self._creds
        found = authfile.lookup(
            self.registry, repository, authfile.auth_files(self.options.environ),
            run_helper=lambda helper, server: auth.run_credential_helper(helper, server, self.options.environ))
        with self._lock:
            self._by_repository[repository] = self._creds = found.creds
        return found.creds

    def _answer(self, challenges: tuple[auth.Challenge, ...], scope: str, repository: str) -> None:
        """Meet a 401's challenge: Basic with the user's credentials, or a Bearer token for `scope`."""
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        creds = self._credentials(repository)
        if bearer is not None:
            token = creds.registry_token or self._fetch_token(bearer, scope, creds)
            with self._lock:
                self._challenge = bearer
                self._tokens[scope] = token
            return
        if basic is not None:
            if creds.anonymous or not creds.password:
                raise self._needs_credentials()
            with self._lock:
                self._challenge = basic
                self._basic[repository] = creds
            return
        raise RegistryError(f"{self.registry} asks for authentication gobox does not speak "
                            f"({', '.join(c.scheme for c in challenges) or 'no challenge given'})", status=401)

    def _fetch_token(self, challenge: auth.Challenge, scope: str, creds: auth.Credentials) -> str:
        import requests

        request = auth.token_request(challenge, tuple(scope.split()), creds)
        basic = auth.basic_header(creds) if request.basic_auth and creds.username and creds.password else None
        where = f"the token service of {self.registry} ({_redact(request.url)})"
        if request.method == "POST":
            url, body = request.url, request.encoded_params()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            query = request.encoded_params()
            url = request.url + (("&" if urlsplit(request.url).query else "?") + query if query else "")
            body, headers = None, {}
        try:
            # The user's password goes to the realm's own origin only, as the registry's goes to the registry's.
            r = self._send(request.method, url, headers, (lambda: body) if body is not None else None,
                           lambda hop: basic if auth.same_origin(hop, request.url) else None,
                           secret_body=request.method == "POST")
        except requests.exceptions.RequestException as e:
            raise RegistryError(f"{where}: {describe(e)}",
                                hint=f"is {self.registry}'s auth server up and reachable?") from None
        with r:
            if r.status_code in (401, 403):
                if creds.anonymous:
                    raise self._needs_credentials()
                raise RegistryError(f"{self.registry} refused the credentials for {creds.username!r} "
                                    f"(HTTP {r.status_code} from its token service)", status=r.status_code,
                                    hint=f"check them, and log in again: gobox login {self.registry}")
            if r.status_code != 200:
                raise RegistryError(f"the token service of {self.registry} answered HTTP {r.status_code}",
                                    status=r.status_code)
            token, _ = auth.parse_token_response(self._read(r, where))
            return token

    def _needs_credentials(self) -> RegistryError:
        return RegistryError(f"{self.registry} needs credentials, and none are configured for it (HTTP 401)",
                             status=401, hint=self._login_hint())

    def _login_hint(self) -> str:
        from gobox.oci import authfile

        return (f"log in with `gobox login {self.registry}` (or docker login {self.registry}, or podman login), "
                f"or add it to the \"auths\" of {authfile.primary_path(self.options.environ)}")

    def check_login(self, creds: auth.Credentials) -> bool:
        """Whether the registry takes creds, as `podman login` checks: GET /v2/ and answer its challenge with
        them (Basic, or a Bearer token asked for with no scope). False when /v2/ asks for no login at all;
        a RegistryError (status 401) when the registry or its token service refuses them."""
        import requests

        url = f"{self._scheme_base()}/v2/"
        try:
            with self._send("GET", url, {}, None, lambda hop: None) as r:
                if r.status_code == 200:
                    return False
                if r.status_code != 401:
                    raise RegistryError(f"GET {url}: HTTP {r.status_code}; is {self.registry} a registry?",
                                        status=r.status_code)
                challenges = auth.parse_challenges(r.headers.get("WWW-Authenticate", ""))
            bearer = next((c for c in challenges if c.scheme == "bearer"), None)
            basic = next((c for c in challenges if c.scheme == "basic"), None)
            if bearer is not None:
                answer = f"Bearer {self._fetch_token(bearer, '', creds)}"
            elif basic is not None:
                answer = auth.basic_header(creds)
            else:
                raise RegistryError(f"{self.registry} asks for authentication gobox does not speak "
                                    f"({', '.join(c.scheme for c in challenges) or 'no challenge given'})",
                                    status=401)
            with self._send("GET", url, {}, None, lambda hop: answer if self._ours(hop) else None) as r:
                status = r.status_code
        except requests.exceptions.RequestException as e:
            raise RegistryError(f"GET {url}: {describe(e)}", hint=f"is {self.registry} up and reachable?") from None
        if status in (401, 403):
            raise RegistryError(f"{self.registry} refused the credentials for {creds.username!r} (HTTP {status})",
                                status=status, hint="check the user name and password")
        if status != 200:
            raise RegistryError(f"GET {url} with credentials: HTTP {status}", status=status)
        return True

    def _check(self, r: requests.Response, what: str, kind: str) -> None:
        if r.status_code == 200:
            return
        code, message = _registry_error(r)
        if r.status_code == 404:
            raise RegistryError(f"{what}: {kind} not found ({code or 'HTTP 404'})", status=404, code=code,
                                hint="check the name and tag" if kind == "manifest" else None)
        if r.status_code in (401, 403) and not self._ours(r.url):
            raise RegistryError(f"{what}: access denied by {_redact(r.url)}, where the registry redirected gobox "
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


# The distribution spec's error body, as far as gobox reads it.
_ERRORS = Obj({"errors": ListOf(Obj({}, optional={"code": Str(), "message": Str()}))})


def _registry_error(r: requests.Response) -> tuple[str, str]:
    """The registry's own error code and message, from its JSON body (distribution spec); ("", "") for any other.

    At most ERROR_BODY_LIMIT bytes of it are read; what is quoted is cut short and holds no control characters.
    """
    import json

    import requests

    try:
        doc = json.loads(read_capped(r, ERROR_BODY_LIMIT, "error body"))
        check(doc, _ERRORS)
    except (TooLarge, ValueError, RecursionError, ShapeError, requests.exceptions.RequestException):
        return "", ""
    if not doc["errors"]:
        return "", ""
    first = doc["errors"][0]
    return _printable(first.get("code") or "", 64), _printable(first.get("message") or "", 200)


def _printable(text: str, width: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text[: width + 1])
    return text if len(text) <= width else text[: width - 1] + "…"


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '²', which int() and float() refuse."""
    return text.isascii() and text.isdigit()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if _digits(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _backoff(attempt: int) -> float:
    # 0.5, 1, 2, 4 s with jitter: retries from many clients do not arrive in step.
    return min(8.0, 0.5 * (2 ** attempt)) * (0.75 + random.random() / 2)


def _temporary(exc: Exception) -> bool:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):  # a certificate does not fix itself on a retry
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError))


def _redact(url: str) -> str:
    """A URL fit for a message: no query string (signed blob URLs carry credentials there)."""
    return url.split("?", 1)[0]


def _redact_in(text: str, url: str) -> str:
    """`text` (an exception's words, which may quote the URL) without the query string of `url`."""
    _, sep, query = url.partition("?")
    return text.replace(query, "…") if sep and query else text

