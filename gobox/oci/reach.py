"""How gobox reaches registries (Options), and a manifest's digest by one light HEAD for a pull needing no more.

Kept apart from gobox.oci.transport so that a pull the store can answer imports
neither requests nor the transport's auth machinery. A repeated `gobox pull` of a
tag only has to learn which manifest the tag names now; when the store already
holds it, nothing else is fetched. That one HEAD goes through http.client, which
costs a fraction of importing requests. It knows no auth, no proxy and no
redirect: whenever the answer is anything but a plain 200 carrying a well-formed
Docker-Content-Digest, it says None and the caller uses the full client
(gobox.oci.transport), which does all of that. The digest it returns is only a
name to look up in the store, whose blobs were verified when stored, so a lying
registry can make gobox use only what a full GET could have made it use.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import field

from gobox.fetch import METADATA_LIMIT, USER_AGENT
from gobox.values import dataclass

CONNECT_TIMEOUT = 10.0
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PROXY_VARIABLES = {"http": ("http_proxy", "all_proxy"), "https": ("https_proxy", "all_proxy")}


@dataclass(frozen=True)
class Options:
    """How to reach registries: which may be plain HTTP, how long to wait, where credentials are."""

    insecure: tuple[str, ...] = ()
    timeout: float = 30.0
    attempts: int = 5
    max_metadata: int = METADATA_LIMIT  # bytes of a manifest, index or token answer read at most
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings) -> Options:  # noqa: ANN001 - gobox.settings.Settings
        return cls(insecure=settings.insecure_registries, timeout=settings.timeout, environ=dict(os.environ),
                   max_metadata=getattr(settings, "max_metadata_size", METADATA_LIMIT))


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    return host in ("localhost", "127.0.0.1", "[::1]") or host.startswith("127.")


def manifest_digest(host: str, scheme: str, repository: str, reference: str, accept: str,
                    environ: Mapping[str, str], timeout: float) -> tuple[str, str] | None:
    """(digest, Content-Type) of the manifest `reference` names in `repository`, by one HEAD; None when
    the answer is not a plain 200 with a sha256 Docker-Content-Digest, or anything goes wrong."""
    if _proxied(host, scheme, environ):
        return None  # requests would go through the proxy; only the full client speaks to one
    import http.client

    try:
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, timeout=CONNECT_TIMEOUT, context=_tls_context(environ))
        else:
            conn = http.client.HTTPConnection(host, timeout=CONNECT_TIMEOUT)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.request("HEAD", f"/v2/{repository}/manifests/{reference}",
                         headers={"Accept": accept, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            r = conn.getresponse()
            digest = (r.getheader("Docker-Content-Digest") or "").strip()
            media_type = (r.getheader("Content-Type") or "").split(";")[0].strip()
            if r.status != 200 or not _DIGEST.fullmatch(digest):
                return None
            return digest, media_type
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
        # Refused, reset, a TLS failure, a malformed answer (a TLS server spoken to in plain http): the full
        # client tries again and says what is wrong.
        return None


def _proxied(host: str, scheme: str, environ: Mapping[str, str]) -> bool:
    """Whether a proxy in the environment applies to host, as requests reads them (lower or upper case)."""
    def get(name: str) -> str:
        return (environ.get(name) or environ.get(name.upper()) or "").strip()

    if not any(get(v) for v in _PROXY_VARIABLES[scheme]):
        return False
    name = host.rsplit(":", 1)[0].strip("[]").lower() if not host.endswith("]") else host.strip("[]").lower()
    for entry in get("no_proxy").replace(" ", "").split(","):
        entry = entry.lower().lstrip(".")
        if entry == "*" or (entry and (entry in (name, host.lower()) or name.endswith("." + entry))):
            return False
    return True


def _tls_context(environ: Mapping[str, str]):  # noqa: ANN202 - ssl.SSLContext; ssl is imported only here
    """The CA bundle requests would use: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    import ssl

    bundle = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi

        bundle = certifi.where()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)
