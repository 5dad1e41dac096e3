"""Registry logins where podman, skopeo and docker keep them: which files, in which order, read and written safely.

containers-auth.json(5) is the order: the primary file ($REGISTRY_AUTH_FILE, which then is the only one,
else $XDG_RUNTIME_DIR/containers/auth.json), then $XDG_CONFIG_HOME/containers/auth.json, then docker's
config.json ($DOCKER_CONFIG or ~/.docker) and the legacy ~/.dockercfg. The first file that holds a login
for the registry (its credential helper's, or an auths entry, the most specific namespace key first)
wins. `gobox login` writes the primary file, as podman login does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from gobox.errors import ConfigError, GoboxError
from gobox.oci import auth
from gobox.values import dataclass

# A login file is a few kilobytes; one far larger is not one, and is not read whole into memory.
MAX_AUTH_FILE = 4 << 20

CONTAINERS = "containers"  # podman's auth.json: credHelpers and namespace keys, no credsStore
DOCKER = "docker"  # docker's config.json: credsStore too
DOCKERCFG = "dockercfg"  # docker's legacy ~/.dockercfg: the auths object itself, host keys only


@dataclass(frozen=True)
class AuthFile:
    path: Path
    kind: str  # CONTAINERS, DOCKER or DOCKERCFG


@dataclass(frozen=True)
class Found:
    """The login for one repository and the file it came from (None: anonymous, no file had one)."""

    creds: auth.Credentials
    path: Path | None


class NotLoggedIn(GoboxError):
    """gobox logout of a registry no auth file holds; an error as podman makes it."""


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or str(Path.home())


def primary_path(environ: Mapping[str, str], uid: int | None = None) -> Path:
    """The file podman login writes: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
    /run/containers/UID/auth.json (elsewhere than Linux, ~/.config/containers/auth.json)."""
    if environ.get("REGISTRY_AUTH_FILE"):
        return Path(environ["REGISTRY_AUTH_FILE"])
    if environ.get("XDG_RUNTIME_DIR"):
        return Path(environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    if not sys.platform.startswith("linux"):
        return Path(_home(environ)) / ".config" / "containers" / "auth.json"
    if uid is None:
        uid = os.getuid()
    return Path(f"/run/containers/{uid}/auth.json")


def auth_files(environ: Mapping[str, str], uid: int | None = None) -> tuple[AuthFile, ...]:
    """Every file a login is looked up in, in order. $REGISTRY_AUTH_FILE (podman's --authfile) stands alone,
    as it does for podman and skopeo: the user named the one file to use."""
    primary = AuthFile(primary_path(environ, uid), CONTAINERS)
    if environ.get("REGISTRY_AUTH_FILE"):
        return (primary,)
    home = _home(environ)
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path(home) / ".config")
    return (primary,
            AuthFile(Path(config_home) / "containers" / "auth.json", CONTAINERS),
            AuthFile(auth.docker_config_path(environ), DOCKER),
            AuthFile(Path(home) / ".dockercfg", DOCKERCFG))


# --- reading -----------------------------------------------------------------------------------------------------

def read_auth_file(path: Path) -> bytes | None:
    """The file's bytes, None when there is none; ConfigError when it cannot be read or is too large."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_AUTH_FILE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}",
                          hint="fix its permissions, or point REGISTRY_AUTH_FILE at another file") from None
    if len(data) > MAX_AUTH_FILE:
        raise ConfigError(f"{path}: larger than {MAX_AUTH_FILE >> 20} MiB, too large for a login file",
                          hint="is it the right file? remove it, or point REGISTRY_AUTH_FILE elsewhere")
    return data


def parse_auth_file(data: bytes, path: Path, kind: str = CONTAINERS) -> dict:
    """The file as docker's config shape ({"auths": ..., "credHelpers": ...}), every login in it checked.

    Anything wrong (not JSON, a value of the wrong type, an auth that is not base64 of user:password)
    is one ConfigError naming the file and the key, so a broken file fails the same way whichever
    registry is asked for. Keys gobox does not know are left alone.
    """
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is not an error
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint=f"fix or remove {path}") from None
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno} column {e.colno}: not valid JSON: {e.msg}",
                          hint=f"fix or remove {path}") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply to be a login file", hint=f"fix or remove {path}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a JSON object", hint='a login file is an object like {"auths": {}}')
    config = {"auths": doc} if kind == DOCKERCFG else doc
    auths = auth._section(config, "auths", path)
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {auth._where('auths', key)}: not a JSON object",
                              hint=f"fix that entry in {path}")
        for name in ("auth", "username", "password", "identitytoken", "registrytoken"):
            auth._string(entry.get(name), path, "auths", key, name)
        if entry.get("auth"):
            auth._decode_auth(entry["auth"], path, key)
    helpers = auth._section(config, "credHelpers", path)
    for key, helper in helpers.items():
        auth._string(helper, path, "credHelpers", key)
    if kind != CONTAINERS:
        auth._string(config.get("credsStore"), path, "credsStore")
    return config


def load_auth_file(file: AuthFile) -> dict:
    data = read_auth_file(file.path)
    return {} if data is None else parse_auth_file(data, file.path, file.kind)


