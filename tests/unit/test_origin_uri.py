"""Origins (a clone's remote, a vendored dependency's url) as provenance names them: URIs a verifier parses,
with a scheme and never a credential, the same normaliser as the image's source label."""

from __future__ import annotations

import pytest
import rfc3986
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rfc3986 import validators

from gobox.ci import provenance
from gobox.image.plan import origin_uri, public_source

COMMIT = "0123456789abcdef0123456789abcdef01234567"

# Remotes as git prints them with `git remote get-url origin`, and the URI provenance writes for each.
REAL = [
    ("git@github.com:o/r.git", "git+https://github.com/o/r"),
    ("ssh://git@host.example/o/r", "git+https://host.example/o/r"),
    ("ssh://git@gitlab.com:2222/group/sub/r.git", "git+https://gitlab.com/group/sub/r"),
    ("https://x-access-token:ghs_s3cret@github.com/o/r.git", "git+https://github.com/o/r"),
    ("https://user@bitbucket.org/team/r.git", "git+https://bitbucket.org/team/r"),
    ("http://git.lan:8080/team/r", "git+http://git.lan:8080/team/r"),
    ("/srv/git/r.git", "git+file:///srv/git/r.git"),
    ("/home/me/src/my project", "git+file:///home/me/src/my%20project"),
    ("file:///srv/git/r", "git+file:///srv/git/r"),
    ("file://localhost/srv/git/r", "git+file:///srv/git/r"),
]


def assert_uri(uri: str) -> None:
    """A URI as RFC 3986 has it, with a scheme, a path, and no userinfo (no user, no password, no token)."""
    parsed = rfc3986.uri_reference(uri)
    validators.Validator().require_presence_of("scheme", "path").check_validity_of(
        "scheme", "userinfo", "host", "port", "path", "query", "fragment").validate(parsed)
    assert parsed.userinfo is None and parsed.query is None and parsed.fragment is None, uri


@pytest.mark.parametrize(("origin", "uri"), REAL)
def test_real_origins_become_uris(origin: str, uri: str) -> None:
    assert origin_uri(origin) == uri
    assert_uri(uri)
    source = provenance.source_uri(origin, COMMIT)
    assert source == f"{uri}@{COMMIT}"
    assert_uri(source)


def test_the_image_label_and_provenance_share_the_normaliser() -> None:
    for origin, uri in REAL:
        if public_source(origin):
            assert uri == "git+" + public_source(origin)
    assert origin_uri("https://hg.example/r", "hg") == "hg+https://hg.example/r"
    assert origin_uri("/srv/hg/r", "hg") == "hg+file:///srv/hg/r"


@pytest.mark.parametrize("origin", ["", "../r", "r", "C:\\git\\r", "file://otherhost/r", "svn+ssh://host/r",
                                    "ext::ssh -i key host r", "https://host?x/r"])
def test_what_names_no_repository_is_left_out(origin: str) -> None:
    assert origin_uri(origin) == ""
    assert provenance.source_uri(origin, COMMIT) == ""


@settings(max_examples=300)
@given(st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, cred, host, path: f"{scheme}://{cred}{host}/{path}",
              st.sampled_from(["https", "http", "ssh", "git+ssh", "git", "file", "HTTPS"]),
              st.sampled_from(["", "u@", "u:p@", "x-token:s3cret@", "a@b@", ":@"]),
              st.sampled_from(["github.com", "h:22", "[::1]:2222", "", "h h", "h%20", "ex ample.com", "[bad"]),
              st.text(max_size=20)),
    st.builds(lambda user, host, path: f"{user}{host}:{path}", st.sampled_from(["", "git@", "u:p@"]),
              st.sampled_from(["github.com", "host", "[::1]"]), st.text(max_size=20)),
    st.builds(lambda path: "/" + path, st.text(max_size=30)),
))
@example("https://u:p@h/x")
@example("/a\x00b %zz ?#")
@example("git@github.com:o/r#frag?q")
def test_any_origin_is_a_uri_with_a_scheme_and_no_credentials(origin: str) -> None:
    uri = origin_uri(origin)
    if uri:
        assert_uri(uri)
        assert "s3cret" not in uri and "u:p" not in uri
        assert_uri(provenance.source_uri(origin, COMMIT))
