"""What `gobox image` makes, as values: its name, platforms and output, the image's files, config and documents.

Everything here is pure: the same project, request and inputs give the same
values, and so the same bytes once written. Where a value comes from the world
(the time of the last commit, git's remote, a base image's config) the caller
reads it and passes it in.
"""

from __future__ import annotations

import copy
import datetime
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from gobox.config import ImageConfig, Project
from gobox.errors import ConfigError, UsageError
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.names.targets import Target, parse_target
from gobox.oci.manifest import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LAYER_TAR,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDIST_GZIP,
    OCI_MANIFEST,
)
from gobox.values import dataclass

SCRATCH = "scratch"
LOCAL_REGISTRY = "localhost"  # podman's name for images that live only here
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATIC_TAGS = ("netgo", "osusergo")  # Go's own resolver and user lookups: nothing asks a libc
DEFAULT_LDFLAGS = "-s -w"
NONROOT = 65532  # distroless's "nonroot", which Kubernetes' runAsNonRoot accepts as it is numeric
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"  # the first file Go's crypto/x509 reads on Linux
ZONEINFO = "usr/share/zoneinfo"
OUTPUTS = ("oci", "oci-archive", "docker-archive", "registry")
OUTPUT_HINT = "--output oci:DIR, oci-archive:FILE, docker-archive:FILE or registry"

LABEL_CREATED = "org.opencontainers.image.created"
LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_VERSION = "org.opencontainers.image.version"

# Fields a Docker-built base carries about its own last build step; they do not describe the new image.
_DOCKER_LEGACY = ("container", "container_config", "docker_version", "id", "parent", "Size")

_DOCKER_TO_OCI_LAYER = {DOCKER_LAYER: OCI_LAYER_GZIP, DOCKER_LAYER_TAR: OCI_LAYER,
                        DOCKER_FOREIGN_LAYER: OCI_LAYER_NONDIST_GZIP}


# --- what is asked ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """Where the image goes besides the store: nowhere, an OCI layout, an archive, or its registry."""

    kind: str  # "store", or one of OUTPUTS
    path: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_output(text: str | None, cwd: Path) -> Output:
    """`oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE` or `registry` (skopeo's spelling)."""
    if not text:
        return Output("store")
    kind, sep, where = text.partition(":")
    if kind == "registry" and not sep:
        return Output("registry")
    if kind not in OUTPUTS or kind == "registry":
        raise UsageError(f"--output {text}: unknown output", hint=OUTPUT_HINT)
    if not where:
        raise UsageError(f"--output {text}: {kind} needs a path after the colon", hint=OUTPUT_HINT)
    path = Path(where).expanduser()
    return Output(kind, path if path.is_absolute() else cwd / path)


def reference(project: Project, tag: str | None, binary_name: str) -> Reference:
    """The image's name: --tag, else [image].name, else localhost/<binary>:latest; never a digest."""
    text = tag if tag is not None else project.config.image.name
    where = "--tag" if tag is not None else "gobox.toml: image.name"
    if text is None:
        return Reference(LOCAL_REGISTRY, _repository_name(binary_name), "latest")
    try:
        ref = Reference.parse(text.strip())
    except UsageError as e:
        raise UsageError(f"{where}: {e.message}", hint=e.hint) from None
    if ref.digest:
        raise UsageError(f"{where}: {text!r} names a digest; an image's digest is what the build makes",
                         hint="give a name and tag, e.g. registry.example/hello:1.0")
    return ref if ref.tag else replace(ref, tag="latest")


def _repository_name(name: str) -> str:
    # A repository component is lower case letters, digits and separators; a Go binary may be anything.
    out = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("._-")
    return out or "image"


