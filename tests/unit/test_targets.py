"""Cross targets: the dist list, patterns and negation, variants per Go release, suggestions, output names, zig."""

from __future__ import annotations

import json

import pytest

from gobox.cross.cgo import zig_target
from gobox.errors import EXIT_USAGE, UsageError
from gobox.names.targets import (
    TEMPLATE_FIELDS,
    Port,
    Target,
    expand,
    parse_dist_list,
    parse_target,
    render_output,
    template_problem,
)
from gobox.names.versions import GoVersion

V = GoVersion.parse
GO = V("1.22.10")
LIST_HINT = "`gobox cross --list` shows the supported targets"

# Trimmed from `go tool dist list -json` of go1.22, in its order and shape.
DIST_LIST = """[
        {"GOOS": "aix", "GOARCH": "ppc64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "android", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "darwin", "GOARCH": "amd64", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "darwin", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "freebsd", "GOARCH": "386", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "freebsd", "GOARCH": "amd64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "freebsd", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "js", "GOARCH": "wasm", "CgoSupported": false, "FirstClass": false},
        {"GOOS": "linux", "GOARCH": "386", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "linux", "GOARCH": "amd64", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "linux", "GOARCH": "arm", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "linux", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "linux", "GOARCH": "mips64le", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "linux", "GOARCH": "ppc64le", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "linux", "GOARCH": "riscv64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "linux", "GOARCH": "s390x", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "openbsd", "GOARCH": "386", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "openbsd", "GOARCH": "amd64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "openbsd", "GOARCH": "arm", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "openbsd", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": false},
        {"GOOS": "wasip1", "GOARCH": "wasm", "CgoSupported": false, "FirstClass": false},
        {"GOOS": "windows", "GOARCH": "386", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "windows", "GOARCH": "amd64", "CgoSupported": true, "FirstClass": true},
        {"GOOS": "windows", "GOARCH": "arm64", "CgoSupported": true, "FirstClass": false}
]
"""
PORTS = parse_dist_list(DIST_LIST)
ALL = [f"{p['GOOS']}/{p['GOARCH']}" for p in json.loads(DIST_LIST)]


def names(patterns: list[str], go: GoVersion = GO, origin: str = "") -> list[str]:
    return [str(t) for t in expand(patterns, PORTS, go, origin)]


def refused(patterns: list[str], go: GoVersion = GO, origin: str = "") -> UsageError:
    with pytest.raises(UsageError) as e:
        expand(patterns, PORTS, go, origin)
    assert e.value.exit_code == EXIT_USAGE
    return e.value


# ---- the dist list ----


def test_dist_list_keeps_order_and_flags() -> None:
    assert len(PORTS) == 24
    assert [str(p) for p in PORTS] == ALL
    assert PORTS[0] == Port("aix", "ppc64", cgo=True, first_class=False)
    assert PORTS[7] == Port("js", "wasm", cgo=False, first_class=False)
    assert [str(p) for p in PORTS if p.first_class] == [
        "darwin/amd64", "darwin/arm64", "linux/386", "linux/amd64", "linux/arm", "linux/arm64",
        "windows/386", "windows/amd64",
    ]


def test_dist_list_skips_broken_ports() -> None:
    text = json.dumps([
        {"GOOS": "linux", "GOARCH": "amd64", "CgoSupported": True, "FirstClass": True},
        {"GOOS": "openbsd", "GOARCH": "mips64", "CgoSupported": True, "FirstClass": False, "Broken": True},
        {"GOOS": "netbsd", "GOARCH": "arm64", "CgoSupported": True, "FirstClass": False, "Broken": False},
    ])
    assert parse_dist_list(text) == (Port("linux", "amd64", True, True), Port("netbsd", "arm64", True, False))


