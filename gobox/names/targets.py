"""Cross targets: Go's GOOS/GOARCH names, the pinned Go's ports, target patterns and variants, output names."""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import string
from collections.abc import Iterable, Sequence

from gobox.errors import InvalidName
from gobox.names.platform import ARCH_VARIABLE, Platform
from gobox.names.versions import GoVersion
from gobox.values import dataclass

LIST_HINT = "`gobox cross --list` shows the supported targets"

_EXPECTED = "expected GOOS/GOARCH[/VARIANT], a pattern such as linux/* or */arm64, all, first-class, or !PATTERN"

# Go's syslist (go/build/syslist.go): every name Go has ever given an OS or an
# architecture. A name here that is not a port of the pinned toolchain is a
# real platform that Go does not build for, not a typo.
KNOWN_GOOS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd",
    "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
})  # fmt: skip
KNOWN_GOARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle", "mips64",
    "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x",
    "sparc", "sparc64", "wasm",
})  # fmt: skip

# What people type for a platform, from uname, Rust/LLVM triples and Debian, mapped to Go's names.
_OS_ALIASES = {
    "macos": "darwin", "mac": "darwin", "osx": "darwin", "macosx": "darwin",
    "win": "windows", "win32": "windows", "win64": "windows",
}  # fmt: skip
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "x64": ("amd64", ""), "amd64p": ("amd64", ""),
    "aarch64": ("arm64", ""), "armv8": ("arm64", ""), "arm64e": ("arm64", ""),
    "i386": ("386", ""), "i486": ("386", ""), "i586": ("386", ""), "i686": ("386", ""), "x86": ("386", ""),
    "ia32": ("386", ""),
    "armv7": ("arm", "v7"), "armv7l": ("arm", "v7"), "armhf": ("arm", "v7"),
    "armv6": ("arm", "v6"), "armv6l": ("arm", "v6"), "armv5": ("arm", "v5"),
    "ppc64el": ("ppc64le", ""), "riscv": ("riscv64", ""),
}  # fmt: skip

_V = GoVersion.parse

# The Go release that first reads each variable; before it go build ignores the
# setting silently, which would make a "v3" build that is really v1.
_VARIABLE_SINCE = {"GOAMD64": _V("1.18"), "GOARM64": _V("1.23"), "GORISCV64": _V("1.23")}

# Each variable's values and the release that first accepts each (None: every release gobox can pin).
_VALUES: dict[str, tuple[tuple[str, GoVersion | None], ...]] = {
    "GOARM": (("v5", None), ("v6", None), ("v7", None)),
    "GOAMD64": (("v1", None), ("v2", None), ("v3", None), ("v4", None)),
    "GOARM64": tuple((f"v8.{n}", None) for n in range(10)) + tuple((f"v9.{n}", None) for n in range(6)),
    "GO386": (("sse2", None), ("softfloat", _V("1.16"))),
    "GOMIPS": (("hardfloat", None), ("softfloat", None)),
    "GOMIPS64": (("hardfloat", None), ("softfloat", None)),
    "GOPPC64": (("power8", None), ("power9", None), ("power10", _V("1.20"))),
    "GORISCV64": (("rva20u64", None), ("rva22u64", None), ("rva23u64", _V("1.25"))),
}

_GOARM64 = re.compile(r"^(v[89])(\.\d)?((?:,(?:lse|crypto))*)$")
_GOARM64_ALLOWED = "v8.0 to v8.9 or v9.0 to v9.5, optionally followed by ,lse and/or ,crypto"

# A field may hold what people type for a platform (x86_64, x86-64), so the
# unknown-target path can suggest Go's name; anything else is not a target.
_FIELD = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9.,]*$")
_GLOB = re.compile(r"^[a-z0-9*][a-z0-9_.*-]*$")  # linux/*, */arm64, linux/mips*


@dataclass(frozen=True)
class Port:
    """One GOOS/GOARCH pair the toolchain can build for, as `go tool dist list -json` reports it."""

    goos: str
    goarch: str
    cgo: bool
    first_class: bool

    def __str__(self) -> str:
        return f"{self.goos}/{self.goarch}"


