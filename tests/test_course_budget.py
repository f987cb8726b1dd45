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
