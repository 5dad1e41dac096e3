"""A real OCI registry on loopback for the tests: Debian's docker-registry (distribution 2.8), filled by skopeo.

`Registry` runs `/usr/bin/docker-registry serve CONFIG` on a free 127.0.0.1 port with its own
config and a temporary storage root, in one of three auth modes: `none`, `basic` (htpasswd,
bcrypt) or `token` (distribution's bearer-token auth, with a `TokenServer` here that signs RS256
JWTs with a throwaway key and x5c certificate). `push` fills it from an OCI layout written by
tests/support/ocilayout.py. `FaultProxy` sits in front of it to inject 429s, 500s and cut-off bodies, since
the registry binary itself cannot be told to misbehave.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .ocilayout import OCI_INDEX, top_media_type

REGISTRY_BIN = "/usr/bin/docker-registry"
TOOLS = {"docker-registry": REGISTRY_BIN, "skopeo": "skopeo", "htpasswd": "htpasswd", "openssl": "openssl"}
APT_PACKAGES = ("docker-registry", "skopeo", "apache2-utils", "openssl")

AUTH_MODES = ("none", "basic", "token")
SERVICE = "gobox-test-registry"
ISSUER = "gobox-test-issuer"
BASIC_REALM = "gobox-test"
PUBLIC_PREFIX = "public/"

START_TIMEOUT = 20.0  # seconds for the registry to answer /v2/ after exec
STOP_TIMEOUT = 5.0  # seconds between terminate and kill
SKOPEO_TIMEOUT = 120.0
STALL_LIMIT = 30.0  # seconds a stalling FaultProxy response holds its connection at most
POLL = 0.05  # seconds; how fast a stopped server thread notices, so teardown stays quick


def missing_tools() -> list[str]:
    """The programs the registry fixture needs that this machine lacks (empty when all are there)."""
    return [name for name, exe in TOOLS.items() if shutil.which(exe) is None]


def loopback_session() -> requests.Session:
    """A requests session that never goes through an environment proxy: all traffic stays on 127.0.0.1."""
    s = requests.Session()
    s.trust_env = False
    return s


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _run(cmd: list[str], *, timeout: float = 30.0, input: bytes | None = None) -> bytes:
    p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace').strip()}")
    return p.stdout


def _child_env(**extra: str) -> dict[str, str]:
    # distribution reads REGISTRY_* variables as config overrides, and proxies must never see loopback traffic.
    drop = re.compile(r"^(REGISTRY_|OTEL_)|^(https?|all|no)_proxy$", re.IGNORECASE)
    return {**{k: v for k, v in os.environ.items() if not drop.search(k)}, **extra}


# --- auth challenges ---------------------------------------------------------------------------


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(`Bearer`/`Basic`, {param: value}) of one WWW-Authenticate challenge, as distribution writes it."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme, params


def scope_for(name: str, actions: str = "pull") -> str:
    return f"repository:{name}:{actions}"


# --- token server ------------------------------------------------------------------------------


Policy = Callable[[str | None, str, str, set[str]], set[str]]


def default_policy(public_prefix: str = PUBLIC_PREFIX) -> Policy:
    """Anonymous callers may pull repositories under `public_prefix`; any known user may do anything."""

    def policy(subject: str | None, rtype: str, name: str, wanted: set[str]) -> set[str]:
        if subject:
            return set(wanted)
        if rtype == "repository" and name.startswith(public_prefix):
            return wanted & {"pull"}
        return set()

    return policy


class _Served:
    """A threaded HTTP server on a free loopback port, started and stopped with its owner."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _name = "loopback-server"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._server is not None, f"{self._name} not started"
        return self._server.server_address[1]

    def _serve(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL,), name=self._name,
                                        daemon=True)
        self._thread.start()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(STOP_TIMEOUT)
            self._server = None


@dataclass
class TokenHit:
    method: str
    subject: str | None
    scopes: list[str]
    status: int


