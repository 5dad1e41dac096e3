"""What differs inside two differing files: the bytes, tar and zip members, OCI and docker images."""

from __future__ import annotations

import contextlib
import itertools
import json
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from gobox.errors import GoboxError
from gobox.oci.layout import REF_NAME
from gobox.oci.manifest import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    Descriptor,
    Index,
    Manifest,
    layer_compression,
    parse_document,
)
from gobox.values import dataclass

CHUNK = 1 << 20
# Manifests, indexes and configs are kilobytes; anything this big is not one, and is not read whole.
_DOCUMENT_MAX = 16 << 20


class _Unreadable(Exception):
    """An image or archive that is not what it claims to be: said in the detail, never raised to the caller."""


# What reading a damaged image can raise; anything else is a bug and is left to surface.
UNREADABLE = (_Unreadable, tarfile.TarError, OSError, EOFError, ValueError, zlib.error, GoboxError)


# --- bytes


def _read_full(f: IO[bytes], n: int) -> bytes:
    """n bytes, fewer only at the end: a raw or decompressing stream may return short reads."""
    data = f.read(n)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _first_mismatch(x: bytes, y: bytes) -> int:
    """Where two chunks first differ (the shorter length if one is a prefix of the other)."""
    n = min(len(x), len(y))
    lo = 0
    step = 4096
    while lo + step <= n and x[lo : lo + step] == y[lo : lo + step]:
        lo += step
    for i in range(lo, n):
        if x[i] != y[i]:
            return i
    return n


def stream_difference(fa: IO[bytes], fb: IO[bytes]) -> int | None:
    offset = 0
    while True:
        ca, cb = _read_full(fa, CHUNK), _read_full(fb, CHUNK)
        if ca != cb:
            return offset + _first_mismatch(ca, cb)
        if not ca:
            return None
        offset += len(ca)


# --- images and archives


class _Layout:
    """An OCI image layout directory, read by the names its files have inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()

    def open(self, name: str) -> IO[bytes]:
        try:
            return open(self.root / name, "rb")
        except FileNotFoundError:
            raise _Unreadable(f"the layout lacks {name}") from None


class _Archive:
    """A tar holding an OCI layout or a docker-archive, its members read in place, never extracted."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        # getmembers reads only headers: it seeks past the data of each member.
        self.members = {_member_name(m.name): m for m in tar.getmembers()}

    def has(self, name: str) -> bool:
        m = self.members.get(name)
        return m is not None and m.isfile()

    def open(self, name: str) -> IO[bytes]:
        m = self.members.get(name)
        if m is None or not m.isfile():
            raise _Unreadable(f"the archive lacks {name}")
        f = self.tar.extractfile(m)
        assert f is not None  # a regular file always has a reader
        return f


_Source = _Layout | _Archive


def _member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def reason(e: BaseException) -> str:
    if isinstance(e, GoboxError):
        return e.message
    return str(e) or type(e).__name__


def _read_document(source: _Source, name: str) -> bytes:
    with source.open(name) as f:
        data = f.read(_DOCUMENT_MAX + 1)
    if len(data) > _DOCUMENT_MAX:
        raise _Unreadable(f"{name} is over {_DOCUMENT_MAX >> 20} MiB: not a manifest or config")
    return data


def _image_kind(source: _Source) -> str | None:
    # Docker 25's `docker save` writes both; the OCI side says more (media types, platforms).
    if source.has("oci-layout") and source.has("index.json"):
        return "OCI"
    if isinstance(source, _Archive) and source.has("manifest.json"):
        return "docker"
    return None


_KIND_NAMES = {"OCI": "an OCI image", "docker": "a docker-archive", None: "no image"}
_ABSENT = object()


@dataclass(frozen=True)
class _LayerRef:
    name: str  # where its bytes are inside the layout or archive
    ident: str  # equal idents are taken as equal layers: both are named by their content
    shown: str
    compression: str | None  # "gzip", "none", "zstd"; None when only the bytes can tell


@dataclass(frozen=True)
class _Image:
    label: str  # its platform, when the index says it; else the config does
    config: str
    config_shown: str
    layers: tuple[_LayerRef, ...]