def lookup(registry: str, repository: str, files: tuple[AuthFile, ...],
           run_helper: auth.HelperRunner, load: Callable[[AuthFile], dict] = load_auth_file) -> Found:
    """The login for registry/repository from the first file that has one, else anonymous."""
    for file in files:
        config = load(file)
        if not config:
            continue
        creds = auth.credentials_for(registry, config, file.path, run_helper, repository=repository,
                                     creds_store=file.kind != CONTAINERS, legacy=file.kind == DOCKERCFG)
        if not creds.anonymous:
            return Found(creds, file.path)
    return Found(auth.ANONYMOUS, None)


# --- writing (gobox login and logout) ----------------------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::[0-9]{{1,5}})?")
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")


def login_key(text: str) -> tuple[str, str]:
    """(auths key, registry host) for what a user logs in to: a registry, or a namespace of one as podman
    takes it (quay.io/team). A scheme and docker's /v1/ or /v2/ are dropped; Docker Hub's names are docker.io."""
    bare = auth._bare(text.strip())
    host, _, rest = bare.partition("/")
    host = host.lower()
    if host in auth._DOCKER_HUB_NAMES:
        host = "docker.io"
    if not _HOST.fullmatch(host) or (rest and not _PATH.fullmatch(rest)):
        raise ConfigError(f"{text!r} is not a registry to log in to",
                          hint="name a registry (host[:port]), or a namespace of one: quay.io/team")
    return (f"{host}/{rest}" if rest else host), host


def auth_value(username: str, password: str) -> str:
    """The base64 `auth` value podman, skopeo and docker write for a user name and password."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def with_login(config: Mapping, key: str, username: str, password: str) -> dict:
    """config with key's auths entry set to the login; every other entry and key kept as it was."""
    out = dict(config)
    auths = dict(out.get("auths") or {})
    auths[key] = {"auth": auth_value(username, password)}
    out["auths"] = auths
    return out


def matching_keys(config: Mapping, key: str) -> tuple[str, ...]:
    """The auths keys of config that a logout of key removes: key itself, and for a registry its legacy
    spellings (https://host, https://index.docker.io/v1/ for docker.io)."""
    auths = config.get("auths") or {}
    host_only = "/" not in key
    want = auth._normalize_key(key)
    hub = host_only and auth._is_docker_hub(key)
    return tuple(k for k in auths if isinstance(k, str) and (
        k == key or (host_only and (auth._normalize_key(k) == want or (hub and auth._is_docker_hub(k))))))


def without_login(config: Mapping, key: str) -> dict:
    out = dict(config)
    drop = matching_keys(config, key)
    out["auths"] = {k: v for k, v in (config.get("auths") or {}).items() if k not in drop}
    return out


def write_auth_file(path: Path, config: Mapping) -> None:
    """Write config to path atomically (a temp file renamed over it), mode 0600, its directory made 0700."""
    from gobox.store import write_atomic

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, json.dumps(config, indent="\t").encode() + b"\n", mode=0o600)


def _check_runtime_dir(path: Path, environ: Mapping[str, str]) -> None:
    """podman's check: an XDG_RUNTIME_DIR that does not exist is a mistake to name, not a directory to make."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if not environ.get("REGISTRY_AUTH_FILE") and runtime and not Path(runtime).is_dir():
        raise ConfigError(f"XDG_RUNTIME_DIR={runtime} does not exist, so there is no {path} to keep logins in",
                          hint="create that directory, unset XDG_RUNTIME_DIR, or set REGISTRY_AUTH_FILE")


def store_login(environ: Mapping[str, str], key: str, username: str, password: str) -> Path:
    """Record the login in the primary auth file; returns the file written."""
    path = primary_path(environ)
    _check_runtime_dir(path, environ)
    config = load_auth_file(AuthFile(path, CONTAINERS))
    host = key.partition("/")[0]
    helper = auth._find_key(host, config.get("credHelpers") or {})
    if helper is not None:
        # podman would read the helper, never the entry written here: the login would not be used.
        raise ConfigError(f"{path}: credHelpers names docker-credential-{config['credHelpers'][helper]} for "
                          f"{host}; gobox does not store logins in credential helpers",
                          hint=f"log in with that helper, or remove credHelpers.{host} from {path}")
    try:
        write_auth_file(path, with_login(config, key, username, password))
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror or e}",
                          hint="set REGISTRY_AUTH_FILE to a file you may write") from None
    return path


def remove_login(environ: Mapping[str, str], key: str | None) -> list[Path]:
    """Drop key's entries from every auth file that holds them, so no login for it is left to find; with
    key None (logout --all, as podman's), every entry of the primary file. Returns the files changed."""
    primary = primary_path(environ)
    files = auth_files(environ)
    changed: list[Path] = []
    for file in files:
        config = load_auth_file(file)
        if key is None:
            if file.path != primary or not config.get("auths"):
                continue
            new = {**config, "auths": {}}
        else:
            if not matching_keys(config, key):
                continue
            new = without_login(config, key)
        try:
            write_auth_file(file.path, new["auths"] if file.kind == DOCKERCFG else new)
        except OSError as e:
            raise ConfigError(f"{file.path}: cannot write: {e.strerror or e}",
                              hint="fix its permissions, or remove the entry by hand") from None
        changed.append(file.path)
    return changed
