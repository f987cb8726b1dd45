"""The course module: the notebook generator (psbook.course.build), the check machinery
(psbook.course.checks._base) and the student edition of the HTML (psbook.course.student).

Executing the generated notebooks is in tests/test_course_notebooks.py (slower)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_fixture import make_book
from psbook.course import build as cb
from psbook.course.checks import _base
from psbook.course.checks._base import CheckResult, exercise

ROOT = Path(__file__).resolve().parents[1]


def _cells(nb, kind=None):
    return [c for c in nb.cells if kind is None or c.cell_type == kind]


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


# ---------------------------------------------------------------------------- generator


@pytest.fixture
def fixture_nbs(tmp_path):
    md = make_book(tmp_path)
    return cb.notebooks_for(md, colab=lambda p: f"https://colab.example/{p}")


def test_student_copy_has_the_stub_and_keeps_the_code_outside_the_markers(fixture_nbs):
    st = fixture_nbs["student"]
    ex = [c for c in _cells(st, "code") if "exercise" in c.metadata.get("tags", [])]
    assert len(ex) == 1
    src = ex[0].source
    assert "raise NotImplementedError('exercise ex-99-double: twice x')" in src
    assert "scale = 2.0" in src and "if True:" in src          # set-up the student needs
    assert "    with unfinished('ex-99-double'):" in src       # indentation of the region kept
    assert "        raise NotImplementedError" in src           # the stub, inside the wrapper
    assert "BEGIN SOLUTION" not in src and "END SOLUTION" not in src
    assert "doubled = scale * x" not in _text(st)
    assert "hide-input" not in ex[0].metadata["tags"]          # the student must see the cell
    compile(src, "stub", "exec")                                 # still valid Python


def test_student_copy_drops_prose_solutions_and_hidden_cells_and_keeps_checks(fixture_nbs):
    st = fixture_nbs["student"]
    text = _text(st)
    assert "SECRET-PROSE-SOLUTION" not in text and "doubled = 2 * x" not in text
    assert "HIDDEN-ASSERTION" not in text
    assert "KEPT-NOTE" in text and "Doubling" in text            # prose after it survives
    assert any("checks.ch99.double(globals())" in c.source for c in _cells(st, "code"))
    # a hidden cell that defines a name a visible cell uses later is kept, so the notebook runs
    assert "helper = 3" in text
    assert "colab.example/course/notebooks/student/99-fixture.ipynb" in st.cells[0].source


def test_solution_copy_is_the_whole_chapter(fixture_nbs):
    so = fixture_nbs["solutions"]
    text = _text(so)
    assert "### BEGIN SOLUTION" in text and "doubled = scale * x" in text
    assert "SECRET-PROSE-SOLUTION" in text and "NotImplementedError" not in text
    assert "HIDDEN-ASSERTION" not in text
    assert any("checks.ch99.double(globals())" in c.source for c in _cells(so, "code"))


def test_markdown_is_converted_for_jupyter(fixture_nbs):
    md = "\n".join(c.source for c in _cells(fixture_nbs["solutions"], "markdown"))
    assert "{doc}" not in md and "{eq}" not in md and "{cite" not in md and "{glue" not in md
    assert "```{" not in md and ":label:" not in md and "(sec-fixture)=" not in md
    assert "$$ (eq-x)" not in md and "(eq-x)" in md and "`fx_sum`" in md
    assert "**Exercise (Doubling)**" in md and "> **Note**" in md


def test_converter_is_pluggable(tmp_path):
    md = make_book(tmp_path)
    nbs = cb.notebooks_for(md, converter=lambda text: text.upper())
    assert "KEPT-NOTE AFTER THE EXERCISE" in _text(nbs["student"])


def test_remove_solutions_handles_fences_and_colons():
    text = ("before\n\n````{solution} ex-a\n:class: dropdown\n\n```python\nx = 1\n```\n"
            "still inside\n````\n\n:::{solution} ex-b\nsecret\n:::\n\nafter")
    out = cb.remove_solutions(text)
    assert out == "before\n\nafter"


@pytest.mark.parametrize("source, words", [
    ("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION", "must start with"),
    ("# Exercise ex-a: t\n### BEGIN SOLUTION\ny = 2", "never closed"),
    ("# Exercise ex-a: t\n### END SOLUTION", "without"),
    ("# Exercise ex-a: t\ny = 2", "needs a"),
])
def test_malformed_exercise_cells_are_named(source, words):
    with pytest.raises(cb.BuildError, match=words):
        cb.parse_exercise(source, "99-x.md, cell 3")


def test_build_then_check_detects_stale_missing_and_orphaned(tmp_path, capsys):
    md = make_book(tmp_path)
    written = cb.build(tmp_path)
    assert sorted(written) == ["course/notebooks/MANIFEST",
                               "course/notebooks/solutions/99-fixture.ipynb",
                               "course/notebooks/student/99-fixture.ipynb"]  # 01: no exercises
    written = sorted(w for w in written if w.endswith(".ipynb"))
    assert cb.check(tmp_path) == []
    assert cb.build(tmp_path) == []                                         # deterministic
    nb = json.loads((tmp_path / written[1]).read_text())
    assert nb["nbformat"] == 4 and all(c.get("id") for c in nb["cells"])

    md.write_text(md.read_text().replace("twice x", "two times x"))
    problems = cb.check(tmp_path)
    assert len(problems) == 2 and all("stale" in p for p in problems)
    assert cb.main(["build", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "course/notebooks/student/99-fixture.ipynb is stale" in err

    cb.build(tmp_path)
    (tmp_path / "course/notebooks/student/99-fixture.ipynb").unlink()
    problems = cb.check(tmp_path)
    assert any("99-fixture.ipynb is missing" in p for p in problems)
    assert cb.main(["build", "--root", str(tmp_path)]) == 0
    assert cb.main(["build", "--check", "--root", str(tmp_path)]) == 0

    # a chapter that loses its exercises: its generated notebooks are orphans, deleted by build
    (tmp_path / "book/98-gone.md").write_text(md.read_text())
    cb.build(tmp_path)
    (tmp_path / "book/98-gone.md").write_text(md.read_text().split("```{code-cell}")[0])
    problems = cb.check(tmp_path)
    assert any("student/98-gone.ipynb has no chapter" in p for p in problems)
    assert any("MANIFEST is stale" in p for p in problems)
    assert "course/notebooks/student/98-gone.ipynb (deleted)" in cb.build(tmp_path)
    assert not (tmp_path / "course/notebooks/student/98-gone.ipynb").exists()
    assert cb.check(tmp_path) == []


def test_build_never_deletes_a_notebook_it_did_not_generate(tmp_path):
    """Issue 21 item 7: build deleted every notebook of the output folders it did not generate
    this time, including a user's own."""
    make_book(tmp_path)
    cb.build(tmp_path)
    mine = tmp_path / "course/notebooks/student/97-my-notes.ipynb"
    mine.write_text("{}")
    other = tmp_path / "course/notebooks/solutions/lecture.ipynb"
    other.write_text("{}")
    assert cb.build(tmp_path) == [] and mine.exists() and other.exists()
    assert cb.check(tmp_path) == []            # not ours: not an orphan either
    # a manifest edited to point outside the generated folders deletes nothing
    (tmp_path / "important.ipynb").write_text("{}")
    with open(tmp_path / cb.MANIFEST, "a") as f:
        f.write("important.ipynb\ncourse/notebooks/student/97-my-notes.ipynb\n")
    cb.build(tmp_path)
    assert (tmp_path / "important.ipynb").exists()