def compare_layouts(a: Path, b: Path) -> list[str]:
    """What differs between the images of two OCI layout directories, one phrase each; [] when nothing does."""
    return _compare_sources(_Layout(a), _Layout(b))


def _compare_sources(sa: _Source, sb: _Source) -> list[str]:
    """What differs between the images two layouts or archives hold, one phrase each; [] when nothing does."""
    ka, kb = _image_kind(sa), _image_kind(sb)
    if ka != kb:
        return [f"the first holds {_KIND_NAMES[ka]}, the second {_KIND_NAMES[kb]}"]
    if ka == "docker":
        return _docker(sa, sb)
    if ka is None:
        raise _Unreadable("no index.json")
    (ia, ra), (ib, rb) = (_document(s, "index.json", OCI_INDEX, None) for s in (sa, sb))
    if not isinstance(ia, Index) or not isinstance(ib, Index):
        raise _Unreadable("index.json is not an image index")
    return _index(sa, ia, ra, sb, ib, rb, "")


def _document(source: _Source, name: str, media_type: str | None, digest: str | None
              ) -> tuple[Manifest | Index, dict]:
    data = _read_document(source, name)
    if digest is None:
        # index.json has no digest to name it by in parse_document's messages: name the file.
        try:
            json.loads(data)
        except ValueError as e:
            raise _Unreadable(f"{name} is not JSON ({e})") from None
    return parse_document(data, media_type, digest), json.loads(data)


def _blob(digest: str) -> str:
    # parse_document checked the digest's form, so this name stays inside the layout.
    return "blobs/" + digest.replace(":", "/", 1)


def _label(d: Descriptor) -> str:
    if d.platform is not None:
        return str(d.platform)
    return dict(d.annotations).get(REF_NAME, "")


def _match(xs: tuple[Descriptor, ...], ys: tuple[Descriptor, ...]
           ) -> tuple[list[tuple[Descriptor, Descriptor]], list[Descriptor], list[Descriptor]]:
    """Pairs of entries of two indexes: by tag and platform, then by platform alone (a renamed tag), else by
    position when neither tells the entries of a side apart; and the entries left on each side."""
    def tagged(d: Descriptor) -> tuple[str, str]:
        return dict(d.annotations).get(REF_NAME, ""), str(d.platform or "")

    def platform(d: Descriptor) -> tuple[str, str]:
        return "", str(d.platform or "")

    pairs: list[tuple[Descriptor, Descriptor]] = []
    rest_x, rest_y = list(xs), list(ys)
    keyed = False
    for key in (tagged, platform):
        kx, ky = [key(d) for d in rest_x], [key(d) for d in rest_y]
        if len(set(kx)) < len(kx) or len(set(ky)) < len(ky):
            continue
        keyed = True
        by_y = dict(zip(ky, rest_y, strict=True))
        pairs += [(d, by_y[k]) for k, d in zip(kx, rest_x, strict=True) if k in by_y]
        in_x = set(kx)
        rest_x = [d for k, d in zip(kx, rest_x, strict=True) if k not in by_y]
        rest_y = [d for k, d in zip(ky, rest_y, strict=True) if k not in in_x]
    if not keyed:
        n = min(len(xs), len(ys))
        return list(zip(xs[:n], ys[:n], strict=True)), list(xs[n:]), list(ys[n:])
    return pairs, rest_x, rest_y


def _index(sa: _Source, ia: Index, ra: dict, sb: _Source, ib: Index, rb: dict, label: str) -> list[str]:
    pairs, only_a, only_b = _match(ia.manifests, ib.manifests)
    parts = [f"{_label(d) or _short(d.digest)} only in the first" for d in only_a]
    parts += [f"{_label(d) or _short(d.digest)} only in the second" for d in only_b]
    for da, db in pairs:
        if (da.digest, da.media_type) != (db.digest, db.media_type):
            parts += _descend(sa, da, sb, db, _label(da) or label)
    if not parts and ra != rb:
        parts.append(f"index{f' {label}' if label else ''}: {_said(_differing_keys(ra, rb))}")
    return parts


