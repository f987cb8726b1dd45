"""How the book's pages read, measured: the numbers issue 26 holds the chapters to.

From the sources (``book/NN-*.md``, no build needed):

* visible code cells -- every ``{code-cell}`` a reader can see or unfold (not ``remove-cell`` /
  ``remove-input``), leaving out the setup cell and the one-line exercise self-checks
  (``checks.chNN.name(globals())``): lines per cell (median, largest), the share of cells of at
  most 5 lines, the share of their lines that are only closing brackets (``)``, ``],``), or end
  on an opening one (``foo(``), and the cells whose last statement is a ``print`` call;
* prose paragraphs (a blank-line separated block of text outside code, math and tables; a list
  item counts as its own paragraph): words (median, largest) and numbers per paragraph (glued
  values ``{glue:text}`` and decimal literals such as ``0.41``).

From the built HTML (``_build/html/book/*.html``, after ``jupyter-book build``):

* printed output lines wider than :data:`OUTPUT_WIDTH` characters;
* outputs that show a path of the building machine (:data:`MACHINE_PATH`);
* "1 seeds"-style counts, spreads printed as ``± 0.00``, outputs reading only "skipped";
* exercise numbers without their chapter ("Exercise 54" instead of "Exercise 5.3").

    python tools/page_metrics.py              # the table of every chapter, and the book
    python tools/page_metrics.py --check      # exit 1 and list what breaks a limit (LIMITS)
    python tools/page_metrics.py --json       # the numbers as JSON
    python tools/page_metrics.py --check book/05-*.md   # only these chapters
    python tools/page_metrics.py --notebook run.ipynb   # an executed notebook's outputs
    python tools/page_metrics.py --execute book/05-composite-addition.md   # run it, then check

``tests/test_page_metrics.py`` holds the source limits in the unit tests and the HTML limits
after the build (CI's browser part).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_code  # noqa: E402  (the chapters' code blocks: one parser for both tools)

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
HTML = ROOT / "_build" / "html" / "book"
OUTPUT_WIDTH = 80

#: the limits of issue 26 (source and HTML); ``check`` reports what breaks them
LIMITS = {
    "cell_median_lines": 6,          # median lines of a visible cell (book-wide)
    "cell_max_lines": 20,            # no visible cell longer
    "bracket_line_share": 0.05,      # lines that are only closing brackets
    "cells_ending_in_print": 0,
    "paragraph_median_words": 25,    # book-wide
    "paragraph_max_words": 120,
    "paragraph_max_numbers": 6,
    "wide_output_lines": 0,          # HTML: printed lines over OUTPUT_WIDTH
    "machine_paths": 0,              # HTML
    "bad_counts": 0,                 # HTML: "1 seeds", "± 0.00"
    "skipped_outputs": 0,            # HTML
    "global_exercise_numbers": 0,    # HTML
}

HIDDEN = {"remove-cell", "remove-input", "remove_cell", "remove_input"}
_SELF_CHECK = re.compile(r"^checks\.ch\d\d\.\w+\(globals\(\)\)\s*$")
_ONLY_CLOSING = re.compile(r"^[\)\]\}]+[,;:]?\)?$")
_OPENS = re.compile(r"[\(\[\{]$")
_GLUE = re.compile(r"\{glue(?::text|:any)?\}`[^`]+`")
_NUMBER = re.compile(r"(?<![\w.$\\{^_])[-+−]?\d+\.\d+(?![\w.])")
#: a path of the machine that built the book, in an output
MACHINE_PATH = re.compile(r"(/work/|/home/\w|/tmp/|/root/|/usr/(local/)?lib/python|/opt/conda|"
                          r"site-packages|dist-packages|\.venv/|[A-Z]:\\\\Users)")
_BAD_COUNT = re.compile(r"(?<![\d.])1 (seeds|runs|pairs|samples|steps|corpora|models)\b|"
                        r"± ?0\.0+(?![\d])")


@dataclass
class Chapter:
    name: str
    cell_lines: list = field(default_factory=list)
    bracket_lines: int = 0
    open_lines: int = 0
    code_lines: int = 0
    print_endings: list = field(default_factory=list)   # (file line, first line of the cell)
    long_cells: list = field(default_factory=list)      # (file line, lines)
    paragraphs: list = field(default_factory=list)      # (file line, words, numbers, start)
    html: dict = field(default_factory=dict)

    def summary(self) -> dict:
        cells = self.cell_lines
        words = [w for _, w, _, _ in self.paragraphs]
        nums = [n for _, _, n, _ in self.paragraphs]
        return {
            "cells": len(cells),
            "cell_median_lines": statistics.median(cells) if cells else 0,
            "cell_max_lines": max(cells, default=0),
            "cells_at_most_5": round(sum(c <= 5 for c in cells) / len(cells), 3) if cells else 0,
            "bracket_line_share": round(self.bracket_lines / max(1, self.code_lines), 3),
            "open_bracket_share": round(self.open_lines / max(1, self.code_lines), 3),
            "cells_ending_in_print": len(self.print_endings),
            "paragraphs": len(words),
            "paragraph_median_words": statistics.median(words) if words else 0,
            "paragraph_max_words": max(words, default=0),
            "paragraph_max_numbers": max(nums, default=0),
            **self.html,
        }


def _ends_in_print(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if not tree.body:
        return False
    last = tree.body[-1]
    return (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Name) and last.value.func.id == "print")


def measure_cells(path: Path, ch: Chapter) -> None:
    for b in fit_code.blocks(path):
        if b.kind != "code-cell" or set(b.tags) & HIDDEN:
            continue
        lines = b.code.rstrip("\n").splitlines()
        # IPython magics and blank lines are not code a reader reads
        body = [x for x in lines if x.strip() and not x.lstrip().startswith("%")]
        if fit_code.MARKER in (x.strip() for x in lines):
            continue  # the setup cell (tools/release.py owns its head)
        if len(body) == 1 and _SELF_CHECK.match(body[0].strip()):
            continue
        if not body:
            continue
        ch.cell_lines.append(len(body))
        ch.code_lines += len(body)
        ch.bracket_lines += sum(bool(_ONLY_CLOSING.match(x.strip())) for x in body)
        ch.open_lines += sum(bool(_OPENS.search(x.split("#")[0].rstrip())) for x in body)
        if _ends_in_print(b.code):
            ch.print_endings.append((b.line, body[0].strip()[:60]))
        if len(body) > LIMITS["cell_max_lines"]:
            ch.long_cells.append((b.line, len(body)))


_FENCE_LINE = re.compile(r"^(`{3,}|~{3,})")


def prose_blocks(text: str):
    """``(first line, text)`` of each paragraph of prose in a chapter's source."""
    lines = text.splitlines()
    i, n = 0, len(lines)
    if lines and lines[0].strip() == "---":  # front matter
        i = next((k for k in range(1, n) if lines[k].strip() == "---"), 0) + 1
    fences: list[str] = []   # open fences: code (skipped) or a prose directive (read)
    skipping = None          # the fence of a code block / math block being skipped
    para, start = [], 0

    def flush():
        nonlocal para
        if para:
            yield start, " ".join(para)
        para = []

    while i < n:
        line = lines[i]
        s = line.strip()
        if skipping is not None:
            if s == skipping:
                skipping = None
            i += 1
            continue
        m = _FENCE_LINE.match(s)
        if m:
            yield from flush()
            fence = m.group(1)
            info = s[len(fence):].strip()
            prose_directive = re.match(r"\{(admonition|exercise|solution|note|tip|warning|"
                                       r"important|prf:\w+|hint|seealso|caution)\}", info)
            if fences and s == fences[-1]:
                fences.pop()
            elif info and prose_directive:
                fences.append(fence)
                i += 1
                while i < n and re.match(r"^:[\w-]+:", lines[i].strip()):
                    i += 1  # directive options
                continue
            elif info or not fences:
                skipping = fence  # code, math, figures, glue directives...
            else:
                fences.pop() if fences else None
            i += 1
            continue
        if s.startswith("$$"):
            yield from flush()
            if not (len(s) > 2 and s.endswith("$$") and len(s) > 4):
                i += 1
                while i < n and not lines[i].strip().startswith("$$"):
                    i += 1
            i += 1
            continue
        if (not s or s.startswith(("#", "|", "<!--", "(", ":")) and not s.startswith("(")
                or s.startswith("<") or re.match(r"^\(.*\)=$", s)):
            yield from flush()
            i += 1
            continue
        if re.match(r"^([-*+]|\d+\.)\s", s):  # a list item: its own paragraph
            yield from flush()
        if not para:
            start = i + 1
        para.append(s)
        i += 1
    yield from flush()


