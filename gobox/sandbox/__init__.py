"""The namespace and cgroup core: runs a SandboxSpec; knows nothing of Go."""
