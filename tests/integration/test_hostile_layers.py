"""Hostile layers from a real registry (Debian's docker-registry), through `gobox pull` and `gobox run --image`:
each ends in one line and exit 3 (1 for a full disk), promptly, with nothing outside the store and nothing
half-made in it. The layers are pushed byte for byte over the registry's HTTP API, as an attacker would."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ocilayout import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, canonical_json, sha256_digest
from support.registry import TOOLS, Registry
from support.requires import requires_tool
from support.runner import Gobox
from support.tarbytes import Bomb, member, pax, pax_record, tar

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"), requires_tool(*TOOLS)]

PROMPT = 120  # seconds: a hang (the reader spinning at 100% CPU) is a test failure, not a stuck suite


def push_image(reg: Registry, name: str, layers: list[tuple[bytes, str]]) -> str:
    """Blobs, config and manifest PUT as they are; `layers` are (blob, diff_id). Returns the reference."""
    with reg.session() as s:
        def put(data: bytes, media_type: str) -> dict:
            digest = sha256_digest(data)
            r = s.post(f"{reg.url}/v2/{name}/blobs/uploads/", timeout=10)
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            r = s.put(location if "://" in location else reg.url + location, params={"digest": digest}, data=data,
                      headers={"Content-Type": "application/octet-stream"}, timeout=120)
            assert r.status_code == 201, r.text
            return {"mediaType": media_type, "digest": digest, "size": len(data)}

        config = canonical_json({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                                 "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": put(config, OCI_CONFIG),
                    "layers": [put(blob, OCI_LAYER_GZIP) for blob, _ in layers]}
    reg.put_manifest(name, "v1", canonical_json(manifest), OCI_MANIFEST)
    return f"{reg.host}/{name}:v1"


def layer(data: bytes) -> tuple[bytes, str]:
    return gzip.compress(data, mtime=0), sha256_digest(data)


# name: (the layer's tar, or a function of the host directory its symlink points to; what the error says)
CASES = {
    "pax-length-0": (tar(pax(b"0 path=x\n"), member("f", b"x")), "pax record 1 has the length 0"),
    "pax-size-minus-1536": (tar(pax(pax_record(b"size", b"-1536")), member("f")), "pax size '-1536' is not a size"),
    "pax-no-space": (tar(pax(b"16path=abcdefgh\n"), member("f", b"x")), "pax record 1 has no space after its length"),
    "pax-key-not-utf8": (tar(pax(pax_record(b"\xff\xfe", b"v")), member("f", b"x")),
                         r"pax record 1 has a key that is not UTF-8 (b'\xff\xfe')"),
    "file-over-dir": (tar(member("d/", typeflag=b"5"), member("d/x", b"in d"), member("d", b"file")),
                      "archive member 'd' is a file, but an earlier member made it a directory"),
    "symlink-over-dir": (tar(member("d/", typeflag=b"5"), member("d", typeflag=b"2", linkname="/etc")),
                         "archive member 'd' is a symlink, but an earlier member made it a directory"),
    "symlink-then-write-through": (lambda host: tar(member("l", typeflag=b"2", linkname=str(host)),
                                                    member("l/x", b"planted")),
                                   "archive member 'l/x' would be written through a symlink ('l')"),
}


@pytest.fixture(scope="module")
def bomb() -> Bomb:
    return Bomb(10, 100 << 20)  # 1000 MiB of zeros in 1 MB of gzip


@pytest.fixture(scope="module")
def hostile(bomb: Bomb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """(the host directory a layer's symlink points to, {case: reference}) on a registry of hostile images."""
    host = tmp_path_factory.mktemp("host")
    with Registry("none") as reg:
        refs = {name: push_image(reg, f"evil/{name}", [layer(data(host) if callable(data) else data)])
                for name, (data, _) in CASES.items()}
        refs["bomb"] = push_image(reg, "evil/bomb", [(bomb.blob, bomb.diff_id)])
        refs["big"] = push_image(reg, "evil/big", [layer(tar(member("zeros", b"\0" * (32 << 20))))])
        yield host, refs


def unpacked_nothing(home: Path) -> None:
    layers = home / "layers" / "sha256"
    assert not layers.exists() or list(layers.iterdir()) == [], "a half-made layer was kept"
    assert list((home / "tmp").iterdir()) == []


def one_error(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("gobox: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize("case", CASES)
def test_hostile_layers_are_one_line_and_exit_3(gobox: Gobox, tmp_path: Path, hostile: tuple, case: str) -> None:
    host, refs = hostile
    pulled = gobox("pull", refs[case], timeout=PROMPT)
    assert pulled.code == 0, pulled.err  # the blobs are whole and verified: the layer is hostile, not corrupt
    r = gobox("run", "--image", refs[case], "--", "true", cwd=tmp_path, timeout=PROMPT)
    assert r.code == 3, r.err
    line = one_error(r.err)
    assert line.startswith("gobox: error: layer sha256:") and CASES[case][1] in line, line
    unpacked_nothing(gobox.home)
    assert list(host.iterdir()) == []
    # The layer lock was let go: the next gobox gets the same answer, not a wait.
    again = gobox("run", "--image", refs[case], "--", "true", cwd=tmp_path, timeout=PROMPT)
    assert (again.code, one_error(again.err)) == (3, line)


def test_a_gzip_bomb_stops_at_the_limit(gobox: Gobox, tmp_path: Path, hostile: tuple, bomb: Bomb) -> None:
    _, refs = hostile
    r = gobox("run", "--image", refs["bomb"], "--", "true", cwd=tmp_path, timeout=PROMPT)
    assert r.code == 3, r.err
    line = one_error(r.err)
    assert "archive unpacks to more than 256.0 MiB from 1.0 MiB compressed" in line and "gzip bomb?" in line
    assert "gobox: hint: if the image is genuine, raise limits.layer-ratio or limits.layer-size" in r.err
    unpacked_nothing(gobox.home)
    # The settings move the limit: lower here, so that the test writes little either way.
    config = tmp_path / "config.toml"
    config.write_text('[limits]\nlayer-size = "64MiB"\n')
    r = gobox("run", "--image", refs["bomb"], "--", "true", cwd=tmp_path, timeout=PROMPT,
              env={"GOBOX_CONFIG": str(config)})
    assert r.code == 3 and "archive unpacks to more than 64.0 MiB (limits.layer-size)" in one_error(r.err), r.err
    r = gobox("run", "--image", refs["bomb"], "--", "true", cwd=tmp_path, timeout=PROMPT,
              env={"GOBOX_LAYER_SIZE": "32MiB"})
    assert r.code == 3 and "more than 32.0 MiB (limits.layer-size)" in one_error(r.err), r.err
    unpacked_nothing(gobox.home)


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Path]:
    """GOBOX_HOME on a 16 MiB tmpfs: a store whose disk fills up for real."""
    where = tmp_path / "small"
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield where / "home"
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_disk_full_while_unpacking_is_one_line(gobox: Gobox, tmp_path: Path, hostile: tuple, small_home: Path) -> None:
    _, refs = hostile
    small = Gobox({**gobox.env, "GOBOX_HOME": str(small_home)}, small_home)
    r = small("run", "--image", refs["big"], "--", "true", cwd=tmp_path, timeout=PROMPT)
    assert r.code == 1, r.err
    line = one_error(r.err)
    assert line.startswith("gobox: error: layer sha256:") and "no space left" in line and "'zeros'" in line, line
    assert "nothing half-made was kept" in r.err
    unpacked_nothing(small_home)
