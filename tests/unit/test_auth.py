"""Registry auth: WWW-Authenticate parsing, docker's config.json, real credential helpers, token requests."""

from __future__ import annotations

import base64
import functools
import json
import random
import stat
import sys
import time
from pathlib import Path

import pytest

from gobox.errors import EXIT_USAGE, ConfigError, NetworkError
from gobox.oci.auth import (
    ANONYMOUS,
    DOCKER_HUB_KEY,
    Challenge,
    CredentialError,
    Credentials,
    basic_header,
    credentials_for,
    docker_config_path,
    load_docker_config,
    parse_challenges,
    parse_token_response,
    run_credential_helper,
    scope_for,
    token_request,
)

HUB_CHALLENGE = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                 'scope="repository:library/golang:pull"')


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- WWW-Authenticate --------------------------------------------------------------------------------------------

def test_docker_hub_bearer_challenge() -> None:
    (c,) = parse_challenges(HUB_CHALLENGE)
    assert c.scheme == "bearer"
    assert c.param("realm") == "https://auth.docker.io/token"
    assert c.param("service") == "registry.docker.io"
    assert c.param("scope") == "repository:library/golang:pull"
    assert c.param("error") is None


def test_basic_challenge() -> None:
    assert parse_challenges('Basic realm="Registry Realm"') == (Challenge("basic", (("realm", "Registry Realm"),)),)


def test_two_challenges_in_one_header() -> None:
    basic, bearer = parse_challenges('Basic realm="reg, with comma", Bearer realm="https://a/token",service="a"')
    assert basic == Challenge("basic", (("realm", "reg, with comma"),))
    assert bearer.scheme == "bearer"
    assert bearer.params == (("realm", "https://a/token"), ("service", "a"))


def test_rfc7235_example_with_escaped_quotes() -> None:
    header = r'Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"'
    newauth, basic = parse_challenges(header)
    assert newauth.scheme == "newauth"
    assert newauth.param("type") == "1"
    assert newauth.param("title") == 'Login to "apps"'
    assert basic.param("realm") == "simple"


def test_escaped_backslash_and_comma_inside_quotes() -> None:
    (c,) = parse_challenges(r'Bearer realm="https://r/t?a=1,b=2",service="a\\b\,c"')
    assert c.param("realm") == "https://r/t?a=1,b=2"
    assert c.param("service") == "a\\b,c"


def test_insufficient_scope_error() -> None:
    header = ('Bearer realm="https://ghcr.io/token",service="ghcr.io",'
              'scope="repository:a/b:pull repository:a/c:pull",error="insufficient_scope"')
    (c,) = parse_challenges(header)
    assert c.param("error") == "insufficient_scope"
    assert c.param("scope") == "repository:a/b:pull repository:a/c:pull"


def test_case_and_whitespace_are_tolerated() -> None:
    (c,) = parse_challenges('  BEARER   Realm = "https://x/token" ,\tSERVICE=x.io ,  ,Scope="s"  ')
    assert c.scheme == "bearer"
    assert c.params == (("realm", "https://x/token"), ("service", "x.io"), ("scope", "s"))
    assert c.param("REALM") == "https://x/token"


def test_unquoted_url_value() -> None:
    (c,) = parse_challenges("Bearer realm=https://x.io/token?a=b,service=x.io")
    assert c.param("realm") == "https://x.io/token?a=b"
    assert c.param("service") == "x.io"


def test_token68_is_skipped_not_mistaken_for_a_scheme() -> None:
    assert [c.scheme for c in parse_challenges("Negotiate YIIabc+/==, Basic realm=x")] == ["negotiate", "basic"]


@pytest.mark.parametrize("header, expected", [
    ("", ()),
    (",,, ,", ()),
    ("=", ()),
    ('"quoted"', ()),
    ('realm="x"', ()),
    ('Bearer realm="never closed', (Challenge("bearer", ()),)),
    ('Bearer service="s", realm="never closed', (Challenge("bearer", (("service", "s"),)),)),
    ('Bearer realm="x" junk junk, service="s"', (Challenge("bearer", (("realm", "x"), ("service", "s"))),)),
    ("Bearer =x, realm=y", (Challenge("bearer", (("realm", "y"),)),)),
    ('Bearer realm="x",,,', (Challenge("bearer", (("realm", "x"),)),)),
    ("Basic", (Challenge("basic", ()),)),
])
def test_malformed_headers_yield_what_can_be_parsed(header: str, expected: tuple) -> None:
    assert parse_challenges(header) == expected


