"""Cross-compilation: GOOS/GOARCH targets, output naming and the parallel matrix."""
