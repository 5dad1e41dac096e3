"""The local image store: image records, unpacked layers, pull and push between it and a registry, commit, gc."""
