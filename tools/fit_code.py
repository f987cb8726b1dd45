"""Check that the code a reader sees in the chapters reads on the page: no line too long for
the page's column, no code exploded into lines that are only a closing bracket.

The HTML page's code column at a 1280 px wide window holds 81 characters of code (measured in
Chromium on the built book: see ``COLUMN`` below; ``WIDTH`` = 80); a longer line needs
horizontal scrolling, which hides the end of the line (tests/test_browser.py fails on it). The
check reads the code cells of ``book/NN-*.md`` that the reader sees (not ``remove-cell`` /
``remove-input``) and the code blocks of the prose (solutions) and fails on

* a line over ``WIDTH`` characters (the setup cell's head, above
  ``# --- chapter imports below ---``, excepted: ``tools/release.py`` owns it);
* lines that are only a closing bracket (``)``, ``],``) beyond 5 % of a chapter's visible code
  lines: code reflowed to fit (one argument or one list item per line) instead of shortened.
  What counts as a visible line and as a bracket line is tools/page_metrics.py's definition
  (``measure_cells``, ``LIMITS["bracket_line_share"]``): the two tools agree by construction.

It rewrites nothing: a line that does not fit is shortened by its author -- by naming things,
moving bookkeeping into psbook, or splitting the cell (CONTRIBUTING.md, "Anatomy of a
chapter") -- never by reflowing it.

    python tools/fit_code.py                   # list what breaks a limit; exit 1 if anything
    python tools/fit_code.py book/05-*.md      # only these chapters

``tests/test_fit_code.py`` holds every chapter to it.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

# Measured in Chromium on the built book (sphinx-book-theme, window 1280 x 900): a code cell's
# <pre> is 634 px wide inside its padding; at the theme's 14 px code font a character is
# 8.43 px (75 characters), at the book's 13 px (tools/psbook_static/psbook.css) 7.83 px: 81.
COLUMN, CHAR = 634, 7.83
WIDTH = 80

MARKER = "# --- chapter imports below ---"
HIDDEN_TAGS = {"remove-cell", "remove-input", "remove_cell", "remove_input"}

_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>\{code-cell\}[^\n]*|[A-Za-z][\w+-]*)[ \t]*\n"
                    r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.S | re.M)
PYTHON = {"python", "python3", "ipython", "ipython3", "py"}


@dataclass
class Block:
    """A block of code in a chapter: ``start``/``end`` index ``text`` (the code only)."""
    path: Path
    kind: str          # "code-cell", "python" or another language (bash, text: not formatted)
    start: int
    end: int
    code: str
    tags: tuple
    line: int          # 1-based line of the code's first line in the file

    @property
    def visible(self) -> bool:
        return not (set(self.tags) & HIDDEN_TAGS)


def _split_header(body: str) -> tuple[str, list[str]]:
    """``(header, tags)`` of a code-cell body: MyST ``:key: value`` lines or a ``---`` YAML
    block, and the blank line after them."""
    lines = body.splitlines(keepends=True)
    i = 0
    tags: list[str] = []
    if lines and lines[0].strip() == "---":
        j = next((k for k in range(1, len(lines)) if lines[k].strip() == "---"), None)
        if j is not None:
            import yaml

            meta = yaml.safe_load("".join(lines[1:j])) or {}
            tags = list(meta.get("tags", []) or [])
            i = j + 1
    else:
        while i < len(lines) and re.match(r"^:[\w-]+:", lines[i]):
            m = re.match(r"^:tags:\s*\[(.*)\]\s*$", lines[i])
            if m:
                tags = [t.strip().strip("'\"") for t in m.group(1).split(",") if t.strip()]
            i += 1
    if i and i < len(lines) and not lines[i].strip():
        i += 1
    return "".join(lines[:i]), tags


def blocks(path: Path) -> list[Block]:
    """The code blocks of a chapter, in order."""
    text = path.read_text()
    out = []
    for m in _FENCE.finditer(text):
        body = m.group("body")
        info = m.group("info")
        kind = ("code-cell" if info.startswith("{code-cell}")
                else "python" if info in PYTHON else info)  # other languages: checked only
        header, tags = _split_header(body) if kind == "code-cell" else ("", [])
        start = m.start("body") + len(header)
        out.append(Block(path, kind, start, m.end("body"), text[start:m.end("body")],
                         tuple(tags), text.count("\n", 0, start) + 1))
    return out


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]-*.md"))


def _frozen_lines(code: str) -> int:
    """How many leading lines of ``code`` the tool must not touch (the setup cell's head)."""
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == MARKER:
            return i + 1
    return 0


def long_lines(block: Block, width: int = WIDTH) -> list[tuple[int, str]]:
    """``(file line, text)`` of each line of a visible block over ``width`` characters (the
    setup cell's head excepted)."""
    if not block.visible:
        return []
    skip = _frozen_lines(block.code)
    return [(block.line + i, line) for i, line in enumerate(block.code.splitlines())
            if i >= skip and len(line) > width]


# ---------------------------------------------------------------------------------------------
# Exploded code: lines that are only a closing bracket (tools/page_metrics.py measures them)

def _metrics():
    """tools/page_metrics.py (imported here, not at the top: it imports this module)."""
    import page_metrics

    return page_metrics


def bracket_lines(path: Path) -> tuple[int, int, list[tuple[int, str]]]:
    """``(bracket lines, visible lines, where)`` of a chapter: the visible code lines that are
    only a closing bracket (``)``, ``],``), counted as tools/page_metrics.py counts them (the
    visible cells of its ``measure_cells``: no setup cell, no one-line self-checks, no blank
    lines or magics), and ``(file line, text)`` of each."""
    pm = _metrics()
    ch = pm.Chapter(path.stem)
    pm.measure_cells(path, ch)
    where = []
    for b in blocks(path):
        if b.kind != "code-cell" or not b.visible or _frozen_lines(b.code):
            continue  # hidden cells and the setup cell are not measured
        where += [(b.line + i, line) for i, line in enumerate(b.code.splitlines())
                  if pm._ONLY_CLOSING.match(line.strip())]
    return ch.bracket_lines, ch.code_lines, where


def exploded(path: Path) -> list[tuple[int, str]]:
    """The bracket-only lines of a chapter when they are more than
    ``page_metrics.LIMITS["bracket_line_share"]`` (5 %) of its visible lines, else []."""
    n, total, where = bracket_lines(path)
    return where if n > _metrics().LIMITS["bracket_line_share"] * total else []


def problems(path: Path, width: int = WIDTH) -> list[str]:
    """What the check reports for one chapter, one line each (empty: the chapter passes)."""
    name = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    out = [f"{name}:{line}: {len(s)} > {width} characters: {s.strip()[:70]}"
           for b in blocks(path) for line, s in long_lines(b, width)]
    where = exploded(path)
    if where:
        n, total, _ = bracket_lines(path)
        limit = _metrics().LIMITS["bracket_line_share"]
        out.append(f"{name}: {n} of {total} visible code lines ({n / total:.0%}) are only a "
                   f"closing bracket (limit {limit:.0%}): name the pieces instead, e.g.")
        out += [f"{name}:{line}: {s.strip()}" for line, s in where[:5]]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="(the default; kept for old scripts)")
    ap.add_argument("--width", type=int, default=WIDTH, help=f"characters (default {WIDTH})")
    ap.add_argument("files", nargs="*", type=Path, help="chapters (default: book/NN-*.md)")
    args = ap.parse_args(argv)
    bad = [x for f in (args.files or chapters()) for x in problems(f, args.width)]
    print("\n".join(bad) or "visible code within the limits")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
