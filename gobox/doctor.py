"""`gobox doctor`: what this host supports, each check with how to fix what it lacks."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gobox.config import Settings
from gobox.store import Store


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True  # a failed optional check is a warning, not a failure


def run_checks(store: Store, settings: Settings, platform: str, network: bool = True) -> list[Check]:
    from gobox.sandbox import probe
    from gobox.sandbox.cgroups import Limits, from_system

    checks = []
    for name, p in (("user namespaces", probe.user_namespaces()),
                    ("overlayfs in a user namespace", probe.overlay_in_userns())):
        checks.append(Check(name, p.ok, p.detail, p.fix))
    store_ok = _store_check(store)
    filt = probe.seccomp_filter(str(store.root / "run" / ".seccomp"))
    checks.append(Check("seccomp filter", filt.ok, filt.detail, filt.fix, required=False))
    cg = from_system()
    reason = cg.unavailable(Limits(memory=64 << 20, pids=64, cpus=1.0))
    checks.append(Check(
        f"cgroups ({cg.version})", reason is None,
        "memory, pids and cpu limits can be applied" if reason is None else reason,
        None if reason is None else "limits need root, or a delegated cgroup v2 subtree "
        "(systemd-run --user --scope -p Delegate=yes gobox ...); or pass --no-limits",
        required=False))
    checks.append(store_ok)
    if network:
        from gobox.errors import NetworkError
        from gobox.toolchains.sources import configured_sources

        for source in configured_sources(settings):
            try:
                n = len(source.artifacts(platform))
                checks.append(Check(f"toolchain source {source.name}", True,
                                    f"{n} toolchains for {platform}", required=False))
            except NetworkError as e:
                checks.append(Check(f"toolchain source {source.name}", False, e.message,
                                    "check the network, or set a mirror (GOBOX_GO_DEV_URL, "
                                    "GOBOX_PYPI_URL) or GOBOX_TOOLCHAIN_SOURCES", required=False))
    return checks


def _store_check(store: Store) -> Check:
    from gobox.errors import GoboxError

    try:
        store.ensure()
        probe_file = store.tmp / f"doctor.{os.getpid()}"
        probe_file.write_bytes(b"ok")
        probe_file.unlink()
        return Check("store", True, f"{store.root} is writable")
    except (GoboxError, OSError) as e:
        return Check("store", False, f"{store.root}: {getattr(e, 'message', None) or e}",
                     "set GOBOX_HOME to a writable directory")
