"""Image references: Docker's normalisation, canonical and familiar spellings, and exact refusals."""

from __future__ import annotations

import dataclasses

import pytest

from gobox.errors import EXIT_USAGE, UsageError
from gobox.names.reference import Reference, is_digest, parse_reference

D256 = "sha256:" + "0123456789abcdef" * 4
D512 = "sha512:" + "fedcba9876543210" * 8
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
FORM = "write it as [registry/]repository[:tag][@sha256:digest], e.g. golang:1.22"
TAG_HINT = "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
DIGEST_HINT = "a digest is sha256: followed by 64 lower-case hex digits (or sha512: and 128)"
COMPONENT_HINT = "path components are lower-case letters and digits joined by '.', '_', '__' or dashes"

# text, registry, repository, tag, digest, str(), familiar
VALID = [
    ("golang", "docker.io", "library/golang", "latest", None,
     "docker.io/library/golang:latest", "golang:latest"),
    ("golang:1.22", "docker.io", "library/golang", "1.22", None,
     "docker.io/library/golang:1.22", "golang:1.22"),
    ("user/app", "docker.io", "user/app", "latest", None,
     "docker.io/user/app:latest", "user/app:latest"),
    ("user/app:latest", "docker.io", "user/app", "latest", None,
     "docker.io/user/app:latest", "user/app:latest"),
    ("library/golang", "docker.io", "library/golang", "latest", None,
     "docker.io/library/golang:latest", "golang:latest"),
    ("docker.io/golang", "docker.io", "library/golang", "latest", None,
     "docker.io/library/golang:latest", "golang:latest"),
    ("docker.io/library/golang:1.22", "docker.io", "library/golang", "1.22", None,
     "docker.io/library/golang:1.22", "golang:1.22"),
    ("index.docker.io/library/golang:1", "docker.io", "library/golang", "1", None,
     "docker.io/library/golang:1", "golang:1"),
    ("index.docker.io/golang", "docker.io", "library/golang", "latest", None,
     "docker.io/library/golang:latest", "golang:latest"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar", "latest", None,
     "docker.io/library/foo/bar:latest", "library/foo/bar:latest"),
    # Only docker.io gets "library/"; registry-1.docker.io is kept as written.
    ("registry-1.docker.io/golang", "registry-1.docker.io", "golang", "latest", None,
     "registry-1.docker.io/golang:latest", "registry-1.docker.io/golang:latest"),
    ("127.0.0.1:5000/golang:1.22", "127.0.0.1:5000", "golang", "1.22", None,
     "127.0.0.1:5000/golang:1.22", "127.0.0.1:5000/golang:1.22"),
    ("localhost/x", "localhost", "x", "latest", None,
     "localhost/x:latest", "localhost/x:latest"),
    ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", None,
     "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
    ("my-registry:5000/app", "my-registry:5000", "app", "latest", None,
     "my-registry:5000/app:latest", "my-registry:5000/app:latest"),
    ("gcr.io/distroless/static-debian12:nonroot", "gcr.io", "distroless/static-debian12", "nonroot", None,
     "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12:nonroot"),
    ("registry.example:443/team/go/builder:v1.2.3", "registry.example:443", "team/go/builder", "v1.2.3", None,
     "registry.example:443/team/go/builder:v1.2.3", "registry.example:443/team/go/builder:v1.2.3"),
    ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None,
     "[::1]:5000/x:y", "[::1]:5000/x:y"),
    ("[fc00:1:2:3:4:5:6:7]/team/app", "[fc00:1:2:3:4:5:6:7]", "team/app", "latest", None,
     "[fc00:1:2:3:4:5:6:7]/team/app:latest", "[fc00:1:2:3:4:5:6:7]/team/app:latest"),
    ("Example.COM/x", "Example.COM", "x", "latest", None,
     "Example.COM/x:latest", "Example.COM/x:latest"),
    ("golang@" + D256, "docker.io", "library/golang", None, D256,
     "docker.io/library/golang@" + D256, "golang@" + D256),
    ("golang:1.22@" + D256, "docker.io", "library/golang", "1.22", D256,
     "docker.io/library/golang:1.22@" + D256, "golang:1.22@" + D256),
    ("127.0.0.1:5000/golang@" + D256, "127.0.0.1:5000", "golang", None, D256,
     "127.0.0.1:5000/golang@" + D256, "127.0.0.1:5000/golang@" + D256),
    ("ghcr.io/owner/repo@" + D512, "ghcr.io", "owner/repo", None, D512,
     "ghcr.io/owner/repo@" + D512, "ghcr.io/owner/repo@" + D512),
    ("golang:Tag", "docker.io", "library/golang", "Tag", None,
     "docker.io/library/golang:Tag", "golang:Tag"),
    ("a/b/c/d:e_f-g.h", "docker.io", "a/b/c/d", "e_f-g.h", None,
     "docker.io/a/b/c/d:e_f-g.h", "a/b/c/d:e_f-g.h"),
    ("example.com/foo__bar/a.b_c---d:_tag", "example.com", "foo__bar/a.b_c---d", "_tag", None,
     "example.com/foo__bar/a.b_c---d:_tag", "example.com/foo__bar/a.b_c---d:_tag"),
    # Docker's quirk: without a '/', "localhost:5000" is the official image "localhost" at tag "5000".
    ("localhost:5000", "docker.io", "library/localhost", "5000", None,
     "docker.io/library/localhost:5000", "localhost:5000"),
    # A 64-hex name is refused only alone; behind a registry it cannot be an image ID.
    ("x.io/" + HEX64, "x.io", HEX64, "latest", None,
     f"x.io/{HEX64}:latest", f"x.io/{HEX64}:latest"),
    ("golang:" + "t" * 128, "docker.io", "library/golang", "t" * 128, None,
     "docker.io/library/golang:" + "t" * 128, "golang:" + "t" * 128),
    ("x" * 247, "docker.io", "library/" + "x" * 247, "latest", None,
     f"docker.io/library/{'x' * 247}:latest", "x" * 247 + ":latest"),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest", "full", "familiar"), VALID,
                         ids=[row[0][:60] for row in VALID])
