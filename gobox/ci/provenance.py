"""provenance.json: what a clean-room build was made from and how, as an in-toto Statement v1 with a SLSA
provenance v1 predicate, so existing verifiers read it.

It holds nothing that varies from run to run (no start time, no host, no user, no clean-room path: the
clean room's directories are written as ${SRC} and ${OUT}), so the same build gives the same bytes and
`gobox verify` compares it like any other output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import field

from gobox.image.plan import origin_uri
from gobox.values import dataclass

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What the fields of externalParameters and internalParameters mean; versioned with their shape.
BUILD_TYPE = "https://gobox.dev/ci/v1"
BUILDER_ID = "https://gobox.dev/gobox-ci"
NAME = "provenance.json"


@dataclass(frozen=True)
class Step:
    """One command of the build, exactly as the sandbox ran it (clean-room paths as placeholders)."""

    name: str  # "build", "test", "cross linux/arm64", ...
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str


@dataclass(frozen=True)
class Resource:
    """An in-toto ResourceDescriptor: a subject or a resolved dependency."""

    name: str
    digest: tuple[tuple[str, str], ...]  # ("sha256", hex), ("gitCommit", hex)
    uri: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        doc: dict = {"name": self.name, "digest": dict(self.digest)}
        if self.uri:
            doc["uri"] = self.uri
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return doc


@dataclass(frozen=True)
class Build:
    """Everything provenance.json says, gathered by the clean-room build."""

    repository: str  # origin's URL, or "" for a checkout without one
    commit: str
    subdir: str
    dirty: bool
    changed: tuple[tuple[str, str | None], ...]  # --dirty: (path, sha256 or None for deleted)
    source_date_epoch: int
    gobox_version: str
    go: str  # the Go version, or the image toolchain's reference
    network: str
    umask: str
    request: tuple[tuple[str, object], ...]  # what gobox ci was asked: targets, test, image, generate
    steps: tuple[Step, ...]
    dependencies: tuple[Resource, ...]  # toolchain, images, vendored deps, CA bundle
    subjects: tuple[Resource, ...]  # every output, by sha256
    config: tuple[tuple[str, str], ...] = field(default=())  # ("gobox.toml", sha256), ("gobox.lock", sha256)


def source_uri(repository: str, commit: str) -> str:
    """The SLSA way to name a git source: git+<uri>@<commit>, the origin as a URI (git+https://host/o/r for
    an ssh or https remote, git+file:///abs/path for a local one); "" without one (the digest names it)."""
    uri = origin_uri(repository)
    return f"{uri}@{commit}" if uri else ""


def statement(build: Build) -> dict:
    """The in-toto Statement (pure)."""
    source = Resource("source", (("gitCommit", build.commit),), source_uri(build.repository, build.commit))
    external = {
        "source": {**({"uri": source.uri} if source.uri else {}), "digest": dict(source.digest),
                   "path": build.subdir or "."},
        "dirty": build.dirty,
        "request": dict(build.request),
    }
    if build.dirty:
        external["changes"] = [{"path": p, "sha256": h} if h else {"path": p, "deleted": True}
                               for p, h in build.changed]
    internal = {
        "sourceDateEpoch": build.source_date_epoch,
        "go": build.go,
        "network": build.network,
        "umask": build.umask,
        "config": dict(build.config),
        "paths": {"SRC": "the commit's files in the clean room, read-only to the build",
                  "OUT": "where the build writes its outputs"},
        "steps": [{"name": s.name, "argv": list(s.argv), "workdir": s.workdir, "env": dict(s.env)}
                  for s in build.steps],
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [s.to_json() for s in build.subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": internal,
                "resolvedDependencies": [source.to_json(), *(d.to_json() for d in build.dependencies)],
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"gobox": build.gobox_version}},
            },
        },
    }


def render(doc: dict) -> bytes:
    """Stable bytes: sorted keys, two-space indent, one trailing newline."""
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def placeholders(text: str, src: str, out: str) -> str:
    """`text` with the clean room's directories written as ${SRC} and ${OUT}, which vary by run."""
    return text.replace(out, "${OUT}").replace(src, "${SRC}")


def step(name: str, argv: Sequence[str], env: Sequence[tuple[str, str]], workdir: str, src: str, out: str) -> Step:
    return Step(name, tuple(placeholders(a, src, out) for a in argv),
                tuple((k, placeholders(v, src, out)) for k, v in env), placeholders(workdir, src, out))
