"""Progress bars for long loops (``tqdm.auto``: a widget in Jupyter, text in a terminal).

Bars refresh at most twice a second. ``PSBOOK_PROGRESS=off`` turns every bar off: the book
build and CI set it, because a notebook executed without a reader gains nothing from a bar,
and a flood of widget messages can overrun the kernel's output channel (whose dropped
messages make the executing client wait forever).
"""

from __future__ import annotations

import os

__all__ = ["progress_enabled", "progress_bar"]

_OFF = {"0", "off", "false", "no"}


def progress_enabled(requested: bool = True) -> bool:
    """``requested``, unless ``PSBOOK_PROGRESS`` switches bars off."""
    return bool(requested) and os.environ.get("PSBOOK_PROGRESS", "on").strip().lower() not in _OFF


def progress_bar(iterable=None, *, total=None, desc: str | None = None, enabled: bool = True,
                 **kwargs):
    """A ``tqdm.auto`` bar over ``iterable`` (or with ``total``), rate-limited, maybe disabled."""
    from tqdm.auto import tqdm

    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(enabled), **kwargs)
