"""`gobox ci matrix`: the project's cross targets as a CI job matrix, one job per target.

Pure: the caller expands [cross].targets to concrete GOOS/GOARCH[/VARIANT]
strings and prints what render() returns; nothing here reads or writes a
file. Each job then runs `gobox ci --target T`, one shard of the fan-out.

The texts carry no final newline: `click.echo` adds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from gobox.errors import ConfigError, UsageError

FORMATS = ("github", "gitlab")

# More jobs than one matrix may create, from each system's documentation.
GITHUB_MAX_JOBS = 256  # "A matrix can generate a maximum of 256 jobs per workflow run"
GITLAB_MAX_JOBS = 200  # parallel:matrix "cannot create more than 200 jobs"

DEFAULT_TEMPLATE = ".gitlab/gobox-ci.yml"

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def render(targets: Sequence[str], fmt: str, where: str = "gobox.toml") -> str:
    """The matrix of `gobox ci matrix --format FMT`; `where` names gobox.toml in errors."""
    if fmt == "github":
        return github_matrix(targets, where)
    if fmt == "gitlab":
        return gitlab_pipeline(targets, where=where)
    raise UsageError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")


def github_matrix(targets: Sequence[str], where: str = "gobox.toml") -> str:
    """One line of compact JSON for `strategy: matrix: ${{ fromJSON(...) }}`.

    The shape is {"include": [{"target": "linux/arm/v7", "slug": "linux_arm_v7"}, ...]},
    not {"target": [...]}: a job needs a name without "/" for its artifact, since
    actions/upload-artifact@v4 refuses "/" in names and wants them unique in a run,
    and Actions expressions have no string replace to make one. `include` lists the
    jobs exactly (no cross product), and ${{ matrix.target }} works the same.
    """
    jobs = _checked(targets, GITHUB_MAX_JOBS, "a GitHub Actions matrix", where)
    include = [{"target": t, "slug": s} for t, s in _slugs(jobs, where).items()]
    # ASCII only, no spaces: one line that survives `echo "matrix=$m" >> "$GITHUB_OUTPUT"`.
    return json.dumps({"include": include}, separators=(",", ":"))


def gitlab_pipeline(targets: Sequence[str], template: str = DEFAULT_TEMPLATE, where: str = "gobox.toml") -> str:
    """A GitLab child pipeline: one `cross` job per target, from the `.gobox-ci` job of `template`.

    The parent's `plan` job writes it as an artifact; a trigger job with
    `include: - artifact: ... job: plan` runs it. Written by hand (gobox has no
    YAML dependency), every string double-quoted.
    """
    jobs = _checked(targets, GITLAB_MAX_JOBS, "a GitLab parallel:matrix", where)
    lines = [
        "# Written by `gobox ci matrix --format gitlab`: one job per target of [cross].targets.",
        "include:",
        f"  - local: {yaml_quote(template)}",
        "",
        "stages:",
        "  - cross",
        "",
        "cross:",
        "  extends: .gobox-ci",
        "  stage: cross",
        "  parallel:",
        "    matrix:",
        "      - GOBOX_TARGET:",
        *(f"          - {yaml_quote(t)}" for t in jobs),
        "  script:",
        "    - gobox ci --target \"$GOBOX_TARGET\"",
        "  artifacts:",
        "    paths:",
        "      - dist/",
    ]
    return "\n".join(lines)


def yaml_quote(text: str) -> str:
    """`text` as a YAML double-quoted scalar that every YAML 1.1 and 1.2 parser reads back as is.

    Printable ASCII stays; quote and backslash are escaped; everything else,
    including line breaks YAML 1.1 would fold (NEL, U+2028) and characters a
    parser refuses (DEL, C1 controls), becomes an \\x, \\u or \\U escape.
    """
    out = []
    for c in text:
        n = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= n < 0x7F:
            out.append(c)
        elif n <= 0xFF:
            out.append(f"\\x{n:02x}")
        elif n <= 0xFFFF:
            out.append(f"\\u{n:04x}")
        else:
            out.append(f"\\U{n:08x}")
    return '"' + "".join(out) + '"'


def _checked(targets: Sequence[str], limit: int, system: str, where: str) -> list[str]:
    """The targets without repeats, in order; refused when none or more than `limit`."""
    jobs = list(dict.fromkeys(targets))
    if not jobs:
        raise ConfigError(f"{where}: cross.targets: no targets, so `gobox ci matrix` has no jobs to make",
                          hint='list them under [cross], e.g. targets = ["linux/amd64", "darwin/arm64"]')
    if len(jobs) > limit:
        raise ConfigError(f"{where}: cross.targets: {len(jobs)} targets, more than the {limit} jobs "
                          f"{system} may have",
                          hint="build several targets per job (gobox ci --target A --target B) "
                          "in a matrix written by hand")
    return jobs


def _slugs(targets: Sequence[str], where: str) -> dict[str, str]:
    """Each target's name for files and artifacts: linux/arm/v7 is linux_arm_v7."""
    slugs: dict[str, str] = {}
    seen: dict[str, str] = {}
    for t in targets:
        s = _SLUG_UNSAFE.sub("_", t)
        if s in seen:
            raise ConfigError(f"{where}: cross.targets: {seen[s]} and {t} would both be named {s} in the matrix")
        seen[s] = t
        slugs[t] = s
    return slugs
