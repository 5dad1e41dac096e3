"""docker's -p syntax parsed into Publish values: every valid form, every bad one refused by a ValueError."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gobox.cli import cli
from gobox.cli.options import hoist_directory
from gobox.sandbox.pasta import argv
from gobox.sandbox.spec import Publish

ports = st.integers(min_value=1, max_value=65535)
addresses = st.ip_addresses().map(str)


@pytest.mark.parametrize("text, value", [
    ("8080:80", Publish(8080, 80)),
    ("127.0.0.1:8080:8080", Publish(8080, 8080, "tcp", "127.0.0.1")),
    ("5353:53/udp", Publish(5353, 53, "udp")),
    ("[::1]:8443:443/tcp", Publish(8443, 443, "tcp", "::1")),
    ("65535:1", Publish(65535, 1)),
])
def test_docker_forms(text: str, value: Publish) -> None:
    assert Publish.parse(text) == value


@pytest.mark.parametrize("text", ["99999:80", "0:80", "80", "80:", ":80", "a:80", "1.2.3:80:80", "80:80/sctp",
                                  "80:80/", "+80:80", " 80:80", "8_0:80", "::1:80:80", "[::1]80:80",
                                  "[::1:80:80", "1:2:3:4", "٨٠:80", "080000:80"])
def test_bad_forms_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Publish.parse(text)


@given(ports, ports, st.sampled_from(["tcp", "udp"]), st.none() | addresses)
@example(1, 65535, "udp", "::ffff:1.2.3.4")
def test_what_str_prints_parses_back(host: int, container: int, protocol: str, ip: str | None) -> None:
    value = Publish(host, container, protocol, ip)
    assert Publish.parse(str(value)) == Publish(host, container, protocol,
                                                None if ip is None else str(ipaddress.ip_address(ip)))


@given(st.text(max_size=30))
@example("[]:1:1")
@example("1:1/tcp/udp")
def test_anything_parses_to_valid_ports_or_a_value_error(text: str) -> None:
    try:
        p = Publish.parse(text)
    except ValueError:
        return
    assert 1 <= p.host_port <= 65535 and 1 <= p.container_port <= 65535 and p.protocol in ("tcp", "udp")


def test_pasta_forwards_only_what_is_published() -> None:
    line = argv("/usr/bin/pasta", 42, [Publish(8080, 80, "tcp", "127.0.0.1"), Publish(53, 53, "udp")],
                "/run/p", 0, 0)
    assert line[-1] == "42" and "--no-map-gw" in line
    pairs = dict(zip(line[1:], line[2:], strict=False))
    assert (pairs["-t"], pairs["-u"], pairs["-T"], pairs["-U"]) == ("127.0.0.1/8080:80", "53:53", "none", "none")
    bare = argv("pasta", 1, [], "p", 5, 6)
    assert bare[bare.index("-t") + 1] == bare[bare.index("-u") + 1] == "none" and "5:6" in bare


@pytest.mark.parametrize("args, hoisted", [
    (["build", "-C", "d"], ["-C", "d", "build"]),
    (["build", "-Cd", "./..."], ["-Cd", "build", "./..."]),
    (["-q", "run", "--go", "1.22", "-C", "d", "--", "x"], ["-C", "d", "-q", "run", "--go", "1.22", "--", "x"]),
    (["run", "--", "go", "build", "-C", "d"], ["run", "--", "go", "build", "-C", "d"]),  # the command's own
    (["run", "--env", "-C", "-C", "d", "--", "x"], ["-C", "d", "run", "--env", "-C", "--", "x"]),  # a value kept
    (["toolchain", "pin", "-C", "d", "1.22"], ["-C", "d", "toolchain", "pin", "1.22"]),
    (["ci", "--dirty", "-C", "d"], ["-C", "d", "ci", "--dirty"]),
    (["build", "./cmd", "-C", "d"], ["build", "./cmd", "-C", "d"]),  # after an argument: go's
])
def test_C_after_the_subcommand_moves_before_it(args: list[str], hoisted: list[str]) -> None:
    assert hoist_directory(cli, args) == hoisted
