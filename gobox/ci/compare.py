"""Two build output directories compared byte for byte, looking inside images and archives where they differ."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gobox.ci import contents
from gobox.values import dataclass


@dataclass(frozen=True)
class Difference:
    """One way the two trees differ at `path` (relative, "/"-separated; "." for the roots themselves).

    kind is "missing" (only in the first), "extra" (only in the second), "type",
    "content", "mode" or "link" (symlink targets).
    """

    path: str
    kind: str
    offset: int | None = None  # the first differing byte, for "content" of a file
    sizes: tuple[int, int] | None = None
    detail: str | None = None  # what differs inside an image or archive, or the two values that differ


def first_difference(a: Path, b: Path) -> int | None:
    """The offset of the first byte where the files differ; the shorter one's length when it is a prefix."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return contents.stream_difference(fa, fb)


def compare_trees(a: Path, b: Path) -> list[Difference]:
    """Every difference between the trees `a` and `b`, sorted by path. Symlinks are compared, not followed."""
    out: list[Difference] = []
    # The roots are followed when they are symlinks (dist -> dist.2); below them, links are compared as links.
    _compare(a.resolve(), b.resolve(), "", out)
    # Stable: a path with several differences keeps them in the order found (mode before content).
    return sorted(out, key=lambda d: d.path)


def describe(d: Difference) -> str:
    """One line a person reads."""
    if d.kind == "missing":
        return f"{d.path}: only in the first" + (f" ({d.detail})" if d.detail else "")
    if d.kind == "extra":
        return f"{d.path}: only in the second" + (f" ({d.detail})" if d.detail else "")
    if d.kind == "type":
        return f"{d.path}: type differs ({d.detail})"
    if d.kind == "mode":
        return f"{d.path}: mode differs ({d.detail})"
    if d.kind == "link":
        return f"{d.path}: symlink target differs ({d.detail})"
    if d.offset is None:
        return f"{d.path}: differs" + (f"; {d.detail}" if d.detail else "")
    text = f"{d.path}: differ at byte {d.offset}"
    if d.sizes is not None:
        text += f" (sizes {d.sizes[0]} and {d.sizes[1]})"
    return text + (f"; {d.detail}" if d.detail else "")



# --- trees


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "special file"


def _what_is(path: Path) -> str:
    st = os.lstat(path)
    kind = _kind(st)
    if kind == "file":
        return f"a file of {st.st_size} bytes"
    if kind == "symlink":
        return f"a symlink to {os.readlink(path)}"
    return f"a {kind}"


def _compare(a: Path, b: Path, rel: str, out: list[Difference]) -> None:
    path = rel or "."
    sa, sb = os.lstat(a), os.lstat(b)
    ka, kb = _kind(sa), _kind(sb)
    if ka != kb:
        out.append(Difference(path, "type", detail=f"{ka} vs {kb}"))
        return
    if ka == "symlink":
        ta, tb = os.readlink(a), os.readlink(b)
        if ta != tb:
            out.append(Difference(path, "link", detail=f"{ta!r} vs {tb!r}"))
        return
    if ka in ("file", "directory") and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        out.append(Difference(path, "mode", detail=f"{stat.S_IMODE(sa.st_mode):04o} vs {stat.S_IMODE(sb.st_mode):04o}"))
    if ka == "file":
        offset = first_difference(a, b)
        if offset is not None:
            out.append(Difference(path, "content", offset, (sa.st_size, sb.st_size), contents.file_detail(a, b)))
    elif ka == "directory":
        layouts = ((a / "oci-layout").is_file(), (b / "oci-layout").is_file())
        if not any(layouts):
            _children(a, b, rel, out)
            return
        # A layout's blobs are named by digest: one changed byte renames half of them, so they are
        # compared as one image rather than listed as files missing on one side and extra on the other.
        inside: list[Difference] = []
        _children(a, b, rel, inside)
        if inside:
            out.append(Difference(path, "content", detail=_layout_detail(a, b, layouts, inside)))


def _children(a: Path, b: Path, rel: str, out: list[Difference]) -> None:
    names_a, names_b = set(os.listdir(a)), set(os.listdir(b))
    for name in sorted(names_a | names_b):
        child = f"{rel}/{name}" if rel else name
        if name not in names_b:
            out.append(Difference(child, "missing", detail=_what_is(a / name)))
        elif name not in names_a:
            out.append(Difference(child, "extra", detail=_what_is(b / name)))
        else:
            _compare(a / name, b / name, child, out)


def _layout_detail(a: Path, b: Path, layouts: tuple[bool, bool], inside: list[Difference]) -> str:
    first = describe(inside[0])
    if not all(layouts):
        return f"only the {'first' if layouts[0] else 'second'} is an OCI image layout; first difference: {first}"
    try:
        parts = contents.compare_layouts(a, b)
    except contents.UNREADABLE as e:
        return f"could not be read as an image ({contents.reason(e)}); first difference: {first}"
    if parts:
        return "; ".join(parts)
    return f"the images match by digest; the layouts differ: {first}"
