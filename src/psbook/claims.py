"""The claims ledger: one record for each claim a chapter asserts.

A chapter's hidden assertion cell records each claim it checks with :func:`claim`, then
asserts the returned verdict::

    from psbook import claims
    ok = claims.claim(
        "c05_align", "W^E aligns with each key's centred label signature",
        statistic="R_cos(W^E, phi^y - u)", value=runs["R_cos_centred"],
        placebo="signatures dealt to the wrong keys", placebo_value=runs["R_cos_shuffled"],
        held=bool(np.all(runs["R_cos_centred"] > 0.8)),
        placebo_failed=bool(np.all(np.abs(runs["R_cos_shuffled"]) < 0.3)))
    assert ok, claims.explain("c05_align")

``claim`` glues the record's fields under ``<key>__<field>`` (``__text``, ``__statistic``,
``__value``, ``__placebo``, ``__placebo_value``, ``__seeds``, ``__held``) so that
``book/claims.md`` shows every chapter's claims from the executed values, and keeps the record
in :data:`LEDGER` for the rest of the notebook. A key is ``c<NN>_<name>`` (chapter number, then
lower-case letters, digits and underscores).

``held`` says whether the claim held on the data; ``placebo_failed`` whether the *same* check
failed on the placebo (``None`` only where a claim has no placebo, e.g. a labelled sanity
check). The verdict is ``held and placebo_failed is not False``.

The ledger page. Every chapter ends with a hidden cell ``claims.glue_ledger("NN")``: it glues
the chapter's records as one HTML table under ``c<NN>__ledger``, and ``book/claims.md`` pastes
each chapter's table from the other document (myst-nb's cross-document glue, ``{glue}`` with a
``:doc:`` option), so the page shows exactly the claims each chapter recorded in this build --
keys built at run time (``f"c12_align_{model}"``) included. ``glue_ledger`` refuses a chapter
that recorded nothing and a record whose key names another chapter.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Claim", "LEDGER", "claim", "explain", "format_stat", "KEY_PATTERN", "chapter_claims",
           "ledger_html", "glue_ledger", "ledger_key", "held_words"]

#: ``c<NN>_<name>``: the chapter's two-digit number, then a short snake_case name.
KEY_PATTERN = re.compile(r"^c(\d\d)_[a-z0-9_]+$")
FIELDS = ("text", "statistic", "value", "placebo", "placebo_value", "seeds", "held")


@dataclass(frozen=True)
class Claim:
    key: str
    chapter: str
    text: str
    statistic: str
    value: str
    placebo: str
    placebo_value: str
    seeds: int
    held: bool
    placebo_failed: bool | None

    @property
    def verdict(self) -> bool:
        return bool(self.held) and self.placebo_failed is not False


#: the claims recorded in this process (this notebook), by key
LEDGER: dict[str, Claim] = {}


def format_stat(value, fmt: str = "{:+.2f}") -> str:
    """A number, or ``mean ± sd`` of a per-seed array (sd with ddof=1; one value: no ± part)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    arr = np.asarray(value, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("value must hold at least one number; got an empty array")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"value must be finite; got {bad!r} among {arr.size} values")
    mean = float(arr.mean())
    if arr.size == 1:
        return fmt.format(mean)
    sd = float(arr.std(ddof=1))
    return f"{fmt.format(mean)} ± {sd:.2f}"


def claim(key: str, text: str, *, statistic: str, value, held: bool,
          placebo: str = "", placebo_value=None, placebo_failed: bool | None = None,
          seeds: int | None = None, fmt: str = "{:+.2f}", glue: bool = True) -> bool:
    """Record one claim in the ledger (and glue its fields); return its verdict.

    ``value`` / ``placebo_value``: a number, a per-seed array (shown as mean ± sd) or a
    preformatted string. ``seeds``: how many seeds the value is over (default: the length of
    ``value`` when it is an array, else 1).
    """
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValueError(f"key must look like 'c05_align' (c<NN>_<snake_case>); got {key!r}")
    for name, arg in (("text", text), ("statistic", statistic), ("placebo", placebo)):
        if not isinstance(arg, str):
            raise TypeError(f"{name} must be a str; got {type(arg).__name__}")
    if not text.strip():
        raise ValueError("text must state the claim in one sentence; got an empty string")
    if placebo_failed is not None and not placebo:
        raise ValueError("placebo must name the placebo whose check failed (placebo_failed is set)")
    if seeds is None:
        seeds = 1 if isinstance(value, (str, int, float)) else int(np.asarray(value).size)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds must be a positive int; got {seeds!r}")
    rec = Claim(key=key, chapter=KEY_PATTERN.match(key).group(1), text=text.strip(),
                statistic=statistic, value=format_stat(value, fmt), placebo=placebo or "—",
                placebo_value=format_stat(placebo_value, fmt), seeds=int(seeds),
                held=bool(held), placebo_failed=None if placebo_failed is None else bool(placebo_failed))
    LEDGER[key] = rec
    if glue:
        from .notebook import glue_all
        fields = asdict(rec)
        shown = {f"{key}__{f}": fields[f] for f in FIELDS if f != "held"}
        shown[f"{key}__held"] = held_words(rec)
        glue_all(shown)
    return rec.verdict


