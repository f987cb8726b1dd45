"""Small helpers for the chapters when they run as notebooks: glued numbers, live prose.

``glue`` stores a value for the book's ``{glue:text}`` references. Jupyter Book (myst-nb)
pastes it into the HTML page; every notebook also keeps it here, silently, for the generated
Colab and course notebooks: there, a paragraph that cites glued values is a (form-hidden) code
cell calling :func:`prose`, which renders the paragraph as Markdown with this run's values,
formatted by :func:`format_glue` exactly as the HTML formats ``{glue:text}`name:.2f```
(tools/colab.py writes those cells; tests/test_colab.py checks the formatter against myst-nb's).

A paragraph shown before the cell that computes one of its values says so, and is updated in
place when the value arrives.
"""

from __future__ import annotations

import re
from ast import literal_eval

__all__ = ["glue", "glue_all", "format_glue", "no_negative_zero", "format_small", "render_prose", "prose", "Glued",
           "GLUE_REF"]

#: ``{glue:text}`name``` or ``{glue:text}`name:spec``` (also ``{glue}`` and ``{glue:any}``).
GLUE_REF = re.compile(r"\{glue(?::text|:any)?\}`([^`]+)`")

_VALUES: dict = {}      # name -> the glued value (a plain Python value)
_WAITING: list = []     # [markdown, display handle] of paragraphs still missing a value


def _plain(value):
    """numpy scalars as Python numbers: myst-nb formats ``{glue:text}`x:.2f``` from the
    value's repr, and numpy 2's repr (``np.float64(0.31)``) is not a number."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return value
    return value.item() if isinstance(value, np.generic) else value


def _text_plain(value) -> str:
    """The ``text/plain`` form IPython gives a value (what myst-nb stores for a glue)."""
    try:
        from IPython.lib.pretty import pretty
    except ImportError:  # pragma: no cover - IPython comes with every notebook
        return repr(value)
    return pretty(value)


def format_glue(value, fmt_spec: str = "") -> str:
    """A glued value as the book's HTML shows ``{glue:text}`name:fmt_spec```.

    The same steps as myst-nb's ``format_plain_text`` on the value's ``text/plain`` form: the
    text is read back as a Python literal (so strings lose their quotes), then formatted with
    ``fmt_spec`` (its last character picks the type: ``f``/``e``/``g``/``%`` float, ``d``
    int, ``s`` text). ``fmt_spec=""`` (no spec in the reference) gives ``str``. A number that
    rounds to zero has no minus sign (:func:`no_negative_zero`; the HTML does the same).
    """
    text = _text_plain(_plain(value))
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return no_negative_zero(str(value))
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in ("b", "c", "d", "o", "x", "X"):
        value = int(value)
    elif kind in ("e", "E", "f", "F", "g", "G", "n", "%"):
        value = float(value)
    text = format(value, fmt_spec)
    fixed = no_negative_zero(text)
    if fixed != text and "+" in fmt_spec:   # a signed format shows zero as "+0.00"
        fixed = "+" + fixed
    return fixed


# "-0", "-0.00", "-0.0%", "-0.00e+00", "-0,000": a number that rounds to zero keeps no sign
_NEGATIVE_ZERO = re.compile(r"-(?=[0.,]*0(?:[eE][+-]?\d+)?%?$)")


# in a glued text ("-0.00 ± 0.02", "from -0.0 to 0.3"): a minus before a zero that is a whole
# number (not "-0.001", not "x-0.0")
_NEGATIVE_ZERO_IN_TEXT = re.compile(r"(?<![\w.])[-−](?=0(?:\.0+)?(?![\w.]))")


def no_negative_zero(text: str) -> str:
    """``text`` without the minus of a number that rounds to zero (``"-0.00"`` -> ``"0.00"``):
    the book never prints a negative zero. The book's HTML applies the same step to myst-nb's
    glue formatting (tools/psbook_sphinx.py), so both show the same text."""
    return _NEGATIVE_ZERO.sub("", text, count=1) if text.startswith("-") else text


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_small(x, digits: int = 1) -> str:
    """A small quantity (a gap to 1, a round-off difference) for reading: ``"3 × 10⁻⁷"``
    with ``digits`` significant digits, ``"0"`` for an exact zero (never ``"0.0e+00"``), and
    a plain decimal for numbers from 0.001 to 1000. Glue the returned text (prose like
    "within {glue:text}`gap` of 1", not "at least 1.00000")."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) and not hasattr(x, "__float__"):
        raise TypeError(f"x must be a real number; got {type(x).__name__} {x!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be an int >= 1; got {digits!r}")
    x = float(x)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"x must be finite; got {x}")
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e3:
        return no_negative_zero(f"{x:.{digits}g}")
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mant.replace('-', '−')} × 10{str(int(exp)).translate(_SUPERSCRIPT)}"


