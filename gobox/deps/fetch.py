"""git and hg at exact revisions: a shared bare-repository cache in the store, and exact trees out of it.

Repositories are cloned once per URL into the store's repos/<hash of vcs and URL> and fetched
again only when a revision is missing; trees come out with `git archive` / `hg archive` (never a
checkout), so nothing of .git or .hg reaches the vendor tree.

A tree is read twice, streamed both times and never held: once to list it (names, kinds, sha256 of
each file), which is all that pinning, go.sum and --check need, and once to write the files that were
kept, beneath their root with no symlink followed (gobox.fsroot).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import re
import signal
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from gobox import fsroot
from gobox.deps import modules
from gobox.errors import GoboxError, IntegrityError, NetworkError, NotFoundError
from gobox.store import Store, replace_dir
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress

# Directories a dependency's own tree may carry that must not shadow the project's vendoring.
DROPPED_DIRS = ("vendor", "Godeps")
_FULL = re.compile(r"^[0-9a-f]{40}$")
_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_TIMEOUT = 600
_CHUNK = 1 << 20
MAX_GOMOD = 16 << 20  # as Go's own module fetcher (modfetch/codehost.MaxGoMod)
# git archive holds a blob whole in memory below this size and streams it above (core.bigFileThreshold,
# 512 MiB by default); gobox streams every file, so git should too.
_GIT_STREAM_ABOVE = "16m"


@dataclass(frozen=True)
class Remote:
    """A repository: its VCS ("git" or "hg") and URL (https, ssh, file:// or an absolute path)."""

    vcs: str
    url: str

    def __str__(self) -> str:
        return f"{self.vcs} {self.url}"

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.vcs}\0{self.url}".encode()).hexdigest()[:32]


class FetchFailed(NetworkError):
    """A clone or fetch of a remote failed; `detail` is the VCS's own first line, for a caller that names what
    was being fetched."""

    def __init__(self, remote: Remote, what: str, detail: str) -> None:
        super().__init__(f"{remote}: {what} failed: {detail}")
        self.detail = detail


def cache_path(store: Store, remote: Remote) -> Path:
    return store.repos / remote.key


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    # Never stop to ask for a password: a private remote without credentials is an error, not a hang.
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "HGPLAIN": "1",
                "GIT_CONFIG_NOSYSTEM": "1", "HGRCPATH": ""})
    return env