def test_random_garbage_never_raises() -> None:
    rnd = random.Random(7235)
    alphabet = 'ab=,"\\ \t\r\nBearer realm\x00\xff'
    for _ in range(3000):
        header = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        for c in parse_challenges(header):
            assert c.scheme == c.scheme.lower() and c.scheme
            assert all(name == name.lower() for name, _ in c.params)


def test_not_a_string_is_no_challenge() -> None:
    assert parse_challenges(None) == ()  # type: ignore[arg-type]


# --- config.json -------------------------------------------------------------------------------------------------

def test_config_path_prefers_docker_config(tmp_path: Path) -> None:
    assert docker_config_path({"DOCKER_CONFIG": "/etc/dc", "HOME": "/home/u"}) == Path("/etc/dc/config.json")
    assert docker_config_path({"DOCKER_CONFIG": "", "HOME": "/home/u"}) == Path("/home/u/.docker/config.json")
    assert docker_config_path({"HOME": str(tmp_path)}) == tmp_path / ".docker" / "config.json"


def test_missing_or_empty_config_is_empty(tmp_path: Path) -> None:
    assert load_docker_config(tmp_path / "nope.json") == {}
    (tmp_path / "empty.json").write_text("\n")
    assert load_docker_config(tmp_path / "empty.json") == {}


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "auths": {\n    "x": {"auth": "abc",}\n  }\n}\n')
    with pytest.raises(ConfigError) as e:
        load_docker_config(path)
    assert e.value.message.startswith(f"{path}: line 3 ")
    assert e.value.exit_code == EXIT_USAGE
    assert e.value.hint


def test_config_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        load_docker_config(path)


def test_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'\xef\xbb\xbf{"auths": {}}')
    assert load_docker_config(path) == {"auths": {}}


CFG = Path("/root/.docker/config.json")


def lookup(registry: str, config: dict) -> Credentials:
    def no_helpers(helper: str, server: str) -> Credentials | None:
        raise AssertionError(f"no helper should run, {helper} was")

    return credentials_for(registry, config, CFG, run_helper=no_helpers)


@pytest.mark.parametrize("key", [DOCKER_HUB_KEY, "index.docker.io", "docker.io", "registry-1.docker.io",
                                 "https://index.docker.io/v1", "https://docker.io/"])
@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_aliases(key: str, registry: str) -> None:
    creds = lookup(registry, {"auths": {key: {"auth": b64("hubuser:hubpass")}}})
    assert (creds.username, creds.password) == ("hubuser", "hubpass")


def test_docker_hub_legacy_key_wins() -> None:
    config = {"auths": {"docker.io": {"auth": b64("b:2")}, DOCKER_HUB_KEY: {"auth": b64("a:1")}}}
    assert lookup("docker.io", config).username == "a"


def test_host_and_port_must_match() -> None:
    config = {"auths": {"127.0.0.1:5000": {"auth": b64("local:pw")}}}
    assert lookup("127.0.0.1:5000", config).username == "local"
    assert lookup("127.0.0.1:5001", config) == ANONYMOUS
    assert lookup("127.0.0.1", config) == ANONYMOUS
    assert lookup("docker.io", config).anonymous


@pytest.mark.parametrize("key", ["https://ghcr.io", "https://ghcr.io/", "http://ghcr.io/v2/", "https://GHCR.io/v1/",
                                 "ghcr.io/"])
def test_decorated_keys_match(key: str) -> None:
    assert lookup("ghcr.io", {"auths": {key: {"auth": b64("gh:tok")}}}).username == "gh"


def test_lookalike_hosts_do_not_match() -> None:
    config = {"auths": {"ghcr.io.evil.example": {"auth": b64("x:y")}, DOCKER_HUB_KEY: {"auth": b64("h:p")}}}
    assert lookup("ghcr.io", config) == ANONYMOUS


