"""Self-checks for the book's coding exercises: ``checks.chNN.<name>(globals())``.

Each chapter's checks live in ``chNN.py`` beside this file and are written with
:func:`psbook.course.checks._base.exercise`. A check reads the student's answers from the
notebook's namespace, compares them with the reference psbook computes, and prints in words
what is right or wrong -- a diagnosis, never the reference value (``reveal(label)`` shows it on
request). An answer that is missing (the stub was not filled in) is reported as "not answered
yet" and the reference is put in its place, so the rest of the notebook runs.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from ._base import (Alternatives, CheckResult, Spread, choice, exercise, reveal,  # noqa: F401
                    unfinished)

__all__ = ["CheckResult", "Spread", "choice", "exercise", "reveal", "unfinished", "all_checks"]

# every chNN.py beside this file: a new chapter's check module is registered by existing
# (tests/test_course.py checks it against the chapters that call checks.chNN)
CHAPTERS = sorted(p.stem for p in Path(__file__).parent.glob("ch[0-9][0-9].py"))


def all_checks() -> dict:
    """``{label: check}`` of every chapter's checks (imports every ``chNN`` module)."""
    from ._base import REGISTRY
    for ch in CHAPTERS:
        importlib.import_module(f".{ch}", __name__)
    return dict(REGISTRY)


def __getattr__(name: str):
    if re.fullmatch(r"ch\d\d", name):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