def _split_ref(ref: str) -> tuple[str, str]:
    """``"name:.2f"`` -> ``("name", ".2f")`` as myst-nb splits it (no spec: ``"s"``)."""
    if ":" in ref:
        name, spec = ref.rsplit(":", 1)
        return name.strip(), spec
    return ref.strip(), "s"


def render_prose(markdown: str, values: dict | None = None) -> tuple[str, list[str]]:
    """``markdown`` with every ``{glue:text}`name:spec``` replaced by the formatted value;
    returns the text and the names not glued (yet), which are shown as "`name` (not computed
    yet: run the cells below)"."""
    values = _VALUES if values is None else values
    missing: list[str] = []

    def sub(m):
        name, spec = _split_ref(m.group(1))
        if name not in values:
            missing.append(name)
            return f"`{name}` (not computed yet: run the cells below)"
        return format_glue(values[name], "" if spec == "s" else spec)

    return GLUE_REF.sub(sub, markdown), missing


def prose(markdown: str) -> None:
    """Show a paragraph of the book with this run's glued values (a live prose cell).

    A value glued later (by a cell below) updates the paragraph in place."""
    markdown = markdown.strip("\n")
    text, missing = render_prose(markdown)
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside a notebook: plain text
        print(text)
        return None
    handle = display(Markdown(text), display_id=True)
    if missing and handle is not None:
        _WAITING.append([markdown, handle])
    return None


def _refresh(name: str) -> None:
    """Re-render the waiting paragraphs that cite ``name`` (just glued)."""
    if not _WAITING:
        return
    from IPython.display import Markdown

    for item in list(_WAITING):
        markdown, handle = item
        if not any(_split_ref(m.group(1))[0] == name for m in GLUE_REF.finditer(markdown)):
            continue
        text, missing = render_prose(markdown)
        handle.update(Markdown(text))
        if not missing:
            _WAITING.remove(item)


class Glued(dict):
    """The dict :func:`glue_all` returns: a notebook cell ending in ``glue_all({...})`` shows
    nothing (not a dict of numbers)."""

    def _ipython_display_(self) -> None:
        return None


def glue(name: str, value, display: bool = False):
    """Store ``value`` under ``name`` for the prose (``{glue:text}`name```); with myst-nb
    installed (the book's build) also ``myst_nb.glue(name, value, display)``. Silent unless
    ``display``. numpy scalars are glued as Python numbers; a text loses the minus of a
    number that reads as zero (``"-0.00 ± 0.02"`` -> ``"0.00 ± 0.02"``)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str glue name; got {name!r}")
    value = _plain(value)
    if isinstance(value, str):   # numbers the chapter formatted itself: no "-0.00" either
        value = _NEGATIVE_ZERO_IN_TEXT.sub("", value)
    _VALUES[name] = value
    try:
        from myst_nb import glue as _glue
    except ImportError:
        _glue = None
    if _glue is not None:
        _glue(name, value, display=display)
    elif display:
        try:
            from IPython.display import display as _show
        except ImportError:  # pragma: no cover
            _show = print
        _show(value)
    _refresh(name)
    return None


def glue_all(values: dict, fmt: str | None = None) -> Glued:
    """Glue every ``name: value`` of a dict (no display); returns the dict (as a
    :class:`Glued`, which a notebook does not echo).

    Chapters compute their numbers into one dict and glue it in a hidden cell, so the visible
    cells stay short. ``fmt`` (e.g. ``"{:.2f}"``) formats floats; ints and strings are glued
    as they are (a ``{glue:text}`` role can still format: ``{glue:text}`name:.2f```).
    """
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict of name -> value; got {type(values).__name__}")
    for name, value in values.items():
        if not isinstance(name, str):
            raise TypeError(f"values' keys must be str glue names; got {name!r}")
        value = _plain(value)
        if fmt is not None and isinstance(value, float):
            value = fmt.format(value)
        glue(name, value, display=False)
    return Glued(values)
