"""Every ``>>>`` example in lbkeras's docstrings runs, and shows what it really prints.

One test per module of the package. The examples see the module's own names plus
``keras``, ``np`` and ``lbkeras``; an example that cannot run here (a TPU, a cluster,
ImageNet) is written without prompts (``Example (not run)::``), so it is not collected.
"""

import doctest
import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest

import lbkeras

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Modules whose examples fail, in files another change (the trainer rewrite) owns; each
# entry says why. They are expected to fail, strictly: a module that passes must leave.
PENDING: dict[str, str] = {}


def _module_names() -> list[str]:
    packages = pkgutil.walk_packages(lbkeras.__path__, prefix="lbkeras.")
    return ["lbkeras", *sorted(info.name for info in packages)]


def _params() -> list:
    return [
        pytest.param(
            name,
            marks=pytest.mark.xfail(reason=PENDING[name], strict=True) if name in PENDING else (),
        )
        for name in _module_names()
    ]


def _collected_lines(module) -> set[int]:
    """The line numbers (1-based) of the examples the finder collects in ``module``'s file."""
    source = inspect.getsource(module)
    lines = set()
    for test in doctest.DocTestFinder().find(module):
        start = test.lineno
        if start is None:  # a property: find its docstring in the file
            start = source[: source.index(test.docstring)].count("\n")
        lines.update(start + example.lineno + 1 for example in test.examples)
    return lines


@pytest.mark.parametrize("name", _module_names())
def test_every_prompt_is_collected(name):
    """A ``>>>`` the finder misses (a comment-only example, a nested function) never runs."""
    module = importlib.import_module(name)
    prompts = [
        number
        for number, line in enumerate(inspect.getsource(module).splitlines(), 1)
        if line.lstrip().startswith(">>>")
    ]
    missed = sorted(set(prompts) - _collected_lines(module))
    assert not missed, f"{module.__file__}: lines {missed} are not collected as doctests"


def test_pending_modules_exist():
    assert set(PENDING) <= set(_module_names()), sorted(set(PENDING) - set(_module_names()))


@pytest.mark.parametrize("name", _params())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    extraglobs = {"keras": keras, "np": np, "lbkeras": lbkeras}
    tests = doctest.DocTestFinder().find(module, name, extraglobs=extraglobs)
    runner = doctest.DocTestRunner(verbose=False, optionflags=OPTIONS)
    output = []
    failed = sum(
        runner.run(test, out=output.append).failed
        for test in sorted(tests, key=lambda test: test.name)
    )
    assert not failed, "".join(output)
