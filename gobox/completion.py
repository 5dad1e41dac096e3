"""Shell completion: the script `gobox completion SHELL` prints, and the values offered for arguments.

Completion runs on every Tab, so the completers read only the store's
directory listing and static lists: no go, no network, no project parsing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

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


# click's bash script hands gobox COMP_WORDS, which bash has already cut at every ':' and '='
# (golang:1.22 arrives as golang, :, 1.22); gobox's hands it the line up to the cursor instead.
_CLICK_ASKS = 'COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD'
_GOBOX_ASKS = 'COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS"'


def bash_reply(word: str, value: str, candidate: str, wordbreaks: str) -> str:
    """What bash must put in place of the word it is completing so that the line reads `candidate`.

    `word` is the shell word under the cursor, `value` its part that click completes (after
    "--opt=", or all of it). Bash replaces only the text after the word's last COMP_WORDBREAKS
    character, so what comes before that is cut from the reply.
    """
    full = word[:len(word) - len(value)] + candidate
    cut = max((word.rfind(c) for c in wordbreaks if c not in " \t\n"), default=-1) + 1
    return full[cut:] if full.startswith(word[:cut]) else candidate


def register_bash() -> None:
    """Make click's "bash" completion gobox's own: called only when a shell asks for completions."""
    from click.shell_completion import BashComplete, CompletionItem, add_completion_class, split_arg_string

    if _CLICK_ASKS not in BashComplete.source_template:
        return  # a click whose script reads the words some other way: leave it as it is

    class GoboxBash(BashComplete):
        source_template = BashComplete.source_template.replace(_CLICK_ASKS, _GOBOX_ASKS)
        word: str | None = None  # the shell word under the cursor, once get_completion_args has read it

        def get_completion_args(self) -> tuple[list[str], str]:
            if "COMP_LINE" not in os.environ:  # a script from before this one: COMP_WORDS, as click reads it
                return super().get_completion_args()
            line = os.environ["COMP_LINE"]
            words = split_arg_string(line)
            self.word = "" if not words or line[-1:].isspace() else words.pop()
            return words[1:], self.word

        def format_completion(self, item: CompletionItem) -> str:
            if self.word is None or item.type != "plain":
                return super().format_completion(item)
            word = self.word
            value = word.partition("=")[2] if word.startswith("-") and "=" in word else word
            reply = bash_reply(word, value, item.value, os.environ.get("COMP_WORDBREAKS", ""))
            return f"{item.type},{reply}"

    add_completion_class(GoboxBash, "bash")


def script(shell: str, cli: click.Command) -> str:
    """What `eval` or a completion file needs so that SHELL completes gobox, whose root command is `cli`."""
    from click.shell_completion import get_completion_class

    register_bash()
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
    from gobox.imagestore.records import images
    from gobox.names.reference import Reference
    from gobox.store import Store

    names = []
    for image in images(Store(store_root)):
        ref = Reference.parse(image.reference)
        names.append(ref.familiar)
    return starting_with(sorted(names), incomplete)


def store_root() -> Path:
    from gobox.store import Store

    return Store.from_env().root
