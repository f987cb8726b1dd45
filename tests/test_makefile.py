"""Makefile inputs (issue 32 item 6): every variable that reaches a shell line or make's own
evaluation is checked on its raw text before anything uses it. A crafted value stops make with
one clear line naming the variable, and nothing in it runs -- neither a `$(shell ...)` (make
evaluates those when it pastes or exports a variable) nor a `; command` (the shell)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

# (variable, target that uses it)
USES = [("VERSION", "release"), ("JOBS", "book"), ("PY", "vendor"), ("PSBOOK_DATA", "check-data"),
        ("PSBOOK_CACHE", "unit"), ("VENV", "setup"), ("BIN", "course"), ("TIMES_ARGS", "times"),
        ("OMP_NUM_THREADS", "unit"), ("MKL_NUM_THREADS", "unit"), ("PSBOOK_PROGRESS", "unit")]
CRAFTED = ["$(shell touch {m})0.2.0", "2; touch {m};", "x`touch {m}`", "$$(touch {m})",
           "x && touch {m}", "x|touch {m}"]


def _make(tmp_path: Path, *args, env=None, dry=False):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", "requirements.txt"):     # prerequisites of setup
        (tmp_path / name).touch()
    e = {k: v for k, v in os.environ.items() if k not in {u for u, _ in USES}}
    e.update(env or {})
    return subprocess.run(["make", *(["-n"] if dry else []), *args], cwd=tmp_path, env=e,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("var,target", USES)
@pytest.mark.parametrize("value", CRAFTED)
@pytest.mark.parametrize("how", ["command line", "environment", "dry run"])
def test_a_crafted_value_runs_nothing_and_names_the_variable(tmp_path, var, target, value, how):
    marker = tmp_path / "pwned"
    v = value.format(m=marker)
    if how == "environment":
        out = _make(tmp_path, target, env={var: v})
    else:
        out = _make(tmp_path, target, f"{var}={v}", dry=how == "dry run")
    assert not marker.exists()
    assert out.returncode != 0
    assert f"make: {var} must be" in out.stderr and "Nothing was run" in out.stderr, out.stderr


def test_any_other_command_line_variable_with_a_dollar_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    out = _make(tmp_path, "clean", f"ANYTHING=$(shell touch {marker})")
    assert not marker.exists()
    assert out.returncode != 0 and "ANYTHING holds a '$'" in out.stderr


@pytest.mark.parametrize("args", [["release-version", "VERSION=0.2.0"],
                                  ["release-version", "VERSION=0.2.0rc1"],
                                  ["book", "JOBS=2", "PSBOOK_DATA=/data/x-1.2",
                                   "PSBOOK_CACHE=~/.cache/psbook", "PY=python3.11"],
                                  ["times", "TIMES_ARGS=--presets cpu --chapters 10 11 --jobs 2"],
                                  ["unit", "OMP_NUM_THREADS=2", "PSBOOK_PROGRESS=on"]])
def test_ordinary_values_pass(tmp_path, args):
    out = _make(tmp_path, *args, dry=True)
    assert out.returncode == 0, out.stderr
    assert "must be" not in out.stderr


def test_jobs_zero_is_refused(tmp_path):
    out = _make(tmp_path, "book", "JOBS=0", dry=True)
    assert out.returncode != 0 and "JOBS must be at least 1" in out.stderr
