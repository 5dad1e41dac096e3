"""HTTP to one registry host, after go-containerregistry's transport: scheme, redirects, auth, retries.

The first request goes out anonymously (or with a token already held); a 401
names the auth scheme in its challenge, and the transport answers it with
credentials from the auth files podman and docker keep (gobox.oci.authfile)
or a credential helper, fetching a token for the repository's scope when the
scheme is Bearer. Only temporary failures are retried: 408, 429 (after its
Retry-After), 5xx and broken connections. No secret is ever part of a message.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from gobox.errors import NetworkError
from gobox.fetch import METADATA_LIMIT, USER_AGENT, TooLarge, describe, read_capped
from gobox.jsonshape import ListOf, Obj, ShapeError, Str, check
from gobox.oci import auth
from gobox.values import dataclass

if TYPE_CHECKING:
    import requests

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT = 60.0  # the longest Retry-After honoured; a longer one is an error to report, not to sit out
CONNECT_TIMEOUT = 10.0
MAX_REDIRECTS = 5  # go-containerregistry and docker follow a few; a loop is an error, not a wait
ERROR_BODY_LIMIT = 64 << 10  # an error body is a few hundred bytes; only this much of one is read
REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    def from_settings(cls, settings) -> Options:  # noqa: ANN001 - gobox.settings.Settings
        return cls(insecure=settings.insecure_registries, timeout=settings.timeout, environ=dict(os.environ),
                   max_metadata=getattr(settings, "max_metadata_size", METADATA_LIMIT))


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    return host in ("localhost", "127.0.0.1", "[::1]") or host.startswith("127.")


class Transport:
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
                    raise RegistryError(f"{method} {redact(url)}: {_redact_in(describe(e), url)}",
                                        hint=f"is {self.registry} up and reachable?") from None
                self.options.sleep(backoff(attempt - 1))
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
                wait = retry_after(r.headers.get("Retry-After"))
                r.close()
                attempt += 1
                if wait is not None and wait > MAX_WAIT:
                    raise RegistryError(f"{method} {redact(url)}: HTTP {r.status_code}, asked to retry after "
                                        f"{wait:.0f} s", status=r.status_code, hint="try again later")
                self.options.sleep(wait if wait is not None else backoff(attempt - 1))
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
                if data is not None and hasattr(data, "close"):
                    data.close()
            location = r.headers.get("Location")
            if r.status_code not in REDIRECTS or not location:
                return r
            r.close()
            try:
                url = urljoin(url, location)
            except ValueError:
                raise RegistryError(f"{method} {redact(first)}: redirected to a URL that is not one") from None
            if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None  # what browsers and requests do
            if secret_body and body is not None and not auth.same_origin(url, first):
                raise RegistryError(f"{method} {redact(first)}: redirected to {redact(url)}, another host; "
                                    "gobox does not send the refresh token there")
        raise RegistryError(f"{method} {redact(first)}: more than {MAX_REDIRECTS} redirects")

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
        where = f"the token service of {self.registry} ({redact(request.url)})"
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


# The distribution spec's error body, as far as gobox reads it.
_ERRORS = Obj({"errors": ListOf(Obj({}, optional={"code": Str(), "message": Str()}))})


def registry_error(r: requests.Response) -> tuple[str, str]:
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


def all_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '²', which int() and float() refuse."""
    return text.isascii() and text.isdigit()


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if all_digits(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def backoff(attempt: int) -> float:
    # 0.5, 1, 2, 4 s with jitter: retries from many clients do not arrive in step.
    return min(8.0, 0.5 * (2 ** attempt)) * (0.75 + random.random() / 2)


def _temporary(exc: Exception) -> bool:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):  # a certificate does not fix itself on a retry
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError))


def redact(url: str) -> str:
    """A URL fit for a message: no query string (signed blob URLs carry credentials there)."""
    return url.split("?", 1)[0]


def _redact_in(text: str, url: str) -> str:
    """`text` (an exception's words, which may quote the URL) without the query string of `url`."""
    _, sep, query = url.partition("?")
    return text.replace(query, "…") if sep and query else text