def _words(text: str) -> int:
    text = _GLUE.sub(" N ", text)
    text = re.sub(r"\$[^$]+\$", " M ", text)               # inline math: one word
    text = re.sub(r"\{\w+(:\w+)?\}`([^`<]*)(<[^>]*>)?`", r" \2 ", text)  # roles: their text
    text = re.sub(r"\]\([^)]*\)", "]", text)             # link targets
    return len([w for w in re.split(r"\s+", text) if re.search(r"\w", w)])


def _numbers(text: str) -> int:
    glued = len(_GLUE.findall(text))
    plain = _GLUE.sub(" ", text)
    plain = re.sub(r"\$[^$]+\$", " ", plain)
    plain = re.sub(r"`[^`]*`", " ", plain)
    return glued + len(_NUMBER.findall(plain))


def measure_prose(path: Path, ch: Chapter) -> None:
    for line, text in prose_blocks(path.read_text()):
        ch.paragraphs.append((line, _words(text), _numbers(text), text[:70]))


def _output_texts(html: str):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup.select("noscript, div.psbook-knob script"):
        hidden.decompose()  # a knob's no-JavaScript text is its alt text, not an output line
    outputs = soup.select("div.cell_output")
    outputs += [o for o in soup.select("div.output") if not o.find_parent("div", "cell_output")]
    for out in outputs:  # each output once (a div.output sits inside its div.cell_output)
        for pre in out.find_all("pre"):
            yield pre.get_text()
        for part in out.select("div.text_html"):
            # an HTML output (a Table) is laid out by the page, not printed: its words are read
            # for paths and counts, never as one wide line
            yield "\x00HTML\x00" + part.get_text(" ")
    yield "\x00TITLES\x00" + " | ".join(
        t.get_text(" ") for t in soup.select("span.caption-number, p.admonition-title"))


