"""gobox vendor: fetch [vendor.deps] into vendor/ and pin them."""

from __future__ import annotations

import click

from gobox.cli.options import (
    EPILOG,
    Session,
    pass_app,
)
from gobox.commands import vendor as commands
from gobox.errors import GoboxError


@click.command("vendor", epilog=EPILOG, short_help="Fetch [vendor.deps] into vendor/ and pin them.")
@click.option("--check", is_flag=True, help="Offline: compare vendor/ with what gobox.lock pins, byte for byte; "
              "exit 1 with what differs.")
@click.option("--update", "update", multiple=True, is_flag=False, flag_value="*", metavar="[DEP]",
              help="Re-resolve DEP's rev (a tag or branch may have moved), or with no DEP every one's.")
@click.option("--locked", is_flag=True, help="Fail if gobox.lock would change, or a pinned tag or branch moved.")
@pass_app
def vendor_cmd(app: Session, check: bool, update: tuple[str, ...], locked: bool) -> None:
    """Fetch [vendor.deps] at their pinned revisions into vendor/, and pin them in gobox.lock.

    \b
    Each dependency is a git or hg repository at a rev (a tag, a branch, a
    full or abbreviated commit); gobox.lock records the full commit, and later
    runs take exactly that. Repositories are cached in the store, shared by
    projects. Module projects get vendor/ and vendor/modules.txt (checked
    against go.sum); GOPATH projects ([vendor].mode = "gopath", or no go.mod)
    get vendor/src/<import path>. `gobox build` then uses vendor/ with no network.
    Examples:
      gobox vendor
      gobox vendor --check
      gobox vendor --update github.com/kr/pty
    """
    from gobox.errors import UsageError

    project = app.project()
    lock = project.relative(project.lock_path)
    if check:
        if update or locked:
            raise UsageError("--check compares only; it takes no --update or --locked")
        checked = commands.check(app, project)
        if not checked.deps:
            own = checked.own
            click.echo("nothing to vendor: gobox.toml has no [vendor.deps]"
                       + (f" (builds take {own.split(' (')[0]}, with -mod=vendor)" if own else ""))
            return
        diffs = checked.differences
        if diffs:
            for line in diffs[:50]:
                click.echo(line)
            if len(diffs) > 50:
                click.echo(f"... and {len(diffs) - 50} more")
            raise GoboxError(f"vendor/ does not match {lock}: {len(diffs)} difference{'s' if len(diffs) != 1 else ''}",
                             hint="run gobox vendor to rewrite it")
        click.echo(f"vendor/ matches {lock}")
        return
    done = commands.vendor(app, project, locked, update)
    for p in done.pins:
        click.echo(f"{p.dep.path} {p.dep.rev} {p.commit}")
    if done.lock_written:
        app.progress().step(f"wrote {lock}")