@pytest.mark.parametrize("layout", ["empty", "config-only", "book-only", "missing"])
def test_a_wrong_root_is_refused_not_reported_up_to_date(tmp_path, capsys, layout):
    """Issue 21 item 7: `build --check --root <wrong folder>` said "up to date"."""
    root = tmp_path / "r"
    if layout != "missing":
        root.mkdir()
    if layout == "config-only":
        (root / "_config.yml").write_text("title: x\n")
    if layout == "book-only":
        (root / "book").mkdir()
        (root / "book/02-x.md").write_text("# x\n")
    assert cb.main(["build", "--check", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "not the book's root" in err or "not a folder" in err
    assert "up to date" not in err
    assert cb.main(["build", "--root", str(root)]) == 2
    with pytest.raises(cb.BuildError, match="root"):
        cb.check(root)


def test_colab_url_has_the_books_button_form():
    url = cb.colab_url(ROOT, "course/notebooks/student/05-composite-addition.ipynb")
    import yaml
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner_repo = cfg["repository"]["url"].removeprefix("https://github.com/").rstrip("/")
    assert url == (f"https://colab.research.google.com/github/{owner_repo}/blob/"
                   f"{cfg['repository']['branch']}/course/notebooks/student/05-composite-addition.ipynb")


def test_committed_course_notebooks_are_current():
    problems = cb.check(ROOT)
    assert not problems, "run `python -m psbook.course build`:\n" + "\n".join(problems)


def test_cli_module_runs():
    r = subprocess.run([sys.executable, "-m", "psbook.course", "build", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_schedule_links_every_student_notebook_that_exists():
    schedule = (ROOT / "course" / "schedule.md").read_text()
    for nb in sorted((ROOT / "course/notebooks/student").glob("*.ipynb")):
        url = cb.colab_url(ROOT, f"course/notebooks/student/{nb.name}")
        assert url in schedule, f"schedule.md has no Colab link for {nb.name}: {url}"


# ---------------------------------------------------------------------------- checks base


@pytest.fixture
def check():
    @exercise("ex-t", answers={"a": "the number a", "v": "the vector v"}, rtol=1e-6,
              atol=1e-9, hint="look at the reference function")
    def ref(ns):
        return {"a": 2.0, "v": np.arange(3.0)}
    return ref


def test_check_right_answers(check, capsys, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    res = check({"a": 2.0, "v": [0, 1, 2]})
    out = capsys.readouterr().out
    assert res and res.passed and isinstance(res, CheckResult)
    assert "ex-t: all answers right." in out and "✓ a (the number a) is right." in out
    assert "Hint" not in out


def test_check_wrong_answers_in_words(check, capsys, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    res = check({"a": 3.0, "v": [0, 1, 2.5]})
    out = capsys.readouterr().out
    assert not res and set(res.wrong) == {"a", "v"}
    assert "1 of 2" not in out and "0 of 2 answers right" in out
    assert "too large" in out and "expected 2" not in out and "2.0" not in out
    assert "1 of 3 entries are off beyond the tolerance (the first at index 2)" in out
    assert "look at the reference function" not in out       # a hint only on request
    assert "checks.hint('ex-t')" in out
    assert "checks.reveal('ex-t')" in out


@pytest.mark.parametrize("given, words", [
    (np.zeros((3, 1)), "expected shape (3,), got (3, 1)"),
    ([0.0, float("nan"), 2.0], "NaN"),
    ([0.0, math.inf, 2.0], "inf"),
    ("abc", "expected a number or an array"),
])
def test_check_reports_shape_and_nan_problems_in_words(check, capsys, monkeypatch, given, words):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    res = check({"a": 2.0, "v": given})
    assert "v" in res.wrong and words in res.wrong["v"]
    assert words in capsys.readouterr().out


def test_missing_answers_are_reported_never_filled_in(check, capsys, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    ns = {"a": None}                      # a: None (stub), v: never defined
    res = check(ns)
    out = capsys.readouterr().out
    assert not res and sorted(res.missing) == ["a", "v"] and not res.wrong
    assert ns == {"a": None}              # the reference never enters the namespace
    assert "not answered yet" in out and repr(res) == "CheckResult(ex-t: not answered)"
    ns2 = {"a": ..., "v": np.arange(3.0)}
    assert check(ns2).missing == ["a"] and ns2["a"] is ...


@pytest.mark.parametrize("ns, words", [({"a": 5.0, "v": np.arange(3.0)}, "a .the number a.: too large"),
                                       ({"v": np.arange(3.0)}, "not answered yet")])
def test_strict_mode_raises_with_the_same_words(check, monkeypatch, capsys, ns, words):
    monkeypatch.setenv("PSBOOK_CHECK_STRICT", "1")
    with pytest.raises(AssertionError, match=words):
        check(dict(ns))
    monkeypatch.setenv("PSBOOK_CHECK_STRICT", "0")
    assert not check(dict(ns))


def test_custom_compare_and_non_numeric(capsys, monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)

    @exercise("ex-c", answers={"s": "a set", "w": "a word"},
              compare={"s": lambda g, r: None if set(g) == set(r) else "wrong members"})
    def ref(ns):
        return {"s": [1, 2], "w": "cat"}
    assert ref({"s": [2, 1], "w": "cat"})
    res = ref({"s": [3], "w": "dog"})
    assert res.wrong == {"s": "wrong members", "w": "not right (str)"}
    assert ref.label == "ex-c" and ref.answers == {"s": "a set", "w": "a word"}


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="answers must be a non-empty dict"):
        exercise("ex", answers={})
    with pytest.raises(TypeError, match="globals()"):
        exercise("ex", answers={"a": "x"})(lambda ns: {"a": 1})([1])


def test_reference_missing_an_answer_is_a_clear_error():
    chk = exercise("ex-r", answers={"a": "x", "b": "y"})(lambda ns: {"a": 1})
    with pytest.raises(KeyError, match="ex-r.*every answer"):
        chk({"a": 1, "b": 2})


def test_bools_and_ints_compare_exactly(monkeypatch):
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    chk = exercise("ex-b", answers={"flag": "a yes/no", "n": "a count"})(
        lambda ns: {"flag": True, "n": 3})
    assert chk({"flag": True, "n": 3})
    res = chk({"flag": False, "n": 4})
    assert set(res.wrong) == {"flag", "n"}


def test_strict_reads_the_environment(monkeypatch):
    for v, expect in [("1", True), ("true", True), ("", False), ("0", False)]:
        monkeypatch.setenv("PSBOOK_CHECK_STRICT", v)
        assert _base.strict() is expect


# ---------------------------------------------------------------------------- student HTML


def test_student_edition_hides_prose_and_code_solutions(tmp_path):
    pytest.importorskip("jupyter_book")
    make_book(tmp_path)
    (tmp_path / "book/01-no-exercises.md").unlink()
    (tmp_path / "book/99-fixture.md").write_text(
        (tmp_path / "book/99-fixture.md").read_text()
        .replace("{doc}`01-reading-this-book`", "the book")
        .replace(" and {cite:p}`yao2025probability`", "")
        .replace("The sum is {glue:text}`fx_sum:.2f`.", ""))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/99-fixture\n")
    (tmp_path / "course").mkdir()
    overlay = (ROOT / "course" / "_config-student.yml").read_text()
    (tmp_path / "course" / "_config-student.yml").write_text(overlay)
    from psbook.course.student import write_student_config
    cfg = write_student_config(tmp_path, Path("_build/_config-student.yml"))
    jb = Path(sys.executable).with_name("jupyter-book")
    html = {}
    for edition, extra in [("full", []), ("student", ["--config", str(cfg)])]:
        out = tmp_path / "_out" / edition
        r = subprocess.run([str(jb), "build", str(tmp_path), "--path-output", str(out), "-W",
                            "-n", *extra], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        html[edition] = (out / "_build/html/book/99-fixture.html").read_text()
    code = 'doubled</span> <span class="o">='
    assert "SECRET-PROSE-SOLUTION" in html["full"] and code in html["full"]
    # the book's page (issue 26): no check cell, and the solution cell inside its dropdown
    assert "checks.ch99.double" not in html["full"].replace("</span>", "").replace(
        '<span class="o">', "").replace('<span class="n">', "").replace('<span class="p">', "")
    assert "globals" not in html["full"]               # the check cell's only call
    assert "globals" in html["student"]                # the student edition keeps it
    sol = html["full"].index("SECRET-PROSE-SOLUTION")
    start = html["full"].rfind('class="solution', 0, sol)
    assert start != -1 and start < html["full"].index(code), "solution cell above its dropdown"
    assert "SECRET-PROSE-SOLUTION" not in html["student"]
    assert "BEGIN SOLUTION" not in html["student"] and code not in html["student"]
    assert "Doubling" in html["student"] and "checks" in html["student"]   # exercise + check
    assert "student edition" in html["student"]


def test_torch_tensors_with_grad_are_compared(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    chk = exercise("ex-torch", answers={"t": "a tensor"})(lambda ns: {"t": torch.ones(3)})
    assert chk({"t": torch.ones(3, requires_grad=True) * 1.0})
    assert "expected shape (3,)" in chk({"t": torch.ones(2)}).wrong["t"]


def test_exercise_labels_named_in_the_course_pages_exist():
    labels = set()
    for md in (ROOT / "book").glob("[0-9][0-9]-*.md"):
        labels |= set(re.findall(r"^:label:\s*(ex-[\w-]+)", md.read_text(), flags=re.M))
    for page in sorted((ROOT / "course").glob("*.md")):
        named = set(re.findall(r"`(ex-[\w-]+)`", page.read_text()))
        unknown = sorted(named - labels)
        assert not unknown, f"course/{page.name} names exercises no chapter has: {unknown}"


def test_an_exercise_without_its_check_cell_is_refused(tmp_path):
    md = make_book(tmp_path)
    md.write_text(md.read_text().replace(":tags: [exercise-check]", ":tags: [hide-input]"))
    with pytest.raises(cb.BuildError, match="ex-99-double has no check cell"):
        cb.notebooks_for(md)
    assert cb.main(["build", "--root", str(tmp_path)]) == 2


def test_course_notebooks_have_no_raw_myst():
    """The course notebooks' markdown goes through the book's Colab converter (tools/colab.py):
    no MyST role or directive reaches a student."""
    import importlib.util
    import sys
    import nbformat
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("_colab_for_test", root / "tools" / "colab.py")
    colab = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = colab
    spec.loader.exec_module(colab)
    found = {}
    for f in sorted((root / "course" / "notebooks").glob("*/*.ipynb")):
        nb = nbformat.read(f, as_version=4)
        bad = [m for c in nb.cells if c.cell_type == "markdown" for m in colab.raw_myst(c.source)]
        if bad:
            found[f.name] = bad[:3]
    assert (root / "course" / "notebooks").exists() and not found, found


def test_check_result_adds_nothing_under_a_check_cell(capsys):
    """A check cell's output is the check's own words; the returned CheckResult displays as
    nothing in a notebook (IPython calls _ipython_display_ instead of showing the repr)."""
    from psbook.course.checks._base import CheckResult
    r = CheckResult("ex-x", right=["a"])
    assert r.passed and r._ipython_display_() is None
    assert capsys.readouterr().out == ""
    assert "passed" in repr(r)  # still readable in a test or a REPL


def test_code_after_the_solution_region_moves_into_the_stub_block():
    """Code after the region usually prints the answers, which do not exist while the stub is
    unfinished: it runs inside ``with unfinished(...)`` and is skipped with the stub."""
    src = ("# Exercise ex-a: t\nx = 1\n### BEGIN SOLUTION\ny = 2 * x\n### END SOLUTION\n"
           "print(y)\n\nprint(x, y)")
    out = cb.student_source(src, "ex-a", "t")
    assert "    print(y)" in out and "    print(x, y)" in out and "y = 2 * x" not in out
    compile(out, "stub", "exec")
    ns = {}
    exec(out, ns)                                   # runs: the stub reports itself
    assert "y" not in ns
    nested = ("# Exercise ex-a: t\nif True:\n    ### BEGIN SOLUTION\n    y = 2\n"
              "    ### END SOLUTION\n    print(y)\nprint('after')")
    out = cb.student_source(nested, "ex-a", "t")
    assert "        print(y)" in out and "\nprint('after')" in out
    exec(out, {})


def test_no_generated_notebook_says_exercise_exercise():
    """A reference to an exercise renders as "Exercise N": prose must not say "exercise" before
    it (issue 19: "exercise Exercise 33")."""
    import nbformat
    for f in sorted((ROOT / "course/notebooks").glob("*/*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(f, as_version=4).cells
                         if c.cell_type == "markdown")
        assert not re.search(r"\b[Ee]xercise\s+Exercise\b", text), f.name


def test_every_exercise_has_a_difficulty_and_minutes():
    pat = re.compile(r"^\*Difficulty [123]/3 · about \d+ minutes\.\*$", re.M)
    for md in sorted((ROOT / "book").glob("[0-9][0-9]-*.md")):
        text = md.read_text()
        for m in re.finditer(r"^```\{exercise\}.*\n:label: (\S+)\n(?:.*\n)*?```$", text, re.M):
            assert pat.search(m.group(0)), f"{md.name}: exercise {m[1]} gives no difficulty " \
                                           f"and minutes ('*Difficulty 2/3 · about 15 minutes.*')"


def test_every_coding_exercise_is_placed_in_the_schedule():
    schedule = (ROOT / "course" / "schedule.md").read_text()
    coding = set()
    for md in (ROOT / "book").glob("[0-9][0-9]-*.md"):
        coding |= set(re.findall(r"^# Exercise ([\w.-]+):", md.read_text(), flags=re.M))
    missing = sorted(label for label in coding if f"`{label}`" not in schedule)
    assert len(coding) >= 40 and not missing, f"not in course/schedule.md: {missing}"
