"""Image references parsed and normalised as Docker does: registry, repository, tag and digest."""

from __future__ import annotations

import re
from dataclasses import replace

from gobox.errors import InvalidName
from gobox.values import dataclass

DOCKER_HUB = "docker.io"
# docker.io is only a name: Docker Hub's v2 API answers on this host.
DOCKER_HUB_API = "registry-1.docker.io"
# The old "Docker Index" name; Docker folds it into docker.io so both spell the same image.
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

MAX_REPOSITORY = 255
MAX_TAG = 128

# The grammar of github.com/distribution/reference (regexp.go). Go's \w is ASCII-only, Python's is not,
# so the classes are spelled out.
_SEPARATOR = re.compile(r"[._]|__|-+")
_PATH_COMPONENT = re.compile(rf"[a-z0-9]+(?:(?:{_SEPARATOR.pattern})[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_REGISTRY = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# A bare 64-hex name is refused so that it cannot be mistaken for an image ID.
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
# The grammar allows any algorithm with 32+ hex digits; taking only sha256 and sha512 makes a mistyped or exotic
# digest fail here, with its reason, rather than as a 404 from the registry.
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_ALLOWED = re.compile(r"[A-Za-z0-9._\-/:@\[\]]")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

_FORM_HINT = "write it as [registry/]repository[:tag][@sha256:digest], e.g. golang:1.22"
_TAG_HINT = "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
_DIGEST_HINT = "a digest is sha256: followed by 64 lower-case hex digits (or sha512: and 128)"


def is_digest(text: str) -> bool:
    """True when text is a sha256 or sha512 digest in canonical form."""
    return _DIGEST.fullmatch(text) is not None


@dataclass(frozen=True)
class Reference:
    """A normalised image reference; build it with Reference.parse rather than by hand."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise text as `docker pull` would, or raise InvalidName naming what is wrong."""
        return _parse(text)

    def __str__(self) -> str:
        return self.name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag is not None else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """Docker's short spelling, for messages: golang:1.22 rather than docker.io/library/golang:1.22."""
        out = self.name
        if self.registry == DOCKER_HUB:
            out = self.repository
            rest = out.removeprefix(_OFFICIAL_PREFIX)
            # Docker only shortens single-level official names; library/a/b stays as written.
            if rest != out and "/" not in rest:
                out = rest
        return out + self._suffix()

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def is_localhost(self) -> bool:
        """Whether the registry is this machine, where plain HTTP is acceptable."""
        # A bare "::1" cannot come from parse (IPv6 needs brackets there) but may be built by hand.
        if self.registry in _LOCAL_HOSTS:
            return True
        if self.registry.startswith("["):
            host = self.registry[: self.registry.index("]") + 1]
        else:
            host = self.registry.partition(":")[0]
        return host.lower() in _LOCAL_HOSTS

    def with_tag(self, tag: str) -> Reference:
        """The same image name with another tag; a digest, if any, is kept, as Docker's WithTag does."""
        problem = _tag_problem(tag)
        if problem:
            raise InvalidName(f"not an image tag: {tag!r} ({problem})", hint=_TAG_HINT)
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """The same image name pinned to digest; a tag, if any, is kept, as Docker's WithDigest does."""
        problem = _digest_problem(digest)
        if problem:
            raise InvalidName(f"not a digest: {digest!r} ({problem})", hint=_DIGEST_HINT)
        return replace(self, digest=digest)


def parse_reference(text: str) -> Reference:
    """Parse and normalise an image reference; the same as Reference.parse."""
    return _parse(text)


def _fail(text: str, problem: str, hint: str | None = _FORM_HINT) -> InvalidName:
    return InvalidName(f"not an image reference: {text!r} ({problem})", hint=hint)


def _parse(text: str) -> Reference:
    if not text:
        raise _fail(text, "it is empty")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise _fail(text, f"'{scheme}://' is a URL scheme, not part of an image reference",
                    hint="drop the scheme: registry.example/team/app:tag")
    for char in text:
        if char.isspace():
            raise _fail(text, "white space is not allowed")
        if not _ALLOWED.fullmatch(char):
            raise _fail(text, f"character {char!r} is not allowed")

    name_tag, at, digest = text.partition("@")
    if "@" in digest:
        raise _fail(text, "more than one '@'")
    if at:
        if not digest:
            raise _fail(text, "the digest after '@' is empty", hint=_DIGEST_HINT)
        problem = _digest_problem(digest)
        if problem:
            raise _fail(text, problem, hint=_DIGEST_HINT)

    # Without a '/', a leading '[' can only be an IPv6 registry with no repository after it.
    if name_tag.startswith("[") and "/" not in name_tag:
        raise _fail(text, "a registry alone is not an image; add '/repository' after it")

    # A ':' after the last '/' starts the tag; colons before it belong to the registry's port.
    slash = name_tag.rfind("/")
    tag: str | None
    last, colon, tag = name_tag[slash + 1 :].partition(":")
    name = name_tag[: slash + 1] + last
    if colon:
        if not tag:
            raise _fail(text, "the tag after ':' is empty")
        if ":" in tag:
            raise _fail(text, "only one ':' may separate the name from the tag",
                        hint="a tag follows the first ':' after the last '/', e.g. golang:1.22")
        problem = _tag_problem(tag)
        if problem:
            raise _fail(text, problem, hint=_TAG_HINT)
    if not name:
        raise _fail(text, "the repository name is missing")
    if _IDENTIFIER.fullmatch(text):
        raise _fail(text, "64 hex digits are an image ID, not a repository name",
                    hint="to pin an image by content write name@sha256:<digest>")
    if name.startswith("/"):
        raise _fail(text, "the name starts with '/'")
    if name.endswith("/"):
        raise _fail(text, "the name ends with '/'")
    if "//" in name:
        raise _fail(text, "the name has an empty path component ('//')")

    registry, repository = _split_registry(name)
    if not _REGISTRY.fullmatch(registry):
        raise _fail(text, f"registry {registry!r} is not a valid host[:port]",
                    hint="a registry is a host name or IP address with an optional :port, e.g. localhost:5000")
    for component in repository.split("/"):
        if _PATH_COMPONENT.fullmatch(component):
            continue
        if component != component.lower():
            raise _fail(text, "repository names are lower case", hint=_lower_case_hint(text, name))
        raise _fail(text, _component_problem(component),
                    hint="path components are lower-case letters and digits joined by '.', '_', '__' or dashes")
    if len(repository) > MAX_REPOSITORY:
        raise _fail(text, f"the repository is {len(repository)} characters; at most {MAX_REPOSITORY} are allowed",
                    hint=None)

    if not colon:
        # Docker adds "latest" only to a bare name: a digest alone already says which image.
        tag = None if at else DEFAULT_TAG
    return Reference(registry, repository, tag, digest if at else None)


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    # Docker's rule: only a first component that looks like a host is a registry, so "user/app" stays on
    # Docker Hub. Newer Docker also takes an upper-case first component as a host; we refuse it as a
    # misspelt repository instead, as go-containerregistry does.
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == _LEGACY_DOCKER_HUB:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = _OFFICIAL_PREFIX + repository
    return registry, repository


def _component_problem(component: str) -> str:
    bad = re.search(r"[^a-z0-9._-]", component)
    if bad:
        return f"path component {component!r} may not hold {bad.group()!r}"
    if not (component[0].isalnum() and component[-1].isalnum()):
        return f"path component {component!r} must start and end with a letter or digit"
    separator = next(m.group() for m in re.finditer(r"[._-]+", component) if not _SEPARATOR.fullmatch(m.group()))
    return f"path component {component!r} joins words with {separator!r}; use '.', '_', '__' or dashes"


def _tag_problem(tag: str) -> str | None:
    if _TAG.fullmatch(tag):
        return None
    if not tag:
        return "the tag is empty"
    if len(tag) > MAX_TAG:
        return f"the tag is {len(tag)} characters; at most {MAX_TAG} are allowed"
    if tag[0] in ".-":
        return f"tag {tag!r} must start with a letter, digit or '_'"
    return f"tag {tag!r} may only hold letters, digits, '_', '.' and '-'"


def _digest_problem(digest: str) -> str | None:
    if is_digest(digest):
        return None
    algorithm, colon, hex_digits = digest.partition(":")
    if not colon:
        return f"digest {digest!r} is not <algorithm>:<hex>"
    expected = _DIGEST_LENGTHS.get(algorithm)
    if expected is None:
        return f"digest algorithm {algorithm!r} is not supported; use sha256 or sha512"
    if not re.fullmatch(r"[a-f0-9]*", hex_digits):
        return f"the {algorithm} digest must be lower-case hex"
    return f"a {algorithm} digest has {expected} hex digits, not {len(hex_digits)}"


def _lower_case_hint(text: str, name: str) -> str:
    suggestion = name.lower() + text[len(name) :]
    try:
        _parse(suggestion)
    except InvalidName:
        return "write the repository in lower case"
    return f"write the repository in lower case: {suggestion!r}"