def _descend(sa: _Source, da: Descriptor, sb: _Source, db: Descriptor, label: str) -> list[str]:
    head = _head("manifest", da.digest, db.digest, label)
    if da.media_type in INDEX_TYPES and db.media_type in INDEX_TYPES:
        (ia, ra), (ib, rb) = (_document(s, _blob(d.digest), d.media_type, d.digest) for s, d in ((sa, da), (sb, db)))
        assert isinstance(ia, Index) and isinstance(ib, Index)
        return _index(sa, ia, ra, sb, ib, rb, label)
    if da.media_type in MANIFEST_TYPES and db.media_type in MANIFEST_TYPES:
        (ma, ra), (mb, rb) = (_document(s, _blob(d.digest), d.media_type, d.digest) for s, d in ((sa, da), (sb, db)))
        assert isinstance(ma, Manifest) and isinstance(mb, Manifest)
        parts = _images(sa, _oci_image(ma, label), sb, _oci_image(mb, label))
        if not parts:
            # Config and layers are the same: what is left are the manifest's own fields (annotations...).
            parts.append(f"{head}: {_said(_differing_keys(ra, rb))}")
        return parts
    if da.media_type != db.media_type:
        return [f"{head}: {da.media_type} vs {db.media_type}"]
    return [f"{head}: {da.media_type} is not an image gobox looks inside"]


def _oci_image(m: Manifest, label: str) -> _Image:
    layers = tuple(_LayerRef(_blob(d.digest), d.digest, d.digest, layer_compression(d.media_type)) for d in m.layers)
    return _Image(label, _blob(m.config.digest), m.config.digest, layers)


def _docker(sa: _Source, sb: _Source) -> list[str]:
    la, lb = (json.loads(_read_document(s, "manifest.json")) for s in (sa, sb))
    if not isinstance(la, list) or not isinstance(lb, list):
        raise _Unreadable("manifest.json is not a list of images")
    parts = [f"manifest.json lists {len(la)} images vs {len(lb)}"] if len(la) != len(lb) else []
    for ea, eb in zip(la, lb, strict=False):
        found = _images(sa, _docker_image(sa, ea), sb, _docker_image(sb, eb))
        if not found and ea != eb:
            found = [f"manifest.json: {_said(_differing_keys(ea, eb))}"]
        parts += found
    return parts


def _docker_image(source: _Source, entry: object) -> _Image:
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or not isinstance(
            entry.get("Layers"), list) or not all(isinstance(n, str) for n in entry["Layers"]):
        raise _Unreadable("manifest.json: an image without Config and Layers")
    assert isinstance(source, _Archive)  # a docker-archive is a tar, never a directory
    layers = []
    for name in entry["Layers"]:
        member = source.members.get(_member_name(name))
        if member is None:
            raise _Unreadable(f"the archive lacks {name}, which manifest.json names")
        # Layer files are named by digest (or by a chain ID in older docker save): name and size tell them apart.
        layers.append(_LayerRef(_member_name(name), f"{name} {member.size}", name, None))
    return _Image("", _member_name(entry["Config"]), entry["Config"], tuple(layers))


def _images(sa: _Source, ia: _Image, sb: _Source, ib: _Image) -> list[str]:
    """Config and layers of one image on each side: what differs, config first, then the first layer."""
    ba, bb = _read_document(sa, ia.config), _read_document(sb, ib.config)
    ca, cb = json.loads(ba), json.loads(bb)
    if not isinstance(ca, dict) or not isinstance(cb, dict):
        raise _Unreadable("an image config is not a JSON object")
    label = ia.label or _platform_of(ca)
    idents_a, idents_b = [x.ident for x in ia.layers], [x.ident for x in ib.layers]
    parts = []
    if ba != bb:
        keys = _differing_keys(ca, cb)
        if idents_a != idents_b:
            # diff_ids follow the layers: the layer itself is the news.
            keys = [k for k in keys if k != "rootfs"]
        if keys or idents_a == idents_b:
            parts.append(f"{_head('config', ia.config_shown, ib.config_shown, label)}: {_said(keys)}")
    na, nb = len(ia.layers), len(ib.layers)
    if na != nb:
        parts.append(f"{label + ': ' if label else ''}{na} layers vs {nb}")
    for i, (la, lb) in enumerate(zip(ia.layers, ib.layers, strict=False), 1):
        if la.ident != lb.ident:
            of = f"{na}" if na == nb else f"{na} vs {nb}"
            parts.append(f"{_head(f'layer {i} of {of}', la.shown, lb.shown, label)}: {_layer_detail(sa, la, sb, lb)}")
            break
    return parts