@pytest.mark.parametrize("text, reason", [
    ("go: unknown subcommand", "not JSON"),
    ('{"GOOS": "linux"}', "not a JSON array"),
    ('["linux/amd64"]', "entry 0 is not an object"),
    ('[{"GOARCH": "amd64", "CgoSupported": true, "FirstClass": true}]', "entry 0 has no valid GOOS"),
    ('[{"GOOS": "linux", "GOARCH": "", "CgoSupported": true, "FirstClass": true}]', "entry 0 has no valid GOARCH"),
    ('[{"GOOS": "linux", "GOARCH": "amd64", "CgoSupported": "yes", "FirstClass": true}]',
     "entry 0 (linux/amd64): CgoSupported is not a boolean"),
    ("[]", "no ports listed"),
])
def test_dist_list_malformed_is_value_error(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_dist_list(text)
    assert str(e.value).startswith(reason)


# ---- Target ----


def test_target_text_and_order() -> None:
    assert str(Target("linux", "amd64")) == "linux/amd64"
    assert str(Target("linux", "arm", "v7")) == "linux/arm/v7"
    assert sorted([Target("linux", "arm", "v7"), Target("darwin", "arm64"), Target("linux", "arm")]) == [
        Target("darwin", "arm64"), Target("linux", "arm"), Target("linux", "arm", "v7"),
    ]


@pytest.mark.parametrize("goarch, variable", [
    ("arm", "GOARM"), ("amd64", "GOAMD64"), ("arm64", "GOARM64"), ("386", "GO386"), ("mips", "GOMIPS"),
    ("mipsle", "GOMIPS"), ("mips64", "GOMIPS64"), ("mips64le", "GOMIPS64"), ("ppc64", "GOPPC64"),
    ("ppc64le", "GOPPC64"), ("riscv64", "GORISCV64"), ("s390x", None), ("wasm", None), ("loong64", None),
])
def test_variable_per_arch(goarch: str, variable: str | None) -> None:
    assert Target("linux", goarch).variable == variable


@pytest.mark.parametrize("target, env", [
    (Target("linux", "amd64"), (("GOOS", "linux"), ("GOARCH", "amd64"))),
    (Target("linux", "arm", "v7"), (("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7"))),
    (Target("linux", "amd64", "v3"), (("GOOS", "linux"), ("GOARCH", "amd64"), ("GOAMD64", "v3"))),
    (Target("linux", "arm64", "v8.2,lse"), (("GOOS", "linux"), ("GOARCH", "arm64"), ("GOARM64", "v8.2,lse"))),
    (Target("windows", "386", "softfloat"), (("GOOS", "windows"), ("GOARCH", "386"), ("GO386", "softfloat"))),
    (Target("linux", "ppc64le", "power9"), (("GOOS", "linux"), ("GOARCH", "ppc64le"), ("GOPPC64", "power9"))),
    (Target("linux", "mips64le", "softfloat"),
     (("GOOS", "linux"), ("GOARCH", "mips64le"), ("GOMIPS64", "softfloat"))),
])
def test_env(target: Target, env: tuple[tuple[str, str], ...]) -> None:
    assert target.env() == env


def test_suffixes() -> None:
    assert Target("windows", "amd64").exe_suffix == ".exe"
    assert Target("windows", "arm64", "v8.0").exe_suffix == ".exe"
    assert Target("js", "wasm").exe_suffix == ""
    assert Target("wasip1", "wasm").exe_suffix == ""
    assert Target("linux", "amd64").exe_suffix == ""
    assert Target("linux", "arm", "v7").dir_suffix == "_v7"
    assert Target("linux", "arm").dir_suffix == ""


# ---- variants per Go release ----


def test_goarm64_needs_go_1_23() -> None:
    e = refused(["linux/arm64/v8.2"], go=V("1.22.10"))
    assert e.message == "linux/arm64/v8.2: GOARM64 needs go1.23 or newer; this project's Go is 1.22.10"
    assert names(["linux/arm64/v8.2"], go=V("1.23.0")) == ["linux/arm64/v8.2"]
    # A release candidate of 1.23 already reads GOARM64.
    assert names(["linux/arm64/v9.5"], go=V("1.23rc1")) == ["linux/arm64/v9.5"]


@pytest.mark.parametrize("typed, normal", [
    ("linux/arm64/v8", "linux/arm64/v8.0"), ("linux/arm64/v9", "linux/arm64/v9.0"),
    ("linux/arm64/v8.2,lse", "linux/arm64/v8.2,lse"), ("linux/arm64/v9.1,crypto,lse", "linux/arm64/v9.1,crypto,lse"),
    ("linux/arm64/v8,crypto", "linux/arm64/v8.0,crypto"), ("linux/arm/7", "linux/arm/v7"),
    ("linux/arm/v5", "linux/arm/v5"), ("linux/arm/V6", "linux/arm/v6"), ("linux/amd64/v4", "linux/amd64/v4"),
    ("linux/386/sse2", "linux/386/sse2"), ("linux/mips64le/hardfloat", "linux/mips64le/hardfloat"),
    ("linux/ppc64le/power8", "linux/ppc64le/power8"), ("linux/riscv64/rva22u64", "linux/riscv64/rva22u64"),
])
def test_variants_are_normalised(typed: str, normal: str) -> None:
    assert names([typed], go=V("1.23.0")) == [normal]


@pytest.mark.parametrize("pattern, message", [
    ("linux/arm64/v9.6", "linux/arm64/v9.6: GOARM64 must be v8.0 to v8.9 or v9.0 to v9.5, optionally followed by "
                         ",lse and/or ,crypto"),
    ("linux/arm64/v8.2,sve", "linux/arm64/v8.2,sve: GOARM64 must be v8.0 to v8.9 or v9.0 to v9.5, optionally "
                             "followed by ,lse and/or ,crypto"),
    ("linux/arm/v8", "linux/arm/v8: GOARM must be one of v5, v6, v7"),
    ("linux/amd64/v5", "linux/amd64/v5: GOAMD64 must be one of v1, v2, v3, v4"),
    ("linux/386/387", "linux/386/387: GO386 must be one of sse2, softfloat"),
    ("linux/mips64le/soft", "linux/mips64le/soft: GOMIPS64 must be one of hardfloat, softfloat"),
    ("linux/ppc64le/power7", "linux/ppc64le/power7: GOPPC64 must be one of power8, power9, power10"),
    # Only the values this Go accepts are offered.
    ("linux/riscv64/rva99u64", "linux/riscv64/rva99u64: GORISCV64 must be one of rva20u64, rva22u64"),
    ("linux/s390x/z15", "linux/s390x/z15: s390x takes no variant (variants exist for 386, amd64, arm, arm64, "
                        "mips, mips64, mips64le, mipsle, ppc64, ppc64le, riscv64)"),
])
def test_bad_variants_say_what_is_allowed(pattern: str, message: str) -> None:
    assert refused([pattern], go=V("1.23.0")).message == message


@pytest.mark.parametrize("pattern, older, newer, message", [
    ("linux/amd64/v3", "1.17.13", "1.18.0",
     "linux/amd64/v3: GOAMD64 needs go1.18 or newer; this project's Go is 1.17.13"),
    ("linux/ppc64le/power10", "1.19.13", "1.20.0",
     "linux/ppc64le/power10: GOPPC64=power10 needs go1.20 or newer; this project's Go is 1.19.13"),
    ("linux/riscv64/rva22u64", "1.22.10", "1.23.0",
     "linux/riscv64/rva22u64: GORISCV64 needs go1.23 or newer; this project's Go is 1.22.10"),
    ("linux/riscv64/rva23u64", "1.24.5", "1.25.0",
     "linux/riscv64/rva23u64: GORISCV64=rva23u64 needs go1.25 or newer; this project's Go is 1.24.5"),
    ("linux/386/softfloat", "1.15.15", "1.16.0",
     "linux/386/softfloat: GO386=softfloat needs go1.16 or newer; this project's Go is 1.15.15"),
])
def test_variants_gated_by_release(pattern: str, older: str, newer: str, message: str) -> None:
    assert refused([pattern], go=V(older)).message == message
    assert names([pattern], go=V(newer)) == [pattern]


def test_variant_env_through_expand() -> None:
    (arm,) = expand(["linux/arm/7"], PORTS, GO)
    assert arm.env() == (("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7"))
    (amd,) = expand(["linux/amd64/v3"], PORTS, GO)
    assert dict(amd.env())["GOAMD64"] == "v3"


# ---- patterns ----


def test_exact_and_wildcards() -> None:
    assert names(["linux/amd64"]) == ["linux/amd64"]
    assert names(["linux/*"]) == ["linux/386", "linux/amd64", "linux/arm", "linux/arm64", "linux/mips64le",
                                  "linux/ppc64le", "linux/riscv64", "linux/s390x"]
    assert names(["*/arm64"]) == ["android/arm64", "darwin/arm64", "freebsd/arm64", "linux/arm64", "openbsd/arm64",
                                  "windows/arm64"]
    assert names(["*/*"]) == ALL
    assert names(["all"]) == ALL
    assert names(["first-class"]) == ["darwin/amd64", "darwin/arm64", "linux/386", "linux/amd64", "linux/arm",
                                      "linux/arm64", "windows/386", "windows/amd64"]


def test_order_is_first_added_and_duplicates_drop() -> None:
    assert names(["linux/amd64", "linux/amd64"]) == ["linux/amd64"]
    assert names(["windows/amd64", "linux/*", "linux/amd64", "darwin/arm64"]) == [
        "windows/amd64", "linux/386", "linux/amd64", "linux/arm", "linux/arm64", "linux/mips64le", "linux/ppc64le",
        "linux/riscv64", "linux/s390x", "darwin/arm64",
    ]
    # A variant is a target of its own next to the plain port.
    assert names(["linux/arm", "linux/arm/v7", "linux/arm/7"]) == ["linux/arm", "linux/arm/v7"]


def test_negation() -> None:
    assert names(["linux/*", "!linux/386", "!*/s390x", "!linux/mips64le"]) == [
        "linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/riscv64",
    ]
    assert names(["first-class", "!windows/*", "!darwin/*"]) == ["linux/386", "linux/amd64", "linux/arm", "linux/arm64"]
    # A negation only removes what was added before it.
    assert names(["!linux/amd64", "linux/amd64", "darwin/arm64"]) == ["linux/amd64", "darwin/arm64"]
    # With a variant it removes that target alone; without one, every variant of the port.
    assert names(["linux/arm", "linux/arm/v7", "!linux/arm/v7"]) == ["linux/arm"]
    assert names(["linux/arm/v6", "linux/arm/v7", "linux/amd64", "!linux/arm"]) == ["linux/amd64"]
    assert names(["linux/arm/v6", "linux/arm/v7", "!linux/*"] + ["windows/amd64"]) == ["windows/amd64"]


def test_only_negations_start_from_all() -> None:
    assert names(["!linux/*", "!windows/*", "!darwin/*", "!*/wasm", "!first-class"]) == [
        "aix/ppc64", "android/arm64", "freebsd/386", "freebsd/amd64", "freebsd/arm64", "openbsd/386",
        "openbsd/amd64", "openbsd/arm", "openbsd/arm64",
    ]
    assert names(["!all", "linux/amd64"]) == ["linux/amd64"]


def test_empty_result_is_refused() -> None:
    e = refused(["linux/*", "!linux/*"])
    assert e.message == "no targets left: 'linux/* !linux/*' names none"
    assert e.hint == LIST_HINT
    assert refused([]).message == "no targets given"


def test_whitespace_and_case() -> None:
    assert names(["  Linux/AMD64 ", "\tDARWIN/*", " ! darwin/amd64", "ALL", "!All", "LINUX/ARM/V7"]) == [
        "linux/arm/v7",
    ]
    assert names([" First-Class ", "!Linux/*", "!Windows/*"]) == ["darwin/amd64", "darwin/arm64"]


NOT_A_TARGET = ("(expected GOOS/GOARCH[/VARIANT], a pattern such as linux/* or */arm64, all, first-class, "
                "or !PATTERN)")


@pytest.mark.parametrize("pattern", [
    "linux", "a/b/c/d", "", "  ", "!", "!!linux/amd64", "linux/", "/amd64", "linux/amd 64", "linux/a?m",
    "lin*/amd64/v3", "linux//v7", "linux/arm/v7!", "every",
])
def test_not_a_target(pattern: str) -> None:
    assert refused([pattern]).message == f"not a target: {pattern.strip()!r} {NOT_A_TARGET}"


def test_not_a_target_hints() -> None:
    e = refused(["darwin/amd64/"])
    assert e.message == f"not a target: 'darwin/amd64/' {NOT_A_TARGET}"
    assert e.hint == "drop the trailing '/': darwin/amd64"
    e = refused(["linux/*/v7"])
    assert e.message == f"not a target: 'linux/*/v7' {NOT_A_TARGET}"
    assert e.hint == "a variant needs an exact target, such as linux/arm/v7"


# ---- targets the toolchain lacks ----


def test_known_pair_not_a_port() -> None:
    e = refused(["openbsd/ppc64"])
    assert e.message == "go1.22.10 does not support openbsd/ppc64"
    assert e.hint == ("its openbsd ports: 386, amd64, arm, arm64 "
                      "(a newer Go may add it; `gobox cross --list` shows them all)")


def test_known_os_with_no_ports() -> None:
    e = refused(["plan9/amd64"])
    assert e.message == "go1.22.10 does not support plan9/amd64"
    assert e.hint == f"go1.22.10 supports no plan9 target; {LIST_HINT}"


def test_known_pair_suggests_only_aliases() -> None:
    # Go's syslist has riscv, but people typing it mean riscv64.
    assert refused(["linux/riscv"]).hint.startswith("did you mean linux/riscv64? its linux ports: 386, amd64,")
    # mips64 is big-endian: mips64le is not what was meant, so it is not offered.
    e = refused(["linux/mips64"])
    assert e.message == "go1.22.10 does not support linux/mips64"
    assert e.hint == ("its linux ports: 386, amd64, arm, arm64, mips64le, ppc64le, riscv64, s390x "
                      "(a newer Go may add it; `gobox cross --list` shows them all)")


@pytest.mark.parametrize("typed, suggestion", [
    ("darwn/amd64", "darwin/amd64"),
    ("macos/arm64", "darwin/arm64"),
    ("linux/x86_64", "linux/amd64"),
    ("win/x64", "windows/amd64"),
    ("linux/armv7", "linux/arm/v7"),
    ("linux/armv6l", "linux/arm/v6"),
    ("linux/armv5", "linux/arm/v5"),
    ("osx/aarch64", "darwin/arm64"),
    ("win32/i686", "windows/386"),
    ("linux/ppc64el", "linux/ppc64le"),
    ("Linux/X86_64/v3", "linux/amd64/v3"),
    ("linux/amd", "linux/amd64"),
    ("freebsd/x86-64", "freebsd/amd64"),
    ("linx/arm64", "linux/arm64"),
])
def test_unknown_target_suggestion(typed: str, suggestion: str) -> None:
    e = refused([typed])
    assert e.message == f"unknown target {typed!r}"
    assert e.hint == f"did you mean {suggestion}?"


@pytest.mark.parametrize("typed", [
    "beos/amd64",  # no OS near it
    "android/x86_64",  # android has arm64 alone in this toolchain: never suggest a target that would fail
    "linux/z80",
])
def test_unknown_target_without_a_suggestion(typed: str) -> None:
    e = refused([typed])
    assert e.message == f"unknown target {typed!r}"
    assert e.hint == LIST_HINT


def test_unknown_target_suggestion_drops_a_variant_that_does_not_fit() -> None:
    assert refused(["linux/aarch64/v7"]).hint == "did you mean linux/arm64?"
    assert refused(["linux/armv7/v6"]).hint == "did you mean linux/arm/v6?"


def test_negation_is_checked_like_a_target() -> None:
    e = refused(["all", "!linux/amd65"])
    assert e.message == "unknown target 'linux/amd65'"
    assert e.hint == "did you mean linux/amd64?"


@pytest.mark.parametrize("pattern, message, hint", [
    ("foo/*", "no target matches 'foo/*'", LIST_HINT),
    ("macos/*", "no target matches 'macos/*'", "did you mean darwin/*?"),
    ("*/x86_64", "no target matches '*/x86_64'", "did you mean */amd64?"),
    ("*/arm65", "no target matches '*/arm65'", "did you mean */arm64?"),
    ("plan9/*", "go1.22.10 does not support plan9", LIST_HINT),
    ("*/sparc64", "go1.22.10 does not support sparc64", LIST_HINT),
])
def test_wildcard_matching_nothing(pattern: str, message: str, hint: str) -> None:
    e = refused([pattern])
    assert (e.message, e.hint) == (message, hint)


def test_origin_prefixes_every_error() -> None:
    origin = "gobox.toml: cross.targets"
    e = refused(["linux/amd64", "darwn/amd64"], origin=origin)
    assert e.message == "gobox.toml: cross.targets: unknown target 'darwn/amd64'"
    assert e.hint == "did you mean darwin/amd64?"
    assert refused(["linux"], origin=origin).message == f"{origin}: not a target: 'linux' {NOT_A_TARGET}"
    assert refused(["linux/arm64/v8.2"], origin=origin).message == (
        f"{origin}: linux/arm64/v8.2: GOARM64 needs go1.23 or newer; this project's Go is 1.22.10"
    )
    assert refused(["openbsd/ppc64"], origin=origin).message == f"{origin}: go1.22.10 does not support openbsd/ppc64"
    assert refused(["linux/*", "!linux/*"], origin=origin).message == (
        f"{origin}: no targets left: 'linux/* !linux/*' names none"
    )
    # Without an origin the message is bare.
    assert refused(["darwn/amd64"]).message == "unknown target 'darwn/amd64'"


# ---- parse_target ----


def test_parse_target() -> None:
    assert parse_target("linux/amd64") == Target("linux", "amd64")
    assert parse_target(" Linux/ARM/7 ") == Target("linux", "arm", "v7")
    assert parse_target("linux/arm64/v8") == Target("linux", "arm64", "v8.0")
    # No ports are consulted: a port this toolchain lacks is still a well-formed target.
    assert parse_target("plan9/amd64") == Target("plan9", "amd64")
    # Without a Go release, variants are checked only against Go's values.
    assert parse_target("linux/arm64/v8.2") == Target("linux", "arm64", "v8.2")
    with pytest.raises(UsageError) as e:
        parse_target("linux/arm64/v8.2", go=V("1.22.10"))
    assert e.value.message == "linux/arm64/v8.2: GOARM64 needs go1.23 or newer; this project's Go is 1.22.10"


@pytest.mark.parametrize("text", ["linux", "linux/*", "all", "first-class", "!linux/amd64", "a/b/c/d", ""])
def test_parse_target_refuses_patterns(text: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_target(text)
    assert e.value.message == (f"not a target: {text!r} (expected GOOS/GOARCH[/VARIANT], such as linux/amd64 or "
                               f"linux/arm/v7)")


def test_parse_target_origin_and_variants() -> None:
    with pytest.raises(UsageError) as e:
        parse_target("linux/amd64/v9", origin="gobox.toml: cross.target")
    assert e.value.message == "gobox.toml: cross.target: linux/amd64/v9: GOAMD64 must be one of v1, v2, v3, v4"
    with pytest.raises(UsageError) as e:
        parse_target("darwin/amd64/")
    assert e.value.hint == "drop the trailing '/': darwin/amd64"


# ---- output directory names ----


def test_template_fields() -> None:
    assert TEMPLATE_FIELDS == ("name", "os", "arch", "variant")


@pytest.mark.parametrize("template, problem", [
    ("{name}_{os}_{arch}{variant}", None),
    ("{os}-{arch}", None),
    ("build {{{os}}}.{arch}", None),
    ("{name}_{version}_{os}_{arch}", "unknown field {version} (allowed: {name}, {os}, {arch}, {variant})"),
    ("{0}_{os}_{arch}", "unknown field {0} (allowed: {name}, {os}, {arch}, {variant})"),
    ("{}_{os}_{arch}", "unknown field {} (allowed: {name}, {os}, {arch}, {variant})"),
    ("{name.upper}_{os}_{arch}", "unknown field {name.upper} (allowed: {name}, {os}, {arch}, {variant})"),
    ("{name!r}_{os}_{arch}", "field {name!r} may not have a conversion or format spec "
                             "(allowed: {name}, {os}, {arch}, {variant})"),
    ("{name:>10}_{os}_{arch}", "field {name:>10} may not have a conversion or format spec "
                               "(allowed: {name}, {os}, {arch}, {variant})"),
    ("{name}_{os}", "must contain {os} and {arch} so targets do not overwrite each other"),
    ("{name}", "must contain {os} and {arch} so targets do not overwrite each other"),
    ("", "must contain {os} and {arch} so targets do not overwrite each other"),
    ("{os}/{arch}", "must be one directory name: no '/' and not '.' or '..'"),
    ("../{os}_{arch}", "must be one directory name: no '/' and not '.' or '..'"),
    ("{name_{os}_{arch}", "unbalanced '{' or '}' (write {{ or }} for a literal brace)"),
    ("{os}_{arch}}", "unbalanced '{' or '}' (write {{ or }} for a literal brace)"),
])
def test_template_problem(template: str, problem: str | None) -> None:
    assert template_problem(template) == problem


def test_render_output() -> None:
    default = "{name}_{os}_{arch}{variant}"
    assert render_output(default, "hello", Target("linux", "arm", "v7")) == "hello_linux_arm_v7"
    assert render_output(default, "hello", Target("windows", "amd64")) == "hello_windows_amd64"
    assert render_output("{os}-{arch}{variant}-{name}", "hi", Target("linux", "amd64", "v3")) == "linux-amd64_v3-hi"
    assert render_output("build {{{os}}}.{arch}", "x", Target("darwin", "arm64")) == "build {darwin}.arm64"
    with pytest.raises(ValueError, match="must contain"):
        render_output("{name}", "hello", Target("linux", "amd64"))
    with pytest.raises(ValueError, match="one directory name"):
        render_output(default, "a/b", Target("linux", "amd64"))


# ---- zig ----


@pytest.mark.parametrize("target, triple", [
    (Target("linux", "amd64"), "x86_64-linux-musl"),
    (Target("linux", "amd64", "v3"), "x86_64-linux-musl"),
    (Target("linux", "arm64"), "aarch64-linux-musl"),
    (Target("linux", "386"), "x86-linux-musl"),
    (Target("linux", "riscv64"), "riscv64-linux-musl"),
    (Target("linux", "ppc64le"), "powerpc64le-linux-musl"),
    (Target("linux", "s390x"), "s390x-linux-musl"),
    (Target("linux", "loong64"), "loongarch64-linux-musl"),
    (Target("linux", "mips64le"), "mips64el-linux-musl"),
    (Target("linux", "mipsle"), "mipsel-linux-musl"),
    (Target("linux", "mips"), "mips-linux-musl"),
    (Target("linux", "arm"), "arm-linux-musleabihf"),
    (Target("linux", "arm", "v7"), "arm-linux-musleabihf"),
    (Target("linux", "arm", "v6"), "arm-linux-musleabihf"),
    (Target("linux", "arm", "v5"), "arm-linux-musleabi"),
    (Target("windows", "amd64"), "x86_64-windows-gnu"),
    (Target("windows", "arm64"), "aarch64-windows-gnu"),
    (Target("windows", "386"), "x86-windows-gnu"),
    (Target("darwin", "amd64"), "x86_64-macos"),
    (Target("darwin", "arm64"), "aarch64-macos"),
    (Target("linux", "mips64"), None),
    (Target("linux", "ppc64"), None),
    (Target("freebsd", "amd64"), None),
    (Target("js", "wasm"), None),
    (Target("android", "arm64"), None),
])
def test_zig_target(target: Target, triple: str | None) -> None:
    assert zig_target(target) == triple


def test_globs_within_a_field() -> None:
    got = expand(["linux/*", "!linux/mips*"], PORTS, GO)
    assert Target("linux", "mips64le") not in got and Target("linux", "amd64") in got
    assert expand(["*/arm*", "!linux/*", "!android/*"], PORTS, GO) == tuple(
        Target(p.goos, p.goarch) for p in PORTS
        if p.goarch.startswith("arm") and p.goos not in ("linux", "android"))
    with pytest.raises(UsageError) as e:
        expand(["zz*/zz*"], PORTS, GO)
    assert e.value.message == "no target matches 'zz*/zz*'"
