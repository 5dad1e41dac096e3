"""Build outputs compared byte for byte, with images written by gobox's own writer and looked into where they differ."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gobox.ci.compare import Difference, compare_trees, describe, first_difference
from gobox.ci.contents import CHUNK
from gobox.names.platform import Platform
from gobox.oci.layout import Top, write_docker_archive, write_layout, write_oci_archive
from gobox.oci.manifest import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST
from gobox.oci.write import FILE, Blob, Entry, write_json_blob, write_layer
from gobox.store import Store

HELLO = bytes(range(256)) * 8  # 2 KiB of a "binary"
PASSWD = b"root:x:0:0::/:/sbin/nologin\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store")
    s.ensure()
    return s


@dataclass(frozen=True)
class Built:
    top: Top
    config: Blob
    layers: tuple[Blob, ...]


def changed(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def short(digest: str) -> str:
    return digest[:19] + "…"


def build(store: Store, hello: bytes = HELLO, *, arch: str = "amd64", created: str = "2024-01-01T00:00:00Z",
          extra: tuple[Entry, ...] = (), level: int = 6, layer_type: str = OCI_LAYER_GZIP,
          entrypoint: str = "/hello", third: bool = False) -> Built:
    """A two-layer image (etc/passwd; then hello and extra), with gobox's own layer and JSON writers."""
    base = write_layer(store, [Entry("etc/passwd", FILE, 0o644, data=PASSWD)], level=level)
    top = write_layer(store, [Entry("hello", FILE, 0o755, data=hello), *extra], level=level)
    layers = (base, top)
    if third:
        layers += (write_layer(store, [Entry("etc/motd", FILE, 0o644, data=b"hi\n")], level=level),)
    config = write_json_blob(store, {"architecture": arch, "os": "linux", "created": created,
                                     "config": {"Entrypoint": [entrypoint]},
                                     "rootfs": {"type": "layers", "diff_ids": [b.diff_id for b in layers]}})
    manifest = write_json_blob(store, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": layer_type, "digest": b.digest, "size": b.size} for b in layers]})
    return Built(Top(OCI_MANIFEST, manifest.digest, manifest.size, Platform("linux", arch)), config, layers)


def index_of(store: Store, *images: Built) -> Top:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": i.top.media_type, "digest": i.top.digest, "size": i.top.size,
         "platform": {"os": "linux", "architecture": i.top.platform.architecture}} for i in images]}
    blob = write_json_blob(store, doc)
    return Top(OCI_INDEX, blob.digest, blob.size)


def oci_archive(store: Store, top: Top, dest: Path) -> Path:
    write_oci_archive(store, top, dest, "latest", "localhost/hello:latest", mtime=0)
    return dest


def one(diffs: list[Difference]) -> Difference:
    assert len(diffs) == 1, diffs
    return diffs[0]


def test_identical_trees_have_no_differences(store: Store, tmp_path: Path) -> None:
    for side in ("a", "b"):
        root = tmp_path / side
        (root / "hello_linux_arm64").mkdir(parents=True)
        (root / "hello_linux_arm64" / "hello").write_bytes(HELLO)
        (root / "hello_linux_arm64" / "hello").chmod(0o755)
        (root / "latest").symlink_to("hello_linux_arm64")
        oci_archive(store, build(store).top, root / "image.tar")
        write_layout(store, build(store).top, root / "oci", "latest", "localhost/hello:latest")
    assert compare_trees(tmp_path / "a", tmp_path / "b") == []


def test_first_difference_is_the_first_differing_byte_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 2 + 100)
    at = CHUNK + 4242  # in the second chunk: the chunk's own offset must be added
    a, b, prefix = tmp_path / "a", tmp_path / "b", tmp_path / "prefix"
    a.write_bytes(data)
    b.write_bytes(changed(data, at))
    prefix.write_bytes(data[:CHUNK + 10])
    assert first_difference(a, b) == at
    assert first_difference(a, a) is None
    assert first_difference(a, prefix) == first_difference(prefix, a) == CHUNK + 10
    (tmp_path / "empty").write_bytes(b"")
    assert first_difference(tmp_path / "empty", a) == 0


