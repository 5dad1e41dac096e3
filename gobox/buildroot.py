"""The generated lowest layer of a build's root: the /etc Go reads, a `gobox` user, certifi's CA bundle, Go's dirs.

The sandbox takes it as one more lower layer, as it takes a toolchain's or an image's: what a Go
build's root holds is decided here, in the build layer, so `gobox.sandbox` knows no Go.
"""

from __future__ import annotations

import errno
import os
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from gobox.store import remove_tree

LAYER_FORMAT = 1  # bump when minimal_files or DIRS change, so old layers are not reused
# Go's GOROOT (/usr/local/go) and GOPATH (/go), the gobox user's home, and the mount points every run has.
DIRS = ("tmp", "proc", "dev", "root", "home/gobox", "go", "usr/local/go", "etc/ssl/certs")


def minimal_files(uid: int, gid: int, ca_bundle: bytes) -> dict[str, bytes]:
    """The files of the generated layer: enough /etc for Go's os/user, net and crypto/tls."""
    if uid == 0:
        passwd = "root:x:0:0:root:/root:/bin/sh\n"
    else:
        passwd = f"root:x:0:0:root:/root:/bin/sh\ngobox:x:{uid}:{gid}:gobox:/home/gobox:/bin/sh\n"
    group = "root:x:0:\n" + (f"gobox:x:{gid}:\n" if gid != 0 else "")
    return {
        "etc/passwd": (passwd + "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").encode(),
        "etc/group": (group + "nogroup:x:65534:\n").encode(),
        "etc/hosts": b"127.0.0.1\tlocalhost gobox\n::1\tlocalhost ip6-localhost\n",
        "etc/nsswitch.conf": b"hosts: files dns\npasswd: files\ngroup: files\n",
        "etc/resolv.conf": b"",
        "etc/ssl/certs/ca-certificates.crt": ca_bundle,
    }


def minimal_layer_path(layers_dir: Path, uid: int, gid: int) -> tuple[Path, Path | None]:
    """Where the generated layer for this uid/gid is (made or not), and the CA bundle it takes.

    The name spells the format, the ids and the CA bundle's identity (a CRC of its path, its size and mtime),
    not its 200 kB of content, so finding the layer costs a stat per run. No cryptographic hash: hashlib's
    OpenSSL load was about 2.5 ms of every run's start-up, for a name in the user's own store.
    """
    ca_path = certifi_bundle()
    try:
        st = ca_path.stat() if ca_path is not None else None
    except OSError:
        st = None
    if ca_path is None or st is None:
        ca_path, ca_id = None, "none"
    else:
        ca_id = f"{zlib.crc32(os.fsencode(ca_path)):08x}-{st.st_size}-{st.st_mtime_ns}"
    return layers_dir / f"minimal-{LAYER_FORMAT}-{uid}-{gid}-{ca_id}", ca_path


def certifi_bundle() -> Path | None:
    """certifi's CA bundle (shipped with requests: pinned and portable), or None without certifi.

    Found beside certifi's package without importing it: `certifi.where()` imports importlib.resources,
    tempfile, shutil and zipfile (about 8 ms, on every run) for a zip install's sake, which is the one case
    that needs it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("certifi")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    beside = Path(spec.origin).parent / "cacert.pem"
    if beside.is_file():
        return beside
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def ensure_minimal_layer(layers_dir: Path, scratch: Path, uid: int, gid: int) -> Path:
    """The generated layer for this uid/gid, made once and named by what it is made from."""
    path, ca_path = minimal_layer_path(layers_dir, uid, gid)
    if path.is_dir():
        return path
    files = minimal_files(uid, gid, ca_path.read_bytes() if ca_path else b"")
    _make_layer_once(path, scratch, DIRS, files, sticky=("tmp",))
    return path


def _make_layer_once(path: Path, scratch: Path, dirs: Iterable[str], files: Mapping[str, bytes],
                     sticky: Iterable[str] = ()) -> None:
    """Write a layer directory of `dirs` and `files` (relative path -> bytes) at `path`, made in `scratch`
    (on the same filesystem) and renamed into place whole; one that is already there is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch / f"{path.name}.{os.getpid()}"
    for d in dirs:
        (tmp / d).mkdir(parents=True, exist_ok=True)
    for d in sticky:
        (tmp / d).chmod(0o1777)
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    try:
        os.rename(tmp, path)
    except OSError as e:
        # Another gobox made the same layer first, and may be running on it: keep
        # theirs (its content is the same) rather than swap a live lower dir.
        remove_tree(tmp)
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