def test_password_may_contain_colons() -> None:
    creds = lookup("r.io", {"auths": {"r.io": {"auth": b64("bob:pa:ss:word")}}})
    assert (creds.username, creds.password) == ("bob", "pa:ss:word")


def test_unpadded_base64_is_accepted() -> None:
    raw = b64("bob:x").rstrip("=")
    assert lookup("r.io", {"auths": {"r.io": {"auth": raw}}}).password == "x"


def test_explicit_username_and_password_fields() -> None:
    creds = lookup("r.io", {"auths": {"r.io": {"username": "u", "password": "p"}}})
    assert (creds.username, creds.password) == ("u", "p")


@pytest.mark.parametrize("auth", ["not base64!", b64("no-colon-here"), base64.b64encode(b"\xff\xfe:x").decode()])
def test_bad_auth_names_file_and_key(auth: str) -> None:
    with pytest.raises(ConfigError) as e:
        lookup("127.0.0.1:5000", {"auths": {"127.0.0.1:5000": {"auth": auth}}})
    assert e.value.message == '/root/.docker/config.json: auths."127.0.0.1:5000".auth: not base64 of "user:password"'
    assert auth not in e.value.message
    assert "docker login 127.0.0.1:5000" in e.value.hint


def test_identity_and_registry_tokens() -> None:
    config = {"auths": {"r.io": {"auth": b64("bob:"), "identitytoken": "refresh-me"},
                        "s.io": {"registrytoken": "bearer-me"}}}
    creds = lookup("r.io", config)
    assert (creds.username, creds.identity_token) == ("bob", "refresh-me")
    assert lookup("s.io", config) == Credentials(registry_token="bearer-me")


def test_wrong_types_in_config_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r'auths."r.io": not a JSON object'):
        lookup("r.io", {"auths": {"r.io": "secret"}})
    with pytest.raises(ConfigError, match=r'auths."r.io".password: not a string'):
        lookup("r.io", {"auths": {"r.io": {"password": 123}}})
    with pytest.raises(ConfigError, match="credHelpers: not a JSON object"):
        lookup("r.io", {"credHelpers": ["x"]})


def test_empty_entry_is_anonymous() -> None:
    assert lookup("r.io", {"auths": {"r.io": {}}}) == ANONYMOUS
    assert lookup("r.io", {}).anonymous


# --- credential helpers, run for real ----------------------------------------------------------------------------

HELPER = """#!{python}
# A docker credential helper for tests. Its name picks its store and mode from the state directory.
import json, os, subprocess, sys, time
name = os.path.basename(sys.argv[0]).removeprefix("docker-credential-")
state = os.environ["GOBOX_TEST_HELPER_STATE"]
server = sys.stdin.read()
with open(os.path.join(state, "calls.log"), "a") as log:
    log.write(name + " " + " ".join(sys.argv[1:]) + " " + server + "\\n")
mode_file = os.path.join(state, name + ".mode")
mode = open(mode_file).read().strip() if os.path.exists(mode_file) else "store"
if mode == "fail":
    print("error: the keyring is locked", file=sys.stderr)
    print("(details on stdout)")
    sys.exit(1)
if mode == "fail-stdout":
    print("error getting credentials - dbus: no session bus")
    sys.exit(1)
if mode == "leaky-fail":
    print(json.dumps({{"Username": "bob", "Secret": "hunter2-leak"}}))
    sys.exit(3)
if mode == "not-json":
    print("hunter2-garbage is not json")
    sys.exit(0)
if mode == "slow":
    # A grandchild holding stdout open must not keep gobox waiting once the helper is killed.
    subprocess.Popen(["sleep", "5"])
    time.sleep(30)
if mode == "not-found-stderr":
    print("credentials not found in native keychain", file=sys.stderr)
    sys.exit(1)
with open(os.path.join(state, name + ".json")) as f:
    store = json.load(f)
if server in store:
    print(json.dumps(dict(ServerURL=server, **store[server])))
    sys.exit(0)
print("credentials not found in native keychain")
sys.exit(1)
"""


