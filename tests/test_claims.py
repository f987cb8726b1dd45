"""The claims ledger: psbook.claims, the chapters' hidden assertion cells and book/claims.md.

Static checks of the sources (no chapter is executed here):

* every hidden assertion cell (tag ``remove-cell``, containing ``assert``) of chapters 02-13
  records at least one claim (``claims.claim(...)``), and every literal key it names belongs to
  its own chapter (``c<NN>_...``); literal keys are unique across the book;
* every chapter that records claims ends with ``claims.glue_ledger("NN")``, and the ledger page
  pastes exactly those chapters' tables (``{glue} c<NN>__ledger`` with ``:doc: NN-name.md``) --
  a chapter the page misses fails, and so does a page entry for a chapter that records nothing;
* the page is in the table of contents.

At run time ``glue_ledger`` refuses a chapter that recorded no claim and a record of another
chapter, so the table a chapter glues lists exactly the claims its hidden cells recorded.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from psbook import claims

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
LEDGER_PAGE = BOOK / "claims.md"
CHAPTERS = sorted(p for p in BOOK.glob("[0-9][0-9]-*.md") if p.name[:2] != "01")
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)
KEY_LITERAL = re.compile(r"""["'](c\d\d_[a-z0-9_]+)["']""")
FKEY_LITERAL = re.compile(r"""f["'](c\d\d)_""")


def code_cells(text: str) -> list[tuple[int, list[str], str]]:
    """``(line, tags, source)`` of every code cell of a MyST notebook."""
    out = []
    for m in CELL.finditer(text):
        body = m.group(1)
        tags = []
        t = re.match(r":tags:\s*\[([^\]]*)\]", body)
        if t:
            tags = [x.strip() for x in t.group(1).split(",")]
        out.append((text.count("\n", 0, m.start()) + 1, tags, body))
    return out


def hidden_assert_cells(text: str):
    return [(ln, src) for ln, tags, src in code_cells(text)
            if "remove-cell" in tags and re.search(r"\bassert\b|np\.testing\.assert", src)]


def page_entries(text: str) -> dict[str, str]:
    """``{chapter number: doc}`` of the ``{glue} c<NN>__ledger`` directives of the ledger page."""
    out = {}
    for m in re.finditer(r"```\{glue\}\s+c(\d\d)__ledger\s*\n:doc:\s*(\S+)\s*\n```", text):
        assert m.group(1) not in out, f"chapter {m.group(1)} is pasted twice on the ledger page"
        out[m.group(1)] = m.group(2)
    return out


# ---- the chapters and the page --------------------------------------------------------------

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_hidden_assertion_cell_records_a_claim(path):
    text = path.read_text()
    nn = path.name[:2]
    cells = hidden_assert_cells(text)
    assert cells, f"{path.name}: no hidden assertion cell found (remove-cell + assert)"
    missing = [ln for ln, src in cells if "claims.claim(" not in src]
    assert not missing, (f"{path.name}: the hidden assertion cell(s) at line(s) {missing} record no "
                         f"claim; call claims.claim('c{nn}_...', ...) and assert its verdict")
    for ln, src in cells:
        for key in KEY_LITERAL.findall(src) + FKEY_LITERAL.findall(src):
            assert key.startswith(f"c{nn}"), (f"{path.name} line {ln}: claim key {key!r} names "
                                              f"another chapter; keys start with c{nn}_")


def test_literal_claim_keys_are_unique_across_the_book():
    seen = {}
    for path in CHAPTERS:
        for ln, src in hidden_assert_cells(path.read_text()):
            # a key recorded in both branches of an if/else is one claim: count once per cell
            for key in set(re.findall(r"claims\.claim\(\s*[\"'](c\d\d_[a-z0-9_]+)[\"']", src)):
                where = f"{path.name}:{ln}"
                assert key not in seen or seen[key].split(":")[0] == path.name, \
                    f"claim key {key!r} is recorded in {seen.get(key)} and in {where}"
                seen.setdefault(key, where)
    assert len(seen) > 20


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_glues_its_ledger_table_last(path):
    nn = path.name[:2]
    cells = code_cells(path.read_text())
    ln, tags, src = cells[-1]
    assert "remove-cell" in tags and f'claims.glue_ledger("{nn}")' in src, (
        f"{path.name}: the last code cell must be a hidden cell calling "
        f'claims.glue_ledger("{nn}") (it glues the chapter\'s table for book/claims.md)')


def test_ledger_page_lists_exactly_the_chapters_that_record_claims():
    entries = page_entries(LEDGER_PAGE.read_text())
    recording = {p.name[:2]: p.name for p in CHAPTERS if "claims.claim(" in p.read_text()}
    assert set(recording) - set(entries) == set(), \
        f"chapters that record claims but are missing from book/claims.md: {sorted(set(recording) - set(entries))}"
    assert set(entries) - set(recording) == set(), \
        f"book/claims.md pastes chapters that record no claim: {sorted(set(entries) - set(recording))}"
    for nn, doc in entries.items():
        assert doc == recording[nn], f"book/claims.md pastes c{nn}__ledger from {doc!r}, not {recording[nn]!r}"
        assert (BOOK / doc).exists()


def test_ledger_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert "book/claims" in files


def test_ledger_page_pastes_without_local_glue_roles():
    # a `{glue:text}` role with a doc needs `doc.md::key:fmt` (myst-nb 1.4 splits the format off
    # first); the page uses the block directive only, which has no such trap
    text = LEDGER_PAGE.read_text()
    for m in re.finditer(r"\{glue(?::\w+)?\}`([^`]*)`", text):
        assert "::" in m.group(1) and re.search(r":[a-z.0-9]*[sdfge%]$", m.group(1)), m.group(0)


# ---- psbook.claims -------------------------------------------------------------------------

@pytest.fixture
def ledger(monkeypatch):
    monkeypatch.setattr(claims, "LEDGER", {})
    return claims.LEDGER


def _rec(key="c05_x", **kw):
    args = dict(statistic="R", value=[0.8, 0.9, 0.85], held=True, over="seeds", placebo="shuffled",
                placebo_value=[0.01, -0.02, 0.0], placebo_failed=True, glue=False)
    args.update(kw)
    return claims.claim(key, "a claim", **args)


def test_claim_verdict_and_record(ledger):
    assert _rec() is True
    r = ledger["c05_x"]
    assert (r.chapter, r.seeds, r.value) == ("05", 3, "+0.85 ± 0.05")
    assert r.placebo_value == "-0.00 ± 0.02"
    assert _rec("c05_y", held=False) is False                  # the claim did not hold
    assert _rec("c05_z", placebo_failed=False) is False        # the placebo passed the check too
    assert _rec("c05_w", placebo="", placebo_value=None, placebo_failed=None) is True
    assert _rec("c05_v", placebo_failed=None) is True          # a baseline, no separate check
    words = {k: claims.held_words(v) for k, v in ledger.items()}
    assert words == {"c05_x": "yes", "c05_y": "no", "c05_z": "yes, but so did the placebo",
                     "c05_w": "yes (no placebo)", "c05_v": "yes (the comparison is the claim)"}
    assert "c05_y" in claims.explain("c05_y") and "held=False" in claims.explain("c05_y")
    assert "not recorded" in claims.explain("c05_nope")


def test_claim_rejects_bad_input(ledger):
    with pytest.raises(ValueError, match="key must look like"):
        _rec("c5_x")
    with pytest.raises(ValueError, match="key must look like"):
        _rec("c05_Upper")
    with pytest.raises(ValueError, match="text must state"):
        claims.claim("c05_x", "  ", statistic="R", value=1.0, held=True, over="one run", glue=False)
    with pytest.raises(TypeError, match="statistic must be a str"):
        claims.claim("c05_x", "t", statistic=1, value=1.0, held=True, over="one run", glue=False)
    with pytest.raises(ValueError, match="placebo must name"):
        claims.claim("c05_x", "t", statistic="R", value=1.0, held=True, over="one run",
                     placebo_failed=True, glue=False)
    with pytest.raises(ValueError, match="finite"):
        _rec(value=[0.1, np.nan])
    with pytest.raises(ValueError, match=r"n \(seeds\) must be a positive int"):
        _rec(seeds=0)
    assert ledger == {}


def test_format_stat():
    assert claims.format_stat(0.5) == "+0.50"
    assert claims.format_stat([0.5]) == "+0.50"
    assert claims.format_stat(np.array([1.0, 3.0])) == "+2.00 ± 1.41"
    assert claims.format_stat(None) == "—"
    assert claims.format_stat("as printed") == "as printed"
    assert claims.format_stat(1e-13, "{:.1e}") == "1.0e-13"
    with pytest.raises(ValueError, match="at least one number"):
        claims.format_stat([])


def test_ledger_html_one_escaped_row_per_claim(ledger):
    _rec("c07_a")
    claims.claim("c07_b", "x < y & z", statistic="<stat>", value=0.1, held=False, over="one run",
                 glue=False)
    html = claims.ledger_html(claims.chapter_claims("07"))
    assert html.count("<tr class=") == 2 and "<caption>2 claims, 1 held in this build</caption>" in html
    assert "x &lt; y &amp; z" in html and "&lt;stat&gt;" in html and "<stat>" not in html
    assert 'class="claim-failed" id="claim-c07_b"' in html
    with pytest.raises(ValueError, match="at least one Claim"):
        claims.ledger_html([])
    with pytest.raises(TypeError, match="Claim"):
        claims.ledger_html(["c07_a"])


def test_ledger_html_labels_its_cells_and_writes_symbols_as_math(ledger):
    """Each cell names its column (data-label: a phone shows a row as a labelled card), and
    the sentences' code-style symbols read as math, not raw phi^{X|y}."""
    claims.claim("c07_m", "phi^{X|y}'s marginals are phi^X and phi_y, for W^E on f~_add",
                 statistic="R_cos(W^E, phi^y) < 1", value=0.1, held=True, over="one run",
                 glue=False)
    html = claims.ledger_html(claims.chapter_claims("07"))
    assert html.count("<td data-label=") == 7 and '<td data-label="± over">' in html
    for want in ("ϕ<sup>X|y</sup></span>&#x27;s", "ϕ<sup>X</sup>", "ϕ<sup>y</sup>",
                 "W<sup>E</sup>", "f\u0303<sub>add</sub>", "R<sub>cos</sub>", "&lt; 1"):
        assert want in html, (want, html)
    assert "phi^" not in html and "phi_" not in html and "^{" not in html
    assert claims.math_html("graph_phi and alpha_phi stay") == "graph_phi and alpha_phi stay"


def test_glue_ledger_refuses_empty_and_foreign_chapters(ledger):
    with pytest.raises(ValueError, match="recorded no claims"):
        claims.glue_ledger("06", glue=False)
    _rec("c06_a")
    assert "c06_a" in claims.glue_ledger(6, glue=False)
    assert claims.ledger_key(6) == "c06__ledger"
    _rec("c07_a")
    with pytest.raises(ValueError, match="another chapter.*c07_a"):
        claims.glue_ledger("06", glue=False)
    for bad in ("6", "006", True, 6.0):
        with pytest.raises((ValueError, TypeError), match="chapter"):
            claims.chapter_claims(bad)


def test_claim_glues_its_fields(ledger, monkeypatch):
    got = {}
    import psbook.notebook as nb
    monkeypatch.setattr(nb, "glue", lambda name, value, display=False: got.__setitem__(name, value))
    _rec("c05_g", glue=True)
    assert set(got) == {f"c05_g__{f}" for f in claims.FIELDS}
    assert got["c05_g__held"] == "yes" and got["c05_g__value"] == "+0.85 ± 0.05"


def test_claim_requires_what_the_spread_is_over(ledger):
    with pytest.raises(TypeError, match="over"):
        claims.claim("c05_x", "t", statistic="R", value=[1.0, 2.0], held=True, glue=False)
    with pytest.raises(ValueError, match="over must name"):
        _rec(over="")
    with pytest.raises(ValueError, match="over must name"):
        _rec(over="seed-ish")
    with pytest.raises(ValueError, match="one run"):
        _rec(over="one run")                                      # three values are not one run
    _rec("c05_p", over="p values × pairs", n=12)
    r = ledger["c05_p"]
    assert (r.over, r.seeds, r.spread) == ("p values × pairs", 12, "12 p values × pairs")
    html = claims.ledger_html([r])
    assert "<th>± over</th>" in html and "12 p values × pairs" in html
    with pytest.raises(ValueError, match="not both"):
        _rec(n=3, seeds=3)


def test_claim_with_several_placebos(ledger):
    ok = _rec("c06_m", placebo="", placebo_value=None,
              placebos={"index kernel": [0.5, 0.6, 0.55], "shuffled": [0.0, 0.1, -0.1]},
              placebo_failed={"index kernel": True, "shuffled": True})
    assert ok is True
    r = ledger["c06_m"]
    assert r.placebo_names == ("index kernel", "shuffled")
    assert r.placebo_values == ("+0.55 ± 0.05", "+0.00 ± 0.10")
    html = claims.ledger_html([r])
    assert "index kernel (check failed)<br>shuffled (check failed)" in html
    assert "+0.55 ± 0.05<br>+0.00 ± 0.10" in html
    # one placebo passing the check too makes the verdict "so did the placebo"
    assert _rec("c06_n", placebo="", placebo_value=None, placebos={"a": [0.1, 0.2], "b": [0.3, 0.1]},
                placebo_failed={"a": True, "b": False}) is False
    assert claims.held_words(ledger["c06_n"]) == "yes, but so did the placebo"
    assert "(check passed)" in claims.ledger_html([ledger["c06_n"]])
    # one bool for all; a placebo shown without its own check
    assert _rec("c06_o", placebo="", placebo_value=None, placebos={"a": [0.1, 0.2]},
                placebo_failed=None) is True
    assert claims.held_words(ledger["c06_o"]) == "yes (the comparison is the claim)"
    with pytest.raises(ValueError, match="not both"):
        _rec("c06_q", placebos={"a": [0.1, 0.2]})                  # placebo= given as well
    with pytest.raises(ValueError, match="not in placebos"):
        _rec("c06_q", placebo="", placebo_value=None, placebos={"a": [0.1, 0.2]},
             placebo_failed={"b": True})
    with pytest.raises(TypeError, match="only together"):
        _rec("c06_q", placebo_failed={"a": True})
    assert "c06_q" not in ledger


def test_constant_placebo_is_refused(ledger):
    for const in ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], np.zeros(5)):
        with pytest.raises(ValueError, match="cannot vary"):
            _rec("c06_c", placebo_value=const)
        with pytest.raises(ValueError, match="cannot vary"):
            _rec("c06_c", placebo="", placebo_value=None, placebos={"ok": [0.1, 0.2], "flat": const})
    assert "c06_c" not in ledger
    assert _rec("c06_d", placebo_value=0.0) is True               # one number: nothing to vary over


