"""Shared figure helpers: one look for every chapter, and how a figure is shown.

* The book's style (:data:`_STYLE`): font sizes readable at the column's width, and a
  colour-blind-safe palette (Okabe & Ito, :data:`PALETTE`) for every line and bar. Importing
  :mod:`psbook.plots` applies it once (:func:`book_style`), so figures a chapter builds with
  ``plt.subplots`` get it too.
* :func:`show` -- the one way a chapter shows a figure: a PNG whose output carries a one-sentence
  alt text (``metadata={"image/png": {"alt": ...}}``, and the same sentence as the output's
  ``text/plain``). The sentence is the one a plot function stored with :func:`set_alt` when it
  built the figure, else one :func:`describe` writes from the figure's panels (kind, title, axis
  labels, legend). ``tools/psbook_sphinx.py`` puts it on the ``<img>`` of the built HTML.
* Legible at the column: :func:`fit_to_column` sizes a figure so that its smallest text (never
  under :data:`MIN_FONT` pt) shows at least :data:`MIN_TEXT_PX` CSS px where the page shows the
  image (:data:`COLUMN_PX` wide at a 1280 px window); :func:`figure_bundle` measures it on the
  saved PNG and records it as ``metadata["image/png"]["min_text_px"]`` (image pixels), which
  ``tools/psbook_sphinx.py`` carries to the ``<img>`` (``data-min-text-px``) for the browser
  check (tests/test_browser.py).
"""

from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from ..metrics import cosine_matrix

__all__ = ["book_style", "heatmap", "cosine_heatmap", "metric_curves", "pca_2d", "pca_scatter",
           "save", "show", "set_alt", "alt_text", "describe", "figure_bundle", "fit_to_column",
           "text_at_column", "PALETTE"]

# Okabe & Ito (2008), "Color Universal Design": eight colours that stay distinct under the
# common colour-vision deficiencies (and in greyscale by lightness, for the first four).
# Index 7 stays grey and 8 black, as the figures use "C7" for a control drawn in grey.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#7F7F7F", "#000000", "#882255"]

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 130,
    "savefig.bbox": "tight",
    "font.size": 10.5,
    "axes.titlesize": 11,
    "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "legend.frameon": False,
    "image.cmap": "viridis",
}

# Diverging map for cosine similarity, always on the fixed range [-1, 1] so that panels compare.
COSINE_CMAP = "RdBu_r"


def book_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(_STYLE)


@contextmanager
def styled():
    with mpl.rc_context(_STYLE):
        yield


def heatmap(M, *, ax=None, row_labels: Sequence[str] | None = None,
            col_labels: Sequence[str] | None = None, title: str = "", xlabel: str = "",
            ylabel: str = "", cbar_label: str = "", cmap: str = "viridis", vmin=None, vmax=None,
            max_ticks: int = 40, colorbar: bool = True):
    """A labelled heatmap of a matrix; tick labels are thinned to at most ``max_ticks``."""
    M = np.asarray(M, dtype=float)
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.2, 3.6))
        im = ax.imshow(M, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                       interpolation="nearest")
        for labels, n, setter, lab_setter in (
                (row_labels, M.shape[0], ax.set_yticks, ax.set_yticklabels),
                (col_labels, M.shape[1], ax.set_xticks, ax.set_xticklabels)):
            if labels is not None:
                step = max(1, int(np.ceil(n / max_ticks)))
                idx = np.arange(0, n, step)
                setter(idx)
                # many tokens: fewer labels (here and in fit_to_column), never smaller ones
                lab_setter([str(labels[i]) for i in idx],
                           rotation=90 if lab_setter == ax.set_xticklabels else 0,
                           fontsize=MIN_FONT)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if colorbar:
            cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            if cbar_label:
                cb.set_label(cbar_label)
    return ax


