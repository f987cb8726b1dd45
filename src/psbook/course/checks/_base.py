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

The decorated function takes the namespace, compares each answer name with its reference and
prints one line per answer: right, wrong with a *diagnosis* (wrong shape, not normalised, sign
flipped, off by a constant factor, transposed, permuted, wrong members, too large / too small),
or not answered yet. **A failing check never prints the reference value**: the student asks
for it with :func:`reveal` (``checks.reveal("ex-05-anchors")``).

* Numbers and arrays are compared with tolerances (``rtol``, ``atol``), never exactly;
  anything else with ``==`` or a custom ``compare(given, reference) -> str | None`` that returns
  a problem in words (and must not quote the reference).
* A reference may be a :class:`Spread` -- the values a random control takes over many seeds --
  so that a control drawn with *any* seed passes.
* :func:`choice` makes a multiple-choice check; each wrong option has its own diagnosis.
* A missing answer -- the name undefined, ``None`` or ``...``, the exercise's stub still
  unfinished, or (in a student notebook, whose exercise region runs inside
  :class:`unfinished`) a value the region's last run did not compute -- prints "not answered
  yet". A check never writes into the namespace: a reference never becomes an answer.
* Hints are graded and shown on request only (:func:`hint`), a nudge first.
* ``PSBOOK_CHECK_STRICT=1`` (the course tests set it for the solution notebooks) makes a
  wrong or missing answer raise ``AssertionError`` with the same words.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["CheckResult", "Spread", "Alternatives", "exercise", "choice", "strict", "need", "reveal",
           "hint", "unfinished", "REGISTRY"]

# label -> check function (every check defined with ``exercise``); the tests walk it
REGISTRY: dict = {}
# label -> the reference answers of the check's last run (for ``reveal``)
_LAST: dict = {}
# labels whose stub raised its NotImplementedError in the current kernel
_UNFINISHED: set = set()
# label -> {answer name: the object} the exercise's ``unfinished`` region defined in its last
# completed run (student notebooks only; the book and the solution notebooks have no region)
_RAN: dict = {}
# label -> how many hint levels were shown (``hint``)
_HINTS_SHOWN: dict = {}


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


@dataclass(frozen=True)
class Spread:
    """The values a random control takes over many seeds: an answer passes when it is one of
    them (within the tolerance) or, with ``continuous=True``, inside their range widened by
    ``margin`` of the range on each side."""

    values: tuple
    continuous: bool = False
    margin: float = 0.1

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float).ravel()
        if v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"Spread needs finite values; got {self.values!r}")

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float).ravel()

    def contains(self, x: float, rtol: float, atol: float) -> bool:
        v = self.array
        if self.continuous:
            lo, hi = v.min(), v.max()
            pad = self.margin * (hi - lo) + atol + rtol * max(abs(lo), abs(hi))
            return lo - pad <= x <= hi + pad
        return bool(np.any(np.abs(v - x) <= atol + rtol * np.abs(v)))

    def __str__(self) -> str:
        v = self.array
        return (f"any value the control takes over {v.size} seeds: from {v.min():.4g} to "
                f"{v.max():.4g} (median {np.median(v):.4g})")


@dataclass(frozen=True)
class Alternatives:
    """Several correct answers (e.g. two valid normalisations): an answer passes when it
    matches any of them; a missing answer is filled with the first."""

    values: tuple

    def __str__(self) -> str:
        return " or ".join(_show(v) for v in self.values)


def need(ns: dict, *names: str) -> None:
    """Raise ``NameError`` naming what a check needs from the chapter and the notebook lacks
    (the chapter's earlier cells were not run)."""
    missing = [n for n in names if n not in ns]
    if missing:
        raise NameError(f"run the chapter's cells first: {', '.join(missing)} not defined")


# Every chapter's check module, found by its file name (chNN.py): a new chapter's module is
# registered by existing (tests/test_registration.py checks it against the chapters).
CHAPTERS = sorted(p.stem for p in Path(__file__).parent.glob("ch[0-9][0-9].py"))


def all_checks() -> dict:
    """``{label: check}`` of every chapter's checks (imports every ``chNN`` module)."""
    for ch in CHAPTERS:
        importlib.import_module(f"{__package__}.{ch}")
    return dict(REGISTRY)


def strict() -> bool:
    """True when ``PSBOOK_CHECK_STRICT`` asks for failing checks to raise."""
    return os.environ.get("PSBOOK_CHECK_STRICT", "").strip().lower() in ("1", "true", "yes")


