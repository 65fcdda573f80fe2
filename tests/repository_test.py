"""Repository-level promises: ruff-clean code, and a README quick start that CI runs."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(path: str) -> str:
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_is_clean():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def _quick_start_commands() -> list[str]:
    readme = _read("README.md")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.strip().splitlines() if line.strip()]


def test_readme_quick_start_is_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("lbkeras-train")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    test_command = _quick_start_commands()[1]
    assert test_command in _read(".ci/run"), "'.ci/run' must run the README's test command"


def test_requirements_have_lower_and_tested_upper_bounds():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in _read(name).splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                assert re.fullmatch(r"[\w.\-\[\]]+>=[\w.]+,<=[\w.]+", line), f"{name}: {line}"