def targets(platforms: Sequence[str], host: str, where: str) -> tuple[Target, ...]:
    """The image's platforms as cross targets, linux only, in the order given, without repeats."""
    texts = [p.strip() for item in (platforms or (host,)) for p in item.split(",") if p.strip()]
    chosen: dict[Target, None] = {}
    for text in texts:
        t = parse_target(text, origin=where)
        if t.goos != "linux":
            raise UsageError(f"{where}: {text}: images are for linux (a FROM scratch image holds no other OS)",
                             hint="use gobox cross for binaries of other systems")
        chosen[t] = None
    if not chosen:
        raise UsageError(f"{where}: no platforms given")
    return tuple(chosen)


def oci_platform(target: Target) -> Platform:
    """The OCI platform of a target: Go's names, with GOARM64's v8.x written as OCI's v8."""
    variant = target.variant
    if target.goarch == "arm64" and variant:
        variant = variant.split(".", 1)[0].split(",", 1)[0]
    return Platform(target.goos, target.goarch, variant)


def static_project(project: Project, output: Path) -> Project:
    """The project as `gobox image` builds it: static (netgo, osusergo), stripped, into `output`."""
    b, cfg = project.config.build, project.config.image
    tags = tuple(dict.fromkeys((*b.tags, *STATIC_TAGS)))
    ldflags = cfg.ldflags if cfg.ldflags is not None else f"{DEFAULT_LDFLAGS} {b.ldflags}".strip()
    build = replace(b, tags=tags, ldflags=ldflags, output=str(output))
    return replace(project, config=replace(project.config, build=build))


def cgo_problem(cgo: bool, base: str) -> ConfigError | None:
    """Why a cgo build cannot go in this image: a scratch image has no libc for it to load."""
    if cgo and base == SCRATCH:
        return ConfigError("cgo is on, and a cgo binary would not run in a FROM scratch image: it loads libc, "
                           "which scratch does not have",
                           hint='set [go].cgo = false (Go\'s netgo and osusergo need no libc), or [image].base '
                                'to an image with libc, e.g. "gcr.io/distroless/base-debian12"')
    return None


# --- users ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    name: str
    home: str

    @property
    def config(self) -> str:
        """The config's User: numbers, so no runtime needs to read /etc/passwd to know who it is."""
        return f"{self.uid}:{self.gid}"


def parse_user(value: str | int, passwd: Sequence[str]) -> User:
    """[image].user as ids: a uid, "uid:gid", "nonroot", "root", or a name in the base's /etc/passwd."""
    text = str(value).strip()
    known = {f[0]: f for f in (line.split(":") for line in passwd) if len(f) >= 7}
    by_uid = {f[2]: f for f in known.values()}
    uid_text, sep, gid_text = text.partition(":")
    if uid_text.isdigit() and (not sep or gid_text.isdigit()):
        uid = int(uid_text)
        gid = int(gid_text) if sep else uid
        f = by_uid.get(str(uid))
        if f is not None:  # the base knows this uid: its name and home, and its group unless one is given
            if not sep and f[3].isdigit():
                gid = int(f[3])
            return User(uid, gid, f[0], f[5])
        name = "root" if uid == 0 else "nonroot" if uid == NONROOT else "app"
        return User(uid, gid, name, "/root" if uid == 0 else f"/home/{name}")
    if text in known and known[text][2].isdigit() and known[text][3].isdigit():
        f = known[text]
        return User(int(f[2]), int(f[3]), f[0], f[5])
    if text == "root":
        return User(0, 0, "root", "/root")
    if text == "nonroot":
        return User(NONROOT, NONROOT, "nonroot", "/home/nonroot")
    raise ConfigError(f"gobox.toml: image.user = {text!r}: no such user in the base image",
                      hint='give a uid (user = 1000, or "1000:1000"), "nonroot" or "root"')