def _answer_names(label: str) -> list:
    """The answer names of exercise ``label`` (imports every chapter's checks if needed)."""
    if label not in REGISTRY:
        all_checks()
    chk = REGISTRY.get(label)
    return list(chk.answers) if chk is not None else []


class unfinished:
    """Wrap an exercise's student region (the course build puts it there)::

        with unfinished("ex-02-count"):
            ...   # the student's code

    * On entry the exercise's answer names are deleted from the notebook's namespace, so a
      check never judges the value of an earlier run (or of another cell).
    * If the region raises, its answers are deleted again (a cell that fails leaves no answer
      behind). The stub's own ``NotImplementedError("exercise <label>: ...")`` is reported in
      one line and swallowed, so Run-all reaches the end; any other error is the student's own
      and propagates.
    * If it completes, the answers it defined are recorded: the check then accepts only these
      very objects ("computed by your code in this run").

    Nothing is ever put into the namespace: the check says "not answered yet" for what is
    missing, and the chapter's later cells never read an exercise's answers.
    """

    def __init__(self, label: str):
        if not isinstance(label, str):
            raise TypeError(f"label must be an exercise label (str); got {type(label).__name__}")
        self.label = label
        self.ns = None

    def __enter__(self):
        import sys
        self.ns = sys._getframe(1).f_globals
        _UNFINISHED.discard(self.label)
        _RAN.pop(self.label, None)
        for name in _answer_names(self.label):
            self.ns.pop(name, None)
        return self

    def __exit__(self, kind, err, tb):
        names = _answer_names(self.label)
        if kind is None:
            _RAN[self.label] = {n: self.ns[n] for n in names if n in self.ns}
            return False
        for name in names:
            self.ns.pop(name, None)
        if issubclass(kind, NotImplementedError) and str(err).startswith(
                f"exercise {self.label}"):
            _UNFINISHED.add(self.label)
            print(f"exercise {self.label}: not done yet (the notebook carries on; its check "
                  f"will say what is missing)")
            return True
        return False


_NOTHING = object()


def _label_of(name: str) -> str:
    if name not in REGISTRY:
        all_checks()
    label = name if name in REGISTRY else next(
        (lab for lab, chk in REGISTRY.items() if name in chk.answers), None)
    if label is None:
        raise KeyError(f"name must be an exercise label or an answer name of a check; got "
                       f"{name!r} (known labels: {', '.join(sorted(REGISTRY)) or 'none yet'})")
    return label


def hint(name: str) -> str:
    """Print (and return) the next hint of an exercise: the first call gives a nudge, each
    further call a more specific hint, never the solution (``reveal`` shows that). ``name`` is
    the exercise's label or one of its answer names."""
    label = _label_of(name)
    levels = REGISTRY[label].hints
    if not levels:
        text = (f"{label}: no hint for this exercise; reread the exercise's statement, or "
                f"checks.reveal({label!r}) for the reference")
    else:
        k = _HINTS_SHOWN.get(label, 0)
        _HINTS_SHOWN[label] = min(k + 1, len(levels))
        k = min(k, len(levels) - 1)
        more = (" (call again for a more specific hint)" if k + 1 < len(levels) else
                f" (the last hint; checks.reveal({label!r}) shows the reference)")
        text = f"{label}, hint {k + 1} of {len(levels)}: {levels[k]}{more}"
    print(text)
    return text


def reveal(name: str, ns: dict | None = None):
    """Print and return the reference answer(s) of an exercise: ``name`` is its label
    (``"ex-05-anchors"``) or one of its answer names (``"rcos_anchors"``). The reference is the
    one the exercise's check computed when it last ran; pass the notebook's ``globals()`` as
    ``ns`` to compute it now."""
    label = _label_of(name)
    if ns is not None:
        _LAST[label] = REGISTRY[label].reference(ns)
    if label not in _LAST:
        raise LookupError(f"run the check cell of {label} first (or pass globals() as ns): "
                          f"its reference is computed from the notebook")
    refs = {k: v for k, v in _LAST[label].items() if k in REGISTRY[label].answers}
    if name != label:
        refs = {name: refs[name]}
    for k, v in refs.items():
        print(f"{label}: reference {k} = {_show(v)}")
    return refs[name] if name != label else refs


def _show(value) -> str:
    if isinstance(value, (Spread, Alternatives)):
        return str(value)
    if callable(value):                       # a function exercise: the reference's code
        import inspect
        try:
            return "\n" + inspect.getsource(value)
        except (OSError, TypeError):
            return getattr(value, "__name__", repr(value))
    value = plain(value)
    if isinstance(value, np.ndarray):        # whole, up to 30 x 30 (no "..." cut)
        with np.printoptions(precision=4, suppress=True, threshold=max(1000, value.size)
                             if value.size <= 900 else 200, linewidth=120):
            return np.array2string(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value)


