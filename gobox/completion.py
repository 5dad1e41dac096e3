"""Shell completion: the script `gobox completion SHELL` prints, and the values offered for arguments.

Completion runs on every Tab, so the completers read only the store's
directory listing and static lists: no go, no network, no project parsing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# What most people cross-compile for; `gobox cross --list all` asks the pinned Go for the full list.
COMMON_TARGETS = (
    "linux/amd64", "linux/arm64", "linux/386", "linux/arm/v6", "linux/arm/v7", "linux/ppc64le",
    "linux/riscv64", "linux/s390x", "linux/loong64", "linux/mips64le",
    "darwin/amd64", "darwin/arm64",
    "windows/amd64", "windows/arm64", "windows/386",
    "freebsd/amd64", "freebsd/arm64", "openbsd/amd64", "openbsd/arm64", "netbsd/amd64",
    "android/arm64", "ios/arm64", "illumos/amd64", "solaris/amd64", "aix/ppc64",
    "js/wasm", "wasip1/wasm",
)
# Patterns `gobox cross` takes besides targets.
TARGET_PATTERNS = ("all", "first-class", "linux/*", "darwin/*", "windows/*", "*/amd64", "*/arm64")
# Platforms images are commonly published for.
IMAGE_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386",
                   "linux/ppc64le", "linux/s390x", "linux/riscv64")


def script(shell: str) -> str:
    """What `eval` or a completion file needs so that SHELL completes gobox."""
    from click.shell_completion import get_completion_class

    from gobox.cli import cli

    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(shell)
    return cls(cli, {}, "gobox", "_GOBOX_COMPLETE").source()


def starting_with(candidates: Iterable[str], incomplete: str) -> list[str]:
    return [c for c in dict.fromkeys(candidates) if c.startswith(incomplete)]


def targets(incomplete: str, patterns: bool = False) -> list[str]:
    if incomplete.startswith("!"):  # `gobox cross all '!windows/386'` leaves a target out
        return ["!" + t for t in targets(incomplete[1:])]
    return starting_with((*COMMON_TARGETS, *(TARGET_PATTERNS if patterns else ())), incomplete)


def toolchain_versions(store_root: Path, incomplete: str) -> list[str]:
    """Versions installed in the store, newest first, as `gobox toolchain list` shows them."""
    from gobox.store import Store
    from gobox.toolchains.install import installed

    return starting_with((str(t.version) for t in installed(Store(store_root))), incomplete)


def image_references(store_root: Path, incomplete: str) -> list[str]:
    """References of the images in the store, short as `gobox images` shows them (golang:1.22)."""
    from gobox.oci.records import images
    from gobox.oci.reference import Reference
    from gobox.store import Store

    names = []
    for image in images(Store(store_root)):
        ref = Reference.parse(image.reference)
        names.append(ref.familiar)
    return starting_with(sorted(names), incomplete)


def store_root() -> Path:
    from gobox.store import Store

    return Store.from_env().root
