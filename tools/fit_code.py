"""Reformat the code a reader sees in the chapters so that it fits the page's column.

The HTML page's code column at a 1280 px wide window holds 81 characters of code
(measured in Chromium on the built book: see ``COLUMN`` below; ``WIDTH`` = 80); a longer line needs horizontal
scrolling, which hides the end of the line (tests/test_browser.py fails on it). This tool rewrites
the code cells of ``book/NN-*.md`` that the reader sees (not ``remove-cell`` / ``remove-input``),
and the ```` ```python ```` blocks of the prose (solutions), so that no line is longer than ``WIDTH``
(blocks in other languages, e.g. ``bash``, are checked but left to the author):

* only the top-level statements that hold a line over ``WIDTH`` are touched (the rest of a cell
  keeps its author's layout); each is reformatted with ``black --line-length WIDTH``, and with
  black's string splitting where a string literal is what is too long; black checks that the
  code means the same (AST-equivalent) before it is used;
* a comment line too long is re-wrapped; a trailing comment that makes a line too long moves
  onto its own line above the statement;
* cell headers (``:tags:``, MyST options), the setup cell's head (above
  ``# --- chapter imports below ---``: ``tools/release.py`` owns it) and everything outside code
  are left as they are.

    python tools/fit_code.py            # rewrite the chapters in place; list what still does not fit
    python tools/fit_code.py --check    # exit 1 and list the lines over WIDTH (no rewrite)

``tests/test_fit_code.py`` fails when a visible code line of a chapter is too long.
Needs black (``pip install black``; in requirements.txt).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import textwrap
import tokenize
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
# Formatting

def _black():
    try:
        import black
    except ImportError as exc:  # pragma: no cover - a message, not a traceback
        raise SystemExit("tools/fit_code.py needs black: pip install black") from exc
    return black


def _black_segment(src: str, width: int) -> str:
    """``src`` (complete top-level statements) formatted by black; with string splitting when
    the plain pass leaves a line too long. Returns ``src`` unchanged when black fails."""
    black = _black()
    modes = [black.Mode(line_length=width)]
    try:  # string splitting is one of black's preview features
        modes.append(black.Mode(line_length=width, preview=True, unstable=True))
    except TypeError:  # pragma: no cover - older black
        pass
    best = src
    for mode in modes:
        try:
            out = black.format_str(src, mode=mode)
            black.assert_equivalent(src, out)
        except Exception:  # noqa: BLE001 - keep the author's code when black cannot help
            continue
        best = out
        if max((len(x) for x in out.splitlines()), default=0) <= width:
            break
    return best


def _comment_of(line: str) -> int | None:
    """Column where a trailing ``#`` comment starts in a line of code (None: no comment)."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    for t in toks:
        if t.type == tokenize.COMMENT:
            return t.start[1]
    return None


def _wrap_comment(indent: str, comment: str, width: int) -> list[str]:
    text = comment.lstrip("#").strip()
    if text.upper().startswith(("BEGIN SOLUTION", "END SOLUTION")) or comment.startswith("###"):
        return [indent + comment]  # nbgrader markers stay as they are
    lines = textwrap.wrap(text, width=max(20, width - len(indent) - 2),
                          break_long_words=False, break_on_hyphens=False)
    return [f"{indent}# {x}" for x in lines] or [indent + "#"]


def _fix_comments(lines: list[str], width: int, frozen: int) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        if i < frozen or len(line) <= width:
            out.append(line)
            continue
        s = line.lstrip()
        indent = line[:len(line) - len(s)]
        if s.startswith("#"):
            out.extend(_wrap_comment(indent, s, width))
            continue
        col = _comment_of(line)
        if col is not None and not line[col:].startswith(("# noqa", "# type:")):
            code = line[:col].rstrip()
            if len(code) + 2 + len(line[col:]) <= width:  # aligned comments: less space
                out.append(f"{code}  {line[col:]}")
                continue
            # the comment goes above the line, at the indentation of the line
            out.extend(_wrap_comment(indent, line[col:], width))
            out.append(code)
            continue
        out.append(line)
    return out


def _statement_spans(tree: ast.Module) -> list[tuple[int, int]]:
    """0-based inclusive line spans of the top-level statements, overlapping ones merged."""
    spans = []
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        spans.append([first - 1, node.end_lineno - 1])
    merged: list[list[int]] = []
    for s in sorted(spans):
        if merged and s[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], s[1])
        else:
            merged.append(s)
    return [tuple(s) for s in merged]


def fit(code: str, width: int = WIDTH) -> str:
    """``code`` (one block) with its too-long lines reformatted; unchanged when all fit or when
    it is not plain Python (IPython magics, shell escapes, a syntax error)."""
    lines = code.splitlines()
    frozen = _frozen_lines(code)
    if all(len(x) <= width for x in lines[frozen:]):
        return code
    # IPython magics and shell escapes (`%pip ...`, `!ls`) become placeholders while black runs
    magics = {}
    for i, x in enumerate(lines):
        if x.lstrip().startswith(("%", "!")):
            key = f"__fit_code_magic_{i}__"
            magics[key] = x
            lines[i] = x[:len(x) - len(x.lstrip())] + f"{key} = None"
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return code
    # comments first (a trailing comment moved above its line lets the code fit as it is),
    # then black on the statements that are still too long
    lines = _fix_comments(lines, width, frozen)
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return code
    for a, b in reversed(_statement_spans(tree)):
        if b < frozen or all(len(x) <= width for x in lines[a:b + 1]):
            continue
        seg = "\n".join(lines[a:b + 1]) + "\n"
        lines[a:b + 1] = _black_segment(seg, width).rstrip("\n").split("\n")
    lines = _fix_comments(lines, width, frozen)  # comments black left too long
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:  # never write code that does not parse
        return code
    for i, x in enumerate(lines):
        key = x.strip().split(" = ")[0]
        if key in magics:
            lines[i] = x[:len(x) - len(x.lstrip())] + magics[key].lstrip()
    if len(magics) != sum(1 for x in lines if x.lstrip().startswith(("%", "!"))):
        return code  # a magic got lost: keep the author's code
    return "\n".join(lines) + ("\n" if code.endswith("\n") else "")


def fit_file(path: Path, width: int = WIDTH, write: bool = True) -> list[tuple[int, str]]:
    """Reformat the visible blocks of a chapter; returns the lines still over ``width``."""
    text = path.read_text()
    new = text
    for b in reversed(blocks(path)):
        if b.visible and b.kind in ("code-cell", "python"):
            new = new[:b.start] + fit(b.code, width) + new[b.end:]
    if write and new != text:
        path.write_text(new)
    left = []
    for b in blocks(path) if write else []:
        left += long_lines(b, width)
    return left


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="list the lines over the width; no rewrite")
    ap.add_argument("--width", type=int, default=WIDTH, help=f"characters (default {WIDTH})")
    ap.add_argument("files", nargs="*", type=Path, help="chapters (default: book/NN-*.md)")
    args = ap.parse_args(argv)
    files = args.files or chapters()
    bad = 0
    for f in files:
        if args.check:
            left = [x for b in blocks(f) for x in long_lines(b, args.width)]
        else:
            left = fit_file(f, args.width)
        for line, s in left:
            name = f.resolve().relative_to(ROOT) if f.resolve().is_relative_to(ROOT) else f
            print(f"{name}:{line}: {len(s)} > "
                  f"{args.width}: {s.strip()[:70]}")
        bad += len(left)
    if bad:
        print(f"{bad} visible code lines over {args.width} characters", file=sys.stderr)
    return 1 if (bad and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
