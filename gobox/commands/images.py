"""The image store and registries: pull, push, login, logout, images, rmi and gc."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gobox.commands.session import Session
from gobox.values import dataclass


@dataclass(frozen=True)
class Pulled:
    familiar: str
    image: Any  # gobox.oci records Image
    fetched: int
    reused: int
    fetched_bytes: int


@dataclass(frozen=True)
class PushPlan:
    """What push sends: SRC as found in the store, DEST, and the repository blobs are mounted from."""

    source: Any  # gobox.names.reference.Reference
    destination: Any
    chosen: Any  # gobox.imagestore.push's choice: the index or one image
    mount_from: str | None

    @property
    def note(self) -> str:
        return self.chosen.note


@dataclass(frozen=True)
class Pushed:
    pushed: Any  # gobox.imagestore.push's result
    familiar: str  # where it went, short
    summary: str  # uploaded, skipped, mounted, in words
    source: str
    index: bool
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class Listed:
    familiar: str
    image: Any


@dataclass(frozen=True)
class LoggedIn:
    path: Path  # the auth file it is kept in
    checked: bool  # False when the registry asks for no login at all


def pull(session: Session, reference: str, platform: str | None) -> Pulled:
    """Pull an image into the store, verified blob by blob (this machine's platform unless `platform`)."""
    from gobox.imagestore.gc import using
    from gobox.imagestore.pull import pull as pull_image
    from gobox.names.platform import Platform, host_platform
    from gobox.names.reference import Reference
    from gobox.oci.reach import Options  # not the registry client: a pull the store answers needs none of it

    ref = Reference.parse(reference.strip())
    want = Platform.parse(platform or host_platform())
    with using(session.store):  # a gc would take the blobs of a pull not yet recorded for garbage
        done = pull_image(ref, session.store, Options.from_settings(session.settings), want, session.progress())
    return Pulled(ref.familiar, done.image, done.fetched, done.reused, done.fetched_bytes)


def push_plan(session: Session, source: str, destination: str | None, platform: str | None) -> PushPlan:
    """Both names and the platform checked, and SRC found in the store, before any request."""
    from dataclasses import replace

    from gobox.imagestore.push import choose_source
    from gobox.names.platform import Platform, host_platform
    from gobox.names.reference import Reference

    src = Reference.parse(source.strip())
    dest = Reference.parse(destination.strip()) if destination else src
    want = Platform.parse(platform) if platform else None
    chosen = choose_source(session.store, src, want, Platform.parse(host_platform()))
    if destination is None and dest.digest and dest.digest != chosen.digest:
        # SRC was pulled by the digest of an index that is not pushed whole: its tag, if any, is the target.
        dest = replace(dest, digest=None)
    mount_from = src.repository if src.registry == dest.registry and src.repository != dest.repository else None
    return PushPlan(src, dest, chosen, mount_from)


def push(session: Session, plan: PushPlan) -> Pushed:
    """Push what `plan` chose, then record DEST in the store so that gobox images lists it."""
    from gobox.imagestore.push import push as push_image
    from gobox.imagestore.push import record, summary
    from gobox.names.reference import Reference
    from gobox.oci.registry import Options

    pushed = push_image(session.store, plan.destination, plan.chosen.digest, Options.from_settings(session.settings),
                        session.progress(), plan.mount_from)
    record(session.store, plan.destination, plan.chosen)
    return Pushed(pushed, Reference.parse(pushed.reference).familiar, summary(pushed, plan.mount_from),
                  str(plan.source), plan.chosen.index_digest is not None,
                  tuple(i.platform for i in plan.chosen.images))


def login_key(registry: str) -> tuple[str, str]:
    """The auth file key of REGISTRY (host[:port] or a namespace of one), and its host."""
    from gobox.oci import authfile as files

    return files.login_key(registry)


def _environ(authfile: Path | None) -> dict[str, str]:
    # --authfile is podman's; it is REGISTRY_AUTH_FILE for this one run, which auth_files then reads alone.
    return {**os.environ, **({"REGISTRY_AUTH_FILE": str(authfile)} if authfile else {})}


def login(session: Session, key: str, host: str, username: str, password: str,
          authfile: Path | None) -> LoggedIn:
    """Check the login with the registry (GET /v2/, its challenge answered); only one it takes is stored."""
    from dataclasses import replace

    from gobox.names.reference import DOCKER_HUB, DOCKER_HUB_API
    from gobox.oci import authfile as files
    from gobox.oci.auth import Credentials
    from gobox.oci.registry import Client, Options

    environ = _environ(authfile)
    options = replace(Options.from_settings(session.settings), environ=environ)
    client = Client(host, options, api_host=DOCKER_HUB_API if host == DOCKER_HUB else host)
    checked = client.check_login(Credentials(username=username, password=password))
    return LoggedIn(files.store_login(environ, key, username, password), checked)


def logout(registry: str | None, authfile: Path | None) -> tuple[str | None, list[Any]]:
    """Remove the login of REGISTRY (None: every one of the primary auth file); its key and the files changed.
    NotLoggedIn when no file had it."""
    from gobox.oci import authfile as files

    environ = _environ(authfile)
    if registry is None:
        return None, files.remove_login(environ, None)
    key, _ = files.login_key(registry)
    changed = files.remove_login(environ, key)
    if not changed:
        looked = ", ".join(str(f.path) for f in files.auth_files(environ))
        raise files.NotLoggedIn(f"not logged in to {key}", hint=f"gobox found no login for it in {looked}")
    return key, changed


def images(session: Session) -> tuple[Listed, ...]:
    from gobox.imagestore.records import images as stored
    from gobox.names.reference import Reference

    return tuple(Listed(Reference.parse(i.reference).familiar, i) for i in stored(session.store))


def rmi(session: Session, references: tuple[str, ...], platform: str | None,
        prune: bool) -> tuple[tuple[Listed, ...], Any]:
    """Untag images (all checked before anything is removed), then with `prune` gc; the gc report or None."""
    from gobox.imagestore.gc import untag
    from gobox.names.reference import Reference

    refs = [Reference.parse(r.strip()) for r in references]
    removed, report = untag(session.store, refs, platform, session.progress(), prune=prune)
    return tuple(Listed(Reference.parse(i.reference).familiar, i) for i in removed), report


def gc(session: Session, dry_run: bool) -> Any:
    """Free the blobs and layers no image refers to; gobox.imagestore.gc's report."""
    from gobox.imagestore.gc import gc as collect

    return collect(session.store, session.progress(), dry_run=dry_run)