def account_files(user: User, passwd: Sequence[str], group: Sequence[str]) -> dict[str, bytes]:
    """/etc/passwd and /etc/group: the base's lines, then root and the user where they are missing."""
    users = [line for line in passwd if line.strip()]
    groups = [line for line in group if line.strip()]
    uids = {f[2] for f in (line.split(":") for line in users) if len(f) > 2}
    gids = {f[2] for f in (line.split(":") for line in groups) if len(f) > 2}
    if "0" not in uids:
        users.insert(0, "root:x:0:0:root:/root:/sbin/nologin")
    if str(user.uid) not in uids and user.uid != 0:
        users.append(f"{user.name}:x:{user.uid}:{user.gid}:{user.name}:{user.home}:/sbin/nologin")
    if "0" not in gids:
        groups.insert(0, "root:x:0:")
    if str(user.gid) not in gids and user.gid != 0:
        groups.append(f"{user.name}:x:{user.gid}:")
    return {"etc/passwd": ("\n".join(users) + "\n").encode(), "etc/group": ("\n".join(groups) + "\n").encode()}


# --- labels and times -------------------------------------------------------------------------


@dataclass(frozen=True)
class Git:
    """What git says about the project, each "" when it says nothing (not a repository, no remote)."""

    source: str = ""
    revision: str = ""
    version: str = ""


def rfc3339(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_url(url: str) -> str:
    """A remote's URL without credentials: https://user:token@host/x is https://host/x."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


# scp-like syntax, as git reads it: [user@]host:path, a colon before any slash (a bare "c:" is a drive).
_SCP = re.compile(r"(?:[^@/]+@)?([^/:]{2,}|\[[^\]/]+\]):(.*)", re.DOTALL)
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git", "git")
# <transport>::<address> hands the address to git-remote-<transport> (ext::, fd::): no host git reads.
_HELPER = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*::")


def public_source(url: str) -> str:
    """The public URL a clone's remote stands for, the same however it was cloned: an ssh remote of a host
    (git@github.com:o/r.git, ssh://git@host:22/o/r) is https://host/o/r, an http(s) one loses its credentials,
    and both a trailing .git and slash; "" for a local path, a file:// URL or anything else that names no host."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if sep:
        scheme = scheme.lower()
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2]
        if scheme in _SSH_SCHEMES:
            # An ssh port says nothing about the https one.
            host = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
            scheme = "https"
        elif scheme not in ("https", "http"):
            return ""
    else:
        m = None if _HELPER.match(url) else _SCP.fullmatch(url)
        if m is None:
            return ""
        scheme, host, path = "https", m.group(1), m.group(2)
    path = path.strip("/")
    path = path[:-len(".git")] if path.endswith(".git") else path
    path = path.rstrip("/")
    if not path or not _HOST.fullmatch(host):
        return ""
    return f"{scheme}://{host.lower()}/{_escape(path)}"


# A host as a URI writes it (a name or an [IPv6] literal, then any port): anything else is no public host.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# What a URI's path may hold as it is (RFC 3986 pchar and "/"); a "%" only as the start of an escape.
_NOT_PCHAR = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")


def _escape(path: str) -> str:
    return _NOT_PCHAR.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), path)


def origin_uri(url: str, vcs: str = "git") -> str:
    """An origin (a clone's remote, a vendored dependency's url) as the URI provenance names it: the public
    form of a remote with the VCS in front (git@github.com:o/r.git is git+https://github.com/o/r), a local
    repository as <vcs>+file:///abs/path; "" for what names neither (a relative path, an unknown scheme).
    The one normaliser of origins, shared with the image's source label (public_source)."""
    public = public_source(url)
    if public:
        return f"{vcs}+{public}"
    url = url.strip()
    if url.lower().startswith("file://"):
        host, slash, rest = url[len("file://"):].partition("/")
        if host.lower() not in ("", "localhost") or not slash:
            return ""
        path = "/" + rest
    elif url.startswith("/"):
        path = url
    else:
        return ""
    path = "/" + posixpath.normpath(path).lstrip("/")
    return f"{vcs}+file://{_escape(path)}"


