"""Execute the course notebooks: every check passes in the solution notebooks (strict mode),
and a student notebook with every stub unfinished runs to the end with no error at all: each
unfinished stub says so in one line and its check fills in the reference.

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
    """Run ``nb`` in a fresh kernel in ``cwd``; returns the executed notebook.

    A kernel that does not answer its start-up handshake (seen once in CI on the 2-core
    machine, two kernels starting at once, nothing executed yet) is started once more; any
    other error, and a second silent start, fail the test."""
    for attempt in (1, 2):
        client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                         allow_errors=allow_errors, startup_timeout=120,
                                         resources={"metadata": {"path": str(cwd)}})
        try:
            client.execute()
            return nb
        except RuntimeError as exc:
            if attempt == 2 or "Kernel didn't respond" not in str(exc):
                raise
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


def exercise_labels(nb) -> list[str]:
    """The labels of the notebook's exercise cells (from their stubs)."""
    import re
    return [m for c in nb.cells if c.cell_type == "code"
            and "exercise" in c.metadata.get("tags", [])
            for m in re.findall(r"raise NotImplementedError\(['\"]exercise ([\w.-]+):", c.source)]


def check_student(nb):
    """No error at all; every unfinished stub reported itself in one line and its check said
    what is not answered (no reference filled in)."""
    errs = errors(nb)
    assert not errs, f"a student notebook with unfinished stubs must run to the end: {errs}"
    out = stdout(nb)
    labels = exercise_labels(nb)
    assert labels and len(labels) == n_stubs(nb)
    for label in labels:
        assert (f"exercise {label}: not done yet (the notebook carries on; its check will say "
                f"what is missing)") in out, f"stub {label} did not report itself"
        assert f"{label}: 0 of" in out, f"the check of {label} did not run"


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
    assert "ex-99-double: all answers right." in out and "total 13.0" in out


def test_fixture_student_notebook_runs_to_the_end_with_its_stub_unfinished(fixture_nbs,
                                                                           monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    p = fixture_nbs["student"]
    nb = execute(nbformat.read(p, as_version=4), p.parent, allow_errors=False)
    check_student(nb)
    out = stdout(nb)
    assert "doubled (twice x): not answered yet" in out
    assert "total 13.0" in out              # the cells after the check run (they never read an answer)


def _student_answering(fixture_nbs, answer: str):
    """The fixture's student notebook with ``answer`` in place of the exercise's stub, executed
    (errors allowed)."""
    p = fixture_nbs["student"]
    nb = nbformat.read(p, as_version=4)
    for c in nb.cells:
        if "exercise" in c.metadata.get("tags", []):
            c.source = c.source.replace("raise NotImplementedError(", f"{answer}  # (")
    return execute(nb, p.parent, allow_errors=True)


def test_fixture_student_with_a_wrong_answer_is_told_so(fixture_nbs, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    nb = _student_answering(fixture_nbs, "doubled = x + 1")
    assert not errors(nb)
    out = stdout(nb)
    assert "✗ doubled (twice x)" in out and "checks.hint('ex-99-double')" in out
    assert "multiply x by scale" not in out                # the hint only on request
    assert "not done yet" not in out
    assert "[0. 2. 4. 6. 8.]" not in out                  # the reference is not given away


def test_fixture_student_error_of_their_own_is_not_swallowed(fixture_nbs, monkeypatch):
    """The wrapper reports only the stub's own NotImplementedError; a bug of the student's
    still raises (so they see it)."""
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    nb = _student_answering(fixture_nbs, "doubled = 1 / 0")
    assert [e[1] for e in errors(nb)] == ["ZeroDivisionError"]


def test_a_broken_student_notebook_is_caught(fixture_nbs, monkeypatch):
    """The student test is not vacuous: an error other than a stub's fails it."""
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    p = fixture_nbs["student"]
    nb = nbformat.read(p, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("undefined_name"))
    nb = execute(nb, p.parent, allow_errors=True)
    with pytest.raises(AssertionError, match="NameError"):
        check_student(nb)
    # and so is one whose stub raises instead of reporting itself (as the stubs used to)
    nb = nbformat.read(p, as_version=4)
    for c in nb.cells:
        if "exercise" in c.metadata.get("tags", []):
            c.source = c.source.replace("from psbook.course.checks import unfinished",
                                        "import contextlib; unfinished = lambda label: "
                                        "contextlib.nullcontext()")
    nb = execute(nb, p.parent, allow_errors=True)
    with pytest.raises(AssertionError, match="NotImplementedError"):
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
def test_student_notebook_runs_to_the_end_with_every_stub_unfinished(path, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    nb = nbformat.read(path, as_version=4)
    try:
        execute(nb, path.parent, allow_errors=False)
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name} stopped before the end: {str(e)[-2000:]}")
    check_student(nb)


def test_execute_writes_pre_executed_copies_for_plan_b(tmp_path, capsys):
    """`python -m psbook.course execute` (the guide's plan B) runs the student notebooks to the
    end with the stubs unfinished and writes executed copies; the sources stay output-free."""
    make_book(tmp_path)
    cb.build(tmp_path)
    for kind in ("student", "solutions"):
        (tmp_path / f"course/notebooks/{kind}/fixture_checks.py").write_text(CHECKS)
    out = tmp_path / "executed"
    assert cb.main(["execute", "--root", str(tmp_path), "--out", str(out), "99"]) == 0
    nb = nbformat.read(out / "99-fixture.ipynb", as_version=4)
    assert not errors(nb) and "total 13.0" in stdout(nb) and "not done yet" in stdout(nb)
    src = nbformat.read(tmp_path / "course/notebooks/student/99-fixture.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in src.cells if c.cell_type == "code")
    assert cb.main(["execute", "--root", str(tmp_path), "--out", str(out), "42"]) == 2
    assert "no notebooks to execute" in capsys.readouterr().err