def parse_dist_list(text: str) -> tuple[Port, ...]:
    """The working ports in `go tool dist list -json` output, in its order; ValueError if malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, list):
        raise ValueError("not a JSON array")
    ports: dict[tuple[str, str], Port] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"entry {i} is not an object")
        goos, goarch = item.get("GOOS"), item.get("GOARCH")
        if not isinstance(goos, str) or not _FIELD.match(goos):
            raise ValueError(f"entry {i} has no valid GOOS")
        if not isinstance(goarch, str) or not _FIELD.match(goarch):
            raise ValueError(f"entry {i} has no valid GOARCH")
        flags = {}
        for key in ("CgoSupported", "FirstClass", "Broken"):
            # Go omits Broken unless true, and older releases may omit the others.
            value = item.get(key, False)
            if not isinstance(value, bool):
                raise ValueError(f"entry {i} ({goos}/{goarch}): {key} is not a boolean")
            flags[key] = value
        if flags["Broken"]:
            continue
        ports.setdefault((goos, goarch), Port(goos, goarch, flags["CgoSupported"], flags["FirstClass"]))
    if not ports:
        raise ValueError("no ports listed")
    return tuple(ports.values())


# A cross target is a Platform: the type images are selected by and the host is described with.
Target = Platform


# ---- variants ----


def _normalise_variant(target_text: str, goarch: str, variant: str, go: GoVersion | None) -> str:
    """The variant as Go spells it; InvalidName if the arch has none, the value is bad, or `go` predates it."""
    variable = ARCH_VARIABLE.get(goarch)
    if variable is None:
        arches = ", ".join(sorted(ARCH_VARIABLE))
        raise InvalidName(
            f"{target_text}: {goarch} takes no variant (variants exist for {arches})",
            hint=f"drop the variant: {target_text.rsplit('/', 1)[0]}",
        )
    since = _VARIABLE_SINCE.get(variable)
    if go is not None and since is not None and go < since:
        raise InvalidName(
            f"{target_text}: {variable} needs go{since} or newer; this project's Go is {go}",
            hint="drop the variant, or move the project to a newer Go",
        )
    if variable == "GOARM" and variant in ("5", "6", "7"):
        variant = "v" + variant
    if variable == "GOARM64":
        m = _GOARM64.match(variant)
        if m is None or (m.group(1) == "v9" and m.group(2) and int(m.group(2)[1:]) > 5):
            raise InvalidName(f"{target_text}: {variable} must be {_GOARM64_ALLOWED}")
        # Go itself wants v8.0; a bare v8 is what people write for the baseline.
        return m.group(1) + (m.group(2) or ".0") + m.group(3)
    values = dict(_VALUES[variable])
    if variant not in values:
        allowed = [v for v, s in values.items() if go is None or s is None or go >= s]
        raise InvalidName(f"{target_text}: {variable} must be one of {', '.join(allowed)}")
    value_since = values[variant]
    if go is not None and value_since is not None and go < value_since:
        raise InvalidName(
            f"{target_text}: {variable}={variant} needs go{value_since} or newer; this project's Go is {go}",
            hint="choose another variant, or move the project to a newer Go",
        )
    return variant


# ---- parsing patterns ----


@dataclass(frozen=True)
class _Pattern:
    negate: bool
    keyword: str  # "all", "first-class", or "" for os/arch patterns
    goos: str = ""  # "*" for any
    goarch: str = ""
    variant: str = ""
    text: str = ""  # as written, without "!", for messages


def _not_a_target(text: str, hint: str | None = None) -> InvalidName:
    return InvalidName(f"not a target: {text!r} ({_EXPECTED})", hint=hint)


def _parse_pattern(raw: str) -> _Pattern:
    text = raw.strip()
    negate = text.startswith("!")
    body = text[1:].strip() if negate else text
    lowered = body.lower()
    if lowered in ("all", "first-class"):
        return _Pattern(negate, lowered, text=body)
    fields = lowered.split("/")
    if len(fields) == 3 and fields[2] == "":
        raise _not_a_target(text, hint=f"drop the trailing '/': {body.rstrip('/')}")
    if len(fields) not in (2, 3):
        raise _not_a_target(text)
    goos, goarch = fields[0], fields[1]
    variant = fields[2] if len(fields) == 3 else ""
    for name in (goos, goarch):
        if not (_GLOB if "*" in name else _FIELD).match(name):
            raise _not_a_target(text)
    if variant:
        if "*" in goos + goarch:
            raise _not_a_target(text, hint="a variant needs an exact target, such as linux/arm/v7")
        if not _VARIANT.match(variant):
            raise _not_a_target(text)
    return _Pattern(negate, "", goos, goarch, variant, body)


def parse_target(text: str, go: GoVersion | None = None, origin: str = "") -> Target:
    """One exact target, normalised (linux/arm/7 is linux/arm/v7); the ports are not consulted.

    The variant is checked against Go's values, and against `go`'s release when given.
    """
    # A config key names one target, so the pattern forms are not offered as what was expected.
    refusal = InvalidName(f"not a target: {text.strip()!r} (expected GOOS/GOARCH[/VARIANT], such as linux/amd64 or "
                         f"linux/arm/v7)")
    try:
        try:
            pattern = _parse_pattern(text)
        except InvalidName as e:
            refusal.hint = e.hint
            raise refusal from None
        if pattern.negate or pattern.keyword or "*" in pattern.goos + pattern.goarch:
            raise refusal
        return _exact(pattern, go)
    except InvalidName as e:
        raise _with_origin(e, origin) from None


def _exact(pattern: _Pattern, go: GoVersion | None) -> Target:
    variant = pattern.variant
    if variant:
        variant = _normalise_variant(f"{pattern.goos}/{pattern.goarch}/{variant}", pattern.goarch, variant, go)
    return Target(pattern.goos, pattern.goarch, variant)


def _with_origin(error: InvalidName, origin: str) -> InvalidName:
    if not origin:
        return error
    return InvalidName(f"{origin}: {error.message}", hint=error.hint)


# ---- expanding patterns against the toolchain's ports ----


def expand(patterns: Sequence[str], ports: Sequence[Port], go: GoVersion, origin: str = "") -> tuple[Target, ...]:
    """The targets `patterns` name, in the order first added, checked against the toolchain's ports."""
    try:
        return _expand(patterns, ports, go)
    except InvalidName as e:
        raise _with_origin(e, origin) from None


