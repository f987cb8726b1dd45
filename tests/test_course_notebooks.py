"""Execute the course notebooks: every check passes in the solution notebooks (strict mode),
and the only errors in a student notebook are its stubs' NotImplementedError.

The repo-wide tests execute every generated notebook in the tiny preset (CI=true), i.e. each
chapter twice: time them with ``pytest --durations=0 tests/test_course_notebooks.py``. The
fixture tests run one tiny notebook and depend on no chapter.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_fixture import CHECKS, make_book
from psbook.course import build as cb

nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
STUDENT = sorted((ROOT / "course/notebooks/student").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "course/notebooks/solutions").glob("*.ipynb"))
TIMEOUT = 900


def execute(nb, cwd: Path, allow_errors: bool):
    """Run ``nb`` in a fresh kernel in ``cwd``; returns the executed notebook."""
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def errors(nb) -> list[tuple[int, str, str]]:
    """``(cell index, error name, message)`` of every error output."""
    return [(i, o.get("ename", ""), o.get("evalue", ""))
            for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def n_stubs(nb) -> int:
    return sum(c.source.count("raise NotImplementedError(") for c in nb.cells
               if c.cell_type == "code" and "exercise" in c.metadata.get("tags", []))


def check_student(nb):
    errs = errors(nb)
    others = [e for e in errs if e[1] != "NotImplementedError"]
    assert not others, f"errors other than the stubs' NotImplementedError: {others}"
    assert len(errs) == n_stubs(nb), f"{n_stubs(nb)} stubs but {len(errs)} errors: {errs}"
    for _, _, msg in errs:
        assert msg.startswith("exercise "), f"stub message should name its exercise: {msg!r}"


# ---------------------------------------------------------------------------- fixture


@pytest.fixture
def fixture_nbs(tmp_path):
    make_book(tmp_path)
    cb.build(tmp_path)
    for kind in ("student", "solutions"):
        (tmp_path / f"course/notebooks/{kind}/fixture_checks.py").write_text(CHECKS)
    return {k: tmp_path / f"course/notebooks/{k}/99-fixture.ipynb"
            for k in ("student", "solutions")}


def test_fixture_solution_notebook_passes_its_checks(fixture_nbs, monkeypatch):
    monkeypatch.setenv("PSBOOK_CHECK_STRICT", "1")
    p = fixture_nbs["solutions"]
    nb = execute(nbformat.read(p, as_version=4), p.parent, allow_errors=False)
    out = stdout(nb)
    assert "ex-99-double: all answers right." in out and "total 23.0" in out


def test_fixture_student_notebook_fails_only_in_its_stubs(fixture_nbs, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    p = fixture_nbs["student"]
    nb = execute(nbformat.read(p, as_version=4), p.parent, allow_errors=True)
    check_student(nb)
    out = stdout(nb)
    assert "doubled (twice x): not answered yet" in out
    assert "total 23.0" in out              # the cell after the check ran on the reference


def test_fixture_student_with_a_wrong_answer_is_told_so(fixture_nbs, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    p = fixture_nbs["student"]
    nb = nbformat.read(p, as_version=4)
    for c in nb.cells:
        if "exercise" in c.metadata.get("tags", []):
            c.source = c.source.replace("raise NotImplementedError(", "doubled = x + 1  # (")
    nb = execute(nb, p.parent, allow_errors=True)
    assert not errors(nb)
    assert "✗ doubled (twice x)" in stdout(nb) and "Hint: multiply x by scale" in stdout(nb)


def test_a_broken_student_notebook_is_caught(fixture_nbs, monkeypatch):
    """The student test is not vacuous: an error other than a stub's fails it."""
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    p = fixture_nbs["student"]
    nb = nbformat.read(p, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("undefined_name"))
    nb = execute(nb, p.parent, allow_errors=True)
    with pytest.raises(AssertionError, match="NameError"):
        check_student(nb)


# ---------------------------------------------------------------------------- the book's


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: f"solutions/{p.name}")
def test_solution_notebook_runs_and_every_check_passes(path, monkeypatch, tmp_path):
    monkeypatch.setenv("PSBOOK_CHECK_STRICT", "1")
    nb = nbformat.read(path, as_version=4)
    try:
        execute(nb, path.parent, allow_errors=False)
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name}: {str(e)[-2000:]}")
    out = stdout(nb)
    n_checks = sum("exercise-check" in c.metadata.get("tags", []) for c in nb.cells)
    assert out.count(": all answers right.") >= n_checks


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: f"student/{p.name}")
def test_student_notebook_runs_with_only_the_stubs_failing(path, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    nb = execute(nbformat.read(path, as_version=4), path.parent, allow_errors=True)
    check_student(nb)