class TokenServer(_Served):
    """The `auth: token` realm: issues RS256 JWTs that distribution 2.8 accepts, on 127.0.0.1.

    GET ?service=&scope=&scope= (Docker Hub style; Basic credentials optional) answers
    {token, access_token, expires_in, issued_at}, plus a refresh_token with offline_token=true.
    POST with grant_type=password or refresh_token (OAuth2, what containerd sends) answers
    {access_token, expires_in, issued_at, scope} and a refresh_token. The JWT header carries x5c,
    the signing certificate itself, which the registry checks against its rootcertbundle.
    """

    def __init__(self, workdir: Path, *, users: dict[str, str], service: str = SERVICE, issuer: str = ISSUER,
                 policy: Policy | None = None, ttl: int = 300) -> None:
        self.workdir = Path(workdir)
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.policy = policy or default_policy()
        self.ttl = ttl
        self.hits: list[TokenHit] = []
        self.refresh_tokens: dict[str, str] = {}
        self.key_path = self.workdir / "token.key"
        self.cert_path = self.workdir / "token.crt"
        self._lock = threading.Lock()
        self._name = "token-server"
        self._make_key()
        self._x5c = [base64.b64encode(self._cert_der()).decode()]

    def _make_key(self) -> None:
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
              "-subj", "/CN=gobox test token issuer", "-keyout", str(self.key_path), "-out", str(self.cert_path)])

    def _cert_der(self) -> bytes:
        pem = self.cert_path.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        return base64.b64decode("".join(body.split()))

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        self._serve()
        return self

    def stop(self) -> None:
        self._shutdown()

    def sign(self, claims: dict) -> str:
        """A compact JWS of `claims`, RS256 with the test key (openssl does the RSA)."""
        header = {"typ": "JWT", "alg": "RS256", "x5c": self._x5c}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = _run(["openssl", "dgst", "-sha256", "-sign", str(self.key_path)], input=signing_input.encode())
        return f"{signing_input}.{_b64url(sig)}"

    def mint(self, subject: str | None, scopes: Iterable[str], *, ttl: int | None = None) -> str:
        """A token for `subject` (None = anonymous) granting what the policy allows of `scopes`."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": subject or "", "aud": self.service,
            "exp": now + (self.ttl if ttl is None else ttl), "nbf": now - 1, "iat": now,
            "jti": uuid.uuid4().hex, "access": self.grant(subject, scopes),
        }
        return self.sign(claims)

    def grant(self, subject: str | None, scopes: Iterable[str]) -> list[dict]:
        access = []
        for scope in scopes:
            # type:name:actions, where only the name may hold further colons (never in practice).
            rtype, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if not rtype or not name:
                continue
            wanted = {a for a in actions.split(",") if a}
            granted = self.policy(subject, rtype, name, wanted)
            access.append({"type": rtype, "name": name, "actions": sorted(granted)})
        return access

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: dict, scopes: list[str], subject: str | None,
                       extra: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                with server._lock:
                    server.hits.append(TokenHit(self.command, subject, scopes, code))

            def _basic(self) -> tuple[bool, str | None]:
                """(credentials given, the user they prove or None)."""
                auth = self.headers.get("Authorization", "")
                if not auth.lower().startswith("basic "):
                    return False, None
                try:
                    user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                except ValueError:
                    return True, None
                ok = user in server.users and secrets.compare_digest(server.users[user], pw)
                return True, user if ok else None

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(url.query)
                scopes = [s for v in q.get("scope", []) for s in v.split()]
                if url.path != "/token":
                    return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]}, scopes, None)
                if q.get("service", [server.service])[0] != server.service:
                    return self._reply(400, {"errors": [{"code": "INVALID_SERVICE"}]}, scopes, None)
                given, user = self._basic()
                if given and user is None:
                    return self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                                       scopes, None, {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'})
                token = server.mint(user, scopes)
                body = {"token": token, "access_token": token, "expires_in": server.ttl,
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                if user and q.get("offline_token", ["false"])[0] == "true":
                    body["refresh_token"] = server._new_refresh(user)
                self._reply(200, body, scopes, user)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(min(length, 1 << 20)).decode(errors="replace"))
                scopes = [s for v in form.get("scope", []) for s in v.split()]
                if urllib.parse.urlsplit(self.path).path != "/token":
                    return self._reply(404, {"error": "not_found"}, scopes, None)
                if form.get("service", [server.service])[0] != server.service:
                    return self._reply(400, {"error": "invalid_request"}, scopes, None)
                grant = form.get("grant_type", [""])[0]
                user = None
                if grant == "password":
                    u, pw = form.get("username", [""])[0], form.get("password", [""])[0]
                    if u in server.users and secrets.compare_digest(server.users[u], pw):
                        user = u
                elif grant == "refresh_token":
                    with server._lock:
                        user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                else:
                    return self._reply(400, {"error": "unsupported_grant_type"}, scopes, None)
                if user is None:
                    return self._reply(401, {"error": "invalid_grant"}, scopes, None)
                token = server.mint(user, scopes)
                body = {"access_token": token, "expires_in": server.ttl, "scope": " ".join(scopes),
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "refresh_token": server._new_refresh(user)}
                self._reply(200, body, scopes, user)

        return Handler

    def _new_refresh(self, user: str) -> str:
        tok = secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[tok] = user
        return tok


# --- registry ----------------------------------------------------------------------------------


class ChallengeAuth(requests.auth.AuthBase):
    """Answers a registry's 401 once: Basic with the credentials, or a token from the Bearer realm.

    For the fixture's own requests (seeding, checking) only; the code under test has its own client.
    """

    def __init__(self, creds: tuple[str, str] | None) -> None:
        self.creds = creds
        self._tokens: dict[str, str] = {}

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.register_hook("response", self._retry)
        return r

    def _retry(self, resp: requests.Response, **kwargs: object) -> requests.Response:
        if resp.status_code != 401 or resp.request.headers.get("X-Fixture-Retried"):
            return resp
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        req = resp.request.copy()
        req.headers["X-Fixture-Retried"] = "1"
        if scheme.lower() == "basic" and self.creds:
            req.prepare_auth(self.creds)
        elif scheme.lower() == "bearer":
            q = {"service": params.get("service", "")}
            if params.get("scope"):
                q["scope"] = params["scope"]
            with loopback_session() as s:
                tr = s.get(params["realm"], params=q, auth=self.creds, timeout=10)
            tr.raise_for_status()
            req.headers["Authorization"] = "Bearer " + tr.json()["token"]
        else:
            return resp
        resp.content  # noqa: B018 - drain so the connection can be reused
        resp.close()
        new = resp.connection.send(req, **kwargs)
        new.history.append(resp)
        return new


class Registry:
    """distribution 2.8 serving on 127.0.0.1:<free port>, auth `none`, `basic` or `token`.

    Use as a context manager (or start()/stop()); stop() ends the process and the token server and
    removes the temporary directory, also after a failed start.
    """

    def __init__(self, auth: str = "none", *, user: str = "gobox", password: str | None = None,
                 public_prefix: str = PUBLIC_PREFIX, policy: Policy | None = None, token_ttl: int = 300,
                 binary: str = REGISTRY_BIN, start_timeout: float = START_TIMEOUT, relative_urls: bool = False) -> None:
        if auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {auth!r}")
        self.auth = auth
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.public_prefix = public_prefix
        self.binary = binary
        self.start_timeout = start_timeout
        self.relative_urls = relative_urls  # Location headers as paths, which the spec allows clients to get
        self.workdir: Path | None = None
        self.port = 0
        self.token_server: TokenServer | None = None
        self._policy = policy or default_policy(public_prefix)
        self._token_ttl = token_ttl
        self._proc: subprocess.Popen | None = None
        self._log = None

    # where things are
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def creds(self) -> str:
        """`user:password`, as skopeo's --dest-creds wants it."""
        return f"{self.user}:{self.password}"

    @property
    def basic(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def realm(self) -> str:
        return self.token_server.realm if self.token_server else BASIC_REALM

    @property
    def service(self) -> str:
        return SERVICE

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "registry.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AssertionError):
            return ""

    # lifecycle
    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Registry:
        self.workdir = Path(tempfile.mkdtemp(prefix="gobox-registry-"))
        try:
            auth = self._auth_config()
            last = ""
            for _ in range(3):  # another process may grab the free port between probe and bind
                self.port = _free_port()
                if self._spawn(auth):
                    return self
                last = self.log_tail()
                self._kill()
                if "address already in use" not in last:
                    break
            raise RuntimeError(f"docker-registry did not come up on {self.host}:\n{last}")
        except BaseException:
            self.stop()
            raise

    def _auth_config(self) -> str:
        assert self.workdir is not None
        if self.auth == "basic":
            line = _run(["htpasswd", "-Bbn", self.user, self.password]).decode().strip()
            (self.workdir / "htpasswd").write_text(line + "\n")
            return f"auth:\n  htpasswd:\n    realm: {BASIC_REALM}\n    path: {self.workdir / 'htpasswd'}\n"
        if self.auth == "token":
            self.token_server = TokenServer(self.workdir, users={self.user: self.password}, policy=self._policy,
                                            ttl=self._token_ttl).start()
            return (f"auth:\n  token:\n    realm: {self.token_server.realm}\n    service: {SERVICE}\n"
                    f"    issuer: {ISSUER}\n    rootcertbundle: {self.token_server.cert_path}\n")
        return ""

    def _spawn(self, auth: str) -> bool:
        assert self.workdir is not None
        storage = self.workdir / "storage"
        storage.mkdir(exist_ok=True)
        # Our own file: the package's /etc/docker/registry/config.yml points htpasswd at a directory.
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  formatter: text\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: {self.host}\n  secret: {secrets.token_hex(16)}\n"
            f"  relativeurls: {'true' if self.relative_urls else 'false'}\n"
            "  headers:\n    X-Content-Type-Options: [nosniff]\n"
            + auth
        )
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self._proc = subprocess.Popen([self.binary, "serve", str(config)], stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT, env=_child_env(),
                                      start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        with loopback_session() as s:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    return False
                try:
                    r = s.get(f"{self.url}/v2/", timeout=2)
                    if r.status_code in (200, 401):
                        return True
                except requests.ConnectionError:
                    pass
                time.sleep(0.05)
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._kill()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # talking to it (the fixture's side; tests of gobox use gobox's client)
    def session(self, *, authenticated: bool = True) -> requests.Session:
        """A loopback session that logs in when challenged (anonymously if `authenticated` is False)."""
        s = loopback_session()
        if self.auth != "none":
            s.auth = ChallengeAuth(self.basic if authenticated else None)
        return s

    def token(self, *scopes: str, creds: tuple[str, str] | None = None) -> str:
        """A bearer token from the realm over HTTP, as a client would get it (token mode only)."""
        assert self.token_server is not None, "token() needs auth='token'"
        with loopback_session() as s:
            r = s.get(self.token_server.realm, params={"service": SERVICE, "scope": list(scopes)},
                      auth=creds, timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def manifest(self, name: str, ref: str, accept: str | Iterable[str]) -> requests.Response:
        accept = accept if isinstance(accept, str) else ", ".join(accept)
        with self.session() as s:
            return s.get(f"{self.url}/v2/{name}/manifests/{ref}", headers={"Accept": accept}, timeout=10)

    def blob(self, name: str, digest: str) -> bytes:
        with self.session() as s:
            r = s.get(f"{self.url}/v2/{name}/blobs/{digest}", timeout=30)
        r.raise_for_status()
        return r.content

    def put_manifest(self, name: str, ref: str, body: bytes, media_type: str) -> str:
        """PUT a manifest (or list) body as is; returns the registry's digest for it."""
        with self.session() as s:
            r = s.put(f"{self.url}/v2/{name}/manifests/{ref}", data=body,
                      headers={"Content-Type": media_type}, timeout=10)
        if r.status_code != 201:
            raise RuntimeError(f"PUT manifest {name}:{ref} -> {r.status_code}: {r.text[:500]}")
        return r.headers["Docker-Content-Digest"]


RegistryFactory = Callable[..., Registry]  # tests/conftest.py's `registries` and `fresh_registry`


# --- filling it ---------------------------------------------------------------------------------


def push(layout_dir: Path | str, tag: str, registry: Registry | FaultProxy | str, ref: str, *,
         format: str | None = None, creds: str | None = None, anonymous: bool = False,
         timeout: float = SKOPEO_TIMEOUT) -> str:
    """skopeo copy oci:DIR:TAG docker://127.0.0.1:PORT/REF; returns the digest of what it wrote.

    `format` is skopeo's --format (oci, v2s2); an index in the layout is copied whole
    (--multi-arch all), and with format="v2s2" skopeo turns it into a Docker manifest list.
    `creds` defaults to the registry's own user when it has auth, unless `anonymous`.
    """
    host = registry if isinstance(registry, str) else registry.host
    if creds is None and not anonymous and isinstance(registry, Registry | FaultProxy):
        reg = registry if isinstance(registry, Registry) else registry.registry
        if reg is not None and reg.auth != "none":
            creds = reg.creds
    with tempfile.TemporaryDirectory(prefix="gobox-skopeo-") as tmp:
        t = Path(tmp)
        # Nothing from the machine's containers config may steer the copy (mirrors, stored logins).
        (t / "registries.conf").write_text("")
        cmd = ["skopeo", "--insecure-policy", "--tmpdir", tmp, "--registries.d", tmp, "copy", "--quiet",
               "--dest-tls-verify=false", "--dest-authfile", str(t / "auth.json"),
               "--digestfile", str(t / "digest")]
        if creds and not anonymous:
            cmd += ["--dest-creds", creds]
        elif anonymous:
            cmd += ["--dest-no-creds"]
        if format:
            cmd += ["--format", format]
        if top_media_type(layout_dir, tag) == OCI_INDEX:
            cmd += ["--multi-arch", "all"]
        cmd += [f"oci:{layout_dir}:{tag}", f"docker://{host}/{ref}"]
        env = _child_env(CONTAINERS_REGISTRIES_CONF=str(t / "registries.conf"), HOME=tmp,
                         XDG_RUNTIME_DIR=tmp, REGISTRY_AUTH_FILE=str(t / "auth.json"))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            shown = " ".join(c if c != creds else "<creds>" for c in cmd)
            raise RuntimeError(f"skopeo failed ({p.returncode}): {shown}\n{p.stderr.strip()}")
        return (t / "digest").read_text().strip()


# --- fault proxy --------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do to requests whose path matches `pattern` (re.search), `times` times, then pass through.

    kind: `status` answers `status` (with Retry-After if set) without asking the registry;
    `truncate` sends the registry's headers and the first `after` bytes of its body, waits
    `stall` seconds (bounded), then closes the connection; `drop` closes without answering.
    """

    pattern: str
    kind: str = "status"
    status: int = 500
    times: int = 1
    retry_after: str | None = None
    after: int = 0
    stall: float = 0.0
    method: str | None = None
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.used < self.times and (self.method is None or self.method == method)
                and re.search(self.pattern, path) is not None)


@dataclass
class ProxyHit:
    method: str
    path: str
    status: int
    fault: str | None


HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade"}


@dataclass
class FaultProxy(_Served):
    """A threaded loopback HTTP proxy in front of a Registry that injects faults per path pattern.

    Point a client at `proxy.url` instead of `registry.url`; the Host header is passed through, so
    the registry's Location headers point back at the proxy. Bodies are buffered (test images are small).
    """

    registry: Registry | None = None
    upstream: str = ""  # host:port, taken from `registry` when not given
    faults: list[Fault] = field(default_factory=list)
    hits: list[ProxyHit] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.upstream and self.registry is not None:
            self.upstream = self.registry.host
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._name = "fault-proxy"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        self._serve()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._shutdown()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(self, pattern: str, *, times: int = 1, retry_after: str = "1", method: str | None = None) -> Fault:
        """429 with Retry-After the first `times` matching requests."""
        return self.add(Fault(pattern, "status", 429, times, retry_after=retry_after, method=method))

    def error(self, pattern: str, *, status: int = 500, times: int = 1, method: str | None = None) -> Fault:
        return self.add(Fault(pattern, "status", status, times, method=method))

    def truncate(self, pattern: str, *, after: int, times: int = 1, stall: float = 0.0,
                 method: str | None = None) -> Fault:
        """Cut the body off after `after` bytes (optionally hanging `stall` seconds first)."""
        return self.add(Fault(pattern, "truncate", times=times, after=after, stall=stall, method=method))

    def corrupt(self, pattern: str, *, times: int = 1, method: str | None = None) -> Fault:
        """Flip one byte in the middle of the body, keeping its length: content that lies about its digest."""
        return self.add(Fault(pattern, "corrupt", times=times, method=method))

    def drop(self, pattern: str, *, times: int = 1, method: str | None = None) -> Fault:
        return self.add(Fault(pattern, "drop", times=times, method=method))

    def reset(self) -> None:
        """No faults, no hits: for a shared proxy between tests."""
        with self._lock:
            self.faults.clear()
            self.hits.clear()

    def hits_for(self, pattern: str) -> list[ProxyHit]:
        with self._lock:
            return [h for h in self.hits if re.search(pattern, h.path)]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.matches(method, path):
                    f.used += 1
                    return f
        return None

    def _record(self, method: str, path: str, status: int, fault: str | None) -> None:
        with self._lock:
            self.hits.append(ProxyHit(method, path, status, fault))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    return self._chunked()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _chunked(self) -> bytes:
                out = bytearray()
                while True:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline(16)

            def _send_status(self, fault: Fault) -> None:
                code = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED", 404: "NOT_FOUND"}.get(fault.status, "UNKNOWN")
                data = json.dumps({"errors": [{"code": code, "message": f"injected {fault.status}"}]}).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _close_now(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _forward(self) -> None:
                body = self._body()
                fault = proxy._take(self.command, self.path)
                # Each hit is recorded before the client can see the answer, so a test that has
                # its response also sees the hit.
                if fault is not None and fault.kind == "status":
                    proxy._record(self.command, self.path, fault.status, "status")
                    return self._send_status(fault)
                if fault is not None and fault.kind == "drop":
                    proxy._record(self.command, self.path, 0, "drop")
                    return self._close_now()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                host, _, port = proxy.upstream.rpartition(":")
                conn = HTTPConnection(host, int(port), timeout=30)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, rheaders = resp.status, resp.getheaders()
                except OSError as e:
                    # A registry that is down shows as a gateway error, not as a fault of the proxy's own.
                    proxy._record(self.command, self.path, 502, f"upstream: {e}")
                    return self._send_status(Fault("", status=502))
                finally:
                    conn.close()
                truncate = fault is not None and fault.kind == "truncate" and self.command != "HEAD"
                corrupt = fault is not None and fault.kind == "corrupt" and bool(data)
                if corrupt:
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
                proxy._record(self.command, self.path, status,
                              "truncate" if truncate else "corrupt" if corrupt else None)
                self.send_response(status)
                for k, v in rheaders:
                    if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                        self.send_header(k, v)
                length = next((v for k, v in rheaders if k.lower() == "content-length"), None)
                if self.command == "HEAD":
                    self.send_header("Content-Length", length or "0")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if truncate:
                    self.wfile.write(data[:fault.after])
                    self.wfile.flush()
                    proxy._stopping.wait(min(fault.stall, STALL_LIMIT))
                    return self._close_now()
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        return Handler