def _expand(patterns: Sequence[str], ports: Sequence[Port], go: GoVersion) -> tuple[Target, ...]:
    if not patterns:
        raise InvalidName("no targets given", hint=f"name targets such as linux/amd64 or linux/*; {LIST_HINT}")
    parsed = [_parse_pattern(p) for p in patterns]
    # A dict keeps first-added order and drops duplicates.
    chosen: dict[Target, None] = {}
    if all(p.negate for p in parsed):
        chosen.update((Target(p.goos, p.goarch), None) for p in ports)
    for pattern in parsed:
        named = _resolve(pattern, ports, go)
        if pattern.negate:
            for target in _removed(chosen, named, pattern):
                del chosen[target]
        else:
            chosen.update((t, None) for t in named)
    if not chosen:
        listed = " ".join(p.strip() for p in patterns)
        raise InvalidName(f"no targets left: {listed!r} names none", hint=LIST_HINT)
    return tuple(chosen)


def _removed(chosen: dict[Target, None], named: Iterable[Target], pattern: _Pattern) -> list[Target]:
    if pattern.variant:
        return [t for t in named if t in chosen]
    # Without a variant a negation names the whole port: !linux/arm also drops linux/arm/v6 and v7.
    pairs = {(t.goos, t.goarch) for t in named}
    return [t for t in chosen if (t.goos, t.goarch) in pairs]


def _resolve(pattern: _Pattern, ports: Sequence[Port], go: GoVersion) -> list[Target]:
    if pattern.keyword == "all":
        return [Target(p.goos, p.goarch) for p in ports]
    if pattern.keyword == "first-class":
        return [Target(p.goos, p.goarch) for p in ports if p.first_class]
    if "*" in pattern.goos + pattern.goarch:
        return _resolve_wildcard(pattern, ports, go)
    pairs = {(p.goos, p.goarch) for p in ports}
    if (pattern.goos, pattern.goarch) not in pairs:
        raise _not_a_port(pattern, ports, go)
    return [_exact(pattern, go)]


def _resolve_wildcard(pattern: _Pattern, ports: Sequence[Port], go: GoVersion) -> list[Target]:
    matched = [
        Target(p.goos, p.goarch)
        for p in ports
        if fnmatch.fnmatchcase(p.goos, pattern.goos) and fnmatch.fnmatchcase(p.goarch, pattern.goarch)
    ]
    if matched:
        return matched
    if "*" in pattern.goos and "*" in pattern.goarch:
        raise InvalidName(f"no target matches {pattern.text!r}", hint=LIST_HINT)
    # One field is a glob here; the other is a name, which may be a typo.
    if "*" not in pattern.goos:
        name, known = pattern.goos, KNOWN_GOOS
    else:
        name, known = pattern.goarch, KNOWN_GOARCH
    if name in known:
        raise InvalidName(f"go{go} does not support {name}", hint=LIST_HINT)
    if pattern.goos != "*":
        goos = _pick(name, {p.goos for p in ports}, _OS_ALIASES)
        suggestion = f"{goos}/*" if goos else None
    else:
        arch_aliases = {k: v[0] for k, v in _ARCH_ALIASES.items()}
        goarch = _pick(name, {p.goarch for p in ports}, arch_aliases)
        suggestion = f"*/{goarch}" if goarch else None
    raise InvalidName(f"no target matches {pattern.text!r}", hint=_did_you_mean(suggestion))