class Helpers:
    """docker-credential-* programs in a private bin directory, and the environ that finds them."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.state = root / "state"
        self.bin.mkdir()
        self.state.mkdir()
        self.environ = {"PATH": str(self.bin), "HOME": str(root), "GOBOX_TEST_HELPER_STATE": str(self.state)}

    def add(self, name: str, store: dict | None = None, mode: str = "store") -> None:
        exe = self.bin / f"docker-credential-{name}"
        exe.write_text(HELPER.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (self.state / f"{name}.json").write_text(json.dumps(store or {}))
        (self.state / f"{name}.mode").write_text(mode)

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def run(self, helper: str, server: str) -> Credentials | None:
        return run_credential_helper(helper, server, self.environ, timeout=20)

    def lookup(self, registry: str, config: dict) -> Credentials:
        return credentials_for(registry, config, CFG, run_helper=self.run)


@pytest.fixture
def helpers(tmp_path: Path) -> Helpers:
    return Helpers(tmp_path)


def test_helper_answers_with_username_and_secret(helpers: Helpers) -> None:
    helpers.add("gobox-test", {"r.io": {"Username": "bob", "Secret": "s3cret"}})
    assert helpers.run("gobox-test", "r.io") == Credentials(username="bob", password="s3cret")
    assert helpers.calls() == ["gobox-test get r.io"]


def test_helper_not_found_is_none(helpers: Helpers) -> None:
    helpers.add("gobox-test", {})
    assert helpers.run("gobox-test", "r.io") is None
    helpers.add("gobox-test", mode="not-found-stderr")
    assert helpers.run("gobox-test", "r.io") is None


def test_token_username_means_identity_token(helpers: Helpers) -> None:
    helpers.add("gobox-test", {DOCKER_HUB_KEY: {"Username": "<token>", "Secret": "refresh-tok"}})
    assert helpers.lookup("docker.io", {"credsStore": "gobox-test"}) == Credentials(identity_token="refresh-tok")
    assert helpers.calls() == [f"gobox-test get {DOCKER_HUB_KEY}"]


def test_creds_store_asked_with_host_and_port(helpers: Helpers) -> None:
    helpers.add("gobox-test", {"127.0.0.1:5000": {"Username": "u", "Secret": "p"}})
    assert helpers.lookup("127.0.0.1:5000", {"credsStore": "gobox-test"}) == Credentials("u", "p")


def test_cred_helpers_win_over_creds_store_and_auths(helpers: Helpers) -> None:
    helpers.add("gobox-test", {"r.io": {"Username": "from-cred-helper", "Secret": "1"}})
    helpers.add("gobox-store", {"r.io": {"Username": "from-store", "Secret": "2"}})
    config = {"credHelpers": {"r.io": "gobox-test"}, "credsStore": "gobox-store",
              "auths": {"r.io": {"auth": b64("from-auths:3")}}}
    assert helpers.lookup("r.io", config).username == "from-cred-helper"
    assert helpers.lookup("other.io", config) == ANONYMOUS
    assert helpers.calls() == ["gobox-test get r.io", "gobox-store get other.io"]


def test_cred_helpers_key_for_docker_hub(helpers: Helpers) -> None:
    helpers.add("gobox-test", {DOCKER_HUB_KEY: {"Username": "hub", "Secret": "x"}})
    assert helpers.lookup("registry-1.docker.io", {"credHelpers": {"docker.io": "gobox-test"}}).username == "hub"


def test_creds_store_wins_over_auths_and_falls_back_to_them(helpers: Helpers) -> None:
    helpers.add("gobox-store", {"r.io": {"Username": "from-store", "Secret": "2"}})
    config = {"credsStore": "gobox-store", "auths": {"r.io": {"auth": b64("a:1")}, "s.io": {"auth": b64("s:1")}}}
    assert helpers.lookup("r.io", config).username == "from-store"
    assert helpers.lookup("s.io", config).username == "s"


def test_failing_helper_names_program_and_first_line(helpers: Helpers) -> None:
    helpers.add("gobox-test", mode="fail")
    with pytest.raises(CredentialError) as e:
        helpers.lookup("r.io", {"credHelpers": {"r.io": "gobox-test"}})
    assert e.value.message == ("credential helper docker-credential-gobox-test failed (exit 1): "
                               "error: the keyring is locked")


def test_failing_helper_message_may_come_on_stdout(helpers: Helpers) -> None:
    helpers.add("gobox-test", mode="fail-stdout")
    with pytest.raises(CredentialError, match="dbus: no session bus"):
        helpers.run("gobox-test", "r.io")


@pytest.mark.parametrize("mode", ["leaky-fail", "not-json"])
def test_secrets_never_reach_messages(helpers: Helpers, mode: str) -> None:
    helpers.add("gobox-test", mode=mode)
    with pytest.raises(CredentialError) as e:
        helpers.run("gobox-test", "r.io")
    assert "docker-credential-gobox-test" in e.value.message
    assert "hunter2" not in e.value.message + (e.value.hint or "")


def test_missing_helper(helpers: Helpers) -> None:
    with pytest.raises(CredentialError) as e:
        helpers.lookup("r.io", {"credsStore": "desktop"})
    assert e.value.message == "credential helper docker-credential-desktop not found on PATH"
    assert "install docker-credential-desktop" in e.value.hint
    assert str(Path(helpers.environ["HOME"]) / ".docker" / "config.json") in e.value.hint


def test_helper_is_looked_up_on_the_given_path_only(helpers: Helpers) -> None:
    helpers.add("gobox-test", {"r.io": {"Username": "u", "Secret": "p"}})
    with pytest.raises(CredentialError, match="not found on PATH"):
        run_credential_helper("gobox-test", "r.io", {**helpers.environ, "PATH": "/nonexistent"})


def test_helper_name_cannot_be_a_path(helpers: Helpers) -> None:
    with pytest.raises(CredentialError, match="not a credential helper name"):
        helpers.run("../../bin/sh", "r.io")


def test_helper_timeout(helpers: Helpers) -> None:
    helpers.add("gobox-test", mode="slow")
    start = time.monotonic()
    with pytest.raises(CredentialError, match=r"docker-credential-gobox-test did not answer within 0.5s"):
        run_credential_helper("gobox-test", "r.io", {**helpers.environ, "PATH": f"{helpers.bin}:/usr/bin:/bin"},
                              timeout=0.5)
    assert time.monotonic() - start < 4


def test_default_runner_uses_the_process_environment(helpers: Helpers, monkeypatch: pytest.MonkeyPatch) -> None:
    helpers.add("gobox-test", {"r.io": {"Username": "env", "Secret": "p"}})
    for k, v in helpers.environ.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PATH", f"{helpers.bin}:/usr/bin:/bin")
    assert credentials_for("r.io", {"credsStore": "gobox-test"}, CFG).username == "env"


def test_partial_runner_is_enough(helpers: Helpers) -> None:
    helpers.add("gobox-test", {"r.io": {"Username": "u", "Secret": "p"}})
    run = functools.partial(run_credential_helper, environ=helpers.environ)
    assert credentials_for("r.io", {"credsStore": "gobox-test"}, CFG, run_helper=run).password == "p"


# --- secrets stay out of reprs -----------------------------------------------------------------------------------

def test_repr_hides_secrets() -> None:
    creds = Credentials(username="bob", password="hunter2")
    assert repr(creds) == "Credentials(username='bob', password=***)"
    assert str(creds) == repr(creds)
    assert f"{creds}" == repr(creds)
    tokens = Credentials(identity_token="idtok", registry_token="regtok")
    assert "idtok" not in repr(tokens) and "regtok" not in repr(tokens)
    assert repr(tokens) == "Credentials(username='', identity_token=***, registry_token=***)"
    assert "hunter2" not in repr([creds, {"c": creds}])


def test_anonymous() -> None:
    assert Credentials().anonymous and ANONYMOUS.anonymous
    assert not Credentials(username="u").anonymous
    assert not Credentials(registry_token="t").anonymous


# --- Basic and Bearer --------------------------------------------------------------------------------------------

def test_basic_header() -> None:
    assert basic_header(Credentials("bob", "pa:ss")) == "Basic " + b64("bob:pa:ss")
    assert basic_header(Credentials("Aladdin", "open sesame")) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    with pytest.raises(ValueError):
        basic_header(ANONYMOUS)


HUB = parse_challenges(HUB_CHALLENGE)[0]


def test_token_request_anonymous() -> None:
    req = token_request(HUB, (scope_for("library/golang"),), ANONYMOUS)
    assert (req.url, req.method, req.basic_auth) == ("https://auth.docker.io/token", "GET", False)
    assert req.params == (("service", "registry.docker.io"), ("scope", "repository:library/golang:pull"))
    assert req.encoded_params() == "service=registry.docker.io&scope=repository%3Alibrary%2Fgolang%3Apull"


def test_token_request_basic_repeats_scope() -> None:
    (ping,) = parse_challenges('Bearer realm="https://r.io/token?x=1",service="r.io"')
    scopes = (scope_for("a/b", ("pull", "push")), scope_for("a/c"))
    req = token_request(ping, scopes, Credentials("bob", "pw"))
    assert (req.url, req.method, req.basic_auth) == ("https://r.io/token?x=1", "GET", True)
    assert req.params == (("service", "r.io"), ("scope", "repository:a/b:pull,push"), ("scope", "repository:a/c:pull"))


def test_token_request_puts_challenge_scope_first_without_repeats() -> None:
    (c,) = parse_challenges('Bearer realm="https://r.io/t",scope="repository:x:push repository:y:pull",'
                            'error="insufficient_scope"')
    req = token_request(c, ("repository:y:pull", "repository:z:pull"), ANONYMOUS)
    assert req.params == (("scope", "repository:x:push"), ("scope", "repository:y:pull"),
                          ("scope", "repository:z:pull"))


def test_token_request_identity_token_uses_refresh_grant() -> None:
    req = token_request(HUB, ("repository:a:pull", "repository:b:pull"), Credentials("bob", identity_token="rt"))
    assert (req.url, req.method, req.basic_auth) == ("https://auth.docker.io/token", "POST", False)
    assert req.params == (("grant_type", "refresh_token"), ("service", "registry.docker.io"),
                          ("scope", "repository:library/golang:pull repository:a:pull repository:b:pull"),
                          ("client_id", "gobox"), ("refresh_token", "rt"))
    assert "rt'" not in repr(req) and "refresh_token', '***'" in repr(req)


def test_token_request_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError):
        token_request(Challenge("basic", (("realm", "x"),)), (), ANONYMOUS)
    with pytest.raises(NetworkError, match="no realm"):
        token_request(Challenge("bearer", (("service", "x"),)), (), ANONYMOUS)
    for realm in ("file:///etc/passwd", "auth.docker.io/token", "http://[::1"):
        with pytest.raises(NetworkError, match="not an http"):
            token_request(Challenge("bearer", (("realm", realm),)), (), Credentials("u", "p"))


@pytest.mark.parametrize("body, expected", [
    (b'{"token": "t1", "expires_in": 300, "issued_at": "2024-01-01T00:00:00Z"}', ("t1", 300)),
    (b'{"access_token": "t2"}', ("t2", 60)),
    (b'{"token": "t3", "access_token": "t3", "expires_in": "soon"}', ("t3", 60)),
    (b'{"token": "t4", "expires_in": 0}', ("t4", 60)),
    (b'{"token": "t5", "expires_in": 120.5}', ("t5", 120)),
    (b'{"token": "t6", "expires_in": NaN}', ("t6", 60)),
])
def test_parse_token_response(body: bytes, expected: tuple[str, int]) -> None:
    assert parse_token_response(body) == expected


@pytest.mark.parametrize("body", [b"<html>refresh_token=leak</html>", b"[]", b'{"token": ""}',
                                  b'{"refresh_token": "leak"}', b"\xff"])
def test_parse_token_response_errors_quote_nothing(body: bytes) -> None:
    with pytest.raises(NetworkError) as e:
        parse_token_response(body)
    assert "leak" not in e.value.message


def test_scope_for() -> None:
    assert scope_for("library/golang") == "repository:library/golang:pull"
    assert scope_for("x", ("pull", "push")) == "repository:x:pull,push"
    with pytest.raises(ValueError):
        scope_for("x", ())
