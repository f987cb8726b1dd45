"""One time budget for the course, generated from the chapters (issue 29.6).

The minutes of every exercise are written once, in its chapter (``*Difficulty d/3 · about N
minutes.*`` under the ``{exercise}`` directive). ``course/schedule.md`` places each exercise in a
session, in class (a row ``| minutes | ... (`ex-...`) ... |`` of the session's table) or as
homework (the session's ``**Homework:**`` paragraph; what follows ``optional:`` is optional), and
states each session's homework time in its summary table. ``course/assessment.md`` says when
each problem set is handed out and due and how long it takes; its time is spread evenly over
the weeks in between. The schedule states one limit for every week, "Required homework is at most
**N minutes** a week" (:func:`week_limit`).

:func:`budget` sums all of it per session; :func:`problems` lists every session over its stated
time (an in-class row shorter than the exercises it holds, a class over 90 minutes, required
homework over the stated homework time or over the weekly limit); ``python -m psbook.course budget`` writes the table
``course/_time-budget.md`` that the schedule includes (``--check``: exit 1 when it is stale).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["exercise_minutes", "Session", "budget", "week_limit", "placement", "importance",
           "problems", "render", "BUDGET_FILE"]

BUDGET_FILE = "course/_time-budget.md"
CLASS_MINUTES = 90
_EX_RE = re.compile(r"```\{exercise\}[^\n]*\n:label:\s*(?P<label>[\w.-]+)\s*\n(?P<body>.*?)\n```",
                    re.S)
_MIN_RE = re.compile(r"\*Difficulty (?P<d>[123])/3 · about (?P<m>\d+) minutes\.\*")
_LABEL_RE = re.compile(r"`(ex-[\w.-]+)`")


def exercise_minutes(root: Path) -> dict:
    """``{label: (difficulty, minutes)}`` of every exercise of the chapters."""
    out = {}
    for md in sorted(Path(root, "book").glob("[0-9][0-9]-*.md")):
        for m in _EX_RE.finditer(md.read_text()):
            mm = _MIN_RE.search(m["body"])
            if mm:
                out[m["label"]] = (int(mm["d"]), int(mm["m"]))
    return out


@dataclass
class Session:
    number: int
    title: str
    rows: list = field(default_factory=list)           # (minutes, [labels], text)
    homework: list = field(default_factory=list)       # required labels
    optional: list = field(default_factory=list)
    stated_homework: int | None = None                 # minutes, from the summary table
    problem_set_minutes: int = 0

    def class_minutes(self) -> int:
        return sum(r[0] for r in self.rows)


def _summary(text: str) -> dict:
    """``{session: stated homework minutes}`` from the schedule's summary table."""
    out = {}
    for m in re.finditer(r"^\|\s*(\d)[^|]*\|[^|]*\|[^|]*\|\s*(?P<hw>[^|]*)\|\s*$", text, re.M):
        mins = re.findall(r"(\d+)\s*min", m["hw"])
        if mins:
            out[int(m[1])] = sum(int(x) for x in mins)
    return out


def week_limit(root: Path) -> int | None:
    """The schedule's limit on a week's required homework, in minutes ("Required homework is
    at most **N minutes** a week"), or None when the schedule states none."""
    text = Path(root, "course", "schedule.md").read_text()
    m = re.search(r"Required homework is at most \*\*(\d+) minutes\*\* a week", text)
    return int(m[1]) if m else None


def _problem_sets(root: Path) -> list:
    """``[(handed out in session, due before session, minutes)]`` from assessment.md."""
    text = Path(root, "course", "assessment.md").read_text()
    out = []
    for m in re.finditer(r"^\| Problem set (\d) \|.*?\| session (\d) \| before session (\d) \|",
                         text, re.M):
        sec = re.search(rf"## Problem set {m[1]}\b.*?about (\d+) hours", text, re.S)
        out.append((int(m[2]), int(m[3]), 60 * int(sec[1]) if sec else 0))
    return out


def budget(root: Path) -> list:
    """The sessions of ``course/schedule.md`` with their exercises and stated times."""
    root = Path(root)
    text = Path(root, "course", "schedule.md").read_text()
    stated = _summary(text)
    sessions = []
    parts = re.split(r"^## Session (\d+)[^\n]*?—\s*(.*)$", text, flags=re.M)
    for k in range(1, len(parts), 3):
        s = Session(int(parts[k]), parts[k + 1].strip())
        body = parts[k + 2]
        for m in re.finditer(r"^\|\s*(\d+)\s*\|(.*)\|\s*$", body, re.M):
            s.rows.append((int(m[1]), _LABEL_RE.findall(m[2]), m[2].strip()))
        hw = re.search(r"\*\*Homework:\*\*(.*?)(?:\n\n|\Z)", body, re.S)
        if hw:
            required, _, optional = hw[1].partition("optional:")
            s.homework = _LABEL_RE.findall(required)
            s.optional = _LABEL_RE.findall(optional)
        s.stated_homework = stated.get(s.number)
        sessions.append(s)
    for start, due, minutes in _problem_sets(root):
        weeks = [s for s in sessions if start <= s.number < due]
        for s in weeks:
            s.problem_set_minutes += minutes // len(weeks)
    return sessions


