"""gobox.lock: what gobox.toml resolved to, as frozen values; parsed, rendered, and written only by `update`.

Toolchains, image digests, the CA bundle and vendored commits are all pinned in the one file. The features
that resolve them (toolchains, images, CA bundles, vendoring) return a `LockPin`, a value; the command that
called them hands its pins to `record`, which applies them through `update` under an exclusive flock, so
two gobox processes pinning different things in one project keep both.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gobox import schema
from gobox.errors import ConfigError
from gobox.store import write_atomic
from gobox.tomlfile import display, line_of, parse_toml, read_text
from gobox.values import dataclass

LOCK_NAME = "gobox.lock"
LOCK_FORMAT = 1


@dataclass(frozen=True)
class LockedArtifact:
    platform: str
    source: str
    filename: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class LockedImage:
    """An image toolchain ([go].image) pinned by the digest its reference resolved to, per platform."""

    reference: str  # canonical: 127.0.0.1:5000/golang:1.22
    platform: str
    digest: str


@dataclass(frozen=True)
class LockedBundle:
    """The CA bundle `gobox image` puts in images ([image].ca-certificates), pinned by its sha256."""

    source: str  # "certifi"
    version: str  # of the package it came from
    sha256: str


@dataclass(frozen=True)
class LockedDep:
    """A vendored dependency ([vendor.deps]) pinned at the full commit id its rev resolved to."""

    path: str  # the import path, the key in [vendor.deps]
    vcs: str  # "git" or "hg"
    url: str
    rev: str  # as gobox.toml wrote it: a tag, a branch or a (short) commit
    commit: str  # full: 40 hex digits for git and hg
    tree: str | None = None  # "sha256:..." of what was vendored from it (fetch.tree_digest), for --check


@dataclass(frozen=True)
class Lock:
    go_version: str | None = None
    artifacts: tuple[LockedArtifact, ...] = ()
    images: tuple[LockedImage, ...] = ()  # image toolchains ([go].image) and image bases ([image].base)
    ca_certificates: LockedBundle | None = None
    deps: tuple[LockedDep, ...] = ()

    def dep_for(self, path: str) -> LockedDep | None:
        return next((d for d in self.deps if d.path == path), None)

    def artifact_for(self, platform: str) -> LockedArtifact | None:
        return next((a for a in self.artifacts if a.platform == platform), None)

    def image_for(self, reference: str, platform: str) -> LockedImage | None:
        return next((i for i in self.images if (i.reference, i.platform) == (reference, platform)), None)


@dataclass(frozen=True)
class LockPin:
    """What a feature resolved and gobox.lock should now say; `said` is the line the command reports
    once it is written ("go 1.22.10 (go.dev)"). Entries left None are not touched."""

    said: str
    go_version: str | None = None
    artifact: LockedArtifact | None = None  # this platform's file of go_version
    only_artifact: bool = False  # `gobox toolchain pin`: the other platforms' files go too
    image: LockedImage | None = None  # replaces the entry of its reference and platform
    ca_certificates: LockedBundle | None = None
    deps: tuple[LockedDep, ...] | None = None  # every vendored dependency, replacing the lock's

    def apply(self, now: Lock | None) -> Lock | None:
        """The lock with this pin in it, or None when it already says so. Whatever else the lock pins stays."""
        lock = now or Lock()
        new = lock
        if self.go_version is not None:
            same = lock.go_version == self.go_version and not self.only_artifact
            kept = tuple(a for a in lock.artifacts if same and (self.artifact is None
                                                                or a.platform != self.artifact.platform))
            new = replace(new, go_version=self.go_version,
                          artifacts=kept + ((self.artifact,) if self.artifact else ()))
        if self.image is not None:
            key = (self.image.reference, self.image.platform)
            new = replace(new, images=tuple(i for i in new.images if (i.reference, i.platform) != key)
                          + (self.image,))
        if self.ca_certificates is not None:
            new = replace(new, ca_certificates=self.ca_certificates)
        if self.deps is not None and set(self.deps) != set(new.deps):
            new = replace(new, deps=self.deps)
        return None if new == lock else new


def record(path: Path, pins: Sequence[LockPin]) -> Lock | None:
    """Write `pins` into the lock at `path` in one update; what was written, or None when nothing changed."""
    if not pins:
        return None

    def change(now: Lock | None) -> Lock | None:
        new = now
        for p in pins:
            new = p.apply(new) or new
        return None if new is now else new

    return update(path, change)


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def parse_lock(text: str, filename: str) -> Lock:
    doc = parse_toml(text, filename)

    def bad(path: tuple[str, ...], problem: str) -> ConfigError:
        line = line_of(text, path)
        where = f"{filename}:{line}" if line else filename
        return ConfigError(f"{where}: {schema.key_text(path)}: {problem}",
                           hint="delete gobox.lock and run gobox again to recreate it")

    def tables(parent: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]]:
        """The array of tables at `path` ([[go.artifacts]] ...), each checked to be a table."""
        value = parent.get(path[-1], [])
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            raise bad(path, "expected an array of tables")
        return value

    version_field = doc.get("version")
    if type(version_field) is not int or version_field != LOCK_FORMAT:
        raise bad(("version",), f"expected lock format {LOCK_FORMAT}, got {schema.describe(version_field)}")
    problem = schema.nul_in(doc)
    if problem is not None:
        raise bad(problem, schema.NUL_PROBLEM)
    go = doc.get("go", {})
    if not isinstance(go, dict):
        raise bad(("go",), "expected a table")
    version = go.get("version")
    if version is not None and not isinstance(version, str):
        raise bad(("go", "version"), "expected a string")
    artifacts = []
    for entry in tables(go, ("go", "artifacts")):
        fields = {"platform": str, "source": str, "filename": str, "url": str, "sha256": str,
                  "size": int}
        for name, kind in fields.items():
            if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
                raise bad(("go", "artifacts", name), f"expected a {kind.__name__}")
        if entry["size"] < 0:
            raise bad(("go", "artifacts", "size"), "expected a size of 0 or more bytes")
        if not _HEX64.match(entry["sha256"]):
            raise bad(("go", "artifacts", "sha256"), "expected 64 lowercase hex digits")
        artifacts.append(LockedArtifact(**{k: entry[k] for k in fields}))
    images = []
    for entry in tables(go, ("go", "images")):
        for name in ("reference", "platform", "digest"):
            if not isinstance(entry.get(name), str):
                raise bad(("go", "images", name), "expected a string")
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", entry["digest"]):
            raise bad(("go", "images", "digest"), 'expected "sha256:" and 64 lowercase hex digits')
        images.append(LockedImage(entry["reference"], entry["platform"], entry["digest"]))
    bundle = None
    image = doc.get("image", {})
    if not isinstance(image, dict):
        raise bad(("image",), "expected a table")
    if "ca-certificates" in image:
        entry = image["ca-certificates"]
        if not isinstance(entry, dict):
            raise bad(("image", "ca-certificates"), "expected a table")
        for name in ("source", "version", "sha256"):
            if not isinstance(entry.get(name), str):
                raise bad(("image", "ca-certificates", name), "expected a string")
        if not _HEX64.match(entry["sha256"]):
            raise bad(("image", "ca-certificates", "sha256"), "expected 64 lowercase hex digits")
        bundle = LockedBundle(entry["source"], entry["version"], entry["sha256"])
    vendor = doc.get("vendor", {})
    if not isinstance(vendor, dict):
        raise bad(("vendor",), "expected a table")
    deps = []
    for entry in tables(vendor, ("vendor", "deps")):
        for name in ("path", "vcs", "url", "rev", "commit"):
            if not isinstance(entry.get(name), str):
                raise bad(("vendor", "deps", name), "expected a string")
        if entry["vcs"] not in ("git", "hg"):
            raise bad(("vendor", "deps", "vcs"), f'expected "git" or "hg", got {entry["vcs"]!r}')
        if not re.fullmatch(r"[0-9a-f]{40}", entry["commit"]):
            raise bad(("vendor", "deps", "commit"), "expected a full commit id: 40 lowercase hex digits")
        tree = entry.get("tree")
        if tree is not None and not (isinstance(tree, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", tree)):
            raise bad(("vendor", "deps", "tree"), 'expected "sha256:" and 64 lowercase hex digits')
        deps.append(LockedDep(entry["path"], entry["vcs"], entry["url"], entry["rev"], entry["commit"], tree))
    return Lock(version, tuple(artifacts), tuple(images), bundle, tuple(deps))


def read_lock(path: Path) -> Lock | None:
    if not path.is_file():
        return None
    return parse_lock(read_text(path), display(path))


def _q(text: str) -> str:
    """A TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def render_lock(lock: Lock) -> str:
    lines = [
        "# gobox.lock: what gobox.toml resolved to, exactly. Written by gobox; commit it.",
        f"version = {LOCK_FORMAT}",
    ]
    if lock.go_version:  # gobox vendor may lock deps before any build has resolved the Go version
        lines += ["", "[go]", f"version = {_q(lock.go_version)}"]
    for a in sorted(lock.artifacts, key=lambda a: a.platform):
        lines += [
            "",
            "[[go.artifacts]]",
            f"platform = {_q(a.platform)}",
            f"source = {_q(a.source)}",
            f"filename = {_q(a.filename)}",
            f"url = {_q(a.url)}",
            f"sha256 = {_q(a.sha256)}",
            f"size = {a.size}",
        ]
    for i in sorted(lock.images, key=lambda i: (i.reference, i.platform)):
        lines += ["", "[[go.images]]", f"reference = {_q(i.reference)}", f"platform = {_q(i.platform)}",
                  f"digest = {_q(i.digest)}"]
    if lock.ca_certificates:
        b = lock.ca_certificates
        lines += ["", "[image.ca-certificates]", f"source = {_q(b.source)}", f"version = {_q(b.version)}",
                  f"sha256 = {_q(b.sha256)}"]
    for d in sorted(lock.deps, key=lambda d: d.path):
        lines += ["", "[[vendor.deps]]", f"path = {_q(d.path)}", f"vcs = {_q(d.vcs)}", f"url = {_q(d.url)}",
                  f"rev = {_q(d.rev)}", f"commit = {_q(d.commit)}"]
        if d.tree:
            lines.append(f"tree = {_q(d.tree)}")
    return "\n".join(lines) + "\n"




def update(path: Path, change: Callable[[Lock | None], Lock | None]) -> Lock | None:
    """Write `change(the lock at path, or None when there is none)` to `path`, and return what was written;
    a change that returns None leaves the file as it is (and update returns None).

    The read, the change and the atomic write happen under an exclusive flock on the lock's directory:
    a second gobox changing the same lock waits, then reads what the first wrote, so neither loses the
    other's entries. The directory, not a sibling file, is locked so no new file appears in the project;
    the kernel drops the flock when its holder dies. A writer killed mid-write leaves the old file
    (store.write_atomic renames a complete temporary file over it).
    """
    with _exclusive(path.parent):
        new = change(read_lock(path))
        if new is not None:
            write_atomic(path, render_lock(new).encode())
        return new


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