def _arches_of(goos: str, ports: Sequence[Port]) -> list[str]:
    return sorted({p.goarch for p in ports if p.goos == goos})


def _not_a_port(pattern: _Pattern, ports: Sequence[Port], go: GoVersion) -> InvalidName:
    if pattern.goos in KNOWN_GOOS and pattern.goarch in KNOWN_GOARCH:
        pair = f"{pattern.goos}/{pattern.goarch}"
        arches = _arches_of(pattern.goos, ports)
        if arches:
            hint = (
                f"its {pattern.goos} ports: {', '.join(arches)} "
                f"(a newer Go may add it; `gobox cross --list` shows them all)"
            )
        else:
            hint = f"go{go} supports no {pattern.goos} target; {LIST_HINT}"
        # Go knows "riscv" as a name, yet someone typing linux/riscv means riscv64. Only an alias
        # counts here: a merely similar name (mips64le for mips64) is a different platform.
        suggestion = _suggest(pattern, ports, go, close=False)
        if suggestion:
            hint = f"did you mean {suggestion}? {hint}"
        return InvalidName(f"go{go} does not support {pair}", hint=hint)
    return InvalidName(f"unknown target {pattern.text!r}", hint=_did_you_mean(_suggest(pattern, ports, go)))


def _did_you_mean(suggestion: str | None) -> str:
    return f"did you mean {suggestion}?" if suggestion else LIST_HINT


def _pick(name: str, candidates: set[str], aliases: dict[str, str], close: bool = True) -> str | None:
    if name in candidates:
        return name
    alias = aliases.get(name)
    if alias in candidates:
        return alias
    if not close:
        return None
    similar = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return similar[0] if similar else None


def _suggest(pattern: _Pattern, ports: Sequence[Port], go: GoVersion, close: bool = True) -> str | None:
    """A port of this toolchain close to what was typed, or None; never a target that would fail."""
    goos = _pick(pattern.goos, {p.goos for p in ports}, _OS_ALIASES, close)
    if goos is None:
        return None
    # Choose the arch among the suggested OS's own ports, so the pair always exists.
    arches = set(_arches_of(goos, ports))
    alias_variant = ""
    if pattern.goarch in arches:
        goarch = pattern.goarch
    elif pattern.goarch in _ARCH_ALIASES and _ARCH_ALIASES[pattern.goarch][0] in arches:
        goarch, alias_variant = _ARCH_ALIASES[pattern.goarch]
    else:
        similar = difflib.get_close_matches(pattern.goarch, sorted(arches), n=1, cutoff=0.6) if close else []
        if not similar:
            return None
        goarch = similar[0]
    if (goos, goarch) == (pattern.goos, pattern.goarch):
        return None
    variant = alias_variant
    if pattern.variant:
        try:
            variant = _normalise_variant(f"{goos}/{goarch}/{pattern.variant}", goarch, pattern.variant, go)
        except InvalidName:
            pass  # the typed variant does not fit the suggested arch; keep the alias's, if any
    return str(Target(goos, goarch, variant))


# ---- output directory names ----

TEMPLATE_FIELDS = ("name", "os", "arch", "variant")
DEFAULT_TEMPLATE = "{name}_{os}_{arch}{variant}"


def template_problem(template: str) -> str | None:
    """What is wrong with an output directory template, or None when it is fine."""
    allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return "unbalanced '{' or '}' (write {{ or }} for a literal brace)"
    used = set()
    literal = ""
    for text, field, spec, conversion in parts:
        literal += text
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            return f"unknown field {{{field}}} (allowed: {allowed})"
        if spec or conversion:
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            return f"field {{{field}{suffix}}} may not have a conversion or format spec (allowed: {allowed})"
        used.add(field)
    if not {"os", "arch"} <= used:
        return "must contain {os} and {arch} so targets do not overwrite each other"
    if "/" in literal or "\\" in literal or "\0" in literal:
        return "must be one directory name: no '/' and not '.' or '..'"
    return None


def render_output(template: str, name: str, target: Target) -> str:
    """The output directory name for one target; ValueError if the template or the result is not one."""
    problem = template_problem(template)
    if problem:
        raise ValueError(f"output template {template!r} {problem}")
    rendered = template.format(name=name, os=target.goos, arch=target.goarch, variant=target.dir_suffix)
    # The project name is not the template's to vouch for.
    if "/" in rendered or "\\" in rendered or "\0" in rendered or rendered in (".", ".."):
        raise ValueError(f"output name {rendered!r} must be one directory name")
    return rendered
