"""gobox: pinned, isolated, reproducible Go build environments."""

__version__ = "0.1.0"
