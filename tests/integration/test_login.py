"""Registry logins as podman and skopeo keep them, with a real htpasswd and a real token registry.

gobox pull and push read podman's auth.json ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers), gobox login
checks a password with the registry and writes that file for skopeo to read, gobox reads what `skopeo login`
wrote, and gobox logout takes the login away again.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.ocilayout import Written
from support.registry import TOOLS, Registry, RegistryFactory, _child_env, push
from support.requires import requires_tool
from support.runner import REPO, Gobox
from support.terminal import Terminal

pytestmark = requires_tool(*TOOLS)


@pytest.fixture(scope="module")
def basic(sample_layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    r = registries("basic")
    push(sample_layout[0], "app", r, "private/app:v1")
    return r


@pytest.fixture(scope="module")
def token(sample_layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    r = registries("token")
    push(sample_layout[0], "app", r, "private/app:v1")
    return r


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's login places, all empty: podman's runtime and config dirs and docker's, none of the machine's."""
    home = tmp_path / "user"
    (home / "run").mkdir(parents=True)
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home / "config"),
            "DOCKER_CONFIG": str(home / "docker"), "REGISTRY_AUTH_FILE": ""}


def runtime_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"


def auth_json(path: Path, auths: dict[str, tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {k: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
                                          for k, (u, p) in auths.items()}}))