def cosine_heatmap(A=None, *, S=None, labels: Sequence[str] | None = None, ax=None,
                   title: str = "", axis_label: str = "token", colorbar: bool = True):
    """Heatmap of the pairwise cosine similarity of the rows of ``A`` (or a given matrix ``S``),
    on the fixed colour range [-1, 1]."""
    if S is None:
        if A is None:
            raise ValueError("cosine_heatmap needs A (rows = token vectors) or S (a cosine matrix)")
        S = cosine_matrix(A)
    return heatmap(S, ax=ax, row_labels=labels, col_labels=labels, title=title,
                   xlabel=axis_label, ylabel=axis_label, cbar_label="cosine similarity",
                   cmap=COSINE_CMAP, vmin=-1, vmax=1, colorbar=colorbar)


def metric_curves(steps, curves: dict, *, ax=None, xlabel: str = "training step",
                  ylabel: str = "", title: str = "", hlines: dict | None = None, logx=False):
    """Several metric trajectories against training step; ``curves`` maps label -> values."""
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        for label, ys in curves.items():
            ax.plot(steps, ys, label=label, lw=1.8)
        for label, y in (hlines or {}).items():
            ax.axhline(y, ls="--", lw=1, color="grey")
            ax.annotate(label, (ax.get_xlim()[0], y), fontsize=MIN_FONT, color="grey",
                        xytext=(3, 3), textcoords="offset points")
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(curves) > 1:
            ax.legend()
    return ax


def pca_2d(A) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``A`` on their first two principal components.

    Returns ``(coords (n, 2), explained_variance_ratio (2,))``.
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] < 2:
        raise ValueError(f"A must be 2-D with at least 2 rows; got shape {A.shape}")
    C = A - A.mean(axis=0)
    U, s, _ = np.linalg.svd(C, full_matrices=False)
    var = s ** 2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    coords = U[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, ratio


def pca_scatter(A, labels: Sequence[str] | None = None, *, values=None, ax=None, title: str = "",
                cbar_label: str = "", annotate: bool = True, connect: bool = False):
    """Scatter of the rows of ``A`` on their first two principal components, optionally coloured
    by ``values`` and joined in order (``connect=True``, for ordered tokens such as numbers)."""
    coords, ratio = pca_2d(A)
    with styled():
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3.6))
        if connect:
            ax.plot(coords[:, 0], coords[:, 1], color="lightgrey", lw=1, zorder=1)
        sc = ax.scatter(coords[:, 0], coords[:, 1], c=values if values is not None else "C0",
                        cmap="viridis", s=28, zorder=2)
        if annotate and labels is not None:
            for (x, y), lab in zip(coords, labels):
                ax.annotate(str(lab), (x, y), fontsize=MIN_FONT, xytext=(2, 2),
                            textcoords="offset points")
        if values is not None:
            cb = ax.figure.colorbar(sc, ax=ax, fraction=0.046, pad=0.03)
            if cbar_label:
                cb.set_label(cbar_label)
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}% of variance)")
        ax.set_title(title)
    return ax


def save(fig, path) -> Path:
    """Save a figure as PNG (creating folders) and return the path."""
    import io
    from ..atomic import write_file
    path = Path(path)
    buf = io.BytesIO()                  # rendered in memory, written atomically
    fig.savefig(buf, format=path.suffix.lstrip(".").lower() or "png")
    write_file(path, buf.getvalue(), on_error="raise")
    return path


# ---------------------------------------------------------------------------------------------
# Showing a figure, with its alt text