def first_line(stderr: str) -> str:
    """What a failed git or hg said first: its first fatal/error/abort line (the later ones are consequences,
    such as "fetch-pack: invalid index-pack output"), joined to the next when it ends in a colon."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()]
    if not lines:
        return ""
    i = next((n for n, x in enumerate(lines) if re.match(r"^(fatal|error|abort):", x)), 0)
    line = lines[i]
    if line.endswith(":") and i + 1 < len(lines):
        line += " " + lines[i + 1]
    return line


def _not_installed(program: str, remote: Remote) -> GoboxError:
    return GoboxError(f"{remote}: the {program} program is not installed",
                      hint=f"install it (Debian: apt-get install {'mercurial' if program == 'hg' else 'git'})")


def _run(argv: list[str], what: str, remote: Remote, network: bool = False) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, capture_output=True, env=_env(), timeout=_TIMEOUT)
    except FileNotFoundError:
        raise _not_installed(argv[0], remote) from None
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{remote}: {what} took longer than {_TIMEOUT} s") from None
    if p.returncode != 0:
        detail = first_line(p.stderr.decode(errors="replace")) or f"exit {p.returncode}"
        if network:
            raise FetchFailed(remote, what, detail)
        raise GoboxError(f"{remote}: {what} failed: {detail}")
    return p


# --- the cache -------------------------------------------------------------------------------------------


def _clone(store: Store, remote: Remote) -> Path:
    """Clone `remote` afresh and put it in the cache, over any clone there was."""
    path = cache_path(store, remote)
    with store.workdir(f"repo-{remote.key}") as work:
        tmp = work / "repo"
        if remote.vcs == "git":
            _run(["git", "init", "--bare", "-q", str(tmp)], "git init", remote)
            _git_fetch(tmp, remote)
        else:
            _run(["hg", "clone", "-U", "-q", "--", remote.url, str(tmp)], "hg clone", remote, network=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_dir(tmp, path, store.tmp)
    return path


def _git_fetch(repo: Path, remote: Remote) -> None:
    # Forced refspecs and --prune: a remote whose history was replaced (rebased, force-pushed, made anew) is
    # mirrored as it is now; the commits it dropped stay in the cache for locks that pin them.
    _run(["git", "-C", str(repo), "fetch", "-q", "--prune", "--force", "--no-tags", "--", remote.url,
          "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], "git fetch", remote, network=True)


def update(store: Store, remote: Remote, progress: Progress) -> Path:
    """Clone, or fetch what the remote has now into the cache. Raises FetchFailed when the remote cannot
    be had."""
    with store.locked(f"repo-{remote.key}"):
        path = cache_path(store, remote)
        if not path.is_dir():
            progress.step(f"cloning {remote}")
            return _clone(store, remote)
        progress.step(f"fetching {remote}")
        if remote.vcs == "git":
            _git_fetch(path, remote)
            return path
        try:
            _run(["hg", "pull", "-q", "-R", str(path), "--", remote.url], "hg pull", remote, network=True)
        except FetchFailed as e:
            if "unrelated" not in e.detail:
                raise
            # The remote's history was replaced by another. Pulling it in beside the old one (pull -f) would
            # leave two histories whose tags and branches answer for one another: clone the remote as it is.
            progress.step(f"cloning {remote} anew: its history is not the one cached")
            return _clone(store, remote)
    return path


def has_commit(store: Store, remote: Remote, commit: str) -> bool:
    path = cache_path(store, remote)
    if not path.is_dir():
        return False
    if remote.vcs == "git":
        argv = ["git", "-C", str(path), "cat-file", "-e", f"{commit}^{{commit}}"]
    else:
        argv = ["hg", "-R", str(path), "log", "-q", "-r", f"id({commit})", "--template", "{node}"]
    p = subprocess.run(argv, capture_output=True, env=_env(), timeout=_TIMEOUT)
    return p.returncode == 0 and (remote.vcs == "git" or p.stdout.decode().strip() == commit)


# --- revisions -------------------------------------------------------------------------------------------


def resolve(store: Store, remote: Remote, rev: str) -> str:
    """The full commit id `rev` (a tag, a branch, a full or abbreviated commit) names in the cache."""
    path = cache_path(store, remote)
    if remote.vcs == "git":
        candidates = [f"refs/tags/{rev}", f"refs/heads/{rev}"]
        if _HEX.match(rev):
            candidates.append(rev)
        for name in candidates:
            p = subprocess.run(["git", "-C", str(path), "rev-parse", "-q", "--verify", "--end-of-options",
                                f"{name}^{{commit}}"], capture_output=True, env=_env(), timeout=_TIMEOUT)
            if p.returncode == 0:
                return p.stdout.decode().strip()
        ambiguous = _HEX.match(rev) and _git_ambiguous(path, rev)
        why = f"abbreviated commit {rev!r} is ambiguous" if ambiguous else \
            f"no revision {rev!r} (not a tag, branch or commit there)"
        raise NotFoundError(f"{remote}: {why}", hint="check rev in gobox.toml [vendor.deps]")
    # hg: a plain number is a local revision number, which differs between clones; never take one.
    if rev.isdigit() and len(rev) < 12:
        raise NotFoundError(f"{remote}: rev {rev!r} looks like a local revision number, which is not stable "
                            "between clones", hint="use a tag, a branch or a commit hash of 12 or more digits")
    p = subprocess.run(["hg", "-R", str(path), "log", "-r", rev, "--template", "{node}\\n"],
                       capture_output=True, env=_env(), timeout=_TIMEOUT)
    nodes = p.stdout.decode().split()
    if p.returncode != 0 or len(nodes) != 1 or not _FULL.match(nodes[0]) or nodes[0] == "0" * 40:
        raise NotFoundError(f"{remote}: no revision {rev!r} (not a tag, branch, bookmark or commit there)",
                            hint="check rev in gobox.toml [vendor.deps]")
    return nodes[0]


def _git_ambiguous(path: Path, rev: str) -> bool:
    p = subprocess.run(["git", "-C", str(path), "rev-parse", "--disambiguate=" + rev], capture_output=True,
                       env=_env(), timeout=_TIMEOUT)
    return len(p.stdout.split()) > 1


def is_symbolic(rev: str) -> bool:
    """Whether `rev` can move (a tag or a branch) rather than name one commit."""
    return not _FULL.match(rev)


# --- trees -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry of a tree: a regular file (the sha256 of its content, executable or not) or a symlink (link).

    Two entries are equal when a user would see no difference: content, kind and target. `source` is the
    archive member a vendored file is written from; `data` is kept only for what gobox reads itself (a
    dependency's go.mod) or makes (vendor/modules.txt); `imports` only for a .go file that is no test, read
    from its head (None: a file no build takes, or not Go)."""

    sha256: str = ""
    executable: bool = False
    link: str | None = None
    size: int = field(default=0, compare=False)
    source: str | None = field(default=None, compare=False)
    data: bytes | None = field(default=None, compare=False, repr=False)
    imports: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, data: bytes, executable: bool = False) -> Entry:
        return cls(hashlib.sha256(data).hexdigest(), executable, None, len(data), None, data)


