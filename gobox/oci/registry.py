"""The distribution API v2 over requests: ping, Basic and Bearer auth, retries, manifests and verified blobs.

One Client per registry host, after go-containerregistry's transport: the
first request goes out anonymously (or with a token already held); a 401
names the auth scheme in its challenge, and the client answers it with
credentials from ~/.docker/config.json or a credential helper, fetching a
token for the repository's scope when the scheme is Bearer. Only temporary
failures are retried: 408, 429 (after its Retry-After), 5xx and broken
connections. No secret is ever part of a message.
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

from gobox.errors import IntegrityError, NetworkError
from gobox.fetch import USER_AGENT, describe, save_verified
from gobox.oci import auth
from gobox.oci.manifest import ACCEPT

if TYPE_CHECKING:
    import requests

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT = 60.0  # the longest Retry-After honoured; a longer one is an error to report, not to sit out
CONNECT_TIMEOUT = 10.0
CHUNK = 1 << 20


class RegistryError(NetworkError):
    """A registry answered with an error, or could not be reached; exit 4."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Options:
    """How to reach registries: which may be plain HTTP, how long to wait, where credentials are."""

    insecure: tuple[str, ...] = ()
    timeout: float = 30.0
    attempts: int = 5
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings) -> Options:  # noqa: ANN001 - gobox.config.Settings
        return cls(insecure=settings.insecure_registries, timeout=settings.timeout, environ=dict(os.environ))


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
        self._creds: auth.Credentials | None = None

    # --- the public operations ---------------------------------------------------------

    def manifest(self, repository: str, ref: str, accept: str = ACCEPT) -> Fetched:
        r = self._request("GET", repository, f"manifests/{ref}", headers={"Accept": accept})
        with r:
            self._check(r, f"{self.registry}/{repository}:{ref}" if ":" not in ref
                        else f"{self.registry}/{repository}@{ref}", "manifest")
            data = r.content
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
                r = self._request("GET", repository, f"blobs/{digest}", stream=True)
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

    # --- requests, auth and retries ------------------------------------------------------

    def _request(self, method: str, repository: str, path: str, headers: Mapping[str, str] | None = None,
                 stream: bool = False, actions: tuple[str, ...] = ("pull",)) -> requests.Response:
        import requests

        scope = auth.scope_for(repository, actions)
        url = f"{self._scheme_base()}/v2/{repository}/{path}"
        answered_challenge = False
        attempt = 0
        while True:
            sent = dict(headers or {})
            authorization = self._authorization(scope)
            if authorization:
                sent["Authorization"] = authorization
            try:
                r = self._http().request(method, url, headers=sent, stream=stream,
                                         timeout=(CONNECT_TIMEOUT, self.options.timeout))
            except requests.exceptions.RequestException as e:
                attempt += 1
                if attempt >= self.options.attempts or not _temporary(e):
                    raise RegistryError(f"{method} {_redact(url)}: {describe(e)}",
                                        hint=f"is {self.registry} up and reachable?") from None
                self.options.sleep(_backoff(attempt - 1))
                continue
            if r.status_code == 401 and not answered_challenge:
                challenges = auth.parse_challenges(r.headers.get("WWW-Authenticate", ""))
                r.close()
                self._answer(challenges, scope)
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

    def _scheme_base(self) -> str:
        """https, or plain http for loopback and configured insecure registries when https fails."""
        if self._base is not None:
            return self._base
        import requests

        with self._lock:
            if self._base is not None:
                return self._base
            base = f"https://{self.host}"
            if self.plain_http_allowed:
                try:
                    r = self._http().get(f"{base}/v2/", timeout=(CONNECT_TIMEOUT, self.options.timeout))
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

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            if scope in self._tokens:
                return f"Bearer {self._tokens[scope]}"
            if self._challenge is not None and self._challenge.scheme == "basic" and self._creds:
                return auth.basic_header(self._creds)
        return None

    def _credentials(self) -> auth.Credentials:
        if self._creds is None:
            path = auth.docker_config_path(self.options.environ)
            config = auth.load_docker_config(path)
            self._creds = auth.credentials_for(
                self.registry, config, path,
                run_helper=lambda helper, server: auth.run_credential_helper(helper, server, self.options.environ))
        return self._creds

    def _answer(self, challenges: tuple[auth.Challenge, ...], scope: str) -> None:
        """Meet a 401's challenge: Basic with the user's credentials, or a Bearer token for `scope`."""
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        creds = self._credentials()
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
            return
        raise RegistryError(f"{self.registry} asks for authentication gobox does not speak "
                            f"({', '.join(c.scheme for c in challenges) or 'no challenge given'})", status=401)

    def _fetch_token(self, challenge: auth.Challenge, scope: str, creds: auth.Credentials) -> str:
        import requests

        request = auth.token_request(challenge, (scope,), creds)
        s = self._http()
        kwargs: dict[str, Any] = {"timeout": (CONNECT_TIMEOUT, self.options.timeout)}
        if request.basic_auth and creds.username and creds.password:
            kwargs["auth"] = (creds.username, creds.password)
        try:
            if request.method == "POST":
                r = s.post(request.url, data=request.encoded_params(), **kwargs)
            else:
                r = s.get(request.url, params=request.encoded_params(), **kwargs)
        except requests.exceptions.RequestException as e:
            raise RegistryError(f"the token service of {self.registry} ({_redact(request.url)}): {describe(e)}",
                                hint=f"is {self.registry}'s auth server up and reachable?") from None
        with r:
            if r.status_code in (401, 403):
                if creds.anonymous:
                    raise self._needs_credentials()
                raise RegistryError(f"{self.registry} refused the credentials for {creds.username!r} "
                                    f"(HTTP {r.status_code} from its token service)", status=r.status_code,
                                    hint=f"check them: docker login {self.registry}")
            if r.status_code != 200:
                raise RegistryError(f"the token service of {self.registry} answered HTTP {r.status_code}",
                                    status=r.status_code)
            token, _ = auth.parse_token_response(r.content)
            return token

    def _needs_credentials(self) -> RegistryError:
        return RegistryError(
            f"{self.registry} needs credentials, and none are configured for it (HTTP 401)", status=401,
            hint=f"log in with `docker login {self.registry}`, or add it to the \"auths\" of "
                 f"{auth.docker_config_path(self.options.environ)}")

    def _check(self, r: requests.Response, what: str, kind: str) -> None:
        if r.status_code == 200:
            return
        code, message = _registry_error(r)
        if r.status_code == 404:
            raise RegistryError(f"{what}: {kind} not found ({code or 'HTTP 404'})", status=404, code=code,
                                hint="check the name and tag" if kind == "manifest" else None)
        if r.status_code in (401, 403):
            creds = self._creds
            who = "anonymously" if creds is None or creds.anonymous else f"as {creds.username!r}"
            raise RegistryError(f"{what}: access denied {who} (HTTP {r.status_code}"
                                f"{', ' + code if code else ''}{': ' + message if message else ''})",
                                status=r.status_code, code=code,
                                hint=f"log in with `docker login {self.registry}` or check the repository name")
        raise RegistryError(f"{what}: HTTP {r.status_code}{' ' + code if code else ''}"
                            f"{': ' + message if message else ''}", status=r.status_code, code=code)


def _registry_error(r: requests.Response) -> tuple[str, str]:
    """The registry's own error code and message, from its JSON body (distribution spec)."""
    try:
        errors = r.json().get("errors") or []
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff(attempt: int) -> float:
    # 0.5, 1, 2, 4 s with jitter: retries from many clients do not arrive in step.
    return min(8.0, 0.5 * (2 ** attempt)) * (0.75 + random.random() / 2)


def _temporary(exc: Exception) -> bool:
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError))


def _redact(url: str) -> str:
    """A URL fit for a message: no query string (signed blob URLs carry credentials there)."""
    return url.split("?", 1)[0]