def test_valid_references_normalise_like_docker(text: str, registry: str, repository: str, tag: str | None,
                                                digest: str | None, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert ref.name == f"{registry}/{repository}"


@pytest.mark.parametrize("row", VALID, ids=[row[0][:60] for row in VALID])
def test_canonical_and_familiar_forms_parse_back_to_the_same_reference(row: tuple) -> None:
    ref = parse_reference(row[0])
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


# text, message, hint
INVALID = [
    ("", "not an image reference: '' (it is empty)", FORM),
    ("Golang", "not an image reference: 'Golang' (repository names are lower case)",
     "write the repository in lower case: 'golang'"),
    ("Golang:1.22", "not an image reference: 'Golang:1.22' (repository names are lower case)",
     "write the repository in lower case: 'golang:1.22'"),
    ("docker/Docker", "not an image reference: 'docker/Docker' (repository names are lower case)",
     "write the repository in lower case: 'docker/docker'"),
    # Newer Docker would take "Foo" as a registry host; we refuse it as a misspelt namespace.
    ("Foo/bar", "not an image reference: 'Foo/bar' (repository names are lower case)",
     "write the repository in lower case: 'foo/bar'"),
    ("Go_-lang", "not an image reference: 'Go_-lang' (repository names are lower case)",
     "write the repository in lower case"),
    ("golang:", "not an image reference: 'golang:' (the tag after ':' is empty)", FORM),
    ("golang@sha256:abc", "not an image reference: 'golang@sha256:abc' (a sha256 digest has 64 hex digits, not 3)",
     DIGEST_HINT),
    ("golang@md5:d41d8cd98f00b204e9800998ecf8427e",
     "not an image reference: 'golang@md5:d41d8cd98f00b204e9800998ecf8427e' "
     "(digest algorithm 'md5' is not supported; use sha256 or sha512)", DIGEST_HINT),
    ("golang@" + D256.upper(), f"not an image reference: 'golang@{D256.upper()}' "
     "(digest algorithm 'SHA256' is not supported; use sha256 or sha512)", DIGEST_HINT),
    ("golang@sha256:" + "A" * 64, f"not an image reference: 'golang@sha256:{'A' * 64}' "
     "(the sha256 digest must be lower-case hex)", DIGEST_HINT),
    ("golang@sha512:" + "a" * 64, f"not an image reference: 'golang@sha512:{'a' * 64}' "
     "(a sha512 digest has 128 hex digits, not 64)", DIGEST_HINT),
    ("golang@" + "a" * 64, f"not an image reference: 'golang@{'a' * 64}' (digest '{'a' * 64}' is not "
     "<algorithm>:<hex>)", DIGEST_HINT),
    ("golang@", "not an image reference: 'golang@' (the digest after '@' is empty)", DIGEST_HINT),
    ("a@b@c", "not an image reference: 'a@b@c' (more than one '@')", FORM),
    (":tag", "not an image reference: ':tag' (the repository name is missing)", FORM),
    ("@" + D256, f"not an image reference: '@{D256}' (the repository name is missing)", FORM),
    ("a//b", "not an image reference: 'a//b' (the name has an empty path component ('//'))", FORM),
    ("a/b/", "not an image reference: 'a/b/' (the name ends with '/')", FORM),
    ("/x", "not an image reference: '/x' (the name starts with '/')", FORM),
    ("-a", "not an image reference: '-a' (path component '-a' must start and end with a letter or digit)",
     COMPONENT_HINT),
    ("-docker.io/docker/docker", "not an image reference: '-docker.io/docker/docker' "
     "(registry '-docker.io' is not a valid host[:port])",
     "a registry is a host name or IP address with an optional :port, e.g. localhost:5000"),
    ("docker/dock..er", "not an image reference: 'docker/dock..er' "
     "(path component 'dock..er' joins words with '..'; use '.', '_', '__' or dashes)", COMPONENT_HINT),
    # With a '.' the first component is a registry, and '..' makes it a bad host.
    ("dock..er/docker", "not an image reference: 'dock..er/docker' (registry 'dock..er' is not a valid host[:port])",
     "a registry is a host name or IP address with an optional :port, e.g. localhost:5000"),
    ("a___b", "not an image reference: 'a___b' "
     "(path component 'a___b' joins words with '___'; use '.', '_', '__' or dashes)", COMPONENT_HINT),
    ("a/b:c/d", "not an image reference: 'a/b:c/d' (path component 'b:c' may not hold ':')", COMPONENT_HINT),
    ("golang:" + "t" * 129, f"not an image reference: 'golang:{'t' * 129}' "
     "(the tag is 129 characters; at most 128 are allowed)", TAG_HINT),
    ("golang:-x", "not an image reference: 'golang:-x' (tag '-x' must start with a letter, digit or '_')",
     TAG_HINT),
    ("golang:1.22:x", "not an image reference: 'golang:1.22:x' (only one ':' may separate the name from the tag)",
     "a tag follows the first ':' after the last '/', e.g. golang:1.22"),
    ("golang 1.22", "not an image reference: 'golang 1.22' (white space is not allowed)", FORM),
    (" golang", "not an image reference: ' golang' (white space is not allowed)", FORM),
    ("golang\n", "not an image reference: 'golang\\n' (white space is not allowed)", FORM),
    ("golang:1+2", "not an image reference: 'golang:1+2' (character '+' is not allowed)", FORM),
    ("golang:é", "not an image reference: 'golang:é' (character 'é' is not allowed)", FORM),
    ("https://ghcr.io/a/b", "not an image reference: 'https://ghcr.io/a/b' "
     "('https://' is a URL scheme, not part of an image reference)",
     "drop the scheme: registry.example/team/app:tag"),
    ("[::1]:5000", "not an image reference: '[::1]:5000' "
     "(a registry alone is not an image; add '/repository' after it)", FORM),
    ("localhost:/x", "not an image reference: 'localhost:/x' (registry 'localhost:' is not a valid host[:port])",
     "a registry is a host name or IP address with an optional :port, e.g. localhost:5000"),
    ("fc00::1:5000/debian", "not an image reference: 'fc00::1:5000/debian' "
     "(registry 'fc00::1:5000' is not a valid host[:port])",
     "a registry is a host name or IP address with an optional :port, e.g. localhost:5000"),
    (HEX64, f"not an image reference: '{HEX64}' (64 hex digits are an image ID, not a repository name)",
     "to pin an image by content write name@sha256:<digest>"),
    ("x" * 248, f"not an image reference: '{'x' * 248}' (the repository is 256 characters; at most 255 are allowed)",
     None),
]


@pytest.mark.parametrize(("text", "message", "hint"), INVALID, ids=[repr(row[0])[:40] for row in INVALID])
def test_invalid_references_are_refused_with_the_reason(text: str, message: str, hint: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        Reference.parse(text)
    assert caught.value.message == message
    assert caught.value.hint == hint
    assert caught.value.exit_code == EXIT_USAGE == 2


def test_tables_are_big_enough() -> None:
    assert len(VALID) >= 25
    assert len(INVALID) >= 15


def test_parse_reference_and_classmethod_agree() -> None:
    assert parse_reference("golang:1.22") == Reference.parse("golang:1.22") == Reference(
        "docker.io", "library/golang", "1.22")


@pytest.mark.parametrize(("text", "api_host"), [
    ("golang", "registry-1.docker.io"),
    ("index.docker.io/user/app", "registry-1.docker.io"),
    ("registry-1.docker.io/library/golang", "registry-1.docker.io"),
    ("gcr.io/distroless/static", "gcr.io"),
    ("localhost:5000/x", "localhost:5000"),
    ("[::1]:5000/x", "[::1]:5000"),
])
def test_api_host(text: str, api_host: str) -> None:
    assert Reference.parse(text).api_host == api_host


@pytest.mark.parametrize(("text", "local"), [
    ("localhost/x", True),
    ("localhost:5000/x", True),
    ("LOCALHOST:5000/x", True),
    ("127.0.0.1/x", True),
    ("127.0.0.1:5000/x", True),
    ("[::1]/x", True),
    ("[::1]:5000/x", True),
    ("golang", False),
    ("localhost:5000", False),  # Docker Hub's library/localhost, not this machine
    ("localhost.example/x", False),
    ("127.0.0.2:5000/x", False),
    ("[fc00::1]:5000/x", False),
    ("gcr.io/x", False),
])
def test_is_localhost(text: str, local: bool) -> None:
    assert Reference.parse(text).is_localhost is local


def test_is_localhost_on_a_bare_ipv6_host() -> None:
    assert Reference("::1", "x").is_localhost is True


def test_with_digest_keeps_the_tag_and_returns_a_new_reference() -> None:
    ref = Reference.parse("golang:1.22")
    pinned = ref.with_digest(D256)
    assert pinned == Reference("docker.io", "library/golang", "1.22", D256)
    assert str(pinned) == f"docker.io/library/golang:1.22@{D256}"
    assert ref.digest is None
    assert Reference.parse("127.0.0.1:5000/a@" + D256).with_digest(D512).digest == D512


def test_with_tag_keeps_the_digest_and_returns_a_new_reference() -> None:
    ref = Reference.parse("golang@" + D256)
    tagged = ref.with_tag("1.22")
    assert tagged == Reference("docker.io", "library/golang", "1.22", D256)
    assert ref.tag is None
    assert Reference.parse("golang:1.21").with_tag("1.22").familiar == "golang:1.22"


@pytest.mark.parametrize(("tag", "message"), [
    ("", "not an image tag: '' (the tag is empty)"),
    (".x", "not an image tag: '.x' (tag '.x' must start with a letter, digit or '_')"),
    ("a:b", "not an image tag: 'a:b' (tag 'a:b' may only hold letters, digits, '_', '.' and '-')"),
    ("t" * 129, f"not an image tag: '{'t' * 129}' (the tag is 129 characters; at most 128 are allowed)"),
])
def test_with_tag_refuses_a_bad_tag(tag: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        Reference.parse("golang").with_tag(tag)
    assert caught.value.message == message
    assert caught.value.hint == TAG_HINT


@pytest.mark.parametrize(("digest", "message"), [
    ("sha256:abc", "not a digest: 'sha256:abc' (a sha256 digest has 64 hex digits, not 3)"),
    ("md5:" + "0" * 32, f"not a digest: 'md5:{'0' * 32}' (digest algorithm 'md5' is not supported; use sha256 or "
     "sha512)"),
    ("0" * 64, f"not a digest: '{'0' * 64}' (digest '{'0' * 64}' is not <algorithm>:<hex>)"),
])
def test_with_digest_refuses_a_bad_digest(digest: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        Reference.parse("golang").with_digest(digest)
    assert caught.value.message == message
    assert caught.value.hint == DIGEST_HINT


@pytest.mark.parametrize(("text", "expected"), [
    (D256, True),
    (D512, True),
    ("sha256:" + "0" * 63, False),
    ("sha256:" + "0" * 65, False),
    ("sha256:" + "A" * 64, False),
    ("SHA256:" + "0" * 64, False),
    ("sha512:" + "0" * 64, False),
    ("sha384:" + "0" * 96, False),
    ("0" * 64, False),
    (D256 + "\n", False),
    ("", False),
])
def test_is_digest(text: str, expected: bool) -> None:
    assert is_digest(text) is expected


def test_references_are_frozen_and_hashable() -> None:
    ref = Reference.parse("golang")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "1.22"  # type: ignore[misc]
    assert {ref, Reference.parse("docker.io/library/golang:latest")} == {ref}


def test_str_of_a_hand_built_name_only_reference() -> None:
    ref = Reference("docker.io", "library/golang")
    assert str(ref) == "docker.io/library/golang"
    assert ref.familiar == "golang"
