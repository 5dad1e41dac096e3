"""The on-disk store: where toolchains, blobs and caches live, and how entries appear atomically."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from gobox.errors import GoboxError
from gobox.values import dataclass


@dataclass(frozen=True)
class Store:
    """Paths of the store. Every entry is made in `tmp/` and renamed into place.

    Layout under root, one top-level directory each; what is inside an area is its owner's format:
      toolchains/<go1.22.10.linux-amd64>/  one installed toolchain (layer/ + toolchain.json)
      blobs/sha256/<hex>                    content-addressed downloads: toolchains, image manifests and layers
      images/<registry>/<repository>/       image records, one JSON file each (gobox.imagestore.records)
      layers/                               unpacked image layers (sha256/<diff_id>/) and generated ones
      cache/                                shared caches: Go's go-build/ and mod/, zig's, cross's peak memory
      cache/std/<key>/                      a clean room's prebuilt standard library (gobox.ci.stdcache)
      cache/list/<digest>.json              go list's answer for one build, while its sources are unchanged
                                            (gobox.listcache)
      run/                                  scratch of running sandboxes (upper dirs, the seccomp filter)
      commits/<pid>-XXXXXXXX/               what a `gobox run --commit` wrote, until it becomes a layer
      repos/<key>/                          bare git and hg repositories `gobox vendor` fetches from
      ci/<pid>-XXXXXXXX/                    gobox ci's clean rooms, removed when their build ends
      tmp/                                  work in progress; same filesystem as the rest
      locks/                                one lock file per entry being made
      pins/<pid>-<starttime>.json           what a running gobox uses, kept from gc (gobox.imagestore.gc)
    """

    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Store:
        env = os.environ if environ is None else environ
        home = env.get("GOBOX_HOME")
        if home:
            return cls(Path(home).expanduser().absolute())
        from platformdirs import user_cache_dir

        return cls(Path(user_cache_dir("gobox", appauthor=False)))

    @property
    def toolchains(self) -> Path:
        return self.root / "toolchains"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def stdcache(self) -> Path:
        return self.cache / "std"

    @property
    def listings(self) -> Path:
        return self.cache / "list"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def commits(self) -> Path:
        return self.root / "commits"

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def ci(self) -> Path:
        return self.root / "ci"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def pins(self) -> Path:
        return self.root / "pins"

    def blob(self, sha256: str) -> Path:
        return self.blobs / sha256

    def blob_for(self, digest: str) -> Path:
        """The blob of an OCI digest, "sha256:<hex>"."""
        return self.blob(digest.removeprefix("sha256:"))

    def ensure(self) -> None:
        for d in (self.toolchains, self.blobs, self.tmp, self.locks):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise GoboxError(
                    f"cannot create the gobox store at {self.root}: {e.strerror}",
                    hint="set GOBOX_HOME to a writable directory",
                ) from e

    @contextlib.contextmanager
    def locked(self, name: str, shared: bool = False,
               on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store-wide lock `name`; other gobox processes wait for it.

        Exclusive unless `shared`; `on_wait` is called once if the lock is held
        elsewhere, before waiting. flock is released by the kernel when the
        holder dies, so a killed install never blocks the next one.
        """
        self.ensure()
        fd = os.open(self.locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            if on_wait is None:
                fcntl.flock(fd, mode)
            else:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                except BlockingIOError:
                    on_wait()
                    fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def workdir(self, name: str) -> Iterator[Path]:
        """A fresh directory in tmp/ for making entry `name`; removed afterwards, whatever happens.

        Call it while holding `locked(name)`: leftovers of earlier crashed
        attempts at the same entry are cleared first, since nobody else can be
        working on it.
        """
        import tempfile  # lazy, as below: `gobox toolchain which` imports this module

        self.ensure()
        for stale in self.tmp.glob(f"{name}.*"):
            remove_tree(stale)
        path = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=self.tmp))
        try:
            yield path
        finally:
            remove_tree(path)


def process_starttime(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, in clock ticks after boot: with the pid, it names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ')': split after the last one.
    return int(stat[stat.rindex(")") + 2:].split()[19])


def process_alive(pid: int, starttime: int | None = None) -> bool:
    """Whether pid is a running process (the same one as when starttime was read, if given)."""
    try:
        now = process_starttime(pid)
    except (OSError, ValueError, IndexError):
        return True  # cannot tell: keeping what it uses is the safe mistake
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's, hidden from /proc (hidepid): treat as live
        return True
    return starttime is None or now == starttime


def remove_tree(path: Path) -> None:
    """Remove a file or tree, also one whose directories were made read-only."""
    import shutil

    def onerror(func: Callable[..., object], p: str, exc_info: tuple[type[BaseException], BaseException, object]
                ) -> None:  # shutil.rmtree's onerror signature
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        parent = os.path.dirname(p)
        os.chmod(parent, 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
            shutil.rmtree(p, onerror=onerror)
        else:
            os.unlink(p)

    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path, onerror=onerror)
    except FileNotFoundError:
        pass


def replace_dir(src: Path, dst: Path, graveyard: Path) -> None:
    """Move directory `src` to `dst` in one rename; an existing `dst` is moved aside first.

    rename(2) cannot replace a non-empty directory, so an old entry goes to
    `graveyard` (inside the store's tmp/) and is deleted after the swap.
    """
    import tempfile

    try:
        os.rename(src, dst)
        return
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    old = Path(tempfile.mkdtemp(prefix=f"{dst.name}.old.", dir=graveyard))
    os.rename(dst, old / "entry")
    os.rename(src, dst)
    remove_tree(old)


def swap_dir(src: Path, dst: Path) -> None:
    """Put directory `src` at `dst` so that `dst` is at every instant the old tree or the new one.

    An existing `dst` is exchanged with `src` in one renameat2(RENAME_EXCHANGE) and then removed
    from where `src` was; a filesystem without exchange gets replace_dir, which has a short gap.
    """
    if not dst.exists():
        os.rename(src, dst)
        return
    from gobox import libc

    try:
        libc.renameat2(src, dst, libc.RENAME_EXCHANGE)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        replace_dir(src, dst, src.parent)
        return
    remove_tree(src)


def private_dir(parent: Path, prefix: str = "") -> Path:
    """A new directory `<prefix><pid>-XXXXXXXX` in `parent` for this process's work; any such directory a
    process that is gone left there (killed midway) is removed first."""
    import tempfile

    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{prefix}*"):
        pid = old.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            remove_tree(old)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks (outputs can be hundreds of MB)."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write a file so a reader sees the old content or the new, never a part; with `mode` (a secret's
    0600) the file has that mode from its first byte, else an existing file's mode is kept."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path) if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets 0666 less the umask, as open(2) would."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
