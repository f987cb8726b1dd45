"""Results that display themselves: a table and a number with its spread.

A chapter's cell ends in its result, as QuantEcon's and d2l's do: a figure, a value, or a
:class:`Table` -- never a wall of ``print``. A :class:`Table` shows as an HTML table on the
book's pages and in Jupyter/Colab (``_repr_html_``: a caption, labelled header cells, and each
cell carrying its column's name as ``data-label`` so the page's stylesheet can lay a row out
as a labelled card on a phone), and as plain text no wider than :data:`WIDTH` characters under
nbmake, in a terminal and in ``str()`` (a table too wide for that is written one labelled
record per row instead of being cut or wrapped).

:func:`spread` writes ``mean ± sd`` at a precision that shows the spread (``0.412 ± 0.003``,
not ``0.41 ± 0.00``).

This module imports nothing from psbook (foundations layer): the classes of every layer can
return a :class:`Table`.
"""

from __future__ import annotations

import html
import math
from numbers import Integral, Real
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["Table", "spread", "count", "WIDTH"]

#: the widest text a table prints (the page's output column holds 80 characters)
WIDTH = 80


#: the most decimals a spread is printed with; a smaller spread is printed as 1.1e-16
_MAX_DECIMALS = 6


def _decimals_for(sd: float, minimum: int = 2, maximum: int = _MAX_DECIMALS) -> int:
    """Decimals that show the first significant digit of ``sd`` (at least ``minimum``)."""
    if not sd or not math.isfinite(sd):
        return minimum
    return int(min(maximum, max(minimum, -math.floor(math.log10(abs(sd))))))


