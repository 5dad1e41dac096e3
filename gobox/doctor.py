"""`gobox doctor`: what this host supports, each check with how to fix what it lacks."""

from __future__ import annotations

import os
import shutil

from gobox.settings import Settings
from gobox.store import Store
from gobox.values import dataclass


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
    filt = probe.seccomp_filter(str(store.run / ".seccomp"))
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
    checks += tool_checks(os.environ.get("PATH", os.defpath))
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


@dataclass(frozen=True)
class Tool:
    """A host program that one feature of gobox needs, and the Debian package that brings it."""

    name: str
    command: str
    package: str
    enables: str
    path: str | None = None  # where gobox itself looks for it; None: the caller's PATH


# In the order a user meets them. gcc is looked up where a cgo build with base = "host" finds it.
TOOLS = (
    Tool("git", "git", "git", "vendoring git remotes ([vendor.deps]), gobox ci (it reads the commit), image labels"),
    Tool("hg", "hg", "mercurial", "vendoring hg remotes ([vendor.deps] with hg = ...)"),
    Tool("gcc", "gcc", "gcc", 'cgo builds for the host with its C compiler ([go].base = "host")'),
    Tool("qemu-user", "qemu-aarch64", "qemu-user",
         "running binaries built for another architecture (a cross-built linux/arm64 binary, via binfmt_misc)"),
    Tool("pasta", "pasta", "passt", "--network private and -p/--publish (a network namespace of the sandbox's own)"),
)


def tool_checks(path: str) -> list[Check]:
    """Each optional host tool: found, or a warning naming what it enables and how to install it."""
    from gobox.cross.cgo import HOST_PATH, INSTALL_ZIG, find_zig
    from gobox.sandbox import seccomp

    checks = []
    for tool in TOOLS:
        found = shutil.which(tool.command, path=HOST_PATH if tool.name == "gcc" else path)
        checks.append(_optional(tool.name, found, tool.enables, f"apt-get install {tool.package}"))
    zig = find_zig()
    checks.append(_optional("zig", str(zig / "zig") if zig else None, "cgo cross-compiling ([cross.cc] \"zig\")",
                            INSTALL_ZIG))
    version = seccomp.libseccomp_version()
    checks.append(_optional("libseccomp", version and f"{seccomp.LIBSECCOMP} {version}",
                            "the sandbox's seccomp filter ([sandbox].seccomp)", "apt-get install libseccomp2"))
    return checks


def _optional(name: str, found: str | None, enables: str, fix: str) -> Check:
    if found:
        return Check(name, True, f"{found}: {enables}", required=False)
    return Check(name, False, f"not found; needed for {enables}", fix, required=False)
