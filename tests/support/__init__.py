"""Helpers the tests share: the loopback mirror and registries, image and tar writers, markers."""
