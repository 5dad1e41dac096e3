"""`gobox image`: static Go binaries packed into FROM scratch (or base) OCI images, and `gobox image run`."""
