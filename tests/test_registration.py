"""Steps that are easy to forget when a chapter or a check module is added: each is checked here
(CONTRIBUTING.md's recipes point to these tests)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from psbook.course import checks

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHECKS_DIR = ROOT / "src" / "psbook" / "course" / "checks"


def _toc_chapters() -> list:
    """The numbered chapters ``book/NN-name`` the table of contents lists, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part.get("chapters", [])]
    return [f for f in files if re.fullmatch(r"book/\d\d-[\w-]+", f)]


def test_every_chapter_file_is_in_the_table_of_contents():
    on_disk = sorted(f"book/{p.stem}" for p in BOOK.glob("[0-9][0-9]-*.md"))
    assert sorted(_toc_chapters()) == on_disk, (_toc_chapters(), on_disk)
    assert _toc_chapters() == sorted(_toc_chapters()), "chapters out of order in _toc.yml"


def test_every_check_module_is_registered():
    """A chNN.py beside the checks is in CHAPTERS and its checks reach all_checks(): none is
    dropped silently (a fixed range(2, 14) once dropped a chapter-14 module)."""
    present = sorted(p.stem for p in CHECKS_DIR.glob("ch[0-9][0-9].py"))
    assert present and checks.CHAPTERS == present, (checks.CHAPTERS, present)
    labels = checks.all_checks()
    for mod in present:
        n = mod[2:]
        assert any(label.startswith(f"ex-{n}-") for label in labels), (
            f"{mod}.py registers no check labelled ex-{n}-*")


def test_every_chapter_that_calls_checks_has_its_module_and_back():
    called = {}
    for md in BOOK.glob("[0-9][0-9]-*.md"):
        for mod in set(re.findall(r"\bchecks\.(ch\d\d)\.", md.read_text())):
            called.setdefault(mod, []).append(md.name)
            assert mod == f"ch{md.name[:2]}", f"{md.name} calls checks.{mod} (another chapter's)"
    present = {p.stem for p in CHECKS_DIR.glob("ch[0-9][0-9].py")}
    assert set(called) <= present, f"chapters call check modules that do not exist: " \
                                   f"{sorted(set(called) - present)}"
    assert present <= set(called), f"check modules no chapter calls: {sorted(present - set(called))}"


def _readme_chapter_rows() -> list:
    text = (ROOT / "README.md").read_text()
    head = text.index("| # | chapter | what it shows |")
    rows = []
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


def test_the_readme_chapter_table_is_current():
    """One README row per chapter of _toc.yml, in order, each named like the chapter's title."""
    rows = _readme_chapter_rows()
    chapters = _toc_chapters()
    assert [n for n, _ in rows] == [c[5:7] for c in chapters], (rows, chapters)
    for (n, title), chap in zip(rows, chapters):
        heading = next(line[2:] for line in (ROOT / f"{chap}.md").read_text().splitlines()
                       if line.startswith("# "))
        first = lambda s: re.sub(r"\W", "", s.split()[0]).lower()   # noqa: E731
        assert first(title) == first(heading), (
            f"README row {n} is {title!r}, the chapter is titled {heading!r}")
