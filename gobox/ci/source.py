"""The source of a clean-room build: which commit of which checkout, and a private copy of exactly it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from gobox.errors import ConfigError, GoboxError
from gobox.image.plan import public_url
from gobox.store import file_sha256
from gobox.values import dataclass


@dataclass(frozen=True)
class Changed:
    """A file that differs from the commit in a `--dirty` build, with what it holds now."""

    path: str  # relative to the repository's top, posix
    sha256: str | None  # None: deleted


@dataclass(frozen=True)
class Checkout:
    """A git checkout that holds the project, as gobox ci sees it before building."""

    toplevel: Path
    subdir: str  # the project's directory inside the repository, posix; "" at its top
    commit: str
    epoch: int  # the commit's committer time: SOURCE_DATE_EPOCH
    repository: str  # origin's URL without credentials, else ""
    modified: tuple[str, ...]  # tracked files that differ from the commit (and are staged or not)
    untracked: tuple[str, ...]  # files git does not track and does not ignore, under the project


def _env() -> dict[str, str]:
    """git without the user's or the system's configuration: hooks, filters and aliases stay out."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


def _git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(cwd), *args], capture_output=True,
                              env={**_env(), **(env or {})}, timeout=600)
    except FileNotFoundError:
        raise ConfigError("gobox ci needs git to read the checkout, and there is no git on PATH",
                          hint="install git (apt-get install git)") from None
    if check and done.returncode != 0:
        raise GoboxError(f"git {args[0]} in {cwd} failed: {done.stderr.decode(errors='replace').strip()}")
    return done


def inspect(root: Path) -> Checkout:
    """The checkout holding `root`: its commit, and what differs from the commit."""
    top = _git(root, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise ConfigError(f"{root} is not in a git checkout: gobox ci builds the tracked files of a commit",
                          hint="git init && git add -A && git commit -m init, or build with gobox build")
    toplevel = Path(top.stdout.decode().strip())
    head = _git(root, "log", "-1", "--format=%H %ct", check=False)
    if head.returncode != 0 or not head.stdout.strip():
        raise ConfigError(f"the git checkout {toplevel} has no commit yet: gobox ci builds a commit",
                          hint="git add -A && git commit -m init")
    commit, epoch = head.stdout.decode().split()
    subdir = root.resolve().relative_to(toplevel.resolve()).as_posix()
    subdir = "" if subdir == "." else subdir
    # Refresh the index's stat data first, so a file touched but unchanged is not called modified.
    _git(root, "update-index", "-q", "--refresh", check=False)
    modified = _lines(_git(toplevel, "diff-index", "--name-only", "-z", "HEAD", "--").stdout)
    untracked = _lines(_git(toplevel, "ls-files", "-z", "--others", "--exclude-standard", "--",
                            subdir or ".").stdout)
    origin = _git(toplevel, "remote", "get-url", "origin", check=False)
    url = public_url(origin.stdout.decode().strip()) if origin.returncode == 0 else ""
    return Checkout(toplevel, subdir, commit, int(epoch), url, modified, untracked)


def _lines(out: bytes) -> tuple[str, ...]:
    return tuple(sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p))


def snapshot(checkout: Checkout, dest: Path, dirty: bool) -> tuple[Path, tuple[Changed, ...]]:
    """Fill `dest` with the commit's tracked files (and, with `dirty`, the checkout's changes and untracked
    files), as a one-commit git repository; the project's directory in it, and the changes taken.

    A fetch of the one commit, not a copy of the working tree: nothing untracked or ignored can come
    along, and `-buildvcs` finds a real repository at that commit.
    """
    dest.mkdir(parents=True)
    _git(dest, "init", "-q")
    _git(dest, "fetch", "-q", "--depth", "1", f"file://{checkout.toplevel}", checkout.commit)
    _git(dest, "-c", "core.autocrlf=false", "checkout", "-q", "--detach", "FETCH_HEAD")
    if checkout.repository:
        _git(dest, "remote", "add", "origin", checkout.repository)
    changed: list[Changed] = []
    if dirty:
        for rel in sorted({*checkout.modified, *checkout.untracked}):
            src, dst = checkout.toplevel / rel, dest / rel
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            elif dst.exists() or dst.is_symlink():
                dst.unlink()
            if not (src.exists() or src.is_symlink()):
                changed.append(Changed(rel, None))
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                digest = hashlib.sha256(os.readlink(src).encode()).hexdigest()
            else:
                shutil.copy2(src, dst)
                digest = file_sha256(dst)
            changed.append(Changed(rel, digest))
    return dest / checkout.subdir if checkout.subdir else dest, tuple(changed)


# --- what a module zip is made of: tags, and the files as git archive gives them to Go ------------------


def tags(checkout: Checkout) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tags on the commit, and every tag in its history (those on it included), as Go's git reads them."""

    def refs(*how: str) -> tuple[str, ...]:
        out = _git(checkout.toplevel, "for-each-ref", "--format=%(refname)", *how, "refs/tags").stdout
        names = (line.decode("utf-8", "surrogateescape").strip() for line in out.splitlines())
        return tuple(sorted(n[len("refs/tags/"):] for n in names if n.startswith("refs/tags/")))

    return refs("--points-at", checkout.commit), refs("--merged", checkout.commit)


def archive(repo: Path, treeish: str, subdir: str, dest: Path, limit: int) -> None:
    """`git archive --format=zip` of the tree (of subdir) into dest, as Go's git runs it to make a module zip:
    eol attributes apply, export-ignore and export-subst do not (Go's clones turn them off in info/attributes,
    which ranks above the tree's .gitattributes, so this copy does too); more than `limit` bytes is an error."""
    info = repo / ".git" / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "attributes").write_text("* -export-subst -export-ignore\n")
    argv = ["git", "-c", "safe.directory=*", "-C", str(repo), "-c", "core.autocrlf=input", "-c", "core.eol=lf",
            "archive", "--format=zip", treeish, *(("--", subdir) if subdir else ())]
    with dest.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
        written = 0
        try:
            while chunk := proc.stdout.read(1 << 16):
                written += len(chunk)
                if written > limit:
                    proc.kill()
                    raise GoboxError(f"git archive of {subdir or 'the commit'} is larger than {limit >> 20} MiB, "
                                     "the most a module zip may be")
                out.write(chunk)
        finally:
            err = proc.stderr.read()
            proc.wait()
    if proc.returncode != 0:
        raise GoboxError(f"git archive in {repo} failed: {err.decode(errors='replace').strip()}")


def blob(repo: Path, treeish: str, path: str, limit: int) -> bytes | None:
    """A file of the tree, when it is one and no larger than `limit` (Go's ReadFile of the repository)."""
    kind = _git(repo, "cat-file", "-t", f"{treeish}:{path}", check=False)
    if kind.returncode != 0 or kind.stdout.strip() != b"blob":
        return None
    size = _git(repo, "cat-file", "-s", f"{treeish}:{path}").stdout.strip()
    if not size.isdigit() or int(size) > limit:
        return None
    return _git(repo, "cat-file", "blob", f"{treeish}:{path}").stdout
