"""Values outside what the kernel takes are refused when gobox.toml, gobox.lock or the command line is read, in
one line naming the file and key or the option: never a traceback, never a failure only at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobox import schema
from gobox.cli import main
from gobox.config import parse_config
from gobox.errors import ConfigError
from gobox.lock import parse_lock

BAD_TOML = [
    ("[sandbox]\npids = 100000000000000000000\n", "2: sandbox.pids: expected at most 4194304"),
    ("[sandbox]\npids = 4194305\n", "2: sandbox.pids: expected at most 4194304"),
    ("[sandbox]\ncpus = nan\n", "2: sandbox.cpus: expected a finite number"),
    ("[sandbox]\ncpus = 1e999\n", "2: sandbox.cpus: expected a finite number"),
    ("[sandbox]\ncpus = inf\n", "2: sandbox.cpus: expected a finite number"),
    ("[sandbox]\ncpus = 8193\n", "2: sandbox.cpus: expected at most 8192"),
    ("[sandbox]\nmemory = 512\n", "2: sandbox.memory: expected at least 1MiB"),
    ("[sandbox]\nmemory = \"9999999TiB\"\n", "2: sandbox.memory: expected at most 9223372036854775807 bytes"),
    ("[sandbox]\nmemory = \"9999999999999999999999999999999TiB\"\n", "2: sandbox.memory: expected a size"),
    ("[sandbox]\nmemory = 9223372036854775808\n", "2: sandbox.memory: expected at most"),
    ("[build.env]\n\"A=B\" = \"x\"\n", "1: build.env: 'A=B': not a variable name"),
    ("[build]\nenv = { \"\" = \"x\" }\n", "2: build.env: '': not a variable name"),
    ("[image]\nenv = { \"A=B\" = \"x\" }\n", "2: image.env: 'A=B': not a variable name"),
    ("[build]\noutput = \"dist\\u0000x\"\n", "2: build.output: holds a NUL character"),
    ("[build]\nenv = { A = \"x\\u0000\" }\n", "2: build.env.A: holds a NUL character"),
    ("[sandbox]\nmounts = [\"/a\\u0000:/b\"]\n", "2: sandbox.mounts: holds a NUL character"),
    ("[image]\nfiles = { \"/etc/x\\u0000\" = \"x\" }\n", '2: image.files."/etc/x\\u0000": holds a NUL'),
    ("[vendor.deps]\n\"../../x\" = { git = \"u\", rev = \"v\" }\n", "1: vendor.deps: '../../x' is not an import"),
    ("[image]\nuser = 0x" + "f" * 2000 + "\n", "2: image.user: expected a user name or uid"),
]


@pytest.mark.parametrize("text, error", BAD_TOML)
def test_out_of_range_values_are_one_line_naming_file_line_and_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "gobox.toml")
    assert "\n" not in e.value.message and "\0" not in e.value.message
    assert e.value.message.startswith(f"gobox.toml:{error}"), e.value.message


@pytest.mark.parametrize("text", [
    "a = " + "{ b = " * 3000 + "1" + " }" * 3000 + "\n",
    "a = " + "[" * 3000 + "]" * 3000 + "\n",
    "[sandbox]\npids = " + "9" * 5000 + "\n",
])
def test_what_tomllib_cannot_read_without_exhausting_python_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="^gobox.toml: invalid TOML: "):
        parse_config(text, "gobox.toml")
    with pytest.raises(ConfigError, match="^gobox.lock: invalid TOML: "):
        parse_lock(text, "gobox.lock")


def test_the_edges_of_each_range_are_allowed() -> None:
    c = parse_config(f'[sandbox]\npids = {schema.PIDS_MAX}\ncpus = {schema.CPUS_MAX}\n'
                     f'memory = "{schema.MEMORY_MAX}"\n', "gobox.toml")
    assert (c.sandbox.pids, c.sandbox.cpus, c.sandbox.memory) == (4194304, 8192, 2**63 - 1)
    c = parse_config('[sandbox]\npids = 1\ncpus = 0.001\nmemory = "1MiB"\n', "gobox.toml")
    assert (c.sandbox.pids, c.sandbox.cpus, c.sandbox.memory) == (1, 0.001, 1 << 20)
    assert schema.parse_size("9223372036854775807") == 2**63 - 1  # exact, not rounded through a float


@pytest.mark.parametrize("text, error", [
    ("version = 1\n[[go.artifacts]]\nplatform = 1\n", "go.artifacts.platform: expected a str"),
    ("version = 1\n[go]\nartifacts = \"x\"\n", "go.artifacts: expected an array of tables"),
    ("version = 1\n[go]\nartifacts = [1, 2]\n", "go.artifacts: expected an array of tables"),
    ("version = 1\n[vendor]\ndeps = [\"a\"]\n", "vendor.deps: expected an array of tables"),
    ("version = 1\ngo = { images = { a = 1 } }\n", "go.images: expected an array of tables"),
    ("version = 0x" + "f" * 2000 + "\n", "version: expected lock format 1, got an integer of 8000 bits"),
    ("version = true\n", "version: expected lock format 1"),
    ("version = 1\n[go]\nversion = \"1.22\\u0000\"\n", "go.version: holds a NUL character"),
])
def test_a_malformed_lock_is_one_line(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_lock(text, "gobox.lock")
    assert error in e.value.message and "\n" not in e.value.message, e.value.message


BAD_OPTIONS = [
    (["--cpus", "nan"], "Invalid value for '--cpus': expected a finite number"),
    (["--cpus", "1e999"], "Invalid value for '--cpus': expected a finite number"),
    (["--cpus", "-1"], "Invalid value for '--cpus': expected a number above 0"),
    (["--cpus", "lots"], "Invalid value for '--cpus': expected cores, got 'lots'"),
    (["--pids", "100000000000000000000"], "Invalid value for '--pids': expected at most 4194304"),
    (["--pids", "9" * 5000], "Invalid value for '--pids': expected a whole number"),
    (["--memory", "10"], "Invalid value for '--memory': expected at least 1MiB"),
    (["--memory", "99999999TiB"], "Invalid value for '--memory': expected at most"),
    (["--env", "=x"], "Invalid value for '-e' / '--env': '=x': '': not a variable name"),
]


@pytest.mark.parametrize("command, args, error", [
    *[(["run"], a, e) for a, e in BAD_OPTIONS],
    (["run"], ["--mount", "/a"], "Invalid value for '--mount' / '-v' / '--volume': expected \"SRC:DST[:ro]\""),
    *[(["image", "run", "hello"], a, e) for a, e in BAD_OPTIONS],  # which takes no --mount
])
def test_each_bad_option_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], command: list[str],
                                             args: list[str], error: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOBOX_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as e:
        main([*command, *args, "--dry-run", "--", "true"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"Error: {error}" in err and "Traceback" not in err, err


def test_dry_run_refuses_what_the_run_would_fail_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOBOX_HOME", str(tmp_path / "home"))
    for toml, error in [("[sandbox]\npids = 100000000000000000000\n", "gobox.toml:4: sandbox.pids: expected at most"),
                        ('[build.env]\n"A=B" = "1"\n', "gobox.toml:3: build.env: 'A=B': not a variable name")]:
        (tmp_path / "gobox.toml").write_text('[go]\nversion = "1.22.10"\n' + toml)
        with pytest.raises(SystemExit) as e:
            main(["run", "--dry-run", "--go", "1.22.10", "--", "true"])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.splitlines()[0].startswith(f"gobox: error: {error}"), err
