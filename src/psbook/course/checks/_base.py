"""The machinery shared by every exercise check (see ``checks/__init__.py``).

A check is a function that computes the *reference* answers from what the notebook already
holds, decorated with :func:`exercise`::

    @exercise("ex-05-anchors", answers={"rorder_anchors": "R_order of the anchors"},
              rtol=1e-6, atol=1e-6)
    def anchors(ns):
        a = ns["task"].groups["anchors"]
        return {"rorder_anchors": r_order(ns["res"].W_E, a)}

    # in the notebook's check cell:
    checks.ch05.anchors(globals())

The decorated function takes the namespace, compares each answer name with its reference
(numbers and arrays with ``np.allclose(rtol, atol)``, everything else with ``==``, or with a
custom ``compare(given, reference) -> str | None`` returning a problem in words), prints one
line per answer and returns a :class:`CheckResult` (truthy when every answer is right).

* A missing answer -- the name undefined, ``None`` or ``...`` -- prints "not answered yet" and
  puts the reference in the namespace under that name, so later cells run.
* ``PSBOOK_CHECK_STRICT=1`` (the course tests set it for the solution notebooks) makes a
  wrong or missing answer raise ``AssertionError`` with the same words.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["CheckResult", "exercise", "strict", "need"]


@dataclass
class CheckResult:
    label: str
    right: list = field(default_factory=list)      # answer names that match the reference
    wrong: dict = field(default_factory=dict)      # name -> what is wrong, in words
    missing: list = field(default_factory=list)    # names not answered (reference filled in)

    @property
    def passed(self) -> bool:
        return not self.wrong and not self.missing

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's result: the check has already printed its verdict in words
        (the repr would repeat it as ``CheckResult(...)`` under every check cell)."""

    def __repr__(self) -> str:
        state = "passed" if self.passed else ("not answered" if not self.wrong else "wrong")
        return f"CheckResult({self.label}: {state})"


def need(ns: dict, *names: str) -> None:
    """Raise ``NameError`` naming what a check needs from the chapter and the notebook lacks
    (the chapter's earlier cells were not run)."""
    missing = [n for n in names if n not in ns]
    if missing:
        raise NameError(f"run the chapter's cells first: {', '.join(missing)} not defined")


def strict() -> bool:
    """True when ``PSBOOK_CHECK_STRICT`` asks for failing checks to raise."""
    return os.environ.get("PSBOOK_CHECK_STRICT", "").strip().lower() in ("1", "true", "yes")


def _is_missing(value) -> bool:
    return value is None or value is Ellipsis


def _describe(value) -> str:
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is not None and arr.dtype != object:
        return f"an array of shape {arr.shape}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(value):
    """A torch tensor (on any device, with or without grad) as a NumPy array; else as is."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


def _default_compare(given, ref, rtol: float, atol: float) -> str | None:
    """A problem in words, or None when ``given`` matches ``ref``."""
    given, ref = _plain(given), _plain(ref)
    numeric = isinstance(ref, (int, float, np.integer, np.floating, np.ndarray, list, tuple)) \
        and not isinstance(ref, bool)
    if numeric:
        try:
            g = np.asarray(given, dtype=float)
        except (TypeError, ValueError):
            return f"expected a number or array like the reference, got {_describe(given)}"
        r = np.asarray(ref, dtype=float)
        if g.shape != r.shape:
            return f"expected shape {r.shape}, got {g.shape}"
        if not np.all(np.isfinite(g)):
            n_nan, n_inf = int(np.isnan(g).sum()), int(np.isinf(g).sum())
            return (f"contains {n_nan} NaN and {n_inf} inf value(s) out of {g.size} "
                    f"(a division by zero or a log of 0?)")
        if not np.allclose(g, r, rtol=rtol, atol=atol):
            if r.ndim == 0:
                return f"got {float(g):.4g}, expected {float(r):.4g}"
            worst = float(np.max(np.abs(g - r)))
            return f"differs from the reference by up to {worst:.3g} (tolerance {atol:g} + {rtol:g}·|ref|)"
        return None
    return None if given == ref else f"got {_describe(given)}, expected {_describe(ref)}"


def exercise(label: str, answers: dict, rtol: float = 1e-5, atol: float = 1e-8,
             compare: dict | None = None, hint: str | None = None) -> Callable:
    """Decorate a reference function into a check for exercise ``label``.

    ``answers`` maps each answer name the student defines to a short description (used in
    messages). ``compare`` optionally maps a name to ``f(given, reference) -> str | None``.
    ``hint`` is printed once when anything is wrong.
    """
    if not isinstance(answers, dict) or not answers:
        raise TypeError(f"answers must be a non-empty dict name -> description; got {answers!r}")
    compare = dict(compare or {})

    def wrap(reference: Callable[[dict], dict]) -> Callable[[dict], CheckResult]:
        @functools.wraps(reference)
        def check(ns: dict) -> CheckResult:
            if not isinstance(ns, dict):
                raise TypeError(f"pass the notebook's namespace, globals(); got {type(ns).__name__}")
            refs = reference(ns)
            if not isinstance(refs, dict) or set(answers) - set(refs):
                got = sorted(refs) if isinstance(refs, dict) else type(refs).__name__
                raise KeyError(f"{label}: the reference function must return a dict with "
                               f"every answer {sorted(answers)}; it returned {got}")
            result = CheckResult(label)
            lines = []
            for name, what in answers.items():
                ref = refs[name]
                given = ns.get(name)
                if _is_missing(given):
                    ns[name] = ref
                    result.missing.append(name)
                    lines.append(f"  … {name} ({what}): not answered yet — the reference value "
                                 f"is used from here on so the rest of the notebook runs.")
                    continue
                cmp = compare.get(name)
                problem = cmp(given, ref) if cmp else _default_compare(given, ref, rtol, atol)
                if problem:
                    result.wrong[name] = problem
                    lines.append(f"  ✗ {name} ({what}): {problem}.")
                else:
                    result.right.append(name)
                    lines.append(f"  ✓ {name} ({what}) is right.")
            head = (f"{label}: all answers right." if result.passed else
                    f"{label}: {len(result.right)} of {len(answers)} answers right.")
            if result.wrong and hint:
                lines.append(f"  Hint: {hint}")
            message = "\n".join([head] + lines)
            print(message)
            if strict() and not result.passed:
                raise AssertionError(message)
            return result

        check.label = label
        check.answers = dict(answers)
        return check

    return wrap
