"""OCI layouts, oci-archives and docker-archives written from the store, read back as plain files and tars."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from gobox.errors import IntegrityError, UsageError
from gobox.names.platform import Platform
from gobox.oci.layout import IMAGE_NAME, REF_NAME, Top, closure, write_docker_archive, write_layout, write_oci_archive
from gobox.oci.manifest import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST
from gobox.oci.write import FILE, Entry, write_json_blob, write_layer
from gobox.store import Store


def image(store: Store, arch: str, shared: Entry) -> Top:
    base = write_layer(store, [shared])
    top = write_layer(store, [Entry("app", FILE, 0o755, data=f"binary for {arch}".encode())])
    config = write_json_blob(store, {"architecture": arch, "os": "linux",
                                     "rootfs": {"type": "layers", "diff_ids": [base.diff_id, top.diff_id]}})
    manifest = write_json_blob(store, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": b.digest, "size": b.size} for b in (base, top)]})
    return Top(OCI_MANIFEST, manifest.digest, manifest.size, Platform("linux", arch))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store")
    s.ensure()
    return s


SHARED = Entry("etc/passwd", FILE, data=b"root:x:0:0::/:/sbin/nologin\n")


def index_of(store: Store, *tops: Top) -> Top:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": t.media_type, "digest": t.digest, "size": t.size,
         "platform": {"os": "linux", "architecture": t.platform.architecture}} for t in tops]}
    blob = write_json_blob(store, doc)
    return Top(OCI_INDEX, blob.digest, blob.size)


def test_closure_walks_an_index_once_per_blob(store: Store) -> None:
    amd64, arm64 = image(store, "amd64", SHARED), image(store, "arm64", SHARED)
    top = index_of(store, amd64, arm64)
    blobs = closure(store, top)
    assert blobs[0] == top.digest and len(blobs) == len(set(blobs)) == 1 + 2 * 3 + 1  # the shared layer once
    store.blob_for(blobs[-1]).unlink()
    with pytest.raises(IntegrityError, match="the store lacks"):
        closure(store, top)


def test_a_layout_names_the_image_by_tag_and_keeps_other_images(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "layout"
    amd64 = image(store, "amd64", SHARED)
    write_layout(store, amd64, out, "old", "localhost/app:old")
    write_layout(store, amd64, out, "latest", "localhost/app:latest")
    arm64 = image(store, "arm64", SHARED)
    write_layout(store, arm64, out, "latest", "localhost/app:latest")  # replaces the entry named latest
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    entries = json.loads((out / "index.json").read_text())["manifests"]
    assert [(e["annotations"][REF_NAME], e["digest"]) for e in entries] == [("old", amd64.digest),
                                                                          ("latest", arm64.digest)]
    assert entries[1]["annotations"][IMAGE_NAME] == "localhost/app:latest"
    assert entries[1]["platform"] == {"architecture": "arm64", "os": "linux"}
    for d in closure(store, amd64) + closure(store, arm64):
        assert (out / "blobs" / "sha256" / d.split(":")[1]).read_bytes() == store.blob_for(d).read_bytes()


def test_a_layout_is_not_written_over_a_directory_of_something_else(store: Store, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine\n")
    with pytest.raises(UsageError, match="is not empty and is not an OCI image layout"):
        write_layout(store, image(store, "amd64", SHARED), tmp_path / "taken", "latest", "x")
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_an_oci_archive_is_the_layout_in_one_reproducible_tar(store: Store, tmp_path: Path) -> None:
    top = index_of(store, image(store, "amd64", SHARED), image(store, "arm64", SHARED))
    a = write_oci_archive(store, top, tmp_path / "a.tar", "1.0", "registry.example/app:1.0", 1700000000)
    b = write_oci_archive(store, top, tmp_path / "b.tar", "1.0", "registry.example/app:1.0", 1700000000)
    assert a == b and (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = tar.getmembers()
        index = json.loads(tar.extractfile("index.json").read())
    assert {m.mtime for m in members} == {1700000000} and {(m.uid, m.gid) for m in members} == {(0, 0)}
    names = [m.name for m in members]
    assert names[:2] == ["blobs", "blobs/sha256"] and "oci-layout" in names
    assert len([n for n in names if n.startswith("blobs/sha256/")]) == len(closure(store, top))
    assert index["manifests"] == [{"mediaType": OCI_INDEX, "digest": top.digest, "size": top.size,
                                   "annotations": {REF_NAME: "1.0", IMAGE_NAME: "registry.example/app:1.0"}}]


def test_a_docker_archive_lists_config_tags_and_layers(store: Store, tmp_path: Path) -> None:
    top = image(store, "amd64", SHARED)
    write_docker_archive(store, top, tmp_path / "d.tar", ["localhost/app:latest"], 0)
    with tarfile.open(tmp_path / "d.tar") as tar:
        listing = json.loads(tar.extractfile("manifest.json").read())
        names = tar.getnames()
        (entry,) = listing
        config = json.loads(tar.extractfile(entry["Config"]).read())
    assert entry["RepoTags"] == ["localhost/app:latest"]
    assert config["architecture"] == "amd64" and len(entry["Layers"]) == len(config["rootfs"]["diff_ids"]) == 2
    assert all(name.endswith(".tar.gz") and name in names for name in entry["Layers"])
    index = index_of(store, top)
    with pytest.raises(UsageError, match="one platform"):
        write_docker_archive(store, index, tmp_path / "e.tar", ["x:y"], 0)
    assert not (tmp_path / "e.tar").exists()


def test_merged_entries_replace_only_the_same_reference() -> None:
    from gobox.oci.layout import descriptor, merged_entries

    def top(n: str) -> Top:
        return Top("application/vnd.oci.image.manifest.v1+json", "sha256:" + n * 64, 100)

    foreign = [{"mediaType": "x", "digest": "sha256:" + "f" * 64, "size": 1, "annotations": {REF_NAME: "other"}},
               {"mediaType": "x", "digest": "sha256:" + "e" * 64, "size": 1, "annotations": {REF_NAME: "1"}},
               {"mediaType": "x", "digest": "sha256:" + "d" * 64, "size": 1}]
    entries = merged_entries(foreign, descriptor(top("a"), "1", "localhost/a:1"))
    entries = merged_entries(entries, descriptor(top("b"), "1", "localhost/b:1"))
    entries = merged_entries(entries, descriptor(top("c"), "2", "localhost/a:2"))
    entries = merged_entries(entries, descriptor(top("9"), "1", "localhost/a:1"))  # the same reference again
    names = {(e.get("annotations") or {}).get(REF_NAME): e["digest"][7] for e in entries}
    # A foreign image of another name, or none, is kept; a tag two names share names them by whole reference.
    assert names == {"other": "f", None: "d", "localhost/a:1": "9", "localhost/b:1": "b", "2": "c"}
    assert [e["annotations"][IMAGE_NAME] for e in entries if IMAGE_NAME in e.get("annotations", {})] == \
        ["localhost/b:1", "localhost/a:2", "localhost/a:1"]
