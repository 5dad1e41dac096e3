"""provenance.json's shape and determinism, and the rooms gobox verify varies, as pure values."""

from __future__ import annotations

import json
from pathlib import Path

from gobox.ci import provenance
from gobox.ci.provenance import Build, Resource
from gobox.ci.verify import UNPRIVILEGED, rooms_for


def build(**changes: object) -> Build:
    values = dict(
        repository="https://example.com/hello.git", commit="a" * 40, subdir="", dirty=False, changed=(),
        source_date_epoch=1714564800, gobox_version="0.1.0", go="1.22.10", network="none", umask="0022",
        request=(("targets", []), ("test", True)),
        steps=(provenance.step("build", ["go", "build", "-o", "/r/out/", "./..."], [("GOPATH", "/r/src/vendor:/go")],
                               "/r/src", "/r/src", "/r/out"),),
        dependencies=(Resource("go.tgz", (("sha256", "b" * 64),), "https://go.dev/dl/go.tgz"),),
        subjects=(Resource("hello", (("sha256", "c" * 64),)),),
    )
    values.update(changes)
    return Build(**values)


def test_statement_is_in_toto_v1_with_slsa_v1_and_the_required_fields() -> None:
    doc = provenance.statement(build())
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "hello", "digest": {"sha256": "c" * 64}}]
    definition = doc["predicate"]["buildDefinition"]
    assert definition["buildType"] and definition["externalParameters"]["source"] == {
        "uri": f"git+https://example.com/hello@{'a' * 40}", "digest": {"gitCommit": "a" * 40}, "path": "."}
    assert definition["resolvedDependencies"][0]["name"] == "source"
    assert doc["predicate"]["runDetails"]["builder"]["id"]
    assert "metadata" not in doc["predicate"]["runDetails"]  # no start or finish time: nothing per run


def test_clean_room_paths_become_placeholders() -> None:
    step = provenance.statement(build())["predicate"]["buildDefinition"]["internalParameters"]["steps"][0]
    assert step == {"name": "build", "argv": ["go", "build", "-o", "${OUT}/", "./..."], "workdir": "${SRC}",
                    "env": {"GOPATH": "${SRC}/vendor:/go"}}


def test_rendering_is_stable_and_dirty_changes_are_listed() -> None:
    a = provenance.render(provenance.statement(build()))
    assert a == provenance.render(json.loads(a)) and a.endswith(b"}\n")
    dirty = provenance.statement(build(dirty=True, changed=(("main.go", "d" * 64), ("old.go", None))))
    assert dirty["predicate"]["buildDefinition"]["externalParameters"]["changes"] == [
        {"path": "main.go", "sha256": "d" * 64}, {"path": "old.go", "deleted": True}]
    no_remote = provenance.statement(build(repository=""))
    assert "uri" not in no_remote["predicate"]["buildDefinition"]["externalParameters"]["source"]
    assert "uri" not in no_remote["predicate"]["buildDefinition"]["resolvedDependencies"][0]


def test_verify_rooms_differ_in_path_user_umask_and_order() -> None:
    one, two, three = rooms_for(Path("/s"), 3, 0)
    assert (one.user, one.umask, one.reverse) == (None, 0o022, False)
    assert (two.user, two.umask, two.reverse) == (UNPRIVILEGED, 0o077, True)
    assert len(two.parent.parts) > len(one.parent.parts) and three.parent != one.parent
    assert rooms_for(Path("/s"), 2, 1000)[1].user == (0, 0)  # rootless: root inside the sandbox instead


def test_verify_run_2_alone_compiles_the_standard_library_itself() -> None:
    rooms = rooms_for(Path("/s"), 3, 0)
    assert [r.stdcache for r in rooms] == [True, False, True]
    assert [r.rehash for r in rooms] == [True, False, False]  # run 1 checks every stored file's sha256
