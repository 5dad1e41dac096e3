"""Registry credentials and auth challenges: docker's config.json, credential helpers, Basic and Bearer tokens."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from gobox.errors import ConfigError, GoboxError, NetworkError
from gobox.values import dataclass

# The key `docker login` writes for Docker Hub, kept for historical reasons; helpers are asked for this URL too.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_NAMES = ("index.docker.io", "docker.io", "registry-1.docker.io")

# What docker-credential-helpers print (on stdout, with exit 1) when they hold nothing for a server.
_NOT_FOUND = "credentials not found"
# The Username a helper returns when Secret is an identity (refresh) token rather than a password.
_TOKEN_USERNAME = "<token>"
CLIENT_ID = "gobox"
DEFAULT_TOKEN_LIFETIME = 60  # seconds, the token spec's default when expires_in is absent


class CredentialError(GoboxError):
    """A credential helper that is missing, hangs or fails."""


@dataclass(frozen=True, repr=False)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def __repr__(self) -> str:
        # Secrets never reach a log line or a --debug traceback; only whether they are set.
        parts = [f"username={self.username!r}"]
        for name in ("password", "identity_token", "registry_token"):
            if getattr(self, name):
                parts.append(f"{name}=***")
        return f"Credentials({', '.join(parts)})"

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


ANONYMOUS = Credentials()


# --- WWW-Authenticate (RFC 7235 section 4.1) ---------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" / "bearer", lower case
    params: tuple[tuple[str, str], ...]  # names lower case, in header order

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None


_SPACE = " \t\r\n"
# RFC 7230 tchar; anything else ends a token.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _skip(s: str, i: int, chars: str) -> int:
    while i < len(s) and s[i] in chars:
        i += 1
    return i


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(s) and s[j] in _TCHARS:
        j += 1
    return s[i:j], j


def _quoted(s: str, i: int) -> tuple[str | None, int]:
    """The quoted-string opening at s[i], unescaped, and the index after it; None if it never closes."""
    out: list[str] = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\" and i + 1 < len(s):
            i += 1
            c = s[i]
        out.append(c)
        i += 1
    return None, i


def _token68_end(s: str, i: int) -> int | None:
    """Where a token68 credential starting at s[i] ends, if that is what stands there (then a comma or the end)."""
    j = i
    while j < len(s) and s[j] in _TOKEN68:
        j += 1
    if j == i:
        return None
    j = _skip(s, j, "=")
    k = _skip(s, j, _SPACE)
    return j if k == len(s) or s[k] == "," else None


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """Every challenge in a WWW-Authenticate value; what cannot be parsed is skipped, nothing raises.

    One header may hold several challenges ("Basic realm=a, Bearer realm=b"), and commas also
    separate parameters, so after a comma `token =` continues the challenge and a bare token
    starts the next one.
    """
    if not isinstance(header, str):
        return ()
    challenges: list[Challenge] = []
    i, n = 0, len(header)
    while i < n:
        i = _skip(header, i, _SPACE + ",")
        if i >= n:
            break
        scheme, j = _token(header, i)
        if not scheme or (j < n and header[j] not in _SPACE + ","):
            # Garbage where a scheme should be: resynchronise at the next comma.
            comma = header.find(",", i + 1)
            i = n if comma < 0 else comma
            continue
        i = j
        if i < n and header[i] in _SPACE:
            after = _skip(header, i, _SPACE)
            end = _token68_end(header, after)
            # token68 (Negotiate's blob, say) carries nothing basic or bearer use: step over it.
            i = after if end is None else end
        params: list[tuple[str, str]] = []
        while i < n:
            k = _skip(header, i, _SPACE + ",")
            name, after_name = _token(header, k)
            if k >= n:
                i = n
                break
            if not name:
                # Junk inside the parameter list: drop it up to the next comma.
                comma = header.find(",", k)
                i = n if comma < 0 else comma
                continue
            eq = _skip(header, after_name, _SPACE)
            if eq >= n or header[eq] != "=":
                i = k  # a bare token: the next challenge's scheme
                break
            v = _skip(header, eq + 1, _SPACE)
            if v < n and header[v] == '"':
                value, v = _quoted(header, v)
                if value is None:
                    i = n  # an unterminated quote: keep what came before it
                    break
            else:
                # Lenient about unquoted values some servers send (realm=https://...): up to a comma or space.
                end = v
                while end < n and header[end] not in _SPACE + ",":
                    end += 1
                value, v = header[v:end], end
            params.append((name.lower(), value))
            i = _skip(header, v, _SPACE)
            if i < n and header[i] != ",":
                comma = header.find(",", i)  # trailing junk after a value
                i = n if comma < 0 else comma
        challenges.append(Challenge(scheme.lower(), tuple(params)))
    return tuple(challenges)


# --- docker's config.json ----------------------------------------------------------------------------------------

def docker_config_path(environ: Mapping[str, str]) -> Path:
    """$DOCKER_CONFIG/config.json, else ~/.docker/config.json with HOME taken from environ."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"]) / "config.json"
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".docker" / "config.json"


