"""Self-checks for the book's coding exercises: ``checks.chNN.<name>(globals())``.

Each chapter's checks live in ``chNN.py`` beside this file and are written with
:func:`psbook.course.checks._base.exercise`. A check reads the student's answers from the
notebook's namespace, compares them with the reference psbook computes, and prints in words
what is right or wrong -- a diagnosis, never the reference value (``hint(label)`` gives graded
hints and ``reveal(label)`` the reference, on request). An answer that is missing (the stub was
not filled in) is reported as "not answered yet"; nothing is ever put into the notebook's
namespace (no later cell of a chapter reads an exercise's answers).
"""

from __future__ import annotations

import importlib
import re

from ._base import CHAPTERS, all_checks  # noqa: F401
from ._base import (Alternatives, CheckResult, Spread, choice, exercise, hint,  # noqa: F401
                    reveal, unfinished)

__all__ = ["CheckResult", "Spread", "choice", "exercise", "hint", "reveal", "unfinished",
           "all_checks"]

def __getattr__(name: str):
    if re.fullmatch(r"ch\d\d", name):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
