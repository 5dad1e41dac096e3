"""What a push sends, read from the store before any request: the plan, the source chosen, the upload URL, the body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from gobox.errors import NotFoundError, UsageError
from gobox.imagestore.push import Pushed, check_target, choose_source, missing, plan, push, record, summary
from gobox.imagestore.records import Image, images, record_path
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.oci.manifest import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from gobox.oci.registry import _FileBody, upload_url
from gobox.oci.transport import Options
from gobox.oci.write import FILE, Entry, write_json_blob, write_layer
from gobox.progress import Progress
from gobox.store import Store, write_atomic

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


def _image(store: Store, content: bytes, arch: str = "amd64", media_type: str | None = OCI_MANIFEST,
           shared: bytes = b"base") -> tuple[str, int]:
    """A manifest (config + a shared layer + its own layer) written into the store; its digest and size."""
    layers = [write_layer(store, [Entry("base", FILE, data=shared)]),
              write_layer(store, [Entry("f", FILE, data=content)])]
    config = write_json_blob(store, {"architecture": arch, "os": "linux",
                                     "rootfs": {"type": "layers", "diff_ids": [x.diff_id for x in layers]}})
    doc = {"schemaVersion": 2,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest,
                      "size": config.size},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": x.digest,
                       "size": x.size} for x in layers]}
    if media_type:
        doc["mediaType"] = media_type
    blob = write_json_blob(store, doc)
    return blob.digest, blob.size


def _index(store: Store, children: list[tuple[str, int, str]], media_type: str = OCI_INDEX) -> str:
    return write_json_blob(store, {"schemaVersion": 2, "mediaType": media_type, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": s, "platform": {"os": "linux", "architecture": a}}
        for d, s, a in children]}).digest


def _record(store: Store, ref: str, digest: str, platform: str, index: str | None = None) -> Image:
    r = Reference.parse(ref)
    image = Image(str(r), digest, index, platform, "sha256:" + "c" * 64, (), 1)
    write_atomic(record_path(store, r, platform), json.dumps(image.to_json()).encode())
    return image


# --- the plan ------------------------------------------------------------------------------------


def test_a_manifest_plan_lists_config_and_layers_once_and_the_manifest_last(tmp_path: Path) -> None:
    store = Store(tmp_path)
    digest, _ = _image(store, b"one")
    work = plan(store, digest)
    manifest = json.loads(store.blob_for(digest).read_bytes())
    assert [d.digest for d in work.blobs] == [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]
    assert [d.digest for d in work.documents] == [digest]
    assert work.top.media_type == OCI_MANIFEST and work.top.data == store.blob_for(digest).read_bytes()


def test_an_index_plan_puts_children_first_and_shares_their_blobs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd = _image(store, b"amd", "amd64")
    arm = _image(store, b"arm", "arm64")
    index = _index(store, [(*amd, "amd64"), (*arm, "arm64")])
    work = plan(store, index)
    assert [d.digest for d in work.documents] == [amd[0], arm[0], index]
    assert work.top.media_type == OCI_INDEX
    digests = [d.digest for d in work.blobs]
    assert len(digests) == len(set(digests)) == 5  # two configs, the shared layer once, one layer each


def test_the_content_type_is_the_documents_own_media_type_or_its_shape(tmp_path: Path) -> None:
    store = Store(tmp_path)
    docker, _ = _image(store, b"d", media_type=DOCKER_MANIFEST)
    bare, _ = _image(store, b"b", media_type=None)
    assert plan(store, docker).top.media_type == DOCKER_MANIFEST
    assert plan(store, bare).top.media_type == OCI_MANIFEST
    listed = _index(store, [(docker, store.blob_for(docker).stat().st_size, "amd64")], DOCKER_MANIFEST_LIST)
    assert plan(store, listed).top.media_type == DOCKER_MANIFEST_LIST


def test_what_the_store_lacks_is_named_before_any_request(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd = _image(store, b"amd", "amd64")
    index = _index(store, [(*amd, "amd64"), ("sha256:" + "a" * 64, 10, "arm64")])
    assert missing(store, amd[0]) == ()
    assert missing(store, index) == ("sha256:" + "a" * 64,)
    layer = json.loads(store.blob_for(amd[0]).read_bytes())["layers"][1]["digest"]
    store.blob_for(layer).unlink()
    assert missing(store, amd[0]) == (layer,)
    with pytest.raises(NotFoundError, match=layer):
        plan(store, amd[0])
    # Not even a connection is tried: the registry on port 9 would give a network error instead.
    with pytest.raises(NotFoundError):
        push(store, Reference.parse("127.0.0.1:9/x:1"), amd[0], Options(attempts=1), Progress(quiet=True))


def test_bad_targets_are_usage_errors_before_any_request(tmp_path: Path) -> None:
    store = Store(tmp_path)
    digest, _ = _image(store, b"x")
    with pytest.raises(UsageError, match="bad tag!"):
        push(store, Reference("127.0.0.1:9", "x", "bad tag!"), digest, Options(attempts=1), Progress(quiet=True))
    other = "sha256:" + "b" * 64
    with pytest.raises(UsageError, match="but the image to push is"):
        check_target(Reference.parse(f"127.0.0.1:9/x@{other}"), digest)
    check_target(Reference.parse(f"127.0.0.1:9/x:1@{digest}"), digest)


# --- which image `gobox push SRC` sends ---------------------------------------------------------------


def test_the_whole_index_when_every_platform_is_in_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd, arm = _image(store, b"amd", "amd64"), _image(store, b"arm", "arm64")
    index = _index(store, [(*amd, "amd64"), (*arm, "arm64")])
    ref = Reference.parse("127.0.0.1:5000/team/multi:1")
    _record(store, str(ref), amd[0], "linux/amd64", index)
    _record(store, str(ref), arm[0], "linux/arm64", index)
    chosen = choose_source(store, ref, None, AMD64)
    assert chosen.digest == chosen.index_digest == index and len(chosen.images) == 2
    assert "index" in chosen.note and "linux/amd64, linux/arm64" in chosen.note
    one = choose_source(store, ref, ARM64, AMD64)
    assert (one.digest, one.index_digest) == (arm[0], None)


def test_one_platform_when_the_index_is_incomplete_and_saying_so(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd, arm = _image(store, b"amd", "amd64"), _image(store, b"arm", "arm64")
    index = _index(store, [(*amd, "amd64"), (*arm, "arm64")])
    store.blob_for(arm[0]).unlink()
    ref = Reference.parse("127.0.0.1:5000/team/multi:1")
    _record(store, str(ref), amd[0], "linux/amd64", index)
    chosen = choose_source(store, ref, None, ARM64)
    assert chosen.digest == amd[0] and chosen.index_digest is None
    assert "only" in chosen.note and "not in the store" in chosen.note


def test_several_images_without_an_index_need_a_choice(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd, arm = _image(store, b"amd", "amd64"), _image(store, b"arm", "arm64")
    ref = Reference.parse("127.0.0.1:5000/team/two:1")
    _record(store, str(ref), amd[0], "linux/amd64", "sha256:" + "d" * 64)
    _record(store, str(ref), arm[0], "linux/arm64", "sha256:" + "d" * 64)
    assert choose_source(store, ref, None, ARM64).digest == arm[0]  # this machine's
    with pytest.raises(UsageError, match="no index that covers them all") as e:
        choose_source(store, ref, None, Platform("linux", "riscv64"))
    assert "--platform" in (e.value.hint or "")
    with pytest.raises(NotFoundError, match="linux/amd64, linux/arm64"):
        choose_source(store, ref, Platform("linux", "s390x"), AMD64)
    with pytest.raises(NotFoundError, match="no image 127.0.0.1:5000/team/none:1 in the store") as e:
        choose_source(store, Reference.parse("127.0.0.1:5000/team/none:1"), None, AMD64)
    assert "gobox pull 127.0.0.1:5000/team/none:1" in (e.value.hint or "")


def test_the_destination_is_recorded_so_gobox_images_lists_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    digest, _ = _image(store, b"x")
    src = Reference.parse("127.0.0.1:5000/team/app:1")
    _record(store, str(src), digest, "linux/amd64", "sha256:" + "d" * 64)
    dest = Reference.parse("registry.example/other/app:2")
    record(store, dest, choose_source(store, src, None, AMD64))
    listed = {i.reference: i for i in images(store)}
    assert listed[str(dest)].digest == digest and listed[str(dest)].index_digest is None
    assert listed[str(src)].index_digest == "sha256:" + "d" * 64  # the source's own record is untouched


def test_the_summary_counts_in_words() -> None:
    assert summary(Pushed("r", "d", 2, 1, 0, 10)) == "2 blobs uploaded, 1 already there"
    assert summary(Pushed("r", "d", 1, 0, 3, 10), "team/app") == \
        "1 blob uploaded, 0 already there, 3 mounted from team/app"


# --- the wire ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("location", "url"), [
    ("http://r:5000/v2/x/blobs/uploads/u1", "http://r:5000/v2/x/blobs/uploads/u1?digest=sha256:ab"),
    ("http://r:5000/v2/x/blobs/uploads/u1?_state=s%3D", "http://r:5000/v2/x/blobs/uploads/u1?_state=s%3D&digest=sha256:ab"),
    ("https://s3.example/up/u1?X-Sig=abc&e=1", "https://s3.example/up/u1?X-Sig=abc&e=1&digest=sha256:ab"),
    ("/v2/x/blobs/uploads/u1?", "/v2/x/blobs/uploads/u1?digest=sha256:ab"),
])
def test_the_upload_url_keeps_the_registrys_query(location: str, url: str) -> None:
    assert upload_url(location, "sha256:ab") == url


def test_a_blob_body_is_sent_with_content_length_not_chunked_and_counted(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 100_000)
    counted: list[int] = []
    body = _FileBody(blob, 100_000, counted.append)
    prepared = requests.Request("PUT", "http://127.0.0.1:9/v2/x/blobs/uploads/u", data=body).prepare()
    assert prepared.headers["Content-Length"] == "100000" and "Transfer-Encoding" not in prepared.headers
    got = b""
    while chunk := prepared.body.read(16384):
        got += chunk
    body.close()
    assert got == blob.read_bytes() and sum(counted) == 100_000 and max(counted) == 16384


def test_an_upload_url_query_never_reaches_a_message(tmp_path: Path) -> None:
    from gobox.oci.registry import Client
    from gobox.oci.transport import RegistryError

    client = Client("127.0.0.1:9", Options(attempts=1))
    signed = "relative/upload?X-Amz-Signature=s3cr3t&X-Amz-Credential=key"
    with pytest.raises(RegistryError) as e:
        client._request("PUT", "x", "", url=signed)
    assert "s3cr3t" not in e.value.message and "relative/upload" in e.value.message
