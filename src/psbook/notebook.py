"""Small helpers for the chapters when they run as notebooks.

``glue`` stores a value for the book's ``{glue:text}`` references when the chapter is built
with Jupyter Book (myst-nb). Where myst-nb is not installed (Colab, a plain Jupyter server) it
prints ``name = value`` instead: the generated Colab notebook's prose says "`name` (printed
above)" where the book's page shows the value inline (tools/colab.py).
"""

from __future__ import annotations

__all__ = ["glue", "glue_all"]


def _plain(value):
    """numpy scalars as Python numbers: myst-nb formats ``{glue:text}`x:.2f``` from the
    value's repr, and numpy 2's repr (``np.float64(0.31)``) is not a number."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return value
    return value.item() if isinstance(value, np.generic) else value


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue(name, value, display)`` when myst-nb is available, else print
    ``name = value`` (and show ``value`` too when ``display``). numpy scalars are glued as
    Python numbers."""
    value = _plain(value)
    try:
        from myst_nb import glue as _glue
    except ImportError:
        print(f"{name} = {value}")
        if display:
            try:
                from IPython.display import display as _show
            except ImportError:
                return None
            _show(value)
        return None
    return _glue(name, value, display=display)


def glue_all(values: dict, fmt: str | None = None) -> dict:
    """Glue every ``name: value`` of a dict (no display); returns the dict.

    Chapters compute their numbers into one dict and glue it in a hidden cell, so the visible
    cells stay short. ``fmt`` (e.g. ``"{:.2f}"``) formats floats; ints and strings are glued
    as they are (a ``{glue:text}`` role can still format: ``{glue:text}`name:.2f```).
    """
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict of name -> value; got {type(values).__name__}")
    for name, value in values.items():
        if not isinstance(name, str):
            raise TypeError(f"values' keys must be str glue names; got {name!r}")
        if fmt is not None and isinstance(value, float):
            value = fmt.format(value)
        glue(name, value, display=False)
    return values