def set_alt(fig, text: str):
    """Store the one-sentence description (alt text) of ``fig``; returns ``fig``.

    Plot functions call it on the figure they build; :func:`show` puts it on the output."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty sentence describing the figure; got {text!r}")
    fig._psbook_alt = " ".join(text.split())
    return fig


def _is_colorbar(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>"


def clean(s: str) -> str:
    """Axis/title text as a reader would say it: no newlines, no math dollars."""
    for tex, word in (("\\mid", " | "), ("\\pm", "±"), ("\\times", "x"), ("\\cdot", "·"),
                      ("\\leq", "<="), ("\\geq", ">="), ("\\to", "->"), ("\\,", " ")):
        s = s.replace(tex, word)
    for ch in "$\\{}":
        s = s.replace(ch, "")
    return " ".join(s.split())


def _panel_kind(ax) -> str:
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.container import BarContainer
    from matplotlib.image import AxesImage

    kinds = []
    if any(isinstance(a, AxesImage) for a in ax.get_children()):
        kinds.append("heatmap")
    if any(isinstance(c, BarContainer) for c in ax.containers):
        kinds.append("bar chart")
    from matplotlib.container import ErrorbarContainer

    bar_parts = {id(a) for c in ax.containers if isinstance(c, ErrorbarContainer)
                 for a in c.get_children()}
    lines = [ln for ln in ax.get_lines() if len(np.atleast_1d(ln.get_xdata())) > 2
             and id(ln) not in bar_parts]
    if lines:
        kinds.append("line plot")
    if any(isinstance(c, PathCollection) for c in ax.collections) and "bar chart" not in kinds:
        kinds.append("scatter plot")
    if any(isinstance(c, PolyCollection) for c in ax.collections) and "line plot" in kinds:
        kinds[kinds.index("line plot")] = "line plot with bands"
    return " and ".join(kinds) or "panel"


def _axes_parts(ax) -> tuple[str, str, str, str]:
    """(kind, title, 'y against x', 'series ...') of one panel, as words."""
    title = clean(ax.get_title()) or clean(ax.get_title(loc="left"))
    x, y = clean(ax.get_xlabel()), clean(ax.get_ylabel())
    axes = f"{y} against {x}" if (x and y) else (f"axis {x or y}" if (x or y) else "")
    series = ""
    leg = ax.get_legend()
    if leg is not None:
        names = [clean(t.get_text()) for t in leg.get_texts() if t.get_text().strip()]
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            series = "series " + ", ".join(names[:3]) + more
    return _panel_kind(ax), title, axes, series


def _describe_axes(ax) -> str:
    kind, title, axes, series = _axes_parts(ax)
    return ", ".join(p for p in (kind + (f" '{title}'" if title else ""), axes, series) if p)


def describe(fig) -> str:
    """A one-sentence description of a figure, written from its panels: how many, what kind
    (heatmap, line plot, bar chart, scatter plot), their titles, axis labels and legends."""
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and not _is_colorbar(ax)
            and (ax.has_data() or ax.get_title())]
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    head = f"Figure '{clean(sup)}'" if sup.strip() else "Figure"
    if not axes:
        return f"{head} with no data panels."
    if len(axes) == 1:
        return f"{head}: {_describe_axes(axes[0])}."
    parts = [_axes_parts(ax) for ax in axes]
    if len(axes) > 3 and len({(k, a) for k, _, a, _ in parts}) == 1:
        kind, _, ax_words, _ = parts[0]
        titles = [t for _, t, _, _ in parts if t]
        shown = "; ".join(f"'{t}'" for t in titles[:6]) + ("; ..." if len(titles) > 6 else "")
        return (f"{head}: {len(axes)} panels, each a {kind}"
                + (f" of {ax_words}" if ax_words else "")
                + (f", titled {shown}" if titles else "") + ".")
    panels = "; ".join(f"({i}) {_describe_axes(ax)}" for i, ax in enumerate(axes, 1))
    return f"{head} with {len(axes)} panels: {panels}."


def alt_text(fig) -> str:
    """The alt text of ``fig``: the sentence stored with :func:`set_alt`, else :func:`describe`."""
    return getattr(fig, "_psbook_alt", None) or describe(fig)


# What a reader sees, measured in headless Chromium: at a 1280 px window the book's column
# shows an image at most COLUMN_PX CSS px wide (a phone at 390 px: 358 px), scaled down from its
# natural width, never up. Text of s pt in a figure W inches wide, saved at d dpi, is s * d / 72
# image px, shown at s / 72 * min(d, COLUMN_PX / W) CSS px. The smallest text may be MIN_FONT
# pt; for it to show at MIN_TEXT_PX CSS px the image must be at most
# COLUMN_PX * MIN_FONT / (72 * MIN_TEXT_PX) = 9.55 inches wide (tight bounding box included):
# FIT_WIDTH leaves room for text sticking out of the figure, and figure_bundle measures the
# saved PNG and narrows the figure again where it is still too wide. savefig.dpi (130) keeps
# 1.7 image px per CSS px at the column, sharp on a high-density screen. On a phone the reader
# taps the image, which opens full size (tools/psbook_sphinx.py links it to its file).
COLUMN_PX = 688
MIN_TEXT_PX = 9.0
MIN_FONT = 9.0
FIT_WIDTH = 9.0


def text_at_column(text_px: float, image_width_px: float, column_px: float = COLUMN_PX) -> float:
    """CSS px at which text ``text_px`` image pixels tall shows when an image
    ``image_width_px`` wide is shown in a column ``column_px`` wide (scaled down, never up)."""
    if image_width_px <= 0:
        raise ValueError(f"image_width_px must be > 0; got {image_width_px!r}")
    return text_px * min(1.0, column_px / image_width_px)


def smallest_text_pt(fig) -> float:
    """The size (pt) of the smallest visible, non-empty text of ``fig`` as last drawn (titles,
    labels, tick labels, legends, annotations); ``inf`` for a figure without text."""
    from matplotlib.text import Text

    hidden = _off_view_tick_labels(fig)
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return min(sizes, default=float("inf"))


def _off_view_tick_labels(fig) -> set:
    """ids of the tick labels the last draw left out (their tick lies outside the view)."""
    out = set()
    for ax in fig.get_axes():
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * (hi - lo)
            for tick in axis.majorTicks + axis.minorTicks:
                loc = tick.get_loc()
                if loc is None or not lo - eps <= loc <= hi + eps:
                    out.update((id(tick.label1), id(tick.label2)))
    return out


def _colorbar_of(cax, ax) -> bool:
    cb = getattr(cax, "_colorbar", None)
    return cb is not None and getattr(cb.mappable, "axes", None) is ax


def _overlaps(fig) -> tuple[float, float]:
    """The largest horizontal and vertical overlap (px) between the boxes of two panels
    (their labels and ticks included, with a gap of half a letter), twin axes excepted."""
    from matplotlib.transforms import Bbox

    gap = 0.25 * mpl.rcParams["font.size"] * fig.dpi / 72
    axes = [a for a in fig.get_axes() if a.get_visible()]
    boxes = [a.get_tightbbox().padded(gap) for a in axes]
    dx = dy = 0.0
    for i in range(len(axes)):
        for j in range(i + 1, len(axes)):
            a, b = axes[i], axes[j]
            if a.bbox.bounds == b.bbox.bounds or _colorbar_of(a, b) or _colorbar_of(b, a):
                continue  # twinx/twiny, or a panel and its own colorbar
            inter = Bbox.intersection(boxes[i], boxes[j])
            if inter is None or inter.width < 1 or inter.height < 1:
                continue
            # panels side by side overlap horizontally, stacked ones vertically
            ca, cb = a.bbox, b.bbox
            side = min(ca.y1, cb.y1) - max(ca.y0, cb.y0) > 0
            if side:
                dx = max(dx, inter.width)
            else:
                dy = max(dy, inter.height)
    return dx, dy


def _tight(fig, **pads) -> bool:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fig.tight_layout(**pads)
        except Exception:  # noqa: BLE001 - a layout that cannot be tightened stays as is
            return False
    fig.draw_without_rendering()
    return True


def _relayout(fig, pads: dict | None = None, *, laid_out: bool = False) -> dict | None:
    """tight_layout, with more space between panels while their labels collide (at most three
    tries; the padding that leaves the least overlap wins), starting from ``pads`` (default
    1.08 each); returns the padding used (None where nothing was laid out). Constrained
    layout: just draw. ``laid_out``: the figure is already laid out with ``pads`` and drawn
    (nothing changed since), so the first try measures it as it is instead of laying it out
    again, and a constrained figure is not drawn again."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):  # laid out at draw time
        if not laid_out:
            fig.draw_without_rendering()
        return None
    size = mpl.rcParams["font.size"] * fig.dpi / 72
    pads = dict(pads or {"w_pad": 1.08, "h_pad": 1.08})
    best = None
    for k in range(4):
        if not (k == 0 and laid_out) and not _tight(fig, **pads):
            return None
        dx, dy = _overlaps(fig)
        if best is None or dx + dy < best[0]:
            best = (dx + dy, dict(pads))
        if not (dx or dy):
            return pads
        last = dict(pads)
        pads["w_pad"] += min(dx / size + 0.5, 3.0) if dx else 0
        pads["h_pad"] += min(dy / size + 0.5, 3.0) if dy else 0
    if best[1] != last:   # the figure is laid out with the last padding tried
        _tight(fig, **best[1])
    return best[1]