def spread(mean, sd=None, *, signed: bool = False, minimum: int = 2) -> str:
    """``"mean ± sd"`` with as many decimals as the spread needs to show its first significant
    digit (at least ``minimum``): ``spread(0.4123, 0.0031) == "0.412 ± 0.003"``.

    ``mean`` may be a sequence of values (one per seed): then its mean and sample standard
    deviation (ddof=1) are used and ``sd`` must be None. A single value, or ``sd=None``,
    prints without a ± part. ``signed`` writes a + before positive means."""
    if sd is None and not isinstance(mean, Real) and hasattr(mean, "__len__"):
        values = [float(v) for v in (mean.ravel() if hasattr(mean, "ravel") else mean)]
        if not values:
            raise ValueError("mean must hold at least one value; got an empty sequence")
        mean = sum(values) / len(values)
        if len(values) > 1:
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    if not isinstance(mean, Real):
        raise TypeError(f"mean must be a number or a sequence of numbers; got "
                        f"{type(mean).__name__}")
    sign = "+" if signed else ""
    if sd is None:
        return f"{float(mean):{sign}.{minimum}f}"
    if not isinstance(sd, Real) or sd < 0:
        raise ValueError(f"sd must be a number >= 0 or None; got {sd!r}")
    if sd == 0:  # exactly equal in every run: say so, not "± 0.00" (a spread too small to show)
        return f"{float(mean):{sign}.{minimum}f} ± 0"
    if float(sd) < 10.0 ** -_MAX_DECIMALS:  # rounding noise (1e-16): fixed decimals would
        # print "0.000000 ± 0.000000"; say its size instead
        return f"{float(mean):{sign}.1e} ± {float(sd):.1e}"
    d = _decimals_for(float(sd), minimum)
    return f"{float(mean):{sign}.{d}f} ± {float(sd):.{d}f}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 seed"``, ``"3 seeds"``: a count with its noun in the right number."""
    if not isinstance(n, Integral):
        raise TypeError(f"n must be an integer; got {type(n).__name__}")
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def _cell_text(value: Any, fmt: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, Real) for v in value):
        return spread(value[0], value[1], signed=bool(fmt and fmt.startswith("+")))
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # a numpy scalar
    if isinstance(value, Integral):
        return f"{value:{fmt or 'd'}}"
    if isinstance(value, Real):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if fmt:
            return f"{v:{fmt}}"
        return f"{v:.3g}" if (v and (abs(v) >= 1e4 or abs(v) < 1e-3)) else f"{v:.3f}"
    if hasattr(value, "__len__") and not isinstance(value, Mapping):
        return spread(value, signed=bool(fmt and fmt.startswith("+")))
    return str(value)


class Table:
    """A small table of results that displays itself (HTML in a notebook, text elsewhere).

    ``rows``: a sequence of mappings (column -> value), or of sequences given with
    ``columns``. ``caption``: one sentence saying what the table shows. ``formats``: a format
    spec per column (``{"R_cos": "+.3f"}``); a value that is a ``(mean, sd)`` pair or a
    sequence of per-seed values is written with :func:`spread`. ``note``: a short line shown
    under the table (what the ± is over, a source).
    """

    def __init__(self, rows: Iterable, columns: Sequence[str] | None = None, *,
                 caption: str = "", formats: Mapping[str, str] | None = None, note: str = ""):
        rows = list(rows)
        if columns is None:
            if rows and not all(isinstance(r, Mapping) for r in rows):
                raise TypeError("rows must be mappings (column -> value) when columns is not "
                                f"given; got a {type(rows[0]).__name__}")
            columns = list(dict.fromkeys(k for r in rows for k in r))
        else:
            columns = [str(c) for c in columns]
            rows = [r if isinstance(r, Mapping) else dict(zip(columns, r, strict=True))
                    for r in rows]
        if not columns:
            raise ValueError("the table needs at least one column; got none")
        unknown = set(formats or {}) - set(columns)
        if unknown:
            raise ValueError(f"formats names columns the table does not have: "
                             f"{sorted(unknown)}; columns are {columns}")
        self.columns = list(columns)
        self.rows = [dict(r) for r in rows]
        self.caption = str(caption)
        self.note = str(note)
        self.formats = dict(formats or {})

    # -- values ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> list:
        """The values of one column, in row order."""
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; columns are {self.columns}")
        return [r.get(column) for r in self.rows]

    def cells(self) -> list[list[str]]:
        """Every row's cells as the table writes them."""
        return [[_cell_text(r.get(c), self.formats.get(c)) for c in self.columns]
                for r in self.rows]

    # -- text -----------------------------------------------------------------------------
    def __str__(self) -> str:
        cells = self.cells()
        widths = [max([len(c)] + [len(row[i]) for row in cells])
                  for i, c in enumerate(self.columns)]
        lines = [self.caption] if self.caption else []
        if sum(widths) + 2 * (len(widths) - 1) <= WIDTH:
            def line(parts):
                return "  ".join(p.rjust(w) if i else p.ljust(w)
                                 for i, (p, w) in enumerate(zip(parts, widths))).rstrip()
            lines += [line(self.columns), line(["-" * w for w in widths])]
            lines += [line(row) for row in cells]
        else:  # too wide for the column: one labelled record per row
            key = max(len(c) for c in self.columns)
            for n, row in enumerate(cells):
                if n:
                    lines.append("")
                for c, v in zip(self.columns, row):
                    lines.append(f"{c:<{key}}  {v}"[:WIDTH])
        if self.note:
            lines.append(self.note)
        return "\n".join(_fold(x) for x in lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    # -- HTML -----------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f'<th scope="col">{esc(c)}</th>' for c in self.columns)
        body = []
        for row in self.cells():
            tds = "".join(f'<td data-label="{esc(c, quote=True)}">{esc(v)}</td>'
                          for c, v in zip(self.columns, row))
            body.append(f"<tr>{tds}</tr>")
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        note = f'<p class="psbook-table-note">{esc(self.note)}</p>' if self.note else ""
        return (f'<div class="psbook-table-wrap"><table class="psbook-table">{cap}'
                f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
                f"{note}</div>")


def _fold(line: str) -> str:
    """A caption or note longer than :data:`WIDTH` folded at spaces."""
    if len(line) <= WIDTH:
        return line
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > WIDTH:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    out.append(cur)
    return "\n".join(out)
