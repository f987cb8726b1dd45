"""The Colab notebooks: generated from the chapters, no raw MyST, numbers as the HTML shows them.

tools/colab.py turns each chapter's MyST markdown into Jupyter markdown (see its docstring).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupytext")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402

CHAPTERS = colab.chapters()
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def book():
    return colab.load_book()


def _nb(md: Path) -> dict:
    return json.loads(md.with_suffix(".ipynb").read_text())


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_generated_notebook_has_no_raw_myst(md: Path):
    nb = md.with_suffix(".ipynb")
    assert nb.exists(), f"{md.name} has no generated {nb.name}: run `make pair`"
    for k, cell in enumerate(_nb(md)["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        left = colab.raw_myst("".join(cell["source"]))
        assert not left, f"{nb.name} cell {k}: raw MyST reaches Colab: {left}; run `make pair`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_solutions_are_folded(md: Path):
    for cell in _nb(md)["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "Solution to" in src:
            assert "<details>" in src, f"{md.name}: a solution in plain view:\n{src[:200]}"
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and "exercise" in tags:
            assert src.startswith(colab.SOLUTION_TITLE) and cell["metadata"].get("cellView") == \
                "form", f"{md.name}: exercise solution cell not folded: {src[:80]!r}"
        if cell["cell_type"] == "code" and "remove-cell" in tags:
            assert src.startswith(colab.HIDDEN_MARK), f"{md.name}: hidden cell not marked"


# ---- the converter on small inputs (each would fail without the rule it checks)

def _render(book, text, doc="05-composite-addition", glue_pos=None):
    r = colab.Renderer(book, doc, glue_pos or {})
    r.cell_index = 5
    return r.render(colab.parse_blocks(text, "t.md"))


def test_prf_block_heading_numbers_and_eq_tags(book):
    lab = next(k for k, t in book.targets.items() if t.text.startswith("Definition")
               and t.doc == "05-composite-addition")
    eq = next(k for k, t in book.targets.items() if t.text.startswith("(")
              and t.doc == "05-composite-addition")
    n = book.targets[lab].text
    src = (f"```{{prf:definition}} Thing $x$\n:label: {lab}\n\nBody\n\n$$\na=b\n$$ ({eq})\n```\n"
           f"See {{prf:ref}}`{lab}` and {{eq}}`{eq}`.")
    out = _render(book, src)
    num = book.targets[eq].text.strip("()")
    assert f"**{n} (Thing $x$)**" in out and f"\\tag{{{num}}}" in out
    assert f"See {n} and ({num})." in out
    assert not colab.raw_myst(out)


def test_cross_chapter_refs_link_to_the_published_page(book):
    out = _render(book, "{doc}`02-probability-signatures` and {cite:p}`yao2025probability` "
                        "and {cite:t}`yao2025analysis`")
    assert f"]({book.site}book/02-probability-signatures.html)" in out
    bib = f"{book.site}book/bibliography.html"
    assert f"([Yao and Xu, 2025]({bib}#cite-yao2025probability))" in out
    assert f"[Yao et al. (2025)]({bib}#cite-yao2025analysis)" in out


def test_solutions_fold_admonitions_quote_and_glue_makes_a_live_paragraph(book):
    r = colab.Renderer(book, "05-composite-addition")
    pieces = r.pieces("```{admonition} Compute\n:class: note\nFast.\n```\n\n"
                      "Value {glue:text}`r_a:.2f` and $x_{i}$.\n\nPlain $a$ text.", "t.md")
    assert [k for k, _ in pieces] == ["markdown", "prose", "markdown"], pieces
    assert "> **Compute**" in pieces[0][1] and "> Fast." in pieces[0][1]
    # the chapter-time markers are bookkeeping for time_chapters.py: not in the notebook
    out = r.pieces("```{admonition} Compute\n:class: note\nSizes.\n<!-- chapter-time: begin -->\n"
                   "Measured: 5 s.\n<!-- chapter-time: end -->\n```\n")[0][1]
    assert "<!--" not in out and "> Measured: 5 s." in out and "> Sizes." in out
    assert pieces[1][1] == "Value {glue:text}`r_a:.2f` and $x_{i}$."
    assert pieces[2][1] == "Plain $a$ text."
    ex = next(iter(book.exercises))
    out = _render(book, f"````{{solution}} {ex}\n:class: dropdown\n\n```python\nx = 1\n```\n"
                        "Text {eq}`" + next(k for k, t in book.targets.items()
                                             if t.text.startswith("(")) + "`\n````")
    assert out.startswith("<details>") and "```python\nx = 1\n```" in out
    assert not colab.raw_myst(out)


def test_folded_proofs_stay_folded(book):
    assert _render(book, "```{prf:proof}\n:class: dropdown\nEasy.\n```").startswith("<details>")
    assert _render(book, "```{prf:proof}\nEasy.\n```").startswith("*Proof.* Easy.")


def test_code_inside_backticks_is_left_alone(book):
    out = _render(book, "Write ``{glue:text}`name` `` in prose.")
    assert "``{glue:text}`name` ``" in out


@pytest.mark.parametrize("src,what", [
    ("```{figure} x.png\n```", "{figure}"),
    ("```{tab-set}\n```", "{tab-set}"),
    ("A {kbd}`Ctrl` key.", "{kbd}"),
    ("```{admonition} T\n:width: 3\nx\n```", "width"),
    ("{eq}`no-such-label`", "no-such-label"),
    ("{cite:p}`no_such_key`", "no_such_key"),
])
def test_unknown_myst_is_an_error_naming_it(book, src, what):
    with pytest.raises(colab.MystError, match=re.escape(what)):
        _render(book, src)


def test_raw_myst_detector_catches_what_it_must():
    for bad in ["{glue:text}`x`", "{eq}`a`", "```{prf:definition} A\n```", ":label: x",
                "(sec-a)=", "$$\nx\n$$ (eq-a)", "{cite:p}`k`", "{doc}`p`", "{kbd}`x`"]:
        assert colab.raw_myst(bad), bad
    assert not colab.raw_myst("```python\nd = {eq}\n```\nplain $x$ text")


# ---- numbers: what the converter derives equals what Sphinx printed

_NUMBER = r"\d+(?:\.\d+)?"   # "5.3" in a numbered chapter (a plain count elsewhere)


def _html_numbers() -> dict:
    out = {}
    for page in (HTML / "book").glob("[0-9][0-9]-*.html"):
        t = page.read_text()
        for m in re.finditer(r'id="equation-([^"]+)">\s*<span class="eqno">(\(' + _NUMBER
                             + r'\))', t):
            out[m.group(1)] = m.group(2)
        for m in re.finditer(r'<div class="[^"]*admonition[^"]*" id="([^"]+)">\s*'
                             r'<p class="admonition-title"><span class="caption-number">'
                             r'([A-Za-z]+ ' + _NUMBER + r') </span>', t):
            out[m.group(1)] = m.group(2)
    return out


def _html_chapter_numbers() -> dict:
    """doc stem -> the number the built sidebar shows before its title ("5. ")."""
    page = next((HTML / "book").glob("[0-9][0-9]-*.html"))
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'<a class="reference internal" href="(?:\.\./book/)?([0-9][0-9]-[\w-]+)\.html">'
        r'(\d+)\. ', page.read_text())}


def test_numbers_are_chapter_local_and_chapters_are_their_file_numbers(book):
    """Exercise 5.3, Definition 2.1, equation (5.2): chapter N's blocks are numbered N.1, N.2,
    ..., and chapter N is the file book/NN-*.md (the front page takes no number)."""
    chapters = colab.chapter_numbers()
    assert chapters and all(int(doc[:2]) == n for doc, n in chapters.items()), chapters
    assert {p.stem for p in CHAPTERS} <= set(chapters), "a chapter without a number"
    numbered = [(k, t) for k, t in book.targets.items() if re.match(r"^(\(\d|[A-Z]\w+ \d)",
                                                                      t.text)]
    assert numbered
    for label, t in numbered:
        n = re.search(_NUMBER, t.text).group(0)
        assert n.startswith(f"{int(t.doc[:2])}."), (label, t.doc, t.text)
    firsts = {t.text for t in book.targets.values() if t.doc == "05-composite-addition"}
    assert "(5.1)" in firsts and "Definition 5.1" in firsts, sorted(firsts)
    assert {n for n, _, d in book.exercises.values() if d == "05-composite-addition"} >= {"5.1"}


@pytest.mark.skipif(not (HTML / "book").is_dir(), reason="no built book in _build/html")
def test_numbers_match_the_built_html(book):
    html = _html_numbers()
    assert html, "found no numbered equations or blocks in _build/html"
    mine = {k: t.text for k, t in book.targets.items()
            if re.match(r"^(\(" + _NUMBER + r"\)|[A-Z]\w+ " + _NUMBER + ")$", t.text)}
    common = set(html) & set(mine)
    assert len(common) >= 0.9 * len(mine), f"labels not found in the HTML: {set(mine) - set(html)}"
    wrong = {k: (mine[k], html[k]) for k in common if mine[k] != html[k]}
    assert not wrong, f"numbers differ from the HTML (converter, html): {wrong}"
    # the sidebar's chapter numbers are the converter's (and the files')
    sidebar = _html_chapter_numbers()
    assert sidebar and sidebar == {d: n for d, n in colab.chapter_numbers().items()
                                   if d in sidebar}, sidebar


# ---- glue: silent, stored, formatted as the HTML formats it

def _without_myst_nb(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_myst_nb(name, *a, **k):
        if name == "myst_nb" or name.startswith("myst_nb."):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)


def test_glue_is_silent_without_myst_nb_and_keeps_the_values(monkeypatch, capsys):
    from psbook import notebook

    _without_myst_nb(monkeypatch)
    monkeypatch.setattr(notebook, "_VALUES", {})
    notebook.glue("r_x", "0.93")
    out = notebook.glue_all({"a": 1.23456, "b": "yes"}, fmt="{:.2f}")
    assert capsys.readouterr().out == "", "glue printed name = value"
    assert notebook._VALUES == {"r_x": "0.93", "a": "1.23", "b": "yes"}
    assert out == {"a": 1.23456, "b": "yes"}


def test_a_cell_ending_in_glue_all_echoes_nothing():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    fmt, _ = shell.display_formatter.format(
        __import__("psbook.notebook", fromlist=["x"]).glue_all({"q": 0.5}))
    assert fmt == {}, f"glue_all's result is echoed: {fmt}"


def test_glue_stores_numpy_scalars_as_python_numbers(monkeypatch):
    """myst-nb formats `{glue:text}`x:.2f`` from the value's repr; numpy 2's repr of a scalar
    (np.float64(0.31)) is not a number and broke the build -- glue passes plain numbers."""
    import types

    import numpy as np

    from psbook import notebook
    seen = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=False: seen.update({name: value})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    notebook.glue_all({"f": np.float64(0.3125), "i": np.int64(3), "s": "x"})
    assert seen == {"f": 0.3125, "i": 3, "s": "x"}
    assert type(seen["f"]) is float and type(seen["i"]) is int
    assert notebook._VALUES["f"] == 0.3125 and type(notebook._VALUES["f"]) is float


def _book_specs() -> set:
    specs = {""}
    for md in CHAPTERS:
        for ref in re.findall(r"\{glue:text\}`([^`]+)`", md.read_text()):
            specs.add(ref.rsplit(":", 1)[1] if ":" in ref else "")
    return specs


def test_format_glue_is_what_the_html_shows():
    """psbook.notebook.format_glue against myst-nb's own formatting of the text/plain that
    myst-nb stores (as the book's build runs it: without negative zeros, tools/psbook_sphinx.py),
    for every format spec the chapters use and values of each kind."""
    pytest.importorskip("myst_nb.ext.glue.roles")
    from IPython.core.formatters import format_display_data
    import psbook_sphinx
    from myst_nb.ext.glue import roles as mystnb
    psbook_sphinx._glue_no_negative_zero()

    import numpy as np

    from psbook.notebook import format_glue
    specs = _book_specs() | {"s", ".1f", "d", ",d"}
    assert {".2f", ".3f", ".0%", ".0f"} <= specs, specs
    values = [0.123456789, 2.0, -0.5, -0.001, -0.0, 13, 0, 1234567, np.float64(0.31), np.int64(7),
              "0.93 ± 0.02", "1,234", "**higher**", "n/a", 1e-7, float("nan"), True]
    checked = 0
    for v in values:
        plain = v.item() if isinstance(v, np.generic) else v
        text = format_display_data(plain)[0]["text/plain"]
        for spec in sorted(specs):
            try:
                want = mystnb.format_plain_text(text, spec or "s")
            except (ValueError, TypeError) as e:
                with pytest.raises(type(e)):
                    format_glue(v, spec)
                continue
            assert format_glue(v, spec) == want, (v, spec)
            checked += 1
    assert checked > 100


def test_prose_shows_values_and_updates_when_a_later_cell_glues():
    from psbook import notebook

    text, missing = notebook.render_prose("R = {glue:text}`a:.2f`, n = {glue:text}`n`.",
                                          {"a": 0.31234, "n": "1,000"})
    assert text == "R = 0.31, n = 1,000." and missing == []
    text, missing = notebook.render_prose("R = {glue:text}`zz:.2f`.", {})
    assert missing == ["zz"] and "printed" not in text and "zz" in text

    class Handle:
        def __init__(self):
            self.shown = []

        def update(self, obj):
            self.shown.append(obj.data)

    h = Handle()
    saved = notebook._WAITING[:]
    notebook._WAITING[:] = [["x = {glue:text}`later_x:.1f`", h]]
    try:
        notebook.glue("later_x", 2.25)
        assert h.shown == ["x = 2.2"] and notebook._WAITING == []
    finally:
        notebook._WAITING[:] = saved


# ---- every generated notebook: live prose, no "printed above", math that survives

def _all_notebooks() -> list[Path]:
    return [md.with_suffix(".ipynb") for md in CHAPTERS] + \
        sorted(ROOT.glob("course/notebooks/*/[0-9][0-9]-*.ipynb"))


NOTEBOOKS = _all_notebooks()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cited_numbers_are_live_cells_not_names(nb: Path):
    cells = json.loads(nb.read_text())["cells"]
    setup = next(k for k, c in enumerate(cells) if c["cell_type"] == "code"
                 and "google.colab" in "".join(c["source"]))
    for k, c in enumerate(cells):
        src = "".join(c["source"])
        assert "(printed above)" not in src and "(printed below)" not in src, (
            f"{nb.name} cell {k}: a glue name stands for a number: run `make pair`")
        if colab.is_prose_cell(c):
            assert k > setup, f"{nb.name} cell {k}: a live paragraph before the setup cell"
            assert c["metadata"].get("cellView") == "form" and \
                c["metadata"]["jupyter"]["source_hidden"] and src.startswith(colab.PROSE_TITLE)
            text = colab.prose_markdown(src)
            assert GLUE.search(text), f"{nb.name} cell {k}: a live cell that cites nothing"
        elif c["cell_type"] == "markdown":
            assert not GLUE.search(src), f"{nb.name} cell {k}: a glue reference in Markdown"


GLUE = re.compile(r"\{glue(?::\w+)?\}`")


@pytest.mark.parametrize("nb", sorted(ROOT.glob("course/notebooks/*/[0-9][0-9]-*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_course_notebooks_keep_every_cell_that_glues(nb: Path):
    """The course notebooks drop the book's hidden cells, but not those that glue: the live
    paragraphs need their values (issue 19: numbers the prose cites must appear)."""
    import jupytext

    md = ROOT / "book" / f"{nb.stem}.md"
    have = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "code"]
    glue_cells = [c.source.strip() for c in jupytext.read(md).cells if c.cell_type == "code"
                  and re.search(r"\bglue(_all)?\(|\bclaim\(", c.source)]  # claims.claim glues
    assert glue_cells
    lost = [g for g in glue_cells if not any(g in h for h in have)]
    assert not lost, f"{nb.relative_to(ROOT)} lost cells that glue: {[x[:80] for x in lost]}"


def _html_text(markdown: str) -> str:
    import html

    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").render(markdown)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", out)))


def test_math_survives_a_renderer_without_math_protection_on_small_inputs():
    cases = ["$\\mathcal D=\\{(X_n,y_n)\\}_{n=1}^N$", "$\\phi^{X|y}_x(\\beta)$",
             "$a\\,b\\;c\\!d$", "$x^*_i * y$", "$a<b$", "$\\#\\{s\\}$", "$a~b$",
             "$$\n\\begin{aligned} a &= b \\\\\n- c &= d\n\\end{aligned}\n$$"]
    for case in cases:
        src = f"Text *emph* {case} and _more_ $\\mathbf{{a}}_{{i}}$ end."
        out = colab.protect_math(src)
        spans = colab.math_spans(out)
        assert len(spans) == 2, (case, spans)
        text = _html_text(out)
        for sp in spans:
            assert re.sub(r"\s+", " ", sp) in text, (case, sp, text)
        assert "emph" in text and "$" in text
    # without protection the same inputs break (the test can fail)
    broken = [c for c in cases if c not in _html_text(c)]
    assert len(broken) >= 4, broken


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_math_span_arrives_intact_in_plain_commonmark(nb: Path):
    from psbook.notebook import render_prose

    n = 0
    for k, c in enumerate(json.loads(nb.read_text())["cells"]):
        src = "".join(c["source"])
        if colab.is_prose_cell(c):
            src = render_prose(colab.prose_markdown(src), {})[0]
        elif c["cell_type"] != "markdown":
            continue
        text = _html_text(src)
        for sp in colab.math_spans(src):
            n += 1
            want = re.sub(r"\s+", " ", sp)
            assert want in text, f"{nb.name} cell {k}: math span broken by Markdown: {sp!r}"
    if "01-" not in nb.name:
        assert n >= 10, f"{nb.name}: found only {n} math spans"


# ---- citations: the entry's anchor, as sphinxcontrib-bibtex writes it

def test_citation_links_point_at_entry_anchors_that_sphinx_writes(book, tmp_path):
    """A two-page Sphinx project with this book's references.bib and bibtex_cite_id: every
    entry's id in the built HTML is the anchor the notebooks link to."""
    pytest.importorskip("sphinxcontrib.bibtex")
    from sphinx.application import Sphinx

    cfg = colab._config()["sphinx"]["config"]
    src = tmp_path / "src"
    src.mkdir()
    keys = sorted(book.bib)
    (src / "conf.py").write_text(
        "extensions = ['sphinxcontrib.bibtex']\n"
        f"bibtex_bibfiles = [{str(ROOT / 'book' / 'references.bib')!r}]\n"
        f"bibtex_cite_id = {cfg['bibtex_cite_id']!r}\n"
        f"bibtex_reference_style = {cfg['bibtex_reference_style']!r}\n")
    (src / "index.rst").write_text("Index\n=====\n\n" + " ".join(f":cite:p:`{k}`" for k in keys)
                                   + "\n\n.. toctree::\n\n   bibliography\n")
    (src / "bibliography.rst").write_text("Bibliography\n============\n\n.. bibliography::\n")
    import io

    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=warnings, freshenv=True)
    app.build()
    assert "bibtex" not in warnings.getvalue() and "duplicate" not in warnings.getvalue(), \
        warnings.getvalue()
    page = (tmp_path / "html" / "bibliography.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', page))
    for key in keys:
        anchor = colab.cite_anchor(book.cite_id, key)
        assert anchor in ids, f"no id {anchor!r} for {key} in the built bibliography"
        assert book.cite_url(key).endswith(f"bibliography.html#{anchor}")
    # and every citation link in the notebooks carries one of those anchors
    bib = f"{book.site}book/bibliography.html"
    for nb in NOTEBOOKS:
        text = nb.read_text()
        assert f"{bib})" not in text, f"{nb.name}: a citation links to the bare page"
        for anchor in re.findall(re.escape(bib) + r"#([\w-]+)", text):
            assert anchor in ids, f"{nb.name}: link to unknown entry #{anchor}"


# ---- one chapter executed: the live paragraphs show this run's numbers

@pytest.mark.slow
def test_an_executed_chapter_shows_numbers_in_its_live_paragraphs(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    monkeypatch.setenv("PSBOOK_PRESET", "tiny")
    path = ROOT / "book" / "02-probability-signatures.ipynb"   # ~6 s CPU in the tiny preset
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    live = [c for c in nb.cells if colab.is_prose_cell(c)]
    assert len(live) >= 3
    for c in live:
        shown = "".join(o.get("data", {}).get("text/markdown", "") for o in c.outputs)
        refs = GLUE.findall(colab.prose_markdown(c.source))
        assert shown and not GLUE.search(shown), f"live cell shows no paragraph: {c.outputs}"
        assert "not computed yet" not in shown, f"a value never arrived:\n{shown}"
        assert re.search(r"\d", shown), shown
        assert not re.search(r"\d\.\d{7,}", shown), f"a long float in the prose:\n{shown}"
        assert refs
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            text = o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
            assert not re.search(r"^\w+ = [-\d.]+$", text, re.M), f"a name = value dump:\n{text}"
            assert "np.float64(" not in text, f"an echoed dict of numpy floats:\n{text[:300]}"


def test_a_live_paragraph_runs_in_a_kernel_and_fills_in_a_value_glued_later(book):
    """A small notebook made by the converter: a glue cell, a live paragraph citing a value
    glued above and one glued below, then the cell that glues it (as Run-all runs it)."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    r = colab.Renderer(book, "05-composite-addition")
    cells = colab.markdown_cells(r, "Above {glue:text}`t_a:.2f`, below {glue:text}`t_b`, "
                                    "and $x_{i}$.", "t.md")
    assert [c.cell_type for c in cells] == ["code"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from psbook.notebook import glue, glue_all\n"
                                          "glue_all({'t_a': 0.12345})"),
                *cells, nbformat.v4.new_code_cell("glue('t_b', 'seven')")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    def visible(cell):  # myst-nb's glue outputs (when installed) carry no visible mime type
        return [o for o in cell.outputs if o.output_type != "display_data"
                or set(o.get("data", {})) & {"text/plain", "text/markdown", "text/html"}]

    assert visible(nb.cells[0]) == [], f"glue_all echoed: {nb.cells[0].outputs}"
    shown = [o["data"]["text/markdown"] for o in nb.cells[1].outputs]
    assert shown == ["Above 0.12, below seven, and $x_{i}$."], shown
    assert visible(nb.cells[2]) == [], f"glue printed something: {nb.cells[2].outputs}"


# ---- links: every link of the generated notebooks lands on an id the built site has

_MD_LINK = re.compile(r"\]\((https?://[^)\s]+)\)")


def _notebook_links() -> list[tuple[Path, str]]:
    """(notebook, url) of every Markdown link in the book's and the course's notebooks (in
    Markdown cells and in the live prose cells' paragraphs)."""
    out = []
    for nb in NOTEBOOKS:
        for c in json.loads(nb.read_text())["cells"]:
            out += [(nb, u) for u in _MD_LINK.findall("".join(c["source"]))]
    return out


def _static_site_ids(book) -> dict:
    """{page: ids} that the build writes, derived from the sources without a build, by the
    rules test_anchor_rules_are_what_sphinx_writes checks on a real (small) Sphinx build:
    labelled equations make_id("equation-" + label); `(label)=` targets make_id(label);
    prf and exercise `:label:`s as written; bibliography entries as test_citation_links_...
    checks."""
    from docutils.nodes import make_id

    ids: dict = {}
    for md in CHAPTERS:
        text = md.read_text()
        page = ids.setdefault(f"book/{md.stem}.html", set())
        page |= {make_id("equation-" + m) for m in
                 re.findall(r"^\$\$.*?\$\$[ \t]*\(([\w.:-]+)\)[ \t]*$", text, re.M | re.S)}
        page |= {make_id(m) for m in re.findall(r"^\(([\w.:-]+)\)=[ \t]*$", text, re.M)}
        page |= set(re.findall(r"^:label:[ \t]*(\S+)[ \t]*$", text, re.M))
    for page in list(ROOT.glob("book/*.md")) + list(ROOT.glob("course/*.md")):
        ids.setdefault(f"{page.parent.name}/{page.stem}.html", set())
    ids["book/bibliography.html"] = {colab.cite_anchor(book.cite_id, k) for k in book.bib}
    return ids


def _check_links(book, ids: dict) -> list[str]:
    bad = []
    for nb, url in _notebook_links():
        if not url.startswith(book.site):
            continue   # Colab, GitHub, DOIs: not the book's site
        path, _, anchor = url[len(book.site):].partition("#")
        where = f"{nb.parent.name}/{nb.name}: {url}"
        if path not in ids:
            bad.append(f"{where} (no page {path})")
        elif anchor and anchor not in ids[path]:
            near = [i for i in ids[path] if i.lower() == anchor.lower()]
            bad.append(f"{where} (no id #{anchor} on that page{'; the page has #' + near[0] if near else ''})")
    return bad


def test_every_notebook_link_resolves_against_the_sites_ids_without_a_build(book):
    links = [u for _, u in _notebook_links() if u.startswith(book.site)]
    assert len(links) > 100, f"found only {len(links)} links into the book's site"
    assert any("#equation-" in u for u in links)
    bad = _check_links(book, _static_site_ids(book))
    assert not bad, f"{len(bad)} links miss:\n" + "\n".join(bad[:30])


def test_the_link_check_catches_an_anchor_in_the_wrong_case(book, monkeypatch):
    site = book.site + "book/11-data-domain.html#equation-eq-lm-flow-E"
    fake = ROOT / "book" / "11-data-domain.ipynb"
    monkeypatch.setattr(sys.modules[__name__], "NOTEBOOKS", [fake])
    monkeypatch.setattr(sys.modules[__name__], "_notebook_links", lambda: [(fake, site)])
    bad = _check_links(book, _static_site_ids(book))
    assert bad and "no id #equation-eq-lm-flow-E" in bad[0], bad


@pytest.mark.skipif(not (HTML / "book").is_dir(), reason="no built book in _build/html")
def test_every_notebook_link_resolves_against_the_built_html(book):
    ids = {}
    for page in list(HTML.glob("book/*.html")) + list(HTML.glob("course/*.html")):
        ids[page.relative_to(HTML).as_posix()] = set(
            re.findall(r'\bid="([^"]+)"', page.read_text(errors="replace")))
    bad = _check_links(book, ids)
    assert not bad, f"{len(bad)} links miss the built site:\n" + "\n".join(bad[:30])


def test_anchor_rules_are_what_sphinx_writes(tmp_path):
    """A one-page Sphinx project with the book's MyST extensions: a labelled equation, a
    `(label)=` target, a prf block and an exercise, each label with capitals: the ids in the
    HTML are those the converter links to (colab.html_id) and the static check expects."""
    pytest.importorskip("myst_parser")
    pytest.importorskip("sphinx_proof")
    pytest.importorskip("sphinx_exercise")
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['myst_parser', 'sphinx_proof', 'sphinx_exercise']\n"
        "myst_enable_extensions = ['amsmath', 'dollarmath', 'colon_fence']\n"
        "math_numfig = True\nnumfig = True\n")
    (src / "index.md").write_text(
        "# Index\n\n(sec-Big-Label)=\n## A section\n\n$$ E = m c^2 $$ (eq-lm-flow-E)\n\n"
        "```{prf:definition} Thing\n:label: def-Thing-X\n\nText.\n```\n\n"
        "```{exercise} Try\n:label: ex-Try-Y\n\nDo it.\n```\n\n"
        "See {eq}`eq-lm-flow-E`, {ref}`sec-Big-Label`, {prf:ref}`def-Thing-X`, "
        "{ref}`ex-Try-Y`.\n")
    app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    ids = set(re.findall(r'\bid="([^"]+)"', (tmp_path / "html" / "index.html").read_text()))
    assert colab.html_id("equation-eq-lm-flow-E") == "equation-eq-lm-flow-e" in ids, ids
    assert colab.html_id("sec-Big-Label") in ids, ids
    assert "def-Thing-X" in ids and "ex-Try-Y" in ids, ids   # as written


def test_cross_chapter_equation_links_use_the_lower_case_id(book):
    t = book.targets["eq-lm-flow-E"]
    assert t.anchor == "equation-eq-lm-flow-e"
    for nb in NOTEBOOKS:
        assert "#equation-eq-lm-flow-E)" not in nb.read_text(), nb.name


# ---- numbers formatted for reading

def test_no_negative_zero_in_glued_or_formatted_numbers(monkeypatch):
    from psbook import notebook

    _without_myst_nb(monkeypatch)
    monkeypatch.setattr(notebook, "_VALUES", {})
    for spec, want in [(".2f", "0.00"), (".0f", "0"), ("+.2f", "+0.00"), (".1%", "-0.1%"),
                       (".0%", "0%"), (".1e", "-1.0e-03"), (".3f", "-0.001")]:
        assert notebook.format_glue(-0.001, spec) == want, spec
    assert notebook.format_glue(-0.0, ".2f") == "0.00"
    assert notebook.format_glue(-0.5, ".2f") == "-0.50"
    notebook.glue_all({"a": "-0.00 ± 0.03", "b": "from -0.0 to -0.05", "c": "x-0.00"})
    assert notebook._VALUES == {"a": "0.00 ± 0.03", "b": "from 0.0 to -0.05", "c": "x-0.00"}


def test_the_books_html_formats_glue_without_negative_zero_too():
    """tools/psbook_sphinx.py wraps myst-nb's formatter with the same step."""
    pytest.importorskip("myst_nb.ext.glue.roles")
    import psbook_sphinx
    from myst_nb.ext.glue import crossref, roles

    psbook_sphinx._glue_no_negative_zero()
    psbook_sphinx._glue_no_negative_zero()   # idempotent
    for mod in (roles, crossref):
        assert mod.format_plain_text("-0.001", ".2f") == "0.00"
        assert mod.format_plain_text("-0.5", ".2f") == "-0.50"
        assert mod.format_plain_text("-0.001", "+.2f") == "+0.00"
        assert mod.format_plain_text("'a'", "") == "a"


def test_format_small_reads_as_a_number():
    from psbook.notebook import format_small

    assert format_small(0.0) == "0" and format_small(0) == "0"
    assert format_small(3.24e-7) == "3 × 10⁻⁷"
    assert format_small(-1.1e-16, digits=2) == "−1.1 × 10⁻¹⁶"
    assert format_small(0.052) == "0.05" and format_small(2.0) == "2"
    with pytest.raises(TypeError, match="x must be a real number"):
        format_small("0.1")
    with pytest.raises(ValueError, match="digits must be an int >= 1"):
        format_small(0.1, digits=0)
    with pytest.raises(ValueError, match="finite"):
        format_small(float("nan"))


_MATH_SPAN = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$(?!\$)")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_no_glue_inside_math(md: Path):
    """A glued number inside `$...$` breaks the `$` pairing the converter (and a reader's
    Markdown) relies on: `$[1-${glue}...$, 1]$`. Glue the bound itself, outside math."""
    text = re.sub(r"^```.*?^```", "", md.read_text(), flags=re.M | re.S)   # code and directives'
    text = re.sub(r"`[^`\n]*`", lambda m: m.group(0) if "{glue" in m.group(0) else "``", text)
    bad = [m.group(0) for line in text.splitlines() for m in _MATH_SPAN.finditer(line)
           if "{glue" in m.group(1)]
    assert not bad, f"glue inside math: {bad}"


def test_no_five_decimal_bound_of_one_in_chapter_03():
    text = (ROOT / "book" / "03-gradient-flow.md").read_text()
    assert not re.search(r"at least\s+\{glue:text\}`[^`]*:\.5f`", text)
    assert "twin_v_rel:.1e" not in text


# ---- what is tested: the Pythons CI runs are those pyproject.toml names

def test_pyproject_names_the_pythons_that_ci_runs():
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10 is not supported
        pytest.skip("tomllib")
    import yaml

    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = sorted(c.rsplit(" :: ", 1)[1] for c in py["classifiers"]
                   if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    main = [s["with"]["python-version"] for s in wf["jobs"]["test"]["steps"]
            if "setup-python" in str(s.get("uses", ""))]
    matrix = wf["jobs"]["pythons"]["strategy"]["matrix"]["python"]
    assert sorted(main + matrix) == named, (main, matrix, named)
    assert py["requires-python"] == f">={min(named, key=lambda v: int(v.split('.')[1]))}"
    assert "3.12" in matrix, "the Python Colab ships"
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["pythons"]["steps"])
    assert ".ci/second-python.sh" in runs
    script = (ROOT / ".ci" / "second-python.sh").read_text()
    for ch in ("09", "10", "11", "12", "13"):
        assert f"book/{ch}-*.ipynb" in script


# ---- one progress bar per sweep, not per training (chapters 10 and 11 showed ~20 widgets)

def test_a_sweep_of_trainings_in_one_process_shows_one_bar(monkeypatch):
    import psbook.parallel
    from psbook.lm import runs

    bars, calls = [], []

    class Bar:
        def __init__(self, **kw):
            self.kw, self.n, self.closed = kw, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(runs, "progress_bar", lambda *a, **kw: Bar(**kw))
    monkeypatch.setattr(psbook.parallel, "workers", lambda n, device="cpu": 1)
    monkeypatch.setattr(runs, "_cached_result", lambda job: None)

    def fake_train(**job):
        calls.append(job["progress"])
        return job["tokens"]
    monkeypatch.setattr(runs, "train_cached", fake_train)
    jobs = [{"tokens": k, "model_cfg": None, "train_cfg": None} for k in range(5)]
    assert runs.train_many(jobs, desc="sweep") == [0, 1, 2, 3, 4]
    assert len(bars) == 1 and bars[0].n == 5 and bars[0].closed, [b.kw for b in bars]
    assert bars[0].kw["total"] == 5 and "sweep" in bars[0].kw["desc"]
    assert calls == [False] * 5, "each training drew its own bar"
    calls.clear()
    runs.train_many(jobs[:1])                  # a single training keeps its step bar
    assert calls == [True] and len(bars) == 1
