"""Bazel macros for lbkeras: every test file runs under pytest through one entry point."""

load("@rules_python//python:defs.bzl", "py_test")

def lbkeras_py_test(name, src, deps = [], data = [], size = "small"):
    """A py_test that runs one pytest file (tests/pytest_main.py is the entry point)."""
    py_test(
        name = name,
        srcs = [src, "tests/pytest_main.py"],
        main = "tests/pytest_main.py",
        args = ["$(location %s)" % src],
        deps = [":test_support"] + deps,
        data = data,
        size = size,
    )
