"""git and hg at exact revisions: a shared bare-repository cache in the store, and exact trees out of it.

Repositories are cloned once per URL into store.root/"repos"/<hash of vcs and URL> and fetched
again only when a revision is missing; trees come out with `git archive` / `hg archive` (never a
checkout), so nothing of .git or .hg reaches the vendor tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from gobox.errors import GoboxError, IntegrityError, NetworkError, NotFoundError
from gobox.store import Store, replace_dir

# Directories a dependency's own tree may carry that must not shadow the project's vendoring.
DROPPED_DIRS = ("vendor", "Godeps")
_FULL = re.compile(r"^[0-9a-f]{40}$")
_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_TIMEOUT = 600


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


def cache_path(store: Store, remote: Remote) -> Path:
    return store.root / "repos" / remote.key


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    # Never stop to ask for a password: a private remote without credentials is an error, not a hang.
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "HGPLAIN": "1",
                "GIT_CONFIG_NOSYSTEM": "1", "HGRCPATH": ""})
    return env


def _run(argv: list[str], what: str, remote: Remote, stdout: int | None = subprocess.PIPE,
         network: bool = False) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=_env(), timeout=_TIMEOUT)
    except FileNotFoundError:
        raise GoboxError(f"{remote}: the {argv[0]} program is not installed",
                         hint=f"install it (Debian: apt-get install {'mercurial' if argv[0] == 'hg' else 'git'})"
                         ) from None
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{remote}: {what} took longer than {_TIMEOUT} s") from None
    if p.returncode != 0:
        lines = [x.strip() for x in p.stderr.decode(errors="replace").splitlines() if x.strip()]
        detail = lines[-1] if lines else f"exit {p.returncode}"
        err = NetworkError if network else GoboxError
        raise err(f"{remote}: {what} failed: {detail}")
    return p


# --- the cache -------------------------------------------------------------------------------------------


def _ensure_clone(store: Store, remote: Remote, progress) -> Path:  # noqa: ANN001 - gobox.progress.Progress
    """The cached bare repository of `remote`, cloned when the store has none."""
    path = cache_path(store, remote)
    if path.is_dir():
        return path
    progress.step(f"cloning {remote}")
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
    _run(["git", "-C", str(repo), "fetch", "-q", "--prune", "--force", "--no-tags", "--", remote.url,
          "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], "git fetch", remote, network=True)


def update(store: Store, remote: Remote, progress) -> Path:  # noqa: ANN001
    """Clone, or fetch what the remote has now into the cache."""
    with store.locked(f"repo-{remote.key}"):
        fresh = not cache_path(store, remote).is_dir()
        path = _ensure_clone(store, remote, progress)
        if not fresh:
            progress.step(f"fetching {remote}")
            if remote.vcs == "git":
                _git_fetch(path, remote)
            else:
                _run(["hg", "pull", "-q", "-R", str(path), "--", remote.url], "hg pull", remote, network=True)
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
    """One entry of an exported tree: a regular file (data, executable) or a symlink (link)."""

    data: bytes = b""
    executable: bool = False
    link: str | None = None


def read_tree(store: Store, remote: Remote, commit: str, subdir: str | None = None) -> dict[str, Entry]:
    """The tree of `commit` (or of its `subdir`, with the root's LICENSE when the subdir has none, as a
    module proxy serves it): relative path -> Entry. A symlink must stay inside the tree."""
    path = cache_path(store, remote)
    # As Go's own module fetcher exports them (cmd/go/internal/modfetch/codehost), so that the tree hashes as
    # the module proxy's zip would: no line-ending conversion, the tree's .gitattributes export rules applied.
    if remote.vcs == "git":
        argv = ["git", "-c", "core.autocrlf=input", "-c", "core.eol=lf", "-C", str(path), "archive",
                "--format=tar", commit]
    else:
        argv = ["hg", "-R", str(path), "--config", "ui.archivemeta=false", "archive", "--no-decode", "-t", "tar",
                "-p", ".", "-r", commit, "-"]
    p = _run(argv, f"exporting {commit}", remote)
    label = f"{remote} at {commit}"
    prefix = subdir.strip("/") + "/" if subdir else ""
    tree: dict[str, Entry] = {}
    root_license = None
    with tarfile.open(fileobj=io.BytesIO(p.stdout), mode="r:") as tar:
        for member in tar:
            name = posixpath.normpath(member.name.removeprefix("./"))
            if name == "." or member.isdir() or name == "pax_global_header" or member.type in (
                    tarfile.XGLTYPE, tarfile.XHDTYPE):
                continue
            if name.startswith("/") or name == ".." or name.startswith("../"):
                raise IntegrityError(f"{label}: unsafe path {member.name!r} in the tree")
            if member.issym():
                _check_link(label, name, member.linkname)
            if prefix and name == "LICENSE" and member.isreg():
                root_license = Entry(tar.extractfile(member).read())
            if prefix:
                if not name.startswith(prefix):
                    continue
                name = name[len(prefix):]
            if member.issym():
                tree[name] = Entry(link=member.linkname)
            elif member.isreg():
                tree[name] = Entry(tar.extractfile(member).read(), bool(member.mode & 0o111))
            else:
                raise IntegrityError(f"{label}: {name} is neither a file, a directory nor a symlink")
    if prefix and not tree:
        raise NotFoundError(f"{label}: no directory {subdir!r} in the tree", hint="check subdir in [vendor.deps]")
    if prefix and root_license is not None and "LICENSE" not in tree:
        tree["LICENSE"] = root_license
    return tree


def vendored(tree: dict[str, Entry]) -> dict[str, Entry]:
    """What of a dependency's tree is vendored: all but its own nested vendor/ and Godeps/."""
    return {name: e for name, e in tree.items() if not any(p in DROPPED_DIRS for p in name.split("/")[:-1])}


def tree_digest(tree: dict[str, Entry]) -> str:
    """gobox's digest of a vendored tree, kept in gobox.lock so that --check needs no repository: sha256 over
    sorted "<sha256 of content or link target> <kind> <path>" lines (kind f, x for executable, or l)."""
    lines = []
    for name in sorted(tree):
        e = tree[name]
        kind = "l" if e.link is not None else "x" if e.executable else "f"
        data = e.link.encode() if e.link is not None else e.data
        lines.append(f"{hashlib.sha256(data).hexdigest()} {kind} {name}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def write_tree(tree: dict[str, Entry], dest: Path) -> None:
    """Write entries below `dest`: files 0644 or 0755, no times kept, so the same commit gives the same bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in sorted(tree):
        e = tree[name]
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if e.link is not None:
            os.symlink(e.link, target)
        else:
            target.write_bytes(e.data)
            target.chmod(0o755 if e.executable else 0o644)


def _check_link(label: str, name: str, link: str) -> None:
    """Refuse a symlink that leads out of the dependency's tree (absolute, or up past its root)."""
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
    if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise IntegrityError(f"{label}: symlink {name} -> {link} points outside the repository's tree",
                             hint="vendor a revision without it, or a subdir that does not hold it")