def _layer_detail(sa: _Source, la: _LayerRef, sb: _Source, lb: _LayerRef) -> str:
    if "zstd" in (la.compression, lb.compression):
        return "zstd-compressed, which gobox cannot look inside"
    try:
        with sa.open(la.name) as fa, sb.open(lb.name) as fb, \
                tarfile.open(fileobj=fa, mode="r|*") as ta, tarfile.open(fileobj=fb, mode="r|*") as tb:
            found = _members(ta, tb)
    except UNREADABLE as e:
        return f"could not read the layers ({reason(e)})"
    return found or "the same files and metadata, in different tar or compression bytes"


def _platform_of(config: dict) -> str:
    return "/".join(v for v in (config.get(k) for k in ("os", "architecture", "variant")) if isinstance(v, str) and v)


def _differing_keys(a: dict, b: dict) -> list[str]:
    """Top-level keys whose values differ; inside an image config's "config", its keys (config.Env...)."""
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, _ABSENT), b.get(k, _ABSENT)
        if va == vb:
            continue
        if k == "config" and isinstance(va, dict) and isinstance(vb, dict):
            keys += [f"config.{n}" for n in sorted(set(va) | set(vb)) if va.get(n, _ABSENT) != vb.get(n, _ABSENT)]
        else:
            keys.append(k)
    return keys


def _said(keys: list[str]) -> str:
    if not keys:
        return "the same keys and values in different bytes"
    return ", ".join(f'"{k}"' for k in keys) + (" differs" if len(keys) == 1 else " differ")


def _short(ident: str) -> str:
    algorithm, sep, rest = ident.partition(":")
    if sep and len(rest) > 12:
        return f"{algorithm}:{rest[:12]}…"
    return ident if len(ident) <= 24 else ident[:12] + "…"


def _head(noun: str, a: str, b: str, label: str) -> str:
    return f"{noun} ({_short(a)} vs {_short(b)})" + (f" {label}" if label else "")


# --- tar members

_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.DIRTYPE: "directory",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "character device",
          tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}
_FIELDS: tuple[tuple[str, Callable[[object], str]], ...] = (
    ("mode", lambda v: f"{v:04o}"), ("uid", str), ("gid", str), ("uname", repr), ("gname", repr), ("mtime", str),
    ("linkname", repr), ("devmajor", str), ("devminor", str))
# Kept in TarInfo fields already compared above; the rest of a pax header (atime, xattrs...) is compared as is.
_PAX_FIELDS = frozenset({"path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname"})


def _type_word(m: tarfile.TarInfo) -> str:
    return _TYPES.get(m.type, f"type {m.type!r}")


def _what_member(m: tarfile.TarInfo) -> str:
    return f"{_type_word(m)} {_member_name(m.name)}"


def _members(ta: tarfile.TarFile, tb: tarfile.TarFile) -> str | None:
    """The first member of two tars, in order, whose header or content differs, and how; None if none does.

    Works on streams: each member's content is compared as it passes, before the next header is read.
    """
    pairs: Iterator[tuple[tarfile.TarInfo | None, tarfile.TarInfo | None]] = itertools.zip_longest(ta, tb)
    for i, (ma, mb) in enumerate(pairs, 1):
        if mb is None:
            assert ma is not None  # zip_longest never gives two Nones
            return f"{_what_member(ma)} only in the first (member {i})"
        if ma is None:
            return f"{_what_member(mb)} only in the second (member {i})"
        if _member_name(ma.name) != _member_name(mb.name):
            return f"member {i} is {_what_member(ma)} vs {_what_member(mb)}"
        if ma.type != mb.type and _TYPES.get(ma.type) != _TYPES.get(mb.type):
            return f"{_member_name(ma.name)}: {_type_word(ma)} vs {_type_word(mb)}"
        said = [f"{field} {show(getattr(ma, field))} vs {show(getattr(mb, field))}"
                for field, show in _FIELDS if getattr(ma, field) != getattr(mb, field)]
        pax = sorted(k for k in set(ma.pax_headers) | set(mb.pax_headers)
                     if k not in _PAX_FIELDS and ma.pax_headers.get(k) != mb.pax_headers.get(k))
        if pax:
            said.append("pax " + ", ".join(pax))
        offset = None
        if ma.isreg():
            fa, fb = ta.extractfile(ma), tb.extractfile(mb)
            assert fa is not None and fb is not None
            offset = stream_difference(fa, fb)
        if offset is not None:
            content = f"differs at byte {offset} (sizes {ma.size} and {mb.size})"
            return f"{_what_member(ma)}: {', '.join(said)}; {content}" if said else f"{_what_member(ma)} {content}"
        if said:
            return f"{_what_member(ma)}: {', '.join(said)}"
    return None


