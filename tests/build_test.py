"""BUILD lists every Python file of the repository, and every test has a target."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("lbkeras", "tests", "examples", "benchmarks", "tools")


def _python_files() -> set[str]:
    files = set()
    for folder in FOLDERS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, folder)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            files.update(
                os.path.relpath(os.path.join(dirpath, name), ROOT)
                for name in filenames
                if name.endswith(".py")
            )
    return files


def _build_text() -> str:
    with open(os.path.join(ROOT, "BUILD")) as f:
        return f.read()


def test_every_python_file_is_in_build():
    listed = set(re.findall(r'"([\w/.-]+\.py)"', _build_text()))
    missing = sorted(_python_files() - listed)
    assert not missing, f"add these files to BUILD: {missing}"
    stale = sorted(path for path in listed if not os.path.exists(os.path.join(ROOT, path)))
    assert not stale, f"BUILD lists files that do not exist: {stale}"


def test_every_test_file_has_a_test_target():
    test_srcs = set(re.findall(r'src = "([\w/.-]+_test\.py)"', _build_text()))
    test_files = {path for path in _python_files() if path.endswith("_test.py")}
    assert test_files == test_srcs, sorted(test_files ^ test_srcs)


def test_target_names_are_unique():
    names = re.findall(r'name = "([\w-]+)"', _build_text())
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_build_files_are_tracked_by_git():
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        return  # an sdist or a Bazel sandbox: nothing to compare with
    tracked = subprocess.run(
        ["git", "ls-files", "BUILD", "MODULE.bazel", "build_defs.bzl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(tracked) == ["BUILD", "MODULE.bazel", "build_defs.bzl"]


def test_every_package_is_installed_by_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        block = re.search(r"^packages = \[(.*?)\]", f.read(), re.S | re.M).group(1)
    listed = set(re.findall(r'"([\w.]+)"', block))
    packages = {
        os.path.relpath(dirpath, ROOT).replace(os.sep, ".")
        for dirpath, _, filenames in os.walk(os.path.join(ROOT, "lbkeras"))
        if "__init__.py" in filenames
    }
    assert packages | {"lbkeras_tools"} == listed, sorted(packages ^ (listed - {"lbkeras_tools"}))