def source_label(origin: str, configured: str | None) -> str:
    """The image's source label: the origin's public URL, else [image].source (normalised the same way when it
    can be), else none."""
    return public_source(origin) or public_source(configured or "") or (configured or "")


def labels(cfg: ImageConfig, git: Git, epoch: int) -> dict[str, str]:
    """The OCI annotations as labels, from git and SOURCE_DATE_EPOCH; [image].labels last, so they win."""
    out = {LABEL_CREATED: rfc3339(epoch)}
    for key, value in ((LABEL_SOURCE, source_label(git.source, cfg.source)), (LABEL_REVISION, git.revision),
                       (LABEL_VERSION, git.version)):
        if value:
            out[key] = value
    out.update(cfg.labels)
    return out


# --- the image config and the documents ---------------------------------------------------------


@dataclass(frozen=True)
class LayerRef:
    """A layer as a manifest and a config name it."""

    media_type: str
    digest: str
    size: int
    diff_id: str
    created_by: str = ""


def oci_layer_type(media_type: str) -> str:
    """A base layer's media type in an OCI manifest: Docker's names for the same bytes become OCI's."""
    return _DOCKER_TO_OCI_LAYER.get(media_type, media_type)


def config_doc(cfg: ImageConfig, platform: Platform, binary_path: str, user: User, image_labels: Mapping[str, str],
               epoch: int, layers: Sequence[LayerRef], base: Mapping | None = None) -> dict:
    """The image config: the base's (when there is one) with the binary, user, env and labels on top."""
    doc = {k: v for k, v in copy.deepcopy(dict(base or {})).items() if k not in _DOCKER_LEGACY}
    created = rfc3339(epoch)
    run = {k: v for k, v in (doc.get("config") or {}).items() if k not in ("Image", "Hostname", "Domainname")}
    env = _env_pairs(run.get("Env") or [DEFAULT_PATH])
    env.update(cfg.env)
    run["Env"] = [f"{k}={v}" for k, v in env.items()]
    run["Entrypoint"] = list(cfg.entrypoint) if cfg.entrypoint is not None else [binary_path]
    # A new entrypoint makes the base's Cmd (arguments to its own entrypoint) meaningless, as in Docker.
    run.pop("Cmd", None)
    if cfg.cmd:
        run["Cmd"] = list(cfg.cmd)
    run["WorkingDir"] = cfg.workdir
    run["User"] = user.config
    ports = dict(run.get("ExposedPorts") or {})
    ports.update({(p if "/" in p else f"{p}/tcp"): {} for p in cfg.ports})
    if ports:
        run["ExposedPorts"] = dict(sorted(ports.items()))
    merged = dict(run.get("Labels") or {})
    merged.update(image_labels)
    run["Labels"] = merged
    doc["config"] = run
    doc["created"] = created
    doc["architecture"], doc["os"] = platform.architecture, platform.os
    doc.pop("variant", None)
    if platform.variant:
        doc["variant"] = platform.variant
    rootfs = doc.get("rootfs") or {"type": "layers", "diff_ids": []}
    ours = [layer for layer in layers if layer.created_by]
    doc["rootfs"] = {"type": "layers", "diff_ids": [*rootfs.get("diff_ids", []), *(x.diff_id for x in ours)]}
    history = list(doc.get("history") or [])
    history += [{"created": created, "created_by": x.created_by} for x in ours]
    doc["history"] = history
    return doc


def _env_pairs(env: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def manifest_doc(config_digest: str, config_size: int, layers: Sequence[LayerRef]) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in layers],
    }


def platform_doc(platform: Platform) -> dict:
    doc = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        doc["variant"] = platform.variant
    return doc


def index_doc(manifests: Sequence[tuple[str, int, Platform]]) -> dict:
    """An OCI index of (digest, size, platform) of each platform's manifest."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": s, "platform": platform_doc(p)}
                      for d, s, p in manifests],
    }