def pull(gobox: Gobox, ref: str, env: dict[str, str]) -> dict:
    r = gobox("pull", "--json", ref, env=env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def login(gobox: Gobox, reg: Registry, env: dict[str, str], password: str | None = None, *args: str):  # noqa: ANN201
    """gobox login with the password on stdin, as a script gives it."""
    p = subprocess.run([sys.executable, "-m", "gobox", "login", "-u", reg.user, "--password-stdin", *args, reg.host],
                       input=(reg.password if password is None else password) + "\n", capture_output=True, text=True,
                       env={**gobox.env, **env}, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def skopeo(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="gobox-skopeo-") as tmp:
        # Nothing from the machine's containers config may steer it: no mirrors, no other logins.
        (Path(tmp) / "registries.conf").write_text("")
        full = {**_child_env(CONTAINERS_REGISTRIES_CONF=str(Path(tmp) / "registries.conf")), **env}
        return subprocess.run(["skopeo", "--registries.d", tmp, *args], capture_output=True, text=True, timeout=120,
                              env=full, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


# --- podman's files, read by gobox pull and push -----------------------------------------------------------------

def test_registry_auth_file_is_read_by_pull_and_push_and_stands_alone(
        gobox: Gobox, basic: Registry, user_env: dict[str, str], tmp_path: Path) -> None:
    ref = f"{basic.host}/private/app:v1"
    authfile = tmp_path / "ci-auth.json"
    auth_json(authfile, {basic.host: basic.basic})
    env = {**user_env, "REGISTRY_AUTH_FILE": str(authfile)}
    assert pull(gobox, ref, env)["fetched"] == 3
    pushed = gobox("push", ref, f"{basic.host}/copies/app:v2", env=env)
    assert pushed.code == 0, pushed.err
    # Like podman's --authfile, it is the only file read: a login in docker's config does not stand in for it.
    auth_json(Path(user_env["DOCKER_CONFIG"]) / "config.json", {basic.host: basic.basic})
    auth_json(authfile, {"elsewhere.example": ("x", "y")})
    r = gobox("pull", ref, env=env)
    assert r.code == 4 and f"{basic.host} needs credentials" in r.err and f"gobox login {basic.host}" in r.err
    assert str(authfile) in r.err


def test_xdg_runtime_file_with_a_namespace_login_against_a_token_registry(
        gobox: Gobox, token: Registry, user_env: dict[str, str]) -> None:
    ref = f"{token.host}/private/app:v1"
    # The namespace key is more specific than the registry's and wins; the registry-wide login is wrong.
    auth_json(runtime_file(user_env), {f"{token.host}/private": token.basic, token.host: (token.user, "wrong")})
    before = len(token.token_server.hits)  # the registry is shared: only this test's tokens count
    assert pull(gobox, ref, user_env)["fetched"] == 3
    assert any(h.subject == token.user and any("private/app" in s for s in h.scopes)
               for h in token.token_server.hits[before:])
    # ~/.config/containers/auth.json is read after the runtime file, when that has no login for the registry.
    runtime_file(user_env).unlink()
    auth_json(Path(user_env["XDG_CONFIG_HOME"]) / "containers" / "auth.json", {token.host: token.basic})
    assert pull(gobox, ref, user_env)["reused"] == 3


# --- gobox login, logout, and skopeo ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["basic", "token"])
def test_login_then_pull_and_skopeo_reads_the_file_then_logout(
        gobox: Gobox, mode: str, request: pytest.FixtureRequest, user_env: dict[str, str]) -> None:
    reg: Registry = request.getfixturevalue(mode)
    ref = f"{reg.host}/private/app:v1"
    p = login(gobox, reg, user_env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Login Succeeded!\n"
    path = runtime_file(user_env)
    assert f"kept in {path}" in p.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert pull(gobox, ref, user_env)["digest"]
    # skopeo finds the login in its default file (REGISTRY_AUTH_FILE here, as CI sets it) and by --authfile.
    assert skopeo("inspect", "--tls-verify=false", f"docker://{ref}", env={"REGISTRY_AUTH_FILE": str(path)}
                  ).returncode == 0
    inspect = skopeo("inspect", "--tls-verify=false", "--authfile", str(path), f"docker://{ref}",
                     env={"REGISTRY_AUTH_FILE": ""})
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["Name"] == f"{reg.host}/private/app"

    out = gobox("logout", reg.host, env=user_env)
    assert out.code == 0 and out.out == f"Removed login credentials for {reg.host}\n"
    assert json.loads(path.read_text()) == {"auths": {}}
    after = gobox("pull", ref, env=user_env)
    assert after.code == 4, after.err
    again = gobox("logout", reg.host, env=user_env)
    assert again.code == 1 and again.err.startswith(f"gobox: error: not logged in to {reg.host}\n")


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_a_wrong_password_is_one_line_and_stores_nothing(
        gobox: Gobox, mode: str, request: pytest.FixtureRequest, user_env: dict[str, str]) -> None:
    reg: Registry = request.getfixturevalue(mode)
    path = runtime_file(user_env)
    p = login(gobox, reg, user_env, password="not-the-password")
    assert p.returncode == 4, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("gobox: error:")]
    assert errors == [f"gobox: error: {reg.host} refused the credentials for {reg.user!r} (HTTP 401"
                      + (" from its token service)" if mode == "token" else ")")]
    assert "not-the-password" not in p.stderr + p.stdout and p.stdout == ""
    assert not path.exists()
    # A file that was there already is left exactly as it was.
    auth_json(path, {"other.example": ("a", "b")})
    before = path.read_bytes()
    assert login(gobox, reg, user_env, password="still-wrong").returncode == 4
    assert path.read_bytes() == before


def test_gobox_reads_what_skopeo_login_wrote_and_keeps_its_entries(
        gobox: Gobox, basic: Registry, token: Registry, user_env: dict[str, str], tmp_path: Path) -> None:
    authfile = tmp_path / "shared" / "auth.json"
    env = {**user_env, "REGISTRY_AUTH_FILE": str(authfile)}
    s = skopeo("login", "--tls-verify=false", "-u", token.user, "--password-stdin", token.host,
               env={"REGISTRY_AUTH_FILE": str(authfile), "HOME": user_env["HOME"]}, stdin=token.password)
    assert s.returncode == 0, s.stderr
    assert pull(gobox, f"{token.host}/private/app:v1", env)["digest"]
    # gobox login adds its own entry to skopeo's file and keeps skopeo's, which still works for skopeo.
    p = login(gobox, basic, env)
    assert p.returncode == 0, p.stderr
    assert set(json.loads(authfile.read_text())["auths"]) == {token.host, basic.host}
    assert skopeo("inspect", "--tls-verify=false", f"docker://{token.host}/private/app:v1",
                  env={"REGISTRY_AUTH_FILE": str(authfile)}).returncode == 0
    assert pull(gobox, f"{basic.host}/private/app:v1", env)["digest"]


def test_login_asks_for_the_password_on_a_terminal_without_echoing_it(
        gobox: Gobox, basic: Registry, user_env: dict[str, str]) -> None:
    env = {**gobox.env, **user_env, "PYTHONPATH": str(REPO)}
    with Terminal([sys.executable, "-m", "gobox", "login", "-u", basic.user, basic.host], env) as term:
        term.expect(b"Password: ")
        term.type(basic.password.encode() + b"\r")
        term.expect(b"Login Succeeded!")
        assert term.wait() == 0
    assert basic.password.encode() not in term.seen
    assert pull(gobox, f"{basic.host}/private/app:v1", user_env)["digest"]


def test_login_without_a_password_or_terminal_is_a_usage_error(
        gobox: Gobox, basic: Registry, user_env: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "gobox", "login", "-u", basic.user, basic.host], text=True,
                       capture_output=True, stdin=subprocess.DEVNULL, env={**gobox.env, **user_env}, timeout=120)
    assert r.returncode == 2 and "no password given, and stdin is not a terminal" in r.stderr
    assert f"--password-stdin {basic.host}" in r.stderr and "Traceback" not in r.stderr
    assert not runtime_file(user_env).exists()


def test_a_credential_helper_named_in_podmans_file_is_run(
        gobox: Gobox, token: Registry, user_env: dict[str, str], tmp_path: Path) -> None:
    # A real docker-credential-* program on PATH, as podman runs one for credHelpers in auth.json.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-gobox-login-test"
    answer = json.dumps({"Username": token.user, "Secret": token.password})
    helper.write_text(f"#!/bin/sh\nread server\necho \"$server\" >> \"$0.asked\"\necho '{answer}'\n")
    helper.chmod(0o755)
    path = runtime_file(user_env)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"credHelpers": {token.host: "gobox-login-test"}}))
    env = {**user_env, "PATH": f"{bindir}:{os.environ['PATH']}"}
    assert pull(gobox, f"{token.host}/private/app:v1", env)["digest"]
    assert Path(f"{helper}.asked").read_text() == f"{token.host}\n"