@contextlib.contextmanager
def _archive(store: Store, remote: Remote, commit: str) -> Iterator[tarfile.TarFile]:
    """The tree of `commit` as a tar read while `git archive` / `hg archive` writes it, never held whole."""
    path = cache_path(store, remote)
    # As Go's own module fetcher exports them (cmd/go/internal/modfetch/codehost), so that the tree hashes as
    # the module proxy's zip would: no line-ending conversion, the tree's .gitattributes export rules applied.
    if remote.vcs == "git":
        argv = ["git", "-c", "core.autocrlf=input", "-c", "core.eol=lf", "-c",
                f"core.bigFileThreshold={_GIT_STREAM_ABOVE}", "-C", str(path), "archive", "--format=tar", commit]
    else:
        argv = ["hg", "-R", str(path), "--config", "ui.archivemeta=false", "archive", "--no-decode", "-t", "tar",
                "-p", ".", "-r", commit, "-"]
    what = f"exporting {commit}"
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=_env())
        except FileNotFoundError:
            raise _not_installed(argv[0], remote) from None
        assert proc.stdout is not None  # a PIPE
        try:
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    yield tar
                while proc.stdout.read(_CHUNK):  # the end-of-archive padding
                    pass
                unreadable = None
            except tarfile.TarError as e:
                unreadable = e
                proc.stdout.close()  # a writer still writing gets EPIPE rather than waiting on us
            code = proc.wait(timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise NetworkError(f"{remote}: {what} took longer than {_TIMEOUT} s") from None
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if unreadable is not None and code in (0, -signal.SIGPIPE):
            raise IntegrityError(f"{remote} at {commit}: unreadable archive: {unreadable}")
        if code != 0:
            err.seek(0)
            detail = first_line(err.read().decode(errors="replace")) or f"exit {code}"
            raise GoboxError(f"{remote}: {what} failed: {detail}")


def _member_name(label: str, member: tarfile.TarInfo) -> str | None:
    """The tree path of an archive member, None for what is no entry of the tree (directories, headers)."""
    name = posixpath.normpath(member.name.removeprefix("./"))
    if name == "." or member.isdir() or name == "pax_global_header" or member.type in (
            tarfile.XGLTYPE, tarfile.XHDTYPE):
        return None
    if name.startswith("/") or name == ".." or name.startswith("../"):
        raise IntegrityError(f"{label}: unsafe path {member.name!r} in the tree")
    return name


def digest(stream: Readable, sink: IO[bytes] | int | None = None, keep: int = 0) -> tuple[str, int, bytes | None]:
    """sha256, size and (when no more than `keep` bytes) the content of a stream read in chunks; each chunk is
    also written to `sink` (a file or a descriptor) when there is one."""
    h = hashlib.sha256()
    size = 0
    kept = bytearray() if keep else None
    while chunk := stream.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
        if kept is not None:
            kept += chunk
            if len(kept) > keep:
                kept = None
        if isinstance(sink, int):
            view = memoryview(chunk)
            while view:
                view = view[os.write(sink, view):]
        elif sink is not None:
            sink.write(chunk)
    return h.hexdigest(), size, bytes(kept) if kept is not None else None


class Readable(Protocol):
    """What digest reads from: a binary stream, or a _Replayed one."""

    def read(self, n: int = -1, /) -> bytes: ...


class _Replayed:
    """A stream whose first bytes were already read: they come again first."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = (self.head, b"") if n < 0 or n >= len(self.head) else (self.head[:n], self.head[n:])
            return out
        return self.rest.read(n)


def _reader(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tar.extractfile(member)
    assert f is not None  # called for regular files only, which always have one
    return f


def read_tree(store: Store, remote: Remote, commit: str, subdir: str | None = None) -> dict[str, Entry]:
    """The tree of `commit` (or of its `subdir`, with the root's LICENSE when the subdir has none, as a
    module proxy serves it): relative path -> Entry, files hashed as they stream by."""
    label = f"{remote} at {commit}"
    prefix = subdir.strip("/") + "/" if subdir else ""
    tree: dict[str, Entry] = {}
    seen: set[str] = set()
    root_license = None
    with _archive(store, remote, commit) as tar:
        for member in tar:
            full = _member_name(label, member)
            if full is None:
                continue
            if full in seen:
                raise IntegrityError(f"{label}: {full} appears twice in the tree")
            seen.add(full)
            if not (member.issym() or member.isreg()):
                raise IntegrityError(f"{label}: {full} is neither a file, a directory nor a symlink")
            if prefix and full == "LICENSE" and member.isreg():
                sha, size, _ = digest(_reader(tar, member))
                root_license = Entry(sha, False, None, size, full)
                continue
            if prefix and not full.startswith(prefix):
                continue
            name = full[len(prefix):]
            if member.issym():
                tree[name] = Entry(link=member.linkname, source=full)
                continue
            stream: Readable = _reader(tar, member)
            imports = None
            if name.endswith(".go") and not name.endswith("_test.go"):
                # The imports, for what `gobox vendor` must find pinned: from the file's head, which is then
                # hashed with the rest as it streams by.
                head = stream.read(modules.GO_HEAD)
                imports = modules.go_imports(head)
                stream = _Replayed(head, stream)
            sha, size, data = digest(stream, keep=MAX_GOMOD if name == "go.mod" else 0)
            if name == "go.mod" and data is None:
                raise IntegrityError(f"{label}: {full} is larger than Go reads ({MAX_GOMOD >> 20} MiB)")
            tree[name] = Entry(sha, bool(member.mode & 0o111), None, size, full, data, imports)
    if prefix and not tree:
        raise NotFoundError(f"{label}: no directory {subdir!r} in the tree", hint="check subdir in [vendor.deps]")
    if prefix and root_license is not None and "LICENSE" not in tree:
        tree["LICENSE"] = root_license
    return tree


def vendored(tree: Mapping[str, Entry]) -> dict[str, Entry]:
    """What of a dependency's tree is vendored: all but its own nested vendor/ and Godeps/."""
    return {name: e for name, e in tree.items() if not any(p in DROPPED_DIRS for p in name.split("/")[:-1])}


def tree_digest(tree: Mapping[str, Entry]) -> str:
    """gobox's digest of a vendored tree, kept in gobox.lock so that --check needs no repository: sha256 over
    sorted "<sha256 of content or link target> <kind> <path>" lines (kind f, x for executable, or l)."""
    lines = []
    for name in sorted(tree):
        e = tree[name]
        kind = "l" if e.link is not None else "x" if e.executable else "f"
        sha = hashlib.sha256(e.link.encode()).hexdigest() if e.link is not None else e.sha256
        lines.append(f"{sha} {kind} {name}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


# --- what a tree may hold ----------------------------------------------------------------------------------


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def leaves(tree: Mapping[str, Entry], name: str, root: str = "") -> bool:
    """Whether the symlink `name` leads out of the directory `root` of `tree` (paths relative to the tree's top),
    followed as the kernel would follow it once the tree is on disk: through the tree's own symlinks, `..`
    taken after each of them. A `..` above `root`, an absolute target or a loop counts as leaving; a part
    the tree does not hold is taken as a directory, which can only make this answer yes more often."""
    base = len(_parts(root))
    where = name.split("/")[:-1]
    link = tree[name].link
    assert link is not None  # `name` is a symlink
    todo = list(reversed(link.split("/")))
    if link.startswith("/"):
        return True
    hops, steps = 1, 0
    while todo:
        steps += 1
        if steps > 1 << 16:  # far more than the kernel walks (40 symlinks, 4096 bytes each)
            return True
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if len(where) <= base:
                return True
            where.pop()
            continue
        e = tree.get("/".join([*where, part]))
        if e is not None and e.link is not None:
            hops += 1
            if hops > fsroot.MAX_SYMLINKS or e.link.startswith("/"):
                return True
            todo.extend(reversed(e.link.split("/")))
            continue
        where.append(part)
    return False


def misplaced(tree: Mapping[str, Entry]) -> tuple[str, str] | None:
    """(an entry, the file or symlink it is below) when the tree puts something below a non-directory; on disk
    that would be written through the symlink, or fail. None for a tree that can be written as it is."""
    for name in sorted(tree):
        parts = name.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            if above in tree:
                return name, above
    return None


def check(tree: Mapping[str, Entry], roots: Mapping[str, str]) -> None:
    """Refuse a tree (paths relative to vendor/) that cannot be written beneath its root as it is: a path below
    a file or symlink, or a symlink that leads out of its dependency's directory. `roots` maps each dependency's
    directory in the tree to how errors name it."""
    def owner(name: str) -> tuple[str, str]:
        """(the path of `name` in its dependency's directory, how errors name that dependency)"""
        inside = [r for r in roots if r == "" or name.startswith(r + "/")]
        if not inside:
            return name, "vendor"
        root = max(inside, key=len)
        return name[len(root) + 1:] if root else name, roots[root]

    bad = misplaced(tree)
    if bad is not None:
        name, above = bad
        rel, label = owner(name)
        kind = "symlink" if tree[above].link is not None else "file"
        skip = len(name) - len(rel)  # the dependency's own directory and its slash
        up = above[skip:] if len(above) > skip else f"vendor/{above}"  # another dependency's
        raise IntegrityError(f"{label}: {rel} is below the {kind} {up}, so writing it would go through that",
                             hint="vendor a revision without it; git itself would not check this tree out")
    for name in sorted(tree):
        e = tree[name]
        if e.link is None:
            continue
        rel, label = owner(name)
        if leaves(tree, name, name[:len(name) - len(rel)].rstrip("/")):
            raise IntegrityError(f"{label}: symlink {rel} -> {e.link} points outside the dependency's tree",
                                 hint="vendor a revision without it, or a subdir that does not hold it")


# --- writing ---------------------------------------------------------------------------------------------


def _refusal(label: str, path: str, e: OSError) -> GoboxError:
    why = {errno.ELOOP: "a symlink is on the way", errno.ENOTDIR: "a file is on the way",
           errno.EXDEV: "it leaves the tree", errno.EEXIST: "it is already there"}.get(e.errno or 0)
    if why is not None:
        return IntegrityError(f"{label}: refusing to write {path}: {why}")
    return GoboxError(f"{label}: cannot write {path}: {e.strerror or e}")


def write_file(root: str | int, path: str, stream: IO[bytes], executable: bool = False,
               label: str = "vendor") -> tuple[str, int]:
    """Write a new file at `path` beneath `root`, no symlink followed on the way, from a stream read in chunks;
    0644 or 0755 whatever the umask, no times kept. Its sha256 and size."""
    try:
        parent, name = fsroot.parent_beneath(root, path)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
        finally:
            os.close(parent)
        try:
            sha, size, _ = digest(stream, fd)
            os.fchmod(fd, 0o755 if executable else 0o644)
        finally:
            os.close(fd)
    except OSError as e:
        raise _refusal(label, path, e) from None
    return sha, size


def write_symlink(root: str | int, path: str, target: str, label: str = "vendor") -> None:
    """Make the symlink `path` -> `target` beneath `root`, no symlink followed on the way."""
    try:
        parent, name = fsroot.parent_beneath(root, path)
        try:
            os.symlink(target, name, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as e:
        raise _refusal(label, path, e) from None


def write_tree(store: Store, remote: Remote, commit: str, entries: Mapping[str, Entry], root: str | int,
               prefix: str = "", label: str | None = None) -> None:
    """Write `entries` (as read_tree listed them) beneath `root` at `prefix`, streamed again out of the
    repository; each file is checked against the sha256 it was listed with."""
    label = label or f"{remote} at {commit}"
    dest = {e.source: name for name, e in entries.items()}
    with _archive(store, remote, commit) as tar:
        for member in tar:
            full = _member_name(label, member)
            name = dest.pop(full, None) if full is not None else None
            if name is None:
                continue
            e = entries[name]
            path = prefix + name
            if e.link is not None:
                if not member.issym() or member.linkname != e.link:
                    raise IntegrityError(f"{label}: {name} changed between two reads of the tree")
                write_symlink(root, path, e.link, label)
                continue
            sha, _ = write_file(root, path, _reader(tar, member), e.executable, label)
            if sha != e.sha256:
                raise IntegrityError(f"{label}: {name} changed between two reads of the tree")
    if dest:
        raise IntegrityError(f"{label}: {sorted(dest.values())[0]} is missing from a second read of the tree")
