"""Small helpers for the chapters when they run as notebooks.

``glue`` stores a value for the book's ``{glue:text}`` references when the chapter is built
with Jupyter Book (myst-nb), and does nothing elsewhere -- so a chapter opened in Colab or a
plain Jupyter server, where myst-nb is not installed, runs unchanged.
"""

from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue(name, value, display)`` when myst-nb is available, else a no-op."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return None
    return _glue(name, value, display=display)