def _is_missing(value) -> bool:
    return value is None or value is Ellipsis


def _kind(value) -> str:
    if isinstance(value, (list, tuple)) and not all(np.ndim(v) == 0 for v in value):
        return f"a {type(value).__name__} of {len(value)} things"
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object)
        return f"an array of shape {arr.shape}" if arr.ndim else type(value).__name__
    return type(value).__name__


def plain(value):
    """A torch tensor (any device, with or without grad) or a SciPy sparse matrix as a NumPy
    array; else as is."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        return value.toarray()
    return value


def diagnose(g: np.ndarray, r: np.ndarray, rtol: float, atol: float) -> str:
    """What is wrong with array ``g`` against the reference ``r`` (same shape, not close), in
    words that do not give ``r`` away."""
    close = lambda a, b: np.allclose(a, b, rtol=rtol, atol=atol)  # noqa: E731
    if close(-g, r):
        return "the sign is flipped"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and close(g.T, r):
        return "transposed: rows and columns are swapped"
    if g.size > 1 and close(np.sort(g, axis=None), np.sort(r, axis=None)):
        return "the right values in the wrong places (rows, columns or tokens permuted?)"
    rn, gn = float(np.vdot(r, r)), float(np.vdot(g, g))
    if g.size > 1 and rn > 0 and gn > 0:
        c = float(np.vdot(g, r)) / rn
        if c != 0 and close(g / c, r):
            return ("off by a constant factor (everything is scaled by the same number: a "
                    "normalisation, a mean instead of a sum, a missing 1/N?)")
    if g.ndim >= 1 and r.ndim >= 1 and g.size > 1:
        rows_r = r.sum(axis=-1)
        if np.allclose(rows_r, 1, atol=1e-6) and not np.allclose(g.sum(axis=-1), 1, atol=1e-6):
            if g.ndim == 2 and np.allclose(g.sum(axis=0), 1, atol=1e-6):
                return "columns sum to 1 instead of rows (normalised along the wrong axis)"
            return "rows do not sum to 1 (not normalised, or normalised by the wrong count)"
    if g.ndim == 0:
        return "too large" if float(g) > float(r) else "too small"
    bad = ~np.isclose(g, r, rtol=rtol, atol=atol)
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {g.size} entries are off beyond the tolerance (the first at "
            f"index {idx if len(idx) > 1 else idx[0]})")


def default_compare(given, ref, rtol: float, atol: float) -> str | None:
    """A problem in words, or None when ``given`` matches ``ref``. Never quotes ``ref``."""
    given, ref = plain(given), plain(ref)
    if isinstance(ref, Alternatives):
        problems = [default_compare(given, r, rtol, atol) for r in ref.values]
        return None if None in problems else problems[0]
    if isinstance(ref, Spread):
        try:
            g = float(np.asarray(given, dtype=float))
        except (TypeError, ValueError):
            return f"expected one number, got {_kind(given)}"
        if not np.isfinite(g):
            return "not a finite number (a division by zero or a log of 0?)"
        return None if ref.contains(g, rtol, atol) else (
            "not a value this control takes with any seed (shuffled the wrong tokens, or "
            "compared against the wrong signature?)")
    if isinstance(ref, (bool, np.bool_)):
        if not isinstance(given, (bool, np.bool_)):
            return f"expected True or False, got {_kind(given)}"
        return None if bool(given) == bool(ref) else "not right: look at the numbers again"
    numeric = isinstance(ref, (int, float, np.integer, np.floating, np.ndarray, list, tuple))
    if numeric:
        try:
            g = np.asarray(given, dtype=float)
        except (TypeError, ValueError):
            return f"expected a number or an array of numbers, got {_kind(given)}"
        r = np.asarray(ref, dtype=float)
        if g.shape != r.shape:
            if g.ndim == 2 and g.T.shape == r.shape:
                return (f"expected shape {r.shape}, got {g.shape}: transposed (one row per "
                        f"token?)")
            return f"expected shape {r.shape}, got {g.shape}"
        if not np.all(np.isfinite(g)):
            n_nan, n_inf = int(np.isnan(g).sum()), int(np.isinf(g).sum())
            return (f"contains {n_nan} NaN and {n_inf} inf value(s) out of {g.size} "
                    f"(a division by zero or a log of 0?)")
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            return None if float(g) == float(r) else ("too large" if g > r else "too small")
        return None if np.allclose(g, r, rtol=rtol, atol=atol) else diagnose(g, r, rtol, atol)
    return None if given == ref else f"not right ({_kind(given)})"


def exercise(label: str, answers: dict, rtol: float = 1e-5, atol: float = 1e-8,
             compare: dict | None = None, hint: str | None = None) -> Callable:
    """Decorate a reference function into a check for exercise ``label``.

    ``answers`` maps each answer name the student defines to a short description (used in
    messages). ``compare`` optionally maps a name to ``f(given, reference) -> str | None``
    (words that do not quote the reference). ``hint`` is one string or a sequence of graded
    hints, a nudge first and never the solution itself; they are shown only on request,
    one level per call of :func:`hint` (a wrong answer names the call, it does not print them).
    """
    if not isinstance(answers, dict) or not answers:
        raise TypeError(f"answers must be a non-empty dict name -> description; got {answers!r}")
    compare = dict(compare or {})
    hints = (hint,) if isinstance(hint, str) else tuple(hint or ())
    if not all(isinstance(h, str) and h.strip() for h in hints):
        raise TypeError(f"hint must be a string or a sequence of non-empty strings; got {hint!r}")

    def wrap(reference: Callable[[dict], dict]) -> Callable[[dict], CheckResult]:
        def refs_of(ns: dict) -> dict:
            refs = reference(ns)
            if not isinstance(refs, dict) or set(answers) - set(refs):
                got = sorted(refs) if isinstance(refs, dict) else type(refs).__name__
                raise KeyError(f"{label}: the reference function must return a dict with "
                               f"every answer {sorted(answers)}; it returned {got}")
            return refs

        def judge(ns: dict, refs: dict) -> CheckResult:
            """Compare the answers in ``ns`` with ``refs`` (print, fill missing, return)."""
            _LAST[label] = refs
            result = CheckResult(label)
            lines = []
            stub = label in _UNFINISHED
            ran = _RAN.get(label)
            for name, what in answers.items():
                ref = refs[name]
                given = ns.get(name)
                if stub or _is_missing(given):
                    result.missing.append(name)
                    lines.append(f"  … {name} ({what}): not answered yet.")
                    continue
                if ran is not None and ran.get(name, _NOTHING) is not given:
                    result.missing.append(name)
                    lines.append(f"  … {name} ({what}): not computed by the exercise cell's "
                                 f"last run (defined elsewhere, or the cell was not run again "
                                 f"after a change): run the exercise cell, then this check.")
                    continue
                cmp = compare.get(name)
                if cmp is None:
                    problem = default_compare(given, ref, rtol, atol)
                elif _n_params(cmp) >= 3:        # compare(given, reference, namespace)
                    problem = cmp(given, ref, ns)
                else:
                    problem = cmp(given, ref)
                if problem:
                    result.wrong[name] = problem
                    lines.append(f"  ✗ {name} ({what}): {problem}.")
                else:
                    result.right.append(name)
                    lines.append(f"  ✓ {name} ({what}) is right.")
            head = (f"{label}: all answers right." if result.passed else
                    f"{label}: {len(result.right)} of {len(answers)} answers right.")
            if result.wrong:
                lines.append(f"  (Stuck? checks.hint({label!r}) gives a nudge; "
                             f"checks.reveal({label!r}) shows the reference.)")
            message = "\n".join([head] + lines)
            print(message)
            if strict() and not result.passed:
                raise AssertionError(message)
            return result

        @functools.wraps(reference)
        def check(ns: dict) -> CheckResult:
            if not isinstance(ns, dict):
                raise TypeError(f"pass the notebook's namespace, globals(); got {type(ns).__name__}")
            return judge(ns, refs_of(ns))

        check.label = label
        check.answers = dict(answers)
        check.reference = refs_of
        check.judge = judge
        check.rtol, check.atol = rtol, atol
        check.hints = hints
        REGISTRY[label] = check
        return check

    return wrap


def _n_params(fn) -> int:
    import inspect
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 2


def _letter(given) -> str | None:
    if not isinstance(given, str):
        return None
    m = re.fullmatch(r"\s*\(?\s*([A-Za-z])\s*[).]?\s*", given)
    return m[1].lower() if m else None


def choice(label: str, name: str, question: str, right: str, wrong: dict) -> Callable:
    """A multiple-choice check: the student stores one letter (``"b"``, ``"B"`` or ``"(b)"``)
    in ``name``. ``wrong`` maps every other option's letter to what choosing it shows -- a
    diagnosis of the misconception, not the answer. Decorates a function of no use but its
    docstring (it documents the options)."""
    right = right.lower()
    letters = {right, *(k.lower() for k in wrong)}

    def cmp(given, ref):
        g = _letter(given)
        if g is None:
            return f"answer with one letter of {', '.join(sorted(letters))}; got {given!r}"
        if g == ref:
            return None
        if g not in letters:
            return f"there is no option ({g}); the options are {', '.join(sorted(letters))}"
        return f"not ({g}): {wrong[g]}"

    def wrap(doc_fn):
        chk = exercise(label, answers={name: question}, compare={name: cmp})(
            lambda ns: {name: right})
        chk.__doc__ = doc_fn.__doc__
        chk.__name__ = doc_fn.__name__
        chk.options = sorted(letters)
        chk.right_letter = right
        return chk

    return wrap


# ------------------------------------------------------------------ implement-then-test


class Problem(Exception):
    """Raised inside a check's comparison with a diagnosis in words (see :func:`call`)."""