def load_docker_config(path: Path) -> dict:
    """The parsed config.json; {} when there is none, ConfigError when it cannot be read or is not a JSON object."""
    from gobox.oci import authfile  # it reads every login file, docker's among them; it imports this module

    data = authfile.read_auth_file(path)
    return {} if data is None else authfile.parse_auth_file(data, path, authfile.DOCKER)


def _bare(key: str) -> str:
    """A config key or registry name as host[:port]: no scheme, no /v1/, /v2/ or / at the end."""
    key = key.strip()
    for prefix in ("https://", "http://"):
        if key.lower().startswith(prefix):
            key = key[len(prefix):]
            break
    for suffix in ("/v1/", "/v2/", "/v1", "/v2", "/"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    return key


def _normalize_key(key: str) -> str:
    # Host names are case-insensitive; `docker login MyReg.io` and a lookup of myreg.io are the same registry.
    return _bare(key).lower()


def _is_docker_hub(registry: str) -> bool:
    return _normalize_key(registry) in _DOCKER_HUB_NAMES


def _candidates(registry: str) -> tuple[str, ...]:
    if _is_docker_hub(registry):
        return (DOCKER_HUB_KEY, *_DOCKER_HUB_NAMES)
    return (registry,)


def helper_server_url(registry: str) -> str:
    """The server URL a credential helper is asked about: docker's legacy key for Docker Hub, else host[:port]."""
    return DOCKER_HUB_KEY if _is_docker_hub(registry) else _bare(registry)


def _find_key(registry: str, mapping: Mapping[str, object]) -> str | None:
    """The key of mapping that names registry: an exact match first, then one that differs only in decoration."""
    candidates = _candidates(registry)
    for candidate in candidates:
        if candidate in mapping:
            return candidate
    for candidate in candidates:
        want = _normalize_key(candidate)
        for key in mapping:
            if isinstance(key, str) and _normalize_key(key) == want:
                return key
    return None


def _where(*keys: str) -> str:
    # JSON-quote keys that are not plain identifiers, so "127.0.0.1:5000" reads unambiguously.
    return ".".join(k if k.isidentifier() else json.dumps(k) for k in keys)


def _section(config: Mapping, name: str, path: Path) -> Mapping:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {name}: not a JSON object", hint=f"remove or fix {name} in {path}")
    return value


def _string(value: object, path: Path, *keys: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {_where(*keys)}: not a string", hint=f"fix that entry in {path}")
    return value


def _decode_auth(value: str, path: Path, key: str) -> tuple[str, str]:
    def bad() -> ConfigError:
        return ConfigError(f'{path}: {_where("auths", key, "auth")}: not base64 of "user:password"',
                           hint=f"log in again (`gobox login {_bare(key)}`, or docker login {_bare(key)}), "
                           "or remove that entry")

    compact = "".join(value.split())
    # Some tools drop the padding; docker's own decoder would not, but the intent is plain.
    compact += "=" * (-len(compact) % 4)
    try:
        text = base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise bad() from None
    # Only the first colon splits: passwords and tokens may contain colons, user names may not (RFC 7617).
    user, sep, password = text.partition(":")
    if not sep:
        raise bad()
    return user, password


def auth_keys(registry: str, repository: str = "") -> tuple[str, ...]:
    """The auths keys that may name a repository's login, most specific first (containers-auth.json(5)):
    registry/team/app, registry/team, then registry."""
    parts = [p for p in repository.split("/") if p]
    return (*(f"{registry}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)), registry)


def _from_auths(registry: str, config: Mapping, path: Path, repository: str = "",
                legacy: bool = False) -> Credentials | None:
    auths = _section(config, "auths", path)
    # Namespace keys (quay.io/team) are podman's; docker's legacy .dockercfg only ever had hosts.
    exact = () if legacy else auth_keys(registry, repository)[:-1]
    key = next((k for k in exact if k in auths), None) or _find_key(registry, auths)
    if key is None:
        return None
    entry = auths[key]
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {_where('auths', key)}: not a JSON object", hint=f"fix that entry in {path}")
    username = _string(entry.get("username"), path, "auths", key, "username")
    password = _string(entry.get("password"), path, "auths", key, "password")
    auth = _string(entry.get("auth"), path, "auths", key, "auth")
    if auth:
        username, password = _decode_auth(auth, path, key)
    creds = Credentials(
        username=username,
        password=password,
        identity_token=_string(entry.get("identitytoken"), path, "auths", key, "identitytoken"),
        registry_token=_string(entry.get("registrytoken"), path, "auths", key, "registrytoken"),
    )
    return None if creds.anonymous else creds


HelperRunner = Callable[[str, str], Credentials | None]


def _run_helper_from_os(helper: str, server: str) -> Credentials | None:
    return run_credential_helper(helper, server, os.environ)


def credentials_for(registry: str, config: Mapping, path: Path,
                    run_helper: HelperRunner = _run_helper_from_os, repository: str = "",
                    creds_store: bool = True, legacy: bool = False) -> Credentials:
    """The credentials docker would use for registry (host[:port]), or ANONYMOUS.

    Tried in order, the first that answers wins: the registry's credHelpers entry, the credsStore
    default helper (docker's; podman reads none, so creds_store=False for its files), then the auths
    entry, the most specific key for repository first. path only names the file in error messages.
    """
    helpers = _section(config, "credHelpers", path)
    key = _find_key(registry, helpers)
    chain: list[str] = []
    if key is not None:
        chain.append(_string(helpers[key], path, "credHelpers", key))
    store = _string(config.get("credsStore"), path, "credsStore") if creds_store else ""
    if store and store not in chain:
        chain.append(store)
    server = helper_server_url(registry)
    for helper in chain:
        if helper:
            creds = run_helper(helper, server)
            if creds is not None and not creds.anonymous:
                return creds
    return _from_auths(registry, config, path, repository, legacy) or ANONYMOUS


# --- docker-credential-helpers -----------------------------------------------------------------------------------

def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            # A misbehaving helper could echo its JSON answer into an error; never repeat such a line.
            if '"secret"' in line.lower():
                return "(output withheld: it mentions a secret)"
            return line[:200]
    return ""


def run_credential_helper(helper: str, server: str, environ: Mapping[str, str],
                          timeout: float = 30) -> Credentials | None:
    """Ask `docker-credential-<helper> get` for server's credentials; None when it holds none.

    The program is looked up on environ's PATH and runs with environ, as docker runs it.
    """
    program = f"docker-credential-{helper}"
    config = docker_config_path(environ)
    if not helper or "/" in helper or "\\" in helper or helper.strip() != helper:
        raise CredentialError(f"{program!r} is not a credential helper name",
                              hint=f"fix credsStore or credHelpers in {config}")
    exe = shutil.which(program, path=environ.get("PATH", os.defpath))
    if exe is None:
        raise CredentialError(f"credential helper {program} not found on PATH",
                              hint=f"install {program}, or remove {helper!r} from credsStore/credHelpers in {config}")
    try:
        # Same session and process group as gobox: a helper may need the terminal (gpg's pinentry for pass).
        proc = subprocess.Popen([exe, "get"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(environ))
    except OSError as e:
        raise CredentialError(f"credential helper {program} could not be started: {e.strerror or e}",
                              hint=f"reinstall {program}, or remove {helper!r} from {config}") from None
    try:
        stdout, stderr = proc.communicate(server.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        # Not communicate(): a grandchild left holding the pipes would keep it waiting after the kill.
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise CredentialError(f"credential helper {program} did not answer within {timeout:g}s",
                              hint="it may be waiting for a keychain to be unlocked or a prompt answered") from None
    # The standard not-found answer goes to stdout with exit 1; some helpers use stderr. Either means "nothing stored".
    not_found = _NOT_FOUND in (stdout + stderr).decode("utf-8", "replace").lower()
    if proc.returncode != 0:
        if not_found:
            return None
        said = _first_line(stderr) or _first_line(stdout)
        raise CredentialError(f"credential helper {program} failed (exit {proc.returncode})"
                              + (f": {said}" if said else ""),
                              hint=f"run `echo {server} | {program} get` to see why")
    try:
        answer = json.loads(stdout)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if not_found:
            return None
        # Its output is not repeated: it may hold the secret.
        raise CredentialError(f"credential helper {program} answered with something that is not JSON",
                              hint=f"run `echo {server} | {program} get` to see its answer") from None
    if not isinstance(answer, dict):
        raise CredentialError(f"credential helper {program} answered with JSON that is not an object")
    username, secret = answer.get("Username") or "", answer.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialError(f"credential helper {program} answered with a Username or Secret that is not a string")
    if not username and not secret:
        return None
    if username == _TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


# --- Basic and Bearer --------------------------------------------------------------------------------------------

def basic_header(creds: Credentials) -> str:
    """The Authorization value for HTTP Basic with creds' user name and password."""
    if not (creds.username or creds.password):
        raise ValueError("Basic auth needs a user name or a password")
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, repr=False)
class TokenRequest:
    """One request to a token server, described but not sent.

    url is the realm as the registry gave it; params go into its query string (GET) or, form
    encoded, into the body (POST). basic_auth: send basic_header(creds) with it.
    """

    url: str
    method: str  # "GET" or "POST"
    params: tuple[tuple[str, str], ...]
    basic_auth: bool

    def encoded_params(self) -> str:
        return urlencode(self.params)

    def __repr__(self) -> str:
        shown = tuple((k, "***" if k == "refresh_token" else v) for k, v in self.params)
        return f"TokenRequest(url={self.url!r}, method={self.method!r}, params={shown!r}, basic_auth={self.basic_auth})"


def token_request(challenge: Challenge, scopes: tuple[str, ...], creds: Credentials) -> TokenRequest:
    """The request that turns a Bearer challenge and creds into a registry token (docker's token and OAuth2 specs).

    The challenge's own scope (sent with insufficient_scope) comes first, as some token servers
    read only the first. Identity tokens use the OAuth2 refresh_token grant by POST; everything
    else is a GET, with Basic auth when there is a user name or password.
    """
    if challenge.scheme != "bearer":
        raise ValueError(f"a token request answers a bearer challenge, not {challenge.scheme!r}")
    realm = challenge.param("realm")
    if not realm:
        raise NetworkError("the registry asked for a bearer token without saying where to get one (no realm)")
    try:
        parts = urlsplit(realm)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("https", "http") or not parts.netloc:
        raise NetworkError(f"the registry's token realm {realm!r} is not an http(s) URL")
    wanted = [*(challenge.param("scope") or "").split(), *scopes]
    merged = tuple(dict.fromkeys(s for s in wanted if s))
    service = challenge.param("service") or ""
    if creds.identity_token:
        params = [("grant_type", "refresh_token")]
        if service:
            params.append(("service", service))
        if merged:
            # OAuth2 takes one scope parameter holding a space-separated list.
            params.append(("scope", " ".join(merged)))
        params += [("client_id", CLIENT_ID), ("refresh_token", creds.identity_token)]
        return TokenRequest(realm, "POST", tuple(params), basic_auth=False)
    params = [("service", service)] if service else []
    params += [("scope", s) for s in merged]
    return TokenRequest(realm, "GET", tuple(params), basic_auth=bool(creds.username or creds.password))


def parse_token_response(data: bytes) -> tuple[str, int]:
    """The token and its lifetime in seconds from a token server's JSON answer (`token` or `access_token`)."""
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past what the parser takes
        # The body is not quoted back: a token server's answer may hold a refresh token.
        raise NetworkError("the token server answered with something that is not JSON") from None
    if not isinstance(answer, dict):
        raise NetworkError("the token server answered with JSON that is not an object")
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise NetworkError("the token server answered without a token")
    expires = answer.get("expires_in")
    if isinstance(expires, bool) or not isinstance(expires, int | float) or not math.isfinite(expires) or expires <= 0:
        expires = DEFAULT_TOKEN_LIFETIME
    return token, int(expires)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (a default port spelt or not): credentials for one may go
    to the other. Anything that does not parse is no origin at all."""

    def origin(url: str) -> tuple[str, str, int | None] | None:
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:  # a port that is not a number, an unclosed [
            return None

    first = origin(a)
    return first is not None and bool(first[1]) and first == origin(b)


def scope_for(repository: str, actions: tuple[str, ...] = ("pull",)) -> str:
    """The token scope for actions on a repository: repository:library/golang:pull."""
    if not repository or not actions:
        raise ValueError("a scope needs a repository and at least one action")
    return f"repository:{repository}:{','.join(actions)}"