def _wrap_axis_labels(fig) -> bool:
    """Wrap x labels wider than their panel and y labels taller than it; True if any."""
    changed = False
    for ax in fig.get_axes():
        if _is_colorbar(ax) or not ax.get_visible():
            continue
        for label, room in ((ax.xaxis.label, ax.bbox.width), (ax.yaxis.label, ax.bbox.height)):
            box = label.get_window_extent()
            long = box.width if label is ax.xaxis.label else box.height
            changed |= _wrap_to_fit(label, long, room)
    return changed


def _wrap_to_fit(artist, length: float, room: float) -> bool:
    """Re-wrap ``artist``'s text (``length`` pixels along its line) into ``room`` pixels, with a
    little margin; True if its text changed."""
    text = artist.get_text()
    if not text or room <= 0 or length <= room * 1.04:
        return False
    longest = max(len(x) for x in text.split("\n"))
    new = _wrap(text, int(longest * room / length * 0.95))
    if new == text:
        return False
    artist.set_text(new)
    return True


def _thin_categorical_ticks(ax) -> bool:
    """Drop every k-th categorical tick label (set with set_xticklabels) where they would
    overlap at their font size (heatmaps of many tokens); True if any label was dropped."""
    from matplotlib.ticker import FixedFormatter, FixedLocator

    fig = ax.figure
    box = ax.get_window_extent()
    thinned = False
    for axis, length in ((ax.xaxis, box.width), (ax.yaxis, box.height)):
        # set_xticks + set_xticklabels: a FixedLocator (matplotlib >= 3.5 pairs it with a
        # FuncFormatter over a dict of labels, older ones with a FixedFormatter)
        if not isinstance(axis.get_major_locator(), FixedLocator) and not isinstance(
                axis.get_major_formatter(), FixedFormatter):
            continue
        ticks, labels = list(axis.get_majorticklocs()), axis.get_ticklabels()
        if len(ticks) <= 8 or not labels:  # a few named groups: every name is needed
            continue
        size = labels[0].get_fontsize() * fig.dpi / 72
        # a horizontal x label needs its width, a rotated/y label its height
        need = size * 1.15
        if axis is ax.xaxis and abs(labels[0].get_rotation()) < 45:
            need = max(lab.get_window_extent().width for lab in labels) + size * 0.5
        step = int(np.ceil(len(ticks) * need / max(length, 1)))
        if step > 1:
            keep = list(range(0, len(ticks), step))
            texts = [lab.get_text() for lab in labels]
            axis.set_ticks([ticks[i] for i in keep], [texts[i] for i in keep])
            thinned = True
    return thinned