def placement(root: Path) -> dict:
    """``{label: (session, where)}`` of every exercise the schedule places, ``where`` one of
    ``"in class"``, ``"homework"``, ``"optional"``."""
    out = {}
    for s in budget(root):
        for where, labels in (("in class", [x for r in s.rows for x in r[1]]),
                              ("homework", s.homework), ("optional", s.optional)):
            for lab in labels:
                out.setdefault(lab, (s.number, where))
    return out


# ARENA-style importance, read off the schedule: what the sessions are built on comes first
_IMPORTANCE = {"in class": ("●●●", "core, in class"), "homework": ("●●○", "required homework"),
               "optional": ("●○○", "optional")}


def importance(where: str | None, session: int | None = None) -> str:
    """The importance of an exercise placed ``where`` (see :func:`placement`) in words, e.g.
    ``"importance ●●○ (required homework, session 2)"``; "not in the schedule" when unplaced.
    Book: course notebooks of every chapter with exercises."""
    if where is None:
        return "importance: not in the schedule"
    if where not in _IMPORTANCE:
        raise ValueError(f"where must be one of {sorted(_IMPORTANCE)} or None; got {where!r}")
    dots, words = _IMPORTANCE[where]
    return f"importance {dots} ({words}{f', session {session}' if session else ''})"


def _row_need(row, mins) -> int:
    """Minutes the chapters give the exercises of an in-class row ("half the room each": every
    student does one of them, so the longest)."""
    each = [mins[lab][1] for lab in row[1] if lab in mins]
    return max(each, default=0) if "half the room" in row[2] else sum(each)


def write(root: Path) -> bool:
    """Write ``course/_time-budget.md``; True when it changed."""
    path = Path(root, BUDGET_FILE)
    text = render(root)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def problems(root: Path) -> list[str]:
    """Every way a session is over its stated time, as sentences (empty: the budget holds)."""
    mins = exercise_minutes(root)
    limit = week_limit(root)
    out = [] if limit else ["course/schedule.md states no weekly limit on required homework "
                            "(\"Required homework is at most **N minutes** a week\")"]
    for s in budget(root):
        for minutes, labels, text in s.rows:
            need = _row_need((minutes, labels, text), mins)
            if need > minutes:
                out.append(f"session {s.number}: the row '{text[:60]}' gives {minutes} min to "
                           f"exercises the chapters budget at {need} min")
        if s.class_minutes() > CLASS_MINUTES:
            out.append(f"session {s.number}: {s.class_minutes()} min in class, over "
                       f"{CLASS_MINUTES}")
        required = sum(mins[lab][1] for lab in s.homework if lab in mins) + s.problem_set_minutes
        if s.stated_homework is not None and required > s.stated_homework:
            out.append(f"session {s.number}: required homework {required} min (exercises "
                       f"{required - s.problem_set_minutes}, problem set "
                       f"{s.problem_set_minutes}) over the stated {s.stated_homework} min")
        if limit and max(required, s.stated_homework or 0) > limit:
            out.append(f"session {s.number}: {max(required, s.stated_homework or 0)} min of "
                       f"required homework (stated or summed), over the weekly limit of "
                       f"{limit} min")
        if s.homework and s.stated_homework is None:
            out.append(f"session {s.number}: required homework exercises but no stated "
                       f"homework time in the summary table")
        unknown = [lab for r in s.rows for lab in r[1]] + s.homework + s.optional
        out += [f"session {s.number}: {lab} is not an exercise of the chapters"
                for lab in unknown if lab not in mins]
    return out


def render(root: Path) -> str:
    """The Markdown table of the budget (``course/_time-budget.md``)."""
    mins = exercise_minutes(root)
    lines = ["<!-- generated by `python -m psbook.course budget` from the chapters' exercise "
             "minutes, course/schedule.md and course/assessment.md: do not edit -->", "",
             "| session | in class: exercises / all (min) | homework exercises, required "
             "(min) | problem set (min) | homework required, total / stated (min) | optional "
             "(min) |", "|---|---|---|---|---|---|"]
    for s in budget(root):
        ex_class = sum(_row_need(r, mins) for r in s.rows)
        hw = sum(mins.get(lab, (0, 0))[1] for lab in s.homework)
        opt = sum(mins.get(lab, (0, 0))[1] for lab in s.optional)
        stated = "—" if s.stated_homework is None else str(s.stated_homework)
        lines.append(f"| {s.number} | {ex_class} / {s.class_minutes()} | {hw} | "
                     f"{s.problem_set_minutes or '—'} | {hw + s.problem_set_minutes} / "
                     f"{stated} | {opt or '—'} |")
    return "\n".join(lines) + "\n"