# --- files


def _open_archive(path: Path, stack: contextlib.ExitStack) -> tuple[_Archive | None, str | None, str]:
    """The file as an archive, what it holds ("OCI", "docker", "tar" or None), and that said in words."""
    try:
        tar = stack.enter_context(tarfile.open(path, "r:"))  # noqa: SIM115 - the stack closes it
    except (tarfile.TarError, OSError, EOFError):
        try:
            with tarfile.open(path, "r:*"):
                return None, "tar", "a compressed tar"
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return None, None, "not a tar archive"
    try:
        source = _Archive(tar)
    except UNREADABLE as e:
        return None, None, f"a damaged tar ({reason(e)})"
    kind = _image_kind(source)
    return source, kind or "tar", "a tar holding no image" if kind is None else _KIND_NAMES[kind]


def file_detail(a: Path, b: Path) -> str | None:
    """What differs inside two differing files that are image archives or tars; None for other files."""
    images = ("OCI", "docker")
    with contextlib.ExitStack() as stack:
        (sa, ka, said_a), (sb, kb, said_b) = _open_archive(a, stack), _open_archive(b, stack)
        if ka in images and kb in images:
            assert sa is not None and sb is not None
            try:
                parts = _compare_sources(sa, sb)
            except UNREADABLE as e:
                return f"could not be read as an image: {reason(e)}"
            if parts:
                return "; ".join(parts)
            return f"the images match by digest; the archives differ: {_tar_members(a, b)}"
        if ka in images or kb in images:
            which, said = ("second", said_b) if ka in images else ("first", said_a)
            return f"could not be read as an image: the {which} is {said}"
    if ka and kb:
        return f"archive: {_tar_members(a, b)}"
    if ka or kb:
        return f"only the {'first' if ka else 'second'} is a tar archive"
    if a.name.endswith(".zip") and b.name.endswith(".zip"):
        return f"zip: {_zip_members(a, b)}"
    return None


def _zip_members(a: Path, b: Path) -> str:
    """The first entry of two zips (module zips, windows release archives) that differs, and how."""
    import zipfile

    try:
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            xs, ys = za.infolist(), zb.infolist()
            for x, y in zip(xs, ys, strict=False):
                if x.filename != y.filename:
                    return f"entry {x.filename!r} in the first where the second has {y.filename!r}"
                if (x.CRC, x.file_size) != (y.CRC, y.file_size):
                    return f"{x.filename}: content differs ({x.file_size} and {y.file_size} bytes)"
                what = [name for name in ("date_time", "external_attr", "compress_type", "create_system", "extra")
                        if getattr(x, name) != getattr(y, name)]
                if what:
                    return f"{x.filename}: {', '.join(what)} differ"
            if len(xs) != len(ys):
                return f"{len(xs)} entries and {len(ys)}"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        return f"could not be read ({reason(e)})"
    return "the same entries, in different zip bytes"


def _tar_members(a: Path, b: Path) -> str:
    try:
        with tarfile.open(a, "r|*") as ta, tarfile.open(b, "r|*") as tb:
            found = _members(ta, tb)
    except UNREADABLE as e:
        return f"could not be read ({reason(e)})"
    return found or "the same members, in different tar or compression bytes"