def measure_html(path: Path, ch: Chapter) -> None:
    html = path.read_text(errors="replace")
    wide, paths, counts, skipped, numbers = [], [], [], [], []
    for text in _output_texts(html):
        if text.startswith("\x00TITLES\x00"):
            numbers += re.findall(r"Exercise \d+(?![.\d])", text)
            continue
        html_part = text.startswith("\x00HTML\x00")
        text = text.removeprefix("\x00HTML\x00")
        for line in ([] if html_part else text.splitlines()):
            if len(line) > OUTPUT_WIDTH:
                wide.append(line[:100])
        paths += [m.group(0) for m in MACHINE_PATH.finditer(text)]
        counts += [m.group(0) for m in _BAD_COUNT.finditer(text)]
        if text.strip().lower() in {"skipped", "skipped."}:
            skipped.append(text.strip())
    ch.html = {"wide_output_lines": len(set(wide)), "machine_paths": len(paths),
               "bad_counts": len(counts), "skipped_outputs": len(skipped),
               "global_exercise_numbers": len(numbers),
               "_examples": {"wide": sorted(set(wide))[:3], "paths": paths[:3],
                             "counts": counts[:3], "numbers": numbers[:3]}}


def notebook_outputs(path: Path) -> list[str]:
    """Problems in the outputs of an executed notebook (``jupyter nbconvert --execute``): the
    same checks as the built page's, for a chapter run alone without building the book."""
    nb = json.loads(Path(path).read_text())
    bad = []
    for n, cell in enumerate(nb.get("cells", [])):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & (HIDDEN | {"exercise-check", "remove-output", "remove_output"}):
            continue  # not on the page (check cells are removed from the book's pages)
        for out in cell.get("outputs", []):
            if set(out.get("data", {})) & {"image/png", "application/vnd.psbook.knob+json"}:
                continue  # a figure or knob: its text/plain is the alt text, not shown
            texts = [out.get("text", "")]
            texts += [out.get("data", {}).get(k, "") for k in ("text/plain", "text/html")
                      if k in out.get("data", {}) and "image/png" not in out.get("data", {})]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                if "<table" in text or "<div" in text:
                    continue  # HTML: the page lays it out
                wide = [x for x in text.splitlines() if len(x) > OUTPUT_WIDTH]
                bad += [f"cell {n}: output line of {len(x)} characters: {x[:60]}..." for x in wide]
                bad += [f"cell {n}: machine path {m.group(0)!r}"
                        for m in MACHINE_PATH.finditer(text)]
                bad += [f"cell {n}: {m.group(0)!r}" for m in _BAD_COUNT.finditer(text)]
    return bad


def execute(chapter: Path, out: Path) -> Path:
    """Run a chapter's source (``book/NN-*.md``) in a fresh kernel in ``book/``, as the build
    does, and write the executed notebook to ``out`` (for ``--notebook``)."""
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(chapter)
    nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(chapter.resolve().parent)}}
                            ).execute()
    nbformat.write(nb, out)
    return out


def measure(html_dir: Path | None = HTML, chapters=None) -> dict[str, Chapter]:
    out = {}
    for path in chapters or fit_code.chapters():
        ch = Chapter(path.stem)
        measure_cells(path, ch)
        measure_prose(path, ch)
        page = (html_dir / f"{path.stem}.html") if html_dir else None
        if page is not None and page.exists():
            measure_html(page, ch)
        out[path.stem] = ch
    return out


