"""Entry point for `python -m gobox`."""

from gobox.cli import main

main()
