"""Issue 29.6: one time budget, summed from the chapters' exercise minutes per session."""

from __future__ import annotations

import shutil
from pathlib import Path

from psbook.course import budget

ROOT = Path(__file__).resolve().parents[1]


def test_the_generated_budget_is_current_and_no_session_is_over_its_time():
    assert (ROOT / budget.BUDGET_FILE).read_text() == budget.render(ROOT), (
        "run `python -m psbook.course budget`")
    assert budget.problems(ROOT) == []


def test_every_exercise_in_the_schedule_is_counted():
    mins = budget.exercise_minutes(ROOT)
    placed = {lab for s in budget.budget(ROOT) for lab in
              [x for r in s.rows for x in r[1]] + s.homework + s.optional}
    assert len(mins) >= 60 and placed <= set(mins)
    assert {s.number: s.problem_set_minutes for s in budget.budget(ROOT)}[2] == 90


def _copy(tmp_path):
    for rel in ("course/schedule.md", "course/assessment.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    shutil.copytree(ROOT / "book", tmp_path / "book",
                    ignore=shutil.ignore_patterns("*.ipynb", "_*"))
    return tmp_path


def test_a_row_shorter_than_its_exercise_and_undercounted_homework_are_caught(tmp_path):
    root = _copy(tmp_path)
    sched = root / "course/schedule.md"
    text = sched.read_text()
    text = text.replace("| 15 | Exercise *Which signature separates the months?*",
                        "| 10 | Exercise *Which signature separates the months?*")
    text = text.replace("60 min exercises + 90 min problem set 1", "60 min")
    sched.write_text(text)
    found = budget.problems(root)
    assert any("session 5" in p and "ex-09-mon" in p for p in found), found
    assert any("session 2: required homework 150 min" in p for p in found), found


def test_a_week_over_the_limit_is_caught_even_when_its_time_is_stated_truthfully(tmp_path):
    """Last round's session 2: 185 min of required homework, stated as 185 -- honest, and
    still over the module's weekly limit."""
    root = _copy(tmp_path)
    sched = root / "course/schedule.md"
    text = sched.read_text()
    assert budget.week_limit(root) == 150
    text = text.replace("(`ex-derive-cor2`); optional: *The signal of modular addition* "
                        "(`ex-mod-signal`,", "(`ex-derive-cor2`), *The signal of modular "
                        "addition* (`ex-mod-signal`); optional: (")
    text = text.replace("60 min exercises + 90 min problem set 1", "75 min exercises + 90 min "
                        "problem set 1")
    sched.write_text(text)
    found = budget.problems(root)
    assert found == ["session 2: 165 min of required homework (stated or summed), over the "
                     "weekly limit of 150 min"], found
    sched.write_text(text.replace("Required homework is at most", "Homework is about"))
    assert any("states no weekly limit" in p for p in budget.problems(root))


def test_no_week_is_over_the_limit():
    limit = budget.week_limit(ROOT)
    mins = budget.exercise_minutes(ROOT)
    for s in budget.budget(ROOT):
        required = sum(mins[lab][1] for lab in s.homework) + s.problem_set_minutes
        assert required <= limit and (s.stated_homework or 0) <= limit, s


# ------------------------------------------------------------------ 29.7: importance, pace


def test_placement_reads_the_schedule():
    placed = budget.placement(ROOT)
    assert placed["ex-predict-collapse"] == (3, "in class")
    assert placed["ex-03-width"] == (2, "homework")
    assert placed["ex-06-direction"] == (3, "optional")
    assert set(placed) <= set(budget.exercise_minutes(ROOT))
    assert budget.importance("optional", 3) == "importance ●○○ (optional, session 3)"
    assert budget.importance(None) == "importance: not in the schedule"


def _markdown(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_course_notebooks_show_importance_and_time_to_here():
    """Every exercise of the generated notebooks shows its importance beside its difficulty,
    the "time to here" markers grow through the chapter, and the last one is the sum of the
    chapter's exercise minutes (generated from them, never typed)."""
    import re
    from psbook.course import build as cb
    placed = budget.placement(ROOT)
    mins = budget.exercise_minutes(ROOT)
    md = ROOT / "book" / "03-gradient-flow.md"
    labels = re.findall(r":label:\s*(ex-[\w.-]+)", md.read_text())
    text = _markdown(cb.notebooks_for(md, placement=placed)["student"])
    for lab in labels:
        session, where = placed[lab]
        assert budget.importance(where, session) in text, lab
    marks = [int(m) for m in re.findall(r"Estimated time to here: about (\d+) min", text)]
    assert marks == sorted(set(marks)) and marks
    end = re.search(r"this chapter's exercises: about (\d+) min", text)
    assert int(end[1]) == sum(mins[lab][1] for lab in labels)


def test_an_exercise_the_schedule_does_not_place_says_so():
    from psbook.course import build as cb
    md = ROOT / "book" / "03-gradient-flow.md"
    placed = {k: v for k, v in budget.placement(ROOT).items() if k != "ex-03-width"}
    text = _markdown(cb.notebooks_for(md, placement=placed)["student"])
    assert text.count("importance: not in the schedule") == 1
    assert "importance" not in _markdown(cb.notebooks_for(md)["student"])   # no placement
