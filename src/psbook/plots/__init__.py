"""Figures of the book. Plot functions take computed arrays/results and never train anything.

* :mod:`psbook.plots.core` -- style, cosine/signature heatmaps, curves, PCA scatter (shared).
* :mod:`psbook.plots.synthetic` -- figures of the synthetic-task chapters (05-08).
* :mod:`psbook.plots.theory` -- figures of the gradient-flow chapters (03-04).
* :mod:`psbook.plots.lm` -- figures of the language-model chapters (09-11).
"""

from .core import (  # noqa: F401
    book_style,
    cosine_heatmap,
    heatmap,
    metric_curves,
    pca_scatter,
    pca_2d,
    save,
)
