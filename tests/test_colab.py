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
    assert f"([Yao and Xu, 2025]({book.site}book/bibliography.html))" in out
    assert "[Yao et al. (2025)](" in out


def test_solutions_fold_admonitions_quote_glue_points_at_the_print(book):
    out = _render(book, "```{admonition} Compute\n:class: note\nFast.\n```\n"
                        "Value {glue:text}`r_a:.2f` and {glue:text}`r_b`.",
                  glue_pos={"r_a": 2, "r_b": 9})
    assert "> **Compute**" in out and "> Fast." in out
    assert "`r_a` (printed above)" in out and "`r_b` (printed below)" in out
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

def _html_numbers() -> dict:
    out = {}
    for page in (HTML / "book").glob("[0-9][0-9]-*.html"):
        t = page.read_text()
        for m in re.finditer(r'id="equation-([^"]+)">\s*<span class="eqno">(\(\d+\))', t):
            out[m.group(1)] = m.group(2)
        for m in re.finditer(r'<div class="[^"]*admonition[^"]*" id="([^"]+)">\s*'
                             r'<p class="admonition-title"><span class="caption-number">'
                             r'([A-Za-z]+ \d+) </span>', t):
            out[m.group(1)] = m.group(2)
    return out


@pytest.mark.skipif(not (HTML / "book").is_dir(), reason="no built book in _build/html")
def test_numbers_match_the_built_html(book):
    html = _html_numbers()
    assert html, "found no numbered equations or blocks in _build/html"
    mine = {k: t.text for k, t in book.targets.items() if re.match(r"^(\(\d+\)|[A-Z]\w+ \d+)$",
                                                                     t.text)}
    common = set(html) & set(mine)
    assert len(common) >= 0.9 * len(mine), f"labels not found in the HTML: {set(mine) - set(html)}"
    wrong = {k: (mine[k], html[k]) for k in common if mine[k] != html[k]}
    assert not wrong, f"numbers differ from the HTML (converter, html): {wrong}"


# ---- glue prints in Colab

def test_glue_prints_name_and_value_without_myst_nb(monkeypatch, capsys):
    import builtins

    from psbook import notebook

    real_import = builtins.__import__

    def no_myst_nb(name, *a, **k):
        if name == "myst_nb" or name.startswith("myst_nb."):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    notebook.glue("r_x", "0.93")
    notebook.glue_all({"a": 1.23456, "b": "yes"}, fmt="{:.2f}")
    out = capsys.readouterr().out
    assert out.splitlines() == ["r_x = 0.93", "a = 1.23", "b = yes"]


def test_glue_stores_numpy_scalars_as_python_numbers(monkeypatch):
    """myst-nb formats `{glue:text}`x:.2f`` from the value's repr; numpy 2's repr of a scalar
    (np.float64(0.31)) is not a number and broke the build -- glue passes plain numbers."""
    import sys
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
    assert f"{seen['f']!r}" == "0.3125"
