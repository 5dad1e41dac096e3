"""Podman's and docker's login files: the order they are read in, which entry answers, hostile files, writing."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gobox.errors import ConfigError
from gobox.oci.auth import ANONYMOUS, Credentials
from gobox.oci.authfile import (
    CONTAINERS,
    DOCKER,
    DOCKERCFG,
    MAX_AUTH_FILE,
    AuthFile,
    auth_files,
    load_auth_file,
    login_key,
    lookup,
    parse_auth_file,
    primary_path,
    read_auth_file,
    remove_login,
    store_login,
    with_login,
    without_login,
    write_auth_file,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def login(user: str, password: str = "pw") -> dict:
    return {"auth": b64(f"{user}:{password}")}


def no_helpers(helper: str, server: str) -> Credentials | None:
    raise AssertionError(f"no helper should run, {helper} was")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(tmp_path / "run"), **extra}


# --- which files, in which order ----------------------------------------------------------------------------------

def test_files_in_the_order_containers_auth_json_documents(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    home = tmp_path / "home"
    assert auth_files(env) == (
        AuthFile(tmp_path / "run" / "containers" / "auth.json", CONTAINERS),
        AuthFile(home / ".config" / "containers" / "auth.json", CONTAINERS),
        AuthFile(home / ".docker" / "config.json", DOCKER),
        AuthFile(home / ".dockercfg", DOCKERCFG),
    )
    moved = auth_files({**env, "XDG_CONFIG_HOME": "/cfg", "DOCKER_CONFIG": "/dk"})
    assert [f.path for f in moved[1:3]] == [Path("/cfg/containers/auth.json"), Path("/dk/config.json")]


def test_registry_auth_file_is_the_only_file_as_podmans_authfile(tmp_path: Path) -> None:
    env = env_for(tmp_path, REGISTRY_AUTH_FILE="/x/auth.json", DOCKER_CONFIG="/dk")
    assert auth_files(env) == (AuthFile(Path("/x/auth.json"), CONTAINERS),)
    assert primary_path(env) == Path("/x/auth.json")


def test_without_xdg_runtime_dir_the_primary_file_is_under_run_containers() -> None:
    assert primary_path({"HOME": "/h"}, uid=1234) == Path("/run/containers/1234/auth.json")


# --- which entry answers -----------------------------------------------------------------------------------------

def files_holding(*configs: dict | None) -> tuple[tuple[AuthFile, ...], dict]:
    files = tuple(AuthFile(Path(f"/auth{i}.json"), kind)
                  for i, kind in enumerate((CONTAINERS, CONTAINERS, DOCKER, DOCKERCFG)[: len(configs)]))
    by_path = {f.path: c for f, c in zip(files, configs, strict=True)}
    return files, by_path


def find(registry: str, repository: str, *configs: dict | None, run_helper=no_helpers):  # noqa: ANN001, ANN201
    files, by_path = files_holding(*configs)
    return lookup(registry, repository, files, run_helper, load=lambda f: by_path[f.path] or {})


def test_the_first_file_with_a_login_wins_and_empty_ones_are_passed_over() -> None:
    host = "127.0.0.1:5000"
    found = find(host, "team/app", {"auths": {"other.io": login("x")}}, {"auths": {host: login("second")}},
                 {"auths": {host: login("docker")}})
    assert (found.creds.username, found.path) == ("second", Path("/auth1.json"))
    assert find(host, "team/app", None, {}, {"auths": {host: {}}}) .creds == ANONYMOUS
    assert find(host, "team/app").path is None


def test_namespace_keys_most_specific_first() -> None:
    auths = {"quay.io": login("host"), "quay.io/team": login("team"), "quay.io/team/app": login("app"),
             "quay.io/other": login("other")}
    assert find("quay.io", "team/app", {"auths": auths}).creds.username == "app"
    assert find("quay.io", "team/lib", {"auths": auths}).creds.username == "team"
    assert find("quay.io", "solo/app", {"auths": auths}).creds.username == "host"
    # A namespace key is a whole path component, never a prefix of one.
    assert find("quay.io", "teammate/app", {"auths": {"quay.io/team": login("t")}}).creds == ANONYMOUS


def test_a_namespace_login_in_the_first_file_beats_a_registry_login_in_a_later_one() -> None:
    found = find("quay.io", "team/app", {"auths": {"quay.io/team": login("ns")}}, {"auths": {"quay.io": login("h")}})
    assert found.creds.username == "ns"


@pytest.mark.parametrize("key", ["https://127.0.0.1:5000", "https://127.0.0.1:5000/v1/", "http://127.0.0.1:5000/"])
def test_scheme_prefixed_legacy_keys_match_their_host(key: str) -> None:
    assert find("127.0.0.1:5000", "a/b", {"auths": {key: login("legacy")}}).creds.username == "legacy"


def test_docker_hub_spellings_in_podmans_file() -> None:
    assert find("docker.io", "library/golang", {"auths": {"https://index.docker.io/v1/": login("hub")}}
                ).creds.username == "hub"
    assert find("docker.io", "library/golang", {"auths": {"docker.io/library": login("lib")}}).creds.username == "lib"


def test_legacy_dockercfg_is_the_auths_object_itself(tmp_path: Path) -> None:
    path = tmp_path / ".dockercfg"
    path.write_text(json.dumps({"https://r.io": {"auth": b64("old:pw"), "email": "a@b"}}))
    config = load_auth_file(AuthFile(path, DOCKERCFG))
    found = lookup("r.io", "team/app", (AuthFile(path, DOCKERCFG),), no_helpers, load=lambda f: config)
    assert (found.creds.username, found.creds.password) == ("old", "pw")


def test_cred_helpers_in_podmans_file_and_creds_store_only_in_dockers() -> None:
    asked: list[tuple[str, str]] = []

    def helper(name: str, server: str) -> Credentials | None:
        asked.append((name, server))
        return Credentials(username=f"from-{name}", password="s") if name != "empty" else None

    found = find("r.io", "a/b", {"credHelpers": {"r.io": "pass"}, "auths": {"r.io": login("entry")}}, run_helper=helper)
    assert found.creds.username == "from-pass" and asked == [("pass", "r.io")]
    # podman reads no credsStore: a stray one in its file is not run, and the entry answers.
    assert find("r.io", "a/b", {"credsStore": "desktop", "auths": {"r.io": login("entry")}},
                run_helper=helper).creds.username == "entry"
    found = find("r.io", "a/b", {}, {}, {"credsStore": "desktop"}, run_helper=helper)
    assert (found.creds.username, found.path) == ("from-desktop", Path("/auth2.json"))
    # A helper that holds nothing passes on to the next file.
    assert find("r.io", "a/b", {"credHelpers": {"r.io": "empty"}}, {"auths": {"r.io": login("next")}},
                run_helper=helper).creds.username == "next"


# --- hostile files -----------------------------------------------------------------------------------------------

FILE = Path("/home/u/.config/containers/auth.json")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
entries = st.dictionaries(st.sampled_from(["auth", "username", "password", "identitytoken", "registrytoken",
                                           "email"]) | st.text(max_size=8),
                          json_values | st.text(alphabet="QUJDRGVmZzo6=!", max_size=24), max_size=4)
configs = st.fixed_dictionaries({}, optional={
    "auths": st.dictionaries(st.text(max_size=20), entries | json_values, max_size=3) | json_values,
    "credHelpers": st.dictionaries(st.text(max_size=20), json_values, max_size=3) | json_values,
    "credsStore": json_values,
    "unknown": json_values,
})


def only_config_errors(data: bytes, kind: str) -> None:
    try:
        config = parse_auth_file(data, FILE, kind)
    except ConfigError as e:
        assert e.message.startswith(f"{FILE}: ") and "\n" not in e.message
        return
    assert isinstance(config, dict)
    # What parses is safe to look up in: any registry gives credentials or anonymity, nothing raises.
    found = lookup("r.io", "team/app", (AuthFile(FILE, kind),), lambda h, s: None, load=lambda f: config)
    assert isinstance(found.creds, Credentials)


@given(configs, st.sampled_from([CONTAINERS, DOCKER, DOCKERCFG]))
@example({"auths": {"r.io": {"auth": "not base64!"}}}, CONTAINERS)
@example({"auths": {"r.io": {"auth": b64("no-colon")}}}, CONTAINERS)
@example({"auths": {"r.io": {"auth": base64.b64encode(b"\xff\xfe:x").decode()}}}, DOCKER)
@example({"auths": {"r.io": "secret"}}, CONTAINERS)
@example({"auths": ["r.io"]}, CONTAINERS)
@example({"credHelpers": {"r.io": 1}}, DOCKER)
@example({"credsStore": ["x"]}, DOCKER)
@example({"r.io": {"auth": 5}}, DOCKERCFG)
def test_hostile_structures_are_one_config_error_naming_the_file(config: dict, kind: str) -> None:
    only_config_errors(json.dumps(config).encode(), kind)


@given(st.binary(max_size=200))
@example(b"[" * 100_000)
@example(b'{"auths": ' * 50_000)
@example(b"\xff\xfe{}")
@example(b"\xef\xbb\xbf{}")
@example(b"[]")
@example(b"null")
@example(b'{"auths": {"r.io": {"auth": "YTpi"}}, "auths": 3}')
def test_hostile_bytes_are_one_config_error_naming_the_file(data: bytes) -> None:
    only_config_errors(data, CONTAINERS)


def test_the_messages_for_wrong_types_name_file_and_key() -> None:
    def message(config: object) -> str:
        with pytest.raises(ConfigError) as e:
            parse_auth_file(json.dumps(config).encode(), FILE)
        return e.value.message

    assert message({"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}) == \
        f'{FILE}: auths."127.0.0.1:5000".auth: not base64 of "user:password"'
    assert message({"auths": {"r.io": {"password": 1}}}) == f'{FILE}: auths."r.io".password: not a string'
    assert message({"credHelpers": []}) == f"{FILE}: credHelpers: not a JSON object"
    assert message([1]) == f"{FILE}: not a JSON object"
    assert message("x" * 10).startswith(f"{FILE}: not a JSON object")


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    with open(path, "wb") as f:
        f.truncate(MAX_AUTH_FILE + 1)
    with pytest.raises(ConfigError, match=f"^{path}: larger than 4 MiB"):
        read_auth_file(path)
    assert read_auth_file(tmp_path / "none.json") is None
    assert read_auth_file(tmp_path / "auth.json" / "under-a-file") is None


def test_a_secret_is_never_quoted_in_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        parse_auth_file(json.dumps({"auths": {"r.io": {"auth": "hunter2-not-base64!"}}}).encode(), FILE)
    assert "hunter2" not in e.value.message + (e.value.hint or "")


# --- what gobox login and logout write ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key", "host"), [
    ("127.0.0.1:5000", "127.0.0.1:5000", "127.0.0.1:5000"),
    ("https://Quay.io/", "quay.io", "quay.io"),
    ("quay.io/team/app", "quay.io/team/app", "quay.io"),
    ("https://index.docker.io/v1/", "docker.io", "docker.io"),
    ("registry-1.docker.io", "docker.io", "docker.io"),
    ("[::1]:5000", "[::1]:5000", "[::1]:5000"),
])
def test_login_keys(text: str, key: str, host: str) -> None:
    assert login_key(text) == (key, host)


@given(st.text(max_size=40))
@example("quay.io/team/app:tag")
@example("r.io/app@sha256:00")
@example("")
@example("/team")
def test_login_key_is_a_key_or_one_config_error(text: str) -> None:
    try:
        key, host = login_key(text)
    except ConfigError as e:
        assert "\n" not in e.message
        return
    assert key == host or key.startswith(host + "/")
    assert find(host, key.partition("/")[2] or "x", {"auths": {key: login("me")}}).creds.username == "me"


def test_login_keeps_every_other_entry_and_key() -> None:
    before = {"auths": {"a.io": login("a"), "r.io": {"auth": b64("old:x"), "email": "e"}},
              "credHelpers": {"b.io": "pass"}, "HttpHeaders": {"X": "y"}}
    after = with_login(before, "r.io", "new", "pw")
    assert after["auths"]["r.io"] == {"auth": b64("new:pw")} and after["auths"]["a.io"] == login("a")
    assert after["credHelpers"] == {"b.io": "pass"} and after["HttpHeaders"] == {"X": "y"}
    assert before["auths"]["r.io"]["auth"] == b64("old:x")  # a new value, the input untouched
    gone = without_login({**after, "auths": {**after["auths"], "https://r.io/v1/": login("legacy"),
                                             "r.io/team": login("ns")}}, "r.io")
    assert set(gone["auths"]) == {"a.io", "r.io/team"}  # a namespace login is its own, logged out by name


def test_written_file_is_0600_in_a_0700_directory_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "run" / "containers" / "auth.json"
    write_auth_file(path, {"auths": {"r.io": login("u")}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    inode = path.stat().st_ino
    write_auth_file(path, {"auths": {}})
    assert path.stat().st_ino != inode  # renamed over, never rewritten in place
    assert json.loads(path.read_text()) == {"auths": {}}
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]  # no temp file left behind


def test_store_login_writes_the_primary_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    (tmp_path / "run").mkdir()
    path = store_login(env, "r.io", "u", "p:w")
    assert path == tmp_path / "run" / "containers" / "auth.json"
    assert lookup("r.io", "a/b", auth_files(env), no_helpers).creds == Credentials(username="u", password="p:w")


def test_store_login_refuses_a_missing_runtime_dir_and_a_broken_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    with pytest.raises(ConfigError, match="XDG_RUNTIME_DIR=.* does not exist"):
        store_login(env, "r.io", "u", "p")
    (tmp_path / "run" / "containers").mkdir(parents=True)
    broken = tmp_path / "run" / "containers" / "auth.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=f"^{broken}: line 1 column 2"):
        store_login(env, "r.io", "u", "p")
    assert broken.read_text() == "{not json"  # never clobbered


def test_store_login_refuses_what_a_credential_helper_would_shadow(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"credHelpers": {"r.io": "pass"}}))
    with pytest.raises(ConfigError, match="credHelpers names docker-credential-pass for r.io"):
        store_login({"REGISTRY_AUTH_FILE": str(path)}, "r.io", "u", "p")


def test_remove_login_from_every_file_holding_it(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    files = auth_files(env)
    for f, extra in zip(files[:3], ({"a.io": login("keep")}, {}, {}), strict=True):
        write_auth_file(f.path, {"auths": {"r.io": login("u"), **extra}, "credHelpers": {"c.io": "x"}})
    changed = remove_login(env, "r.io")
    assert changed == [f.path for f in files[:3]]
    assert lookup("r.io", "a/b", files, no_helpers).creds == ANONYMOUS
    assert json.loads(files[0].path.read_text()) == {"auths": {"a.io": login("keep")}, "credHelpers": {"c.io": "x"}}
    assert remove_login(env, "r.io") == []
    assert remove_login(env, None) == [files[0].path]
    assert json.loads(files[0].path.read_text())["auths"] == {}
