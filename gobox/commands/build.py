"""gobox build and gobox test: go build into the output directory, go test, in the sandbox."""

from __future__ import annotations

from typing import Any

from gobox.commands.run import Ran, plan
from gobox.commands.session import Session, stdout_to_stderr
from gobox.errors import GoboxError
from gobox.values import dataclass

PACKAGES_NOTE = ("go list runs first (unless its answer is kept from an earlier build of the same sources); with no "
                 "main package the build is go build with no -o (every package compiled), and when some packages "
                 "are imported by no command, one go install builds the commands into the output directory and "
                 "compiles the rest")


@dataclass(frozen=True)
class Built:
    """A finished gobox build: the run, and (when go list ran) the commands and libraries it found."""

    ran: Ran
    commands: tuple[str, ...] | None
    libraries: tuple[str, ...] | None
    packages: int  # compiled, as go list counted them
    output: str  # the output directory, relative to the project
    listed: str | None = None  # "cached": go list's answer was kept from an earlier build; "ran": go list ran


def project(session: Session) -> Any:
    """The project to build or test, refused when its vendor/ is not what its lock pins."""
    from gobox.build import check_vendored

    found = session.project()
    check_vendored(found)
    return found


def build_plan(session: Session, project: Any, packages: tuple[str, ...], extra: tuple[str, ...],
               options: Any) -> Any:
    """gobox build --dry-run: the plan of its go build (gobox.commands.run.Planned)."""
    from gobox.build import go_build_argv

    return plan(session, project, go_build_argv(project, packages, extra), options, dry_run=True)


def test_plan(session: Session, project: Any, packages: tuple[str, ...], extra: tuple[str, ...], options: Any,
              dry_run: bool) -> Any:
    from gobox.build import go_test_argv

    return plan(session, project, go_test_argv(project, packages, extra), options, dry_run=dry_run)


def build(session: Session, project: Any, packages: tuple[str, ...], extra: tuple[str, ...], options: Any,
          json_stdout: bool = False) -> Built:
    """go list, then go build of each command into the output directory, and go build of the rest."""
    from gobox.build import build_packages, explain, output_dir, prepare

    out = output_dir(project)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GoboxError(f"cannot create the output directory {out}: {e.strerror}") from None
    prepared = prepare(project, session.store, session.settings, options, session.progress())
    session.record(project, prepared.pins)
    with stdout_to_stderr(json_stdout):
        built = build_packages(project, prepared.paths, options, packages, extra, session.store.listings)
    listing = built.listing
    ran = Ran(built.result, explain(built.result, built.spec), prepared.go_version)
    return Built(ran, None if listing is None else tuple(listing.commands),
                 None if listing is None else tuple(listing.libraries),
                 0 if listing is None else listing.packages, str(project.relative(built.output)),
                 "cached" if built.cached else "ran")

