"""Names at the bottom: Go versions, image references, cross targets and platforms, parsed purely.

Everything here imports only the standard library and gobox.errors, so config, schema and every
layer above may use it (after go-containerregistry's pkg/name). A name that does not parse raises
gobox.errors.InvalidName.
"""
