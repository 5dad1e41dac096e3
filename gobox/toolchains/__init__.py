"""Go toolchains: sources, the installed set, and resolution for a project."""