def test_a_changed_binary_is_reported_at_its_first_differing_byte(tmp_path: Path) -> None:
    # By hand: the two files share "\x7fELF", then 4238 bytes of x, then part ways at 4 + 4238 = 4242.
    head = b"\x7fELF" + b"x" * 4238
    for side, tail in (("a", b"A" * 100), ("b", b"B" * 100)):
        (tmp_path / side / "hello_linux_arm64").mkdir(parents=True)
        (tmp_path / side / "hello_linux_arm64" / "hello").write_bytes(head + tail)
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert d == Difference("hello_linux_arm64/hello", "content", 4242, (4342, 4342))
    assert describe(d) == "hello_linux_arm64/hello: differ at byte 4242 (sizes 4342 and 4342)"


def test_missing_extra_type_mode_and_symlink_differences_are_all_listed_by_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "sub").mkdir(parents=True)
        (root / "run.sh").write_bytes(b"#!/bin/sh\n")
    (a / "run.sh").chmod(0o755)
    (b / "run.sh").chmod(0o644)
    (a / "sub" / "only_a").write_bytes(b"12345")
    (b / "sub" / "only_b").mkdir()
    (a / "thing").write_bytes(b"")
    (b / "thing").mkdir()
    (a / "current").symlink_to("v1")
    (b / "current").symlink_to("v2")
    diffs = compare_trees(a, b)
    assert [(d.path, d.kind, d.detail) for d in diffs] == [
        ("current", "link", "'v1' vs 'v2'"),
        ("run.sh", "mode", "0755 vs 0644"),
        ("sub/only_a", "missing", "a file of 5 bytes"),
        ("sub/only_b", "extra", "a directory"),
        ("thing", "type", "file vs directory"),
    ]
    assert [describe(d) for d in diffs] == [
        "current: symlink target differs ('v1' vs 'v2')",
        "run.sh: mode differs (0755 vs 0644)",
        "sub/only_a: only in the first (a file of 5 bytes)",
        "sub/only_b: only in the second (a directory)",
        "thing: type differs (file vs directory)",
    ]


def test_oci_archives_differing_in_one_file_of_the_second_layer(store: Store, tmp_path: Path) -> None:
    first, second = build(store), build(store, changed(HELLO, 77))
    a = oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    b = oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert (d.path, d.kind, d.offset) == ("image.tar", "content", first_difference(a, b))
    assert d.sizes == (a.stat().st_size, b.stat().st_size)
    # The config differs only by its diff_ids, which follow the layer: only the layer is named.
    assert d.detail == (f"layer 2 of 2 ({short(first.layers[1].digest)} vs {short(second.layers[1].digest)}) "
                        "linux/amd64: file hello differs at byte 77 (sizes 2048 and 2048)")
    assert describe(d) == f"image.tar: differ at byte {d.offset} (sizes {d.sizes[0]} and {d.sizes[1]}); {d.detail}"


@pytest.mark.parametrize(("change", "said"), [({"created": "2025-06-01T00:00:00Z"}, '"created" differs'),
                                              ({"entrypoint": "/bye"}, '"config.Entrypoint" differs')])
def test_a_differing_config_names_its_keys(store: Store, tmp_path: Path, change: dict, said: str) -> None:
    first, second = build(store), build(store, **change)
    oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert d.detail == f"config ({short(first.config.digest)} vs {short(second.config.digest)}) linux/amd64: {said}"


def test_an_oci_layout_is_one_difference_not_its_blobs(store: Store, tmp_path: Path) -> None:
    first, second = build(store), build(store, changed(HELLO, 1000))
    write_layout(store, first.top, tmp_path / "a" / "dist" / "oci", "latest", "localhost/hello:latest")
    write_layout(store, second.top, tmp_path / "b" / "dist" / "oci", "latest", "localhost/hello:latest")
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert (d.path, d.kind, d.offset, d.sizes) == ("dist/oci", "content", None, None)
    assert d.detail.endswith("linux/amd64: file hello differs at byte 1000 (sizes 2048 and 2048)")
    assert d.detail.startswith("layer 2 of 2 (")
    assert describe(d) == f"dist/oci: differs; {d.detail}"
    # A layout at the top of the compared trees is the same single difference, named ".".
    assert one(compare_trees(tmp_path / "a" / "dist" / "oci", tmp_path / "b" / "dist" / "oci")).path == "."


