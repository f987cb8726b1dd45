"""Figures of the book. Plot functions take computed arrays/results and never train anything.

* :mod:`psbook.plots.core` -- style, cosine/signature heatmaps, curves, PCA scatter (shared).
* :mod:`psbook.plots.synthetic` -- figures of the synthetic-task chapters (05-08).
* :mod:`psbook.plots.theory` -- figures of the gradient-flow chapters (03-04).
* :mod:`psbook.plots.lm` -- figures of the language-model chapters (09-11).

Importing this package applies the book's style (fonts, colour-blind-safe palette) once.
Chapters show a figure with :func:`show` (PNG + alt text), not ``plt.show()``.
"""

from .core import (  # noqa: F401
    book_style,
    cosine_heatmap,
    heatmap,
    metric_curves,
    pca_scatter,
    pca_2d,
    save,
    show,
    set_alt,
    alt_text,
    describe,
    figure_bundle,
    fit_to_column,
    PALETTE,
)

book_style()
