"""What each gobox command does, apart from its command line: called by gobox.cli with values, returning values.

One module per command family (run, build, cross, vendor, image, ci, toolchain, images); gobox.cli parses
arguments, calls one of their functions and renders what it returns.
"""