def call(fn, *args, what: str = "your function", **kwargs):
    """``fn(*args, **kwargs)``, or :class:`Problem` saying what went wrong in the student's
    words: not a function, or the call raised (type and message)."""
    if not callable(fn):
        raise Problem(f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # the student's bug, in their words
        shapes = ", ".join(str(np.shape(a)) if hasattr(a, "shape") else type(a).__name__
                           for a in args)
        raise Problem(f"calling {what} on ({shapes}) raised {type(e).__name__}: {e}") from None


def seed_spread(values) -> tuple[float, float]:
    """Mean and standard error of the mean of a control's values over seeds."""
    v = np.asarray(values, dtype=float).ravel()
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def same_control(given_values, reference_values, z: float = 4.0) -> str | None:
    """Whether a student's control function, run over seeds, draws from the same distribution
    as the reference control: the means agree within ``z`` combined standard errors (the
    tolerance follows from the number of seeds, not a typed margin) and the values vary with
    the seed when the reference's do. A problem in words, or None."""
    g = np.asarray(given_values, dtype=float).ravel()
    r = np.asarray(reference_values, dtype=float).ravel()
    if not np.all(np.isfinite(g)):
        return "your control returns NaN or inf for some seeds (a division by zero?)"
    if r.std() > 0 and np.ptp(g) == 0:
        return ("your control gives the same value for every seed: it draws nothing at "
                "random (a control is a random draw, not a fixed number)")
    (mg, sg), (mr, sr) = seed_spread(g), seed_spread(r)
    if abs(mg - mr) > z * np.hypot(sg, sr) + 1e-9:
        return (f"over {g.size} seeds its values centre "
                f"{'above' if mg > mr else 'below'} where this control's values centre (it "
                f"keeps part of the link between a token and its own signature, or breaks "
                f"something else?)")
    return None


def function_compare(cases: Callable, reference: Callable, name: str, rtol: float = 1e-6,
                     atol: float = 1e-9, variants: dict | None = None,
                     outputs: tuple | None = None) -> Callable:
    """A ``compare(given, ref, ns)`` for an answer that is a function: it calls the student's
    function on the check's own inputs -- ``cases(ns)`` returns ``{description: args}``
    (another task, seed, vocabulary or corpus slice) -- and compares each result with
    ``reference(*args)``. ``variants`` maps a named mistake to a function computing what that
    mistake returns (matched before the generic diagnosis); ``outputs`` names the parts of a
    tuple result. The words never quote the reference."""
    variants = dict(variants or {})

    def parts(value, n):
        if n is None:
            return [value]
        if not isinstance(value, (tuple, list)) or len(value) != n:
            raise Problem(f"expected {name} to return {n} things ({', '.join(outputs)}), got "
                          f"{_kind(value)}")
        return list(value)

    def cmp(given, ref, ns):
        n = len(outputs) if outputs else None
        for where, args in cases(ns).items():
            try:
                got = parts(call(given, *args, what=name), n)
            except Problem as e:
                return f"{e} (on {where})"
            want = parts(reference(*args), n)
            for k, (g, r) in enumerate(zip(got, want)):
                problem = default_compare(g, r, rtol, atol)
                if not problem:
                    continue
                for words, fn in variants.items():
                    alt = parts(fn(*args), n)[k]
                    if not default_compare(g, alt, rtol, atol):
                        return f"{words} (on {where})"
                part = f"its {outputs[k]}" if outputs else "the result"
                return f"on {where}, {part}: {problem}"
        return None
    return cmp