def test_an_index_is_walked_to_the_platform_that_differs(store: Store, tmp_path: Path) -> None:
    amd64 = build(store)
    arm64, arm64_changed = build(store, arch="arm64"), build(store, changed(HELLO, 5), arch="arm64")
    oci_archive(store, index_of(store, amd64, arm64), tmp_path / "a" / "image.tar")
    expected = (f"layer 2 of 2 ({short(arm64.layers[1].digest)} vs {short(arm64_changed.layers[1].digest)}) "
                "linux/arm64: file hello differs at byte 5 (sizes 2048 and 2048)")
    oci_archive(store, index_of(store, amd64, arm64_changed), tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == expected
    # Listed in another order, the manifests are still matched by platform, not by position.
    oci_archive(store, index_of(store, arm64_changed, amd64), tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == expected
    oci_archive(store, index_of(store, amd64), tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == "linux/arm64 only in the first"


def test_a_layer_count_and_a_member_only_on_one_side_are_said(store: Store, tmp_path: Path) -> None:
    first = build(store)
    second = build(store, extra=(Entry("world", FILE, 0o644, data=b"hi\n"),))
    oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail.endswith(
        "linux/amd64: file world only in the second (member 2)")
    oci_archive(store, build(store, third=True).top, tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == "linux/amd64: 2 layers vs 3"


def test_member_metadata_differences_are_named(store: Store, tmp_path: Path) -> None:
    first = build(store, extra=(Entry("etc", FILE, 0o644, data=b"x", mtime=5),))
    second = build(store, extra=(Entry("etc", FILE, 0o600, data=b"x", mtime=6),))
    oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail.endswith(
        "linux/amd64: file etc: mode 0644 vs 0600, mtime 5 vs 6")


def test_a_docker_archive_is_looked_into(store: Store, tmp_path: Path) -> None:
    first, second = build(store), build(store, changed(HELLO, 300))
    write_docker_archive(store, first.top, tmp_path / "a" / "image.tar", ["hello:latest"], mtime=0)
    write_docker_archive(store, second.top, tmp_path / "b" / "image.tar", ["hello:latest"], mtime=0)
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    hex_a, hex_b = first.layers[1].digest.split(":")[1], second.layers[1].digest.split(":")[1]
    assert d.detail == (f"layer 2 of 2 ({hex_a[:12]}… vs {hex_b[:12]}…) linux/amd64: "
                        "file hello differs at byte 300 (sizes 2048 and 2048)")


def test_gzip_layers_of_the_same_content(store: Store, tmp_path: Path) -> None:
    # The same entries gzip'd the same way are the same bytes: nothing to report.
    oci_archive(store, build(store).top, tmp_path / "a" / "image.tar")
    oci_archive(store, build(store).top, tmp_path / "b" / "image.tar")
    assert compare_trees(tmp_path / "a", tmp_path / "b") == []
    # The same entries at another gzip level: the blobs differ, the files in them do not.
    first, second = build(store, level=1), build(store, level=9)
    assert first.layers[1].digest != second.layers[1].digest and first.layers[1].diff_id == second.layers[1].diff_id
    oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == (
        f"layer 1 of 2 ({short(first.layers[0].digest)} vs {short(second.layers[0].digest)}) linux/amd64: "
        "the same files and metadata, in different tar or compression bytes")


def test_a_zstd_layer_is_not_looked_into(store: Store, tmp_path: Path) -> None:
    first, second = build(store, layer_type=OCI_LAYER_ZSTD), build(store, changed(HELLO, 1), layer_type=OCI_LAYER_ZSTD)
    oci_archive(store, first.top, tmp_path / "a" / "image.tar")
    oci_archive(store, second.top, tmp_path / "b" / "image.tar")
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail.endswith(
        "linux/amd64: zstd-compressed, which gobox cannot look inside")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_image_falls_back_to_the_byte_offset(store: Store, tmp_path: Path, damage: str) -> None:
    a = oci_archive(store, build(store).top, tmp_path / "a" / "image.tar")
    data = a.read_bytes()
    (tmp_path / "b").mkdir()
    b = tmp_path / "b" / "image.tar"
    # Every byte flipped: differs from the first byte on (random bytes matched it one time in 256) and is no tar.
    b.write_bytes(data[: len(data) - 3000] if damage == "truncated" else bytes(x ^ 0xFF for x in data))
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert (d.kind, d.offset) == ("content", len(data) - 3000 if damage == "truncated" else 0)
    assert d.detail == ("could not be read as an image: the second is a damaged tar (unexpected end of data)"
                        if damage == "truncated" else
                        "could not be read as an image: the second is not a tar archive")


def test_an_unreadable_layout_and_a_corrupt_blob_fall_back_to_the_files(store: Store, tmp_path: Path) -> None:
    first = build(store)
    write_layout(store, first.top, tmp_path / "a", "latest", "localhost/hello:latest")
    write_layout(store, first.top, tmp_path / "b", "latest", "localhost/hello:latest")
    manifest = tmp_path / "b" / "blobs" / "sha256" / first.top.digest.split(":")[1]
    data = manifest.read_bytes()
    at = data.index(b"schemaVersion") + 6
    manifest.write_bytes(data.replace(b"schemaVersion", b"schemaversion"))
    # Blobs are compared by their names: one whose bytes changed under the same name is found as a file.
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == (
        f"the images match by digest; the layouts differ: blobs/sha256/{first.top.digest.split(':')[1]}: "
        f"differ at byte {at} (sizes {len(data)} and {len(data)})")
    manifest.write_bytes(data)
    (tmp_path / "b" / "index.json").write_bytes(b"{not json")
    d = one(compare_trees(tmp_path / "a", tmp_path / "b"))
    assert d.detail == ("could not be read as an image (index.json is not JSON (Expecting property name enclosed in "
                        "double quotes: line 1 column 2 (char 1))); first difference: index.json: differ at byte 1 "
                        f"(sizes {(tmp_path / 'a' / 'index.json').stat().st_size} and 9)")


def test_a_release_tarball_names_the_member_that_differs(tmp_path: Path) -> None:
    for side, body in (("a", HELLO), ("b", changed(HELLO, 99))):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("hello_linux_amd64/hello")
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
        (tmp_path / side).mkdir()
        (tmp_path / side / "hello.tar.gz").write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    assert one(compare_trees(tmp_path / "a", tmp_path / "b")).detail == (
        "archive: file hello_linux_amd64/hello differs at byte 99 (sizes 2048 and 2048)")


def test_a_module_zip_names_the_entry_that_differs(tmp_path: Path) -> None:
    import zipfile

    def module_zip(path: Path, files: dict[str, bytes], when: tuple = (1980, 1, 1, 0, 0, 0)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as z:
            for name, data in files.items():
                z.writestr(zipfile.ZipInfo(f"example.com/m@v1.0.0/{name}", when), data)

    name = "example.com/m@v1.0.0.zip"
    module_zip(tmp_path / "a" / name, {"go.mod": b"module example.com/m\n", "m.go": b"package m\n"})
    module_zip(tmp_path / "b" / name, {"go.mod": b"module example.com/m\n", "m.go": b"package n\n"})
    module_zip(tmp_path / "c" / name, {"go.mod": b"module example.com/m\n", "m.go": b"package m\n"},
               (2024, 5, 1, 12, 0, 0))
    (got,) = compare_trees(tmp_path / "a", tmp_path / "b")
    assert describe(got).endswith("; zip: example.com/m@v1.0.0/m.go: content differs (10 and 10 bytes)")
    (got,) = compare_trees(tmp_path / "a", tmp_path / "c")
    assert describe(got).endswith("; zip: example.com/m@v1.0.0/go.mod: date_time differ")