def _wrap(text: str, chars: int) -> str:
    """``text`` wrapped at ``chars`` characters per line, never inside ``$...$`` math."""
    import textwrap

    parts = text.split("$")
    protected = "$".join(p.replace(" ", "\x00") if i % 2 else p for i, p in enumerate(parts))
    lines = []
    for para in protected.split("\n"):
        lines += textwrap.wrap(para, max(chars, 12), break_long_words=False) or [""]
    return "\n".join(lines).replace("\x00", " ")


def _wrap_titles(fig) -> bool:
    """Wrap axes titles (and the suptitle) wider than their panel (figure); True if any."""
    changed = False
    fig_w = fig.get_window_extent().width
    items = [(ax.title, ax.get_window_extent().width) for ax in fig.get_axes()
             if not _is_colorbar(ax)]
    if getattr(fig, "_suptitle", None) is not None:
        items.append((fig._suptitle, fig_w * 0.95))
    for t, room in items:
        if t.get_text():
            changed |= _wrap_to_fit(t, t.get_window_extent().width, room)
    return changed


def _legend_points(ax):
    """Display coordinates of the data drawn in ``ax`` (line vertices densified, markers,
    bar corners), to test a legend against."""
    pts = []
    for line in ax.get_lines():
        xy = line.get_transform().transform(line.get_path().vertices)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if len(xy) > 1:
            t = np.linspace(0, 1, 12)[:, None, None]
            seg = xy[:-1][None] * (1 - t) + xy[1:][None] * t
            xy = seg.reshape(-1, 2)
        pts.append(xy)
    from matplotlib.collections import PolyCollection

    for c in ax.collections:
        if isinstance(c, PolyCollection):  # bands (fill_between): their outline
            for path in c.get_paths():
                xy = c.get_transform().transform(path.vertices)
                pts.append(xy[np.all(np.isfinite(xy), axis=1)])
            continue
        offs = c.get_offsets()
        if len(offs) and c.get_offset_transform() is not None:
            xy = c.get_offset_transform().transform(offs)
            pts.append(xy[np.all(np.isfinite(xy), axis=1)])
    for p in ax.patches:
        b = p.get_window_extent()
        if p.get_visible() and 0 < b.height < ax.bbox.height * 1.01 and b.width > 0:
            gx, gy = np.meshgrid(np.linspace(b.x0, b.x1, 4), np.linspace(b.y0, b.y1, 6))
            pts.append(np.c_[gx.ravel(), gy.ravel()])
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _legend_covers_data(ax, leg) -> bool:
    box = leg.get_window_extent()
    siblings = ax._twinned_axes.get_siblings(ax) if hasattr(ax, "_twinned_axes") else [ax]
    pts = np.concatenate([_legend_points(a) for a in siblings])
    inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1)
              & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
    return bool(inside.any())


