"""gobox doctor and gobox completion: the host, and the user's shell."""

from __future__ import annotations

import os
from pathlib import Path

import click

from gobox.cli.options import (
    EPILOG,
    Session,
    pass_app,
)
from gobox.cli.render import (
    emit_json,
)
from gobox.commands import doctor as commands

SHELLS = ("bash", "zsh", "fish")  # those click can complete in


@click.command("doctor", epilog=EPILOG, short_help="Check what this host supports; say how to fix it.")
@click.option("--offline", is_flag=True, help="Skip the checks that use the network.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor_cmd(app: Session, offline: bool, as_json: bool) -> None:
    """Check what this host supports, and say how to fix what it lacks.

    Tries for real: user namespaces, overlayfs inside one, cgroup limits,
    a writable store, and each toolchain source; looks for the host tools
    optional features need (git, hg, gcc, zig, qemu-user, pasta,
    libseccomp), a warning with the package when one is missing. Exit 1
    when a required check fails (the sandbox cannot run here).

    \b
    Example:
      gobox doctor
    """
    checks = commands.checks(app, network=not offline)
    if as_json:
        emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix,
                     "required": c.required} for c in checks])
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            click.echo(f"{mark} {c.name}: {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"     fix: {c.fix}")
    if any(not c.ok and c.required for c in checks):
        raise click.exceptions.Exit(1)


@click.command("completion", epilog=EPILOG, short_help="Print the Tab-completion script for a shell.")
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def completion_cmd(shell: str | None) -> None:
    """Print the script that makes SHELL complete gobox's commands, options and values.

    \b
    SHELL is bash, zsh or fish; default: the one $SHELL names. Tab then also
    offers installed Go versions (toolchain rm/which/pin, --go), images in the
    store (rmi, push, image run, --image) and common GOOS/GOARCH targets
    (cross, --target, --platform), reading only the store: no go, no network.

    \b
    Install it for every new shell (bash needs 4.4 or newer; zsh, compinit):
      bash:  echo 'eval "$(gobox completion bash)"' >> ~/.bashrc
             or: gobox completion bash > ~/.local/share/bash-completion/completions/gobox
      zsh:   echo 'eval "$(gobox completion zsh)"' >> ~/.zshrc
      fish:  gobox completion fish > ~/.config/fish/completions/gobox.fish

    \b
    Examples:
      eval "$(gobox completion bash)"     # in this shell only
      gobox completion                    # for the shell $SHELL names
    """
    from gobox.completion import script
    from gobox.errors import UsageError

    shell = shell or Path(os.environ.get("SHELL", "")).name
    if shell not in SHELLS:
        raise UsageError(f"cannot tell the shell from SHELL={os.environ.get('SHELL', '')!r}",
                         hint=f"name it: gobox completion {'|'.join(SHELLS)}")
    click.echo(script(shell, click.get_current_context().find_root().command), nl=False)