def test_a_constant_placebo_needs_a_stated_reason_that_the_ledger_shows(ledger):
    """A measured placebo may come out equal in every run (a floor, a coarse grid): accepted
    only with a reason in words, which the ledger shows beside it."""
    with pytest.raises(ValueError, match="say in words"):
        _rec("c06_e", placebo_value=[0.0, 0.0, 0.0], constant_because={"shuffled": "floor"})
    with pytest.raises(ValueError, match="not in this claim"):
        _rec("c06_e", placebo_value=[0.0, 0.1], constant_because={"other": "a floor of zero"})
    why = "accuracy has a floor of 0 that every seed reaches"
    _rec("c06_e", placebo_value=[0.0, 0.0, 0.0], constant_because={"shuffled": why})
    assert why in ledger["c06_e"].placebo
    _rec("c06_f", placebo_value=[0.0, 0.1, 0.2], constant_because={"shuffled": why})
    assert why not in ledger["c06_f"].placebo                     # it varied: no note needed


CLAIM_CALL = re.compile(r"claims\.claim\(")


def _call_args(src: str, start: int) -> str:
    """The text of the call whose ``(`` is at ``start`` (balanced parentheses)."""
    depth = 0
    for i in range(start, len(src)):
        depth += {"(": 1, ")": -1}.get(src[i], 0)
        if depth == 0:
            return src[start:i + 1]
    raise AssertionError("unbalanced call")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_recorded_claim_labels_its_spread(path):
    """Every claims.claim call of a chapter says what its ± is over (``over=``): a row whose
    spread is unlabelled fails here, and the runtime check refuses an unknown label."""
    text = path.read_text()
    for m in CLAIM_CALL.finditer(text):
        args = _call_args(text, m.end() - 1)
        line = text.count("\n", 0, m.start()) + 1
        assert re.search(r"\bover\s*=", args), (
            f"{path.name} line {line}: claims.claim(...) without over=: say what the ± is over "
            f"(seeds = independent runs; pairs; subsamples; ...)")
        lit = re.search(r"\bover\s*=\s*[\"']([^\"']*)[\"']", args)
        if lit:
            claims._check_over(lit.group(1))