def _move_legends_off_data(fig) -> bool:
    """A legend inside a panel that covers the panel's data goes below the panel (the figure
    grows by its height). Returns True if any moved."""
    moved_h = 0.0
    for ax in fig.get_axes():
        leg = ax.get_legend()
        if leg is None or leg.get_bbox_to_anchor().bounds != ax.bbox.bounds:
            continue  # none, or placed outside by its author
        if not _legend_covers_data(ax, leg):
            continue
        handles = getattr(leg, "legend_handles", None) or getattr(leg, "legendHandles", [])
        labels = [t.get_text() for t in leg.get_texts()]
        title = leg.get_title().get_text() or None
        size = leg.get_texts()[0].get_fontsize() if leg.get_texts() else None
        fig.draw_without_rendering()
        tight = ax.get_tightbbox()
        below = (tight.y0 - ax.bbox.y0) / ax.bbox.height - 0.02
        ncol = 2 if len(labels) > 2 and max(len(x) for x in labels) < 28 else 1
        new = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, below),
                        ncol=ncol, title=title, fontsize=size, title_fontsize=size)
        moved_h = max(moved_h, new.get_window_extent().height / fig.dpi)
    if moved_h:
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h + moved_h + 0.1)
    return bool(moved_h)


def fit_to_column(fig, width: float = FIT_WIDTH, min_font: float = MIN_FONT):
    """Make ``fig`` readable at the page's width: at most ``width`` inches wide (the height
    shrinks by the square root of the ratio, so panels keep room for their text), no text
    under ``min_font`` pt, titles wider than their panel wrapped, a legend that covers its
    panel's data moved below the panel, categorical tick labels thinned where they would
    overlap, and the layout redone. Returns ``fig``."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.text import Text

    w, h = fig.get_size_inches()
    if w > width:
        fig.set_size_inches(width, h * (width / w) ** 0.5)
    for ax in fig.get_axes():
        for which in ("x", "y"):
            labels = getattr(ax, f"get_{which}ticklabels")()
            if labels and labels[0].get_fontsize() < min_font:
                ax.tick_params(axis=which, labelsize=min_font)
    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < min_font:
            t.set_fontsize(min_font)
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        laid_out = _tight(fig)  # first without extra padding: wrap text to the panels as they are
    else:
        fig.draw_without_rendering()
        laid_out = True
    wrapped = _wrap_titles(fig)
    wrapped = _wrap_axis_labels(fig) or wrapped
    # where no text was wrapped, the layout just made is the search's first try (the default
    # padding): it is measured, not made again (a layout and a draw less per figure)
    pads = _relayout(fig, laid_out=laid_out and not wrapped)
    if _move_legends_off_data(fig):
        pads = _relayout(fig, pads)
    # lay out again only where labels were dropped, from the padding already found (each
    # search is up to 5 layouts): otherwise the figure is as the last layout left it
    thinned = [_thin_categorical_ticks(ax) for ax in fig.get_axes()]
    if any(thinned):
        _relayout(fig, pads)
    return fig


def figure_bundle(fig, alt: str | None = None, *, dpi: float | None = None, fit: bool = True):
    """``(data, metadata)`` of the display of ``fig``: a base64 PNG as ``image/png``, the alt
    text as ``text/plain``, ``metadata["image/png"]["alt"]``, and the smallest text of the
    saved image in image pixels as ``metadata["image/png"]["min_text_px"]``. With ``fit`` the
    figure is first made readable at the column's width (:func:`fit_to_column`), and narrowed
    further while its smallest text would show under :data:`MIN_TEXT_PX` CSS px at
    :data:`COLUMN_PX` (:func:`text_at_column`)."""
    if alt is not None and (not isinstance(alt, str) or not alt.strip()):
        raise ValueError(f"alt must be a non-empty sentence or None; got {alt!r}")
    alt = " ".join((alt or alt_text(fig)).split())
    dpi = dpi or _STYLE["savefig.dpi"]
    if fit:
        fit_to_column(fig)
    raw, text_px = _render_png(fig, dpi)
    for _ in range(3 if fit else 0):   # still too wide for its smallest text: narrow it
        shown = text_at_column(text_px, png_size(raw)[0])
        if shown >= MIN_TEXT_PX:
            break
        fit_to_column(fig, width=fig.get_size_inches()[0] * shown / MIN_TEXT_PX * 0.97)
        raw, text_px = _render_png(fig, dpi)
    png = base64.b64encode(raw).decode("ascii")
    meta = {"alt": alt}
    if np.isfinite(text_px):
        meta["min_text_px"] = round(float(text_px), 2)
    return {"image/png": png, "text/plain": alt}, {"image/png": meta}


def _render_png(fig, dpi: float) -> tuple[bytes, float]:
    """The PNG of ``fig`` as the page shows it, and its smallest text in image pixels.

    A constrained layout that the last draw made (nothing changed since: the figure is not
    stale) is kept as it is: savefig would make it again to measure the tight box, at a dpi
    that scales every size alike."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    buf = io.BytesIO()
    engine = fig.get_layout_engine()
    keep = isinstance(engine, ConstrainedLayoutEngine) and not fig.stale
    if keep:
        fig.set_layout_engine("none")
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        if keep:
            fig.set_layout_engine(engine)
    return buf.getvalue(), smallest_text_pt(fig) * dpi / 72


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of a PNG, read from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("data is not a PNG (no PNG signature and IHDR chunk)")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def show(fig=None, alt: str | None = None) -> None:
    """Show ``fig`` (default: the current figure) as a PNG with alt text, and close it.

    Use it where a chapter would call ``plt.show()``: the output carries the alt text
    (``alt``, else the one stored with the figure, else :func:`describe`), and the figure is
    drawn to be read at the page's width (:func:`fit_to_column`). Outside IPython (a script)
    it falls back to ``plt.show()``."""
    if fig is None:
        fig = plt.gcf()
    elif hasattr(fig, "figure") and not isinstance(fig, mpl.figure.Figure):
        fig = fig.figure  # an Axes
    if not isinstance(fig, mpl.figure.Figure):
        raise TypeError(f"fig must be a matplotlib Figure or Axes (or None); got "
                        f"{type(fig).__name__}")
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with every notebook kernel
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        plt.show()
        return None
    data, md = figure_bundle(fig, alt)
    plt.close(fig)
    display(data, raw=True, metadata=md)
    return None
