"""The module zip gobox ci releases for a library, as a Go proxy would serve it for the commit, and its h1: hash.

The version is the one Go gives the commit, the files those git archive gives Go's own clones; the hash is the
line every consumer's go.sum holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from gobox import modversion, modzip
from gobox.ci import source
from gobox.values import dataclass


@dataclass(frozen=True)
class Release:
    module: str
    version: str
    zip: str  # relative to the output directory, posix: <escaped module>@<escaped version>.zip
    ziphash: str  # the file beside it holding the h1: line, as Go's module cache names it
    h1: str
    go_mod_h1: str
    files: int

    @property
    def go_sum(self) -> tuple[str, str]:
        """The two lines `go mod download` adds to a consumer's go.sum."""
        return (f"{self.module} {self.version} {self.h1}", f"{self.module} {self.version}/go.mod {self.go_mod_h1}")


def skip_reason(module: str | None) -> str | None:
    """Why the module has no zip to release (a path no Go can fetch, as for `module hello`), or None."""
    if not module:
        return "go.mod names no module"
    problem = modversion.module_path_problem(module)
    return f"module path {module!r} is not one Go can fetch ({problem})" if problem else None


def release(checkout: source.Checkout, repo: Path, treeish: str, module: str, out: Path, scratch: Path) -> Release:
    """Write out/<module>@<version>.zip and its .ziphash from the commit `treeish` in the room's copy `repo`; the
    version from the checkout's tags. A zip Go would refuse is a ModuleZipError."""
    at, merged = source.tags(checkout)
    prefix = modversion.tag_prefix(module, checkout.subdir)
    version = modversion.commit_version(module, prefix, at, merged, checkout.epoch, checkout.commit)
    spool = scratch / "module-source.zip"
    source.archive(repo, treeish, checkout.subdir, spool, modzip.MAX_ZIP_FILE)
    license_ = source.blob(repo, treeish, "LICENSE", modzip.MAX_LICENSE) if checkout.subdir else None
    name = f"{modversion.escape_path(module)}@{modversion.escape_version(version)}"
    dest = out / f"{name}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(spool) as src:
        files = modzip.files_in_archive(src, checkout.subdir, license_)
        go_mod = next((f for f in files if f.path == "go.mod"), None)
        go_mod_data = b""
        if go_mod is not None:
            with go_mod.open() as f:
                go_mod_data = f.read(modzip.MAX_GO_MOD + 1)
        with dest.open("wb") as f:
            made = modzip.create(f, module, version, files)
    spool.unlink()
    hashfile = out / f"{name}.ziphash"
    hashfile.write_text(made.h1 + "\n")
    return Release(module, version, dest.relative_to(out).as_posix(), hashfile.relative_to(out).as_posix(),
                   made.h1, modzip.go_mod_hash(go_mod_data), made.files)