def book_summary(chapters: dict[str, Chapter]) -> dict:
    allc = Chapter("book")
    for ch in chapters.values():
        allc.cell_lines += ch.cell_lines
        allc.code_lines += ch.code_lines
        allc.bracket_lines += ch.bracket_lines
        allc.open_lines += ch.open_lines
        allc.print_endings += ch.print_endings
        allc.paragraphs += ch.paragraphs
    s = allc.summary()
    for key in ("wide_output_lines", "machine_paths", "bad_counts", "skipped_outputs",
                "global_exercise_numbers"):
        vals = [ch.html[key] for ch in chapters.values() if key in ch.html]
        if vals:
            s[key] = sum(vals)
    return s


def violations(chapters: dict[str, Chapter], source_only: bool = False) -> list[str]:
    """What breaks :data:`LIMITS`, one line each (file and line where there is one)."""
    out = []
    book = book_summary(chapters)
    for key in ("cell_median_lines", "bracket_line_share", "paragraph_median_words"):
        if book[key] > LIMITS[key]:
            out.append(f"book: {key} = {book[key]} (limit {LIMITS[key]})")
    for name, ch in chapters.items():
        src = f"book/{name}.md"
        out += [f"{src}:{line}: visible cell of {n} lines (limit {LIMITS['cell_max_lines']})"
                for line, n in ch.long_cells]
        out += [f"{src}:{line}: cell ends in print ({first})" for line, first in ch.print_endings]
        for line, words, nums, start in ch.paragraphs:
            if words > LIMITS["paragraph_max_words"]:
                out.append(f"{src}:{line}: paragraph of {words} words (limit "
                           f"{LIMITS['paragraph_max_words']}): {start}...")
            if nums > LIMITS["paragraph_max_numbers"]:
                out.append(f"{src}:{line}: paragraph with {nums} numbers (limit "
                           f"{LIMITS['paragraph_max_numbers']}; put them in a table): {start}...")
        if source_only:
            continue
        for key in ("wide_output_lines", "machine_paths", "bad_counts", "skipped_outputs",
                    "global_exercise_numbers"):
            if ch.html.get(key, 0) > LIMITS[key]:
                ex = ch.html["_examples"]
                example = {"wide_output_lines": ex["wide"], "machine_paths": ex["paths"],
                           "bad_counts": ex["counts"],
                           "global_exercise_numbers": ex["numbers"]}.get(key, "")
                out.append(f"_build/html/book/{name}.html: {key} = {ch.html[key]} "
                           f"(limit {LIMITS[key]}) {example}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a limit is broken")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--html", type=Path, default=HTML, help="the built pages (default %(default)s)")
    ap.add_argument("--source-only", action="store_true", help="ignore the built HTML")
    ap.add_argument("chapters", nargs="*", type=Path,
                    help="book/NN-*.md files to measure (default: every chapter); the book-wide "
                         "limits then apply to these")
    ap.add_argument("--notebook", type=Path, action="append", default=[],
                    help="an executed .ipynb whose outputs to check (wide lines, machine paths, "
                         "bad counts); may be repeated")
    ap.add_argument("--execute", type=Path, action="append", default=[],
                    help="a chapter (book/NN-*.md) to run first; its outputs are then checked "
                         "as with --notebook (the executed notebook: /tmp/NN-*.executed.ipynb)")
    args = ap.parse_args(argv)
    for chapter in args.execute:
        args.notebook.append(execute(chapter, Path("/tmp") / f"{chapter.stem}.executed.ipynb"))
    if args.notebook:
        bad = [f"{nb}: {x}" for nb in args.notebook for x in notebook_outputs(nb)]
        print("\n".join(bad) or "outputs within the limits")
        return 1 if bad else 0
    chapters = measure(None if args.source_only else args.html, args.chapters or None)
    rows = {name: {k: v for k, v in ch.summary().items() if not k.startswith("_")}
            for name, ch in chapters.items()}
    rows["book"] = book_summary(chapters)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        keys = [k for k in rows["book"]]
        print("chapter".ljust(34) + "  ".join(k for k in keys))
        for name, r in rows.items():
            print(name[:33].ljust(34) + "  ".join(str(r.get(k, "")).rjust(len(k)) for k in keys))
    if args.check:
        bad = violations(chapters, source_only=args.source_only)
        for line in bad:
            print(line)
        print(f"{len(bad)} limit(s) broken" if bad else "all limits held")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
