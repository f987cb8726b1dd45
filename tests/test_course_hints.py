"""Issue 29.8 (29.4): a hint is a nudge, never the solution. No hint of any exercise contains
the code of the exercise's worked solution (the region between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` in its chapter) -- neither one of its lines or expressions, nor a call,
with its arguments, of a function the solution calls -- unless the exercise's own statement
already shows it. A planted hint that is the one-line solution fails."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from psbook.course.checks._base import all_checks

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _chapters():
    return sorted((ROOT / "book").glob("[0-9][0-9]-*.md"))


def solutions() -> dict:
    """``{label: the code of its worked solution}`` from the chapters' exercise cells."""
    out = {}
    for md in _chapters():
        for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", md.read_text(), re.S):
            m = re.search(r"^# Exercise ([\w.-]+):", cell, re.M)
            if m and BEGIN in cell:
                out[m[1]] = "\n".join(re.findall(
                    re.escape(BEGIN) + r"\n(.*?)\n\s*" + re.escape(END), cell, re.S))
    return out


def statements() -> dict:
    """``{label: the exercise's statement}`` (the ``{exercise}`` block)."""
    out = {}
    for md in _chapters():
        for m in re.finditer(r"```\{exercise\}[^\n]*\n:label:\s*([\w.-]+)\s*\n(.*?)\n```",
                             md.read_text(), re.S):
            out[m[1]] = m[2]
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s).replace("'", '"')


def _tree(code: str):
    try:
        return ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None


def _fragments(code: str) -> set:
    """The solution's lines and its calls, subscripts, dicts and comprehensions, normalised
    (15 characters or more: shorter ones are names, not solutions)."""
    frags = {ln.split("#")[0].strip() for ln in code.splitlines()}
    tree = _tree(code)
    if tree is not None:
        frags |= {ast.unparse(n) for n in ast.walk(tree) if isinstance(
            n, (ast.Call, ast.Subscript, ast.Dict, ast.ListComp, ast.DictComp, ast.BinOp))}
    return {f for f in map(_norm, frags) if len(f) >= 15}


def _called(code: str) -> set:
    """Names of the functions the solution calls with arguments."""
    tree = _tree(code)
    names = set()
    for n in ast.walk(tree) if tree is not None else ():
        if isinstance(n, ast.Call) and (n.args or n.keywords):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name:
                names.add(name)
    return names


def hint_problems(hint: str, solution: str, statement: str = "") -> list:
    """What of the solution's code ``hint`` gives away (empty: a nudge)."""
    h, shown = _norm(hint), _norm(statement)
    out = [f"solution code {f!r}" for f in _fragments(solution) if f in h and f not in shown]
    for name in _called(solution):
        for m in re.finditer(rf"\b{re.escape(name)}\((?!\))[^)]*\)", hint):
            if _norm(m[0]) not in shown:
                out.append(f"the call {m[0]!r} with its arguments")
    return out


def _hinted():
    sol, st = solutions(), statements()
    return [(lab, chk.hints, sol[lab], st.get(lab, "")) for lab, chk in
            sorted(all_checks().items()) if chk.hints and lab in sol]


def test_solutions_are_found_for_the_exercises_with_hints():
    assert len(_hinted()) >= 30


@pytest.mark.parametrize("label", [c[0] for c in _hinted()])
def test_no_hint_contains_the_solution_code(label):
    _, hints, solution, statement = next(c for c in _hinted() if c[0] == label)
    for k, h in enumerate(hints, 1):
        assert not hint_problems(h, solution, statement), (label, k, h)


def test_hints_are_graded_from_a_nudge():
    """Every hint list of two or more levels starts with words, not a function call (other
    than one the exercise's statement already shows)."""
    for label, hints, _, statement in _hinted():
        if len(hints) > 1:
            calls = [c for c in re.findall(r"\w+\([^)]*\)", hints[0])
                     if _norm(c) not in _norm(statement)]
            assert not calls, (label, hints[0])


@pytest.mark.parametrize("planted", [
    # the ex-10-gamma hint: the solution's expression
    "r.history['E~next/top'][1] for each run",
    # the ex-09-months hint: the solution's call with its arguments
    "corpus.set_similarity(wiki, months, name)['months'] for each name",
])
def test_a_planted_solution_as_hint_is_caught(planted):
    sol = solutions()
    label = "ex-10-gamma" if "history" in planted else "ex-09-months"
    assert hint_problems(planted, sol[label], statements()[label])