def held_words(rec: Claim) -> str:
    """What the ledger's "held" column says for a record."""
    if not isinstance(rec, Claim):
        raise TypeError(f"rec must be a psbook.claims.Claim; got {type(rec).__name__}")
    if not rec.held:
        return "no"
    if rec.placebo_failed is None:
        # a named baseline without a separate check: the claim *is* the comparison with it
        return "yes (no placebo)" if rec.placebo == "—" else "yes (the comparison is the claim)"
    return "yes" if rec.placebo_failed else "yes, but so did the placebo"


def explain(key: str) -> str:
    """One line saying what the claim ``key`` measured, for an assertion message."""
    rec = LEDGER.get(key)
    if rec is None:
        return f"claim {key!r} was not recorded"
    return (f"{key}: {rec.text} -- {rec.statistic} = {rec.value} over {rec.seeds} seed(s); "
            f"placebo ({rec.placebo}) {rec.placebo_value}; held={rec.held}, "
            f"placebo_failed={rec.placebo_failed}")


def _chapter(chapter) -> str:
    if isinstance(chapter, bool) or not isinstance(chapter, (str, int)):
        raise TypeError(f"chapter must be a chapter number such as '05' or 5; got {chapter!r}")
    ch = f"{int(chapter):02d}" if isinstance(chapter, int) else chapter
    if not re.fullmatch(r"\d\d", ch):
        raise ValueError(f"chapter must be a two-digit chapter number such as '05'; got {chapter!r}")
    return ch


def ledger_key(chapter) -> str:
    """The glue name of a chapter's ledger table: ``c<NN>__ledger``."""
    return f"c{_chapter(chapter)}__ledger"


def chapter_claims(chapter) -> list[Claim]:
    """The records of ``chapter`` in :data:`LEDGER`, in the order they were recorded."""
    ch = _chapter(chapter)
    return [r for r in LEDGER.values() if r.chapter == ch]


_COLUMNS = ("claim", "statistic", "value", "placebo / null", "its value", "seeds", "held")


def ledger_html(records) -> str:
    """The records as one HTML table (one row per claim; every field escaped)."""
    records = list(records)
    if not records:
        raise ValueError("records must hold at least one Claim; got none")
    for r in records:
        if not isinstance(r, Claim):
            raise TypeError(f"records must be psbook.claims.Claim objects; got {type(r).__name__}")
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    rows = []
    for r in records:
        words = held_words(r)
        cls = "claim-held" if r.verdict else "claim-failed"
        cells = (r.text, r.statistic, r.value, r.placebo, r.placebo_value, str(r.seeds), words)
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        rows.append(f'<tr class="{cls}" id="claim-{html.escape(r.key)}" title="{html.escape(r.key)}">{tds}</tr>')
    n_ok = sum(r.verdict for r in records)
    caption = f"{len(records)} claim{'s' if len(records) != 1 else ''}, {n_ok} held in this build"
    return (f'<table class="table psbook-claims"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def glue_ledger(chapter, *, glue: bool = True) -> str:
    """Glue the chapter's ledger table under :func:`ledger_key` (the last cell of a chapter);
    return its HTML. Without myst-nb (Colab) the table is displayed instead."""
    ch = _chapter(chapter)
    others = sorted(k for k, r in LEDGER.items() if r.chapter != ch)
    if others:
        raise ValueError(f"claims of another chapter were recorded in chapter {ch}'s notebook: "
                         f"{others}; a claim's key starts with its own chapter's number (c{ch}_...)")
    recs = chapter_claims(ch)
    if not recs:
        raise ValueError(f"chapter {ch} recorded no claims; its hidden assertion cells must call "
                         f"claims.claim(...) before claims.glue_ledger({ch!r})")
    table = ledger_html(recs)
    if glue:
        try:
            from IPython.display import HTML
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return table
        try:
            from myst_nb import glue as _glue
        except ImportError:
            from IPython.display import display
            display(HTML(table))
        else:
            _glue(ledger_key(ch), HTML(table), display=False)
    return table
