"""What every Go toolchain gobox builds with offers: one installed from go.dev or PyPI, or a Go image's layers."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class GoToolchain(Protocol):
    """A toolchain as a build uses it: the lower layers of the sandbox's root, and how to name it."""

    @property
    def label(self) -> str:
        """The Go version ("1.22.10"), or for an image toolchain "image REF DIGEST"."""
        ...

    @property
    def lower_layers(self) -> tuple[str, ...]:
        """Its directories as overlayfs lower layers, top first."""
        ...

    @property
    def goroot(self) -> Path | None:
        """GOROOT on the host, for gobox's own reads (ports, zoneinfo); None for an image, whose Go is only
        seen inside the sandbox."""
        ...
