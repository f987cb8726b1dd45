"""Figures: the book's style, alt text on every figure a chapter shows, and on every <img>.

* Unit tests of :func:`psbook.plots.show` / :func:`psbook.plots.figure_bundle` /
  :func:`psbook.plots.describe` (the alt text is generated with the figure).
* Legibility: a figure :func:`psbook.plots.figure_bundle` makes shows its smallest text at
  >= :data:`psbook.plots.core.MIN_TEXT_PX` CSS px in the page's column (1280 px window), heatmaps
  of many tokens thin their tick labels instead of shrinking them.
* After a book build (`jupyter-book build .`): every image output of every executed chapter
  (`_build/jupyter_execute/book/*.ipynb`) carries alt text and its smallest text
  (``min_text_px``) in its metadata, legible at the column, and every `<img>` of every built
  page has a non-empty `alt`. Skipped without a build, except when
  PSBOOK_BROWSER_REQUIRED=1 (as in tests/test_browser.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from psbook import plots  # noqa: E402
from psbook.plots import lm as lmplots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = Path(os.environ.get("PSBOOK_HTML_DIR", BUILD / "html"))
EXECUTED = BUILD / "jupyter_execute" / "book"
REQUIRED = os.environ.get("PSBOOK_BROWSER_REQUIRED", "") == "1"


# ---------------------------------------------------------------------------------------------
# Style and alt text, without a build

def test_the_palette_is_the_colour_blind_safe_one():
    cycle = [c.lower() for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle[:len(plots.PALETTE)] == [c.lower() for c in plots.PALETTE]
    assert cycle[0] == "#0072b2"  # Okabe-Ito blue, not matplotlib's tab:blue
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])
    assert line.get_color().lower() == "#0072b2"
    plt.close(fig)


def test_describe_names_each_panel_its_kind_title_axes_and_legend():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot(np.arange(10), np.arange(10), label="trained")
    a.plot(np.arange(10), np.zeros(10), label="shuffled control")
    a.set_title(r"$R_{cos}$ along training")
    a.set_xlabel("training step")
    a.set_ylabel("R_cos")
    a.legend()
    plots.cosine_heatmap(np.random.default_rng(0).normal(size=(6, 4)), ax=b, title="W^E")
    text = plots.describe(fig)
    plt.close(fig)
    assert text.startswith("Figure with 2 panels") and text.endswith(".")
    for part in ("line plot 'R_cos along training'", "R_cos against training step",
                 "trained, shuffled control", "heatmap 'W^E'", "token against token"):
        assert part in text, (part, text)
    assert "$" not in text and "\n" not in text


def test_a_plot_function_stores_its_own_sentence():
    fig = lmplots.agreement_matrix(np.eye(3), ["a", "b", "c"], title="t")
    own = plots.alt_text(fig)
    plt.close(fig)
    assert own and own != "" and "heatmap" in own.lower()
    fig, _ = plt.subplots()
    plots.set_alt(fig, "  A sentence\n written by hand. ")
    assert plots.alt_text(fig) == "A sentence written by hand."
    with pytest.raises(ValueError, match="non-empty sentence"):
        plots.set_alt(fig, " ")
    plt.close(fig)


def test_figure_bundle_carries_png_and_alt():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([0, 1], [1, 2])
    ax.set_ylabel("count")
    data, md = plots.figure_bundle(fig)
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert md["image/png"]["alt"] == data["text/plain"] == "Figure: bar chart, axis count."
    data, md = plots.figure_bundle(fig, alt="Two bars.")
    assert md["image/png"]["alt"] == "Two bars."
    with pytest.raises(ValueError, match="alt must be"):
        plots.figure_bundle(fig, alt="")
    plt.close(fig)


def test_show_displays_the_png_with_alt_and_closes_the_figure(monkeypatch):
    shown = []
    import IPython
    import IPython.display

    fig, ax = plt.subplots()  # before the fake IPython: pyplot's first figure of a process
    # resolves the backend and registers a display hook on the running IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw, metadata: shown.append((data, metadata)))
    ax.plot([0, 1, 2], [0, 1, 4])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    assert plots.show(fig) is None
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend does not show it again
    (data, md), = shown
    assert md["image/png"]["alt"] == "Figure: line plot, y against x."
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plots.show("not a figure")


# ---------------------------------------------------------------------------------------------
# After a build

def _need(path: Path, what: str):
    if not path.is_dir() or not any(path.iterdir()):
        msg = f"no {what} in {path}: run `jupyter-book build .` first"
        if REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)


def image_outputs_without_alt(nb: dict) -> list[str]:
    """'cell N: first line of its code' for each image output of ``nb`` that has no alt text."""
    bad = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            for mime in out.get("data", {}) or {}:
                if not mime.startswith("image/"):
                    continue
                alt = ((out.get("metadata") or {}).get(mime) or {}).get("alt", "")
                if not (isinstance(alt, str) and alt.strip()):
                    src = "".join(cell.get("source", "")).strip().splitlines() or [""]
                    bad.append(f"cell {i}: {src[-1][:70]}")
    return bad


def _shown_text_px(data: dict, md: dict) -> float:
    """CSS px at which the smallest text of an image output shows in the desktop column."""
    from psbook.plots import core

    raw = base64.b64decode(data["image/png"])
    return core.text_at_column(md["image/png"]["min_text_px"], core.png_size(raw)[0])


def image_outputs_too_small(nb: dict) -> list[str]:
    """'cell N: ...' for each PNG output of ``nb`` whose smallest text shows under
    MIN_TEXT_PX CSS px at the column, or that does not say how small its text is."""
    from psbook.plots import core

    bad = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if "image/png" not in data:
                continue
            md = (out.get("metadata") or {}).get("image/png") or {}
            src = "".join(cell.get("source", "")).strip().splitlines() or [""]
            if not isinstance(md.get("min_text_px"), (int, float)):
                bad.append(f"cell {i}: no min_text_px (show it with psbook.plots.show): "
                           f"{src[-1][:60]}")
                continue
            shown = _shown_text_px({"image/png": "".join(data["image/png"])},
                                   {"image/png": md})
            if shown < core.MIN_TEXT_PX - 1e-6:
                bad.append(f"cell {i}: smallest text {shown:.1f} CSS px at the column: "
                           f"{src[-1][:60]}")
    return bad


def test_every_figure_a_chapter_shows_is_legible_at_the_column():
    _need(EXECUTED, "executed chapters")
    bad = {p.name: b for p in sorted(EXECUTED.glob("[0-9][0-9]-*.ipynb"))
           if (b := image_outputs_too_small(json.loads(p.read_text())))}
    assert not bad, ("figures whose smallest text shows under 9 CSS px at the 1280 px column "
                     "(or that do not record it):\n" + json.dumps(bad, indent=1))


def test_every_figure_a_chapter_shows_has_alt_text():
    _need(EXECUTED, "executed chapters")
    missing = {}
    n_images = 0
    for path in sorted(EXECUTED.glob("[0-9][0-9]-*.ipynb")):
        nb = json.loads(path.read_text())
        n_images += sum(1 for c in nb["cells"] for o in c.get("outputs", []) or []
                        for m in (o.get("data") or {}) if m.startswith("image/"))
        bad = image_outputs_without_alt(nb)
        if bad:
            missing[path.name] = bad
    assert n_images > 20, f"only {n_images} figures in the executed chapters: a stale build?"
    assert not missing, ("figures without alt text (show them with psbook.plots.show):\n"
                         + json.dumps(missing, indent=1))


def test_the_alt_check_fails_an_output_without_alt():
    """Negative control: a figure shown by plt.show() (no alt) is found."""
    nb = {"cells": [{"source": "plt.plot(x)\nplt.show()", "outputs": [
        {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"},
         "metadata": {}}]},
        {"source": "show(fig)", "outputs": [
            {"output_type": "display_data", "data": {"image/png": "iVBOR"},
             "metadata": {"image/png": {"alt": "Figure: line plot."}}}]}]}
    assert image_outputs_without_alt(nb) == ["cell 0: plt.show()"]


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


def images_without_alt(html: str) -> list[str]:
    p = _Images()
    p.feed(html)
    return [(i.get("src") or "")[:80] for i in p.images if not (i.get("alt") or "").strip()]


def test_every_img_in_the_built_html_has_alt_text():
    _need(HTML, "built HTML")
    pages = [p for p in HTML.rglob("*.html") if "_static" not in p.parts]
    missing = {str(p.relative_to(HTML)): bad for p in pages
               if (bad := images_without_alt(p.read_text(errors="replace")))}
    n_chapter_imgs = sum(len(_imgs(p)) for p in pages if re.match(r"\d\d-", p.stem))
    assert n_chapter_imgs > 20, f"only {n_chapter_imgs} images in the chapter pages"
    assert not missing, f"<img> without alt: {json.dumps(missing, indent=1)}"


def _imgs(page: Path) -> list[dict]:
    p = _Images()
    p.feed(page.read_text(errors="replace"))
    return p.images


def test_the_book_links_each_output_image_to_its_file_with_its_smallest_text():
    """tools/psbook_sphinx.py: an output image (class psbook-output-image) is wrapped in a
    link to its file and its psbook-tpx-NNNN class becomes data-min-text-px; other images,
    and an image Sphinx already links, are left as they are."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import psbook_sphinx as ps

    body = ('<p><img alt="A figure." class="psbook-output-image psbook-tpx-1625" '
            'src="../_images/f.png" /></p><img alt="Logo" src="../_static/logo.png" />'
            '<a class="reference internal image-reference" href="../_images/g.png">'
            '<img alt="Scaled." class="psbook-output-image" src="../_images/g.png" /></a>')
    out = ps.link_images(body)
    assert ('<a class="reference internal image-reference psbook-zoom" href="../_images/f.png" '
            'title="Open the figure full size"><img data-min-text-px="16.25" alt="A figure." '
            'class="psbook-output-image" src="../_images/f.png" /></a>') in out
    assert '<img alt="Logo" src="../_static/logo.png" />' in out
    assert out.count("<a ") == 2 and out.count("psbook-zoom") == 1


def test_the_img_check_fails_an_img_without_alt():
    html = '<p><img src="a.png" alt="A figure."><img src="b.png"><img src="c.png" alt=" "></p>'
    assert images_without_alt(html) == ["b.png", "c.png"]


def _many_token_heatmaps():
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.5))   # chapter 12's four group heatmaps
    labels = [f"word{i}" for i in range(36)]
    rng = np.random.default_rng(0)
    for ax in axes.ravel():
        plots.cosine_heatmap(rng.normal(size=(36, 5)), labels=labels, ax=ax, title="GloVe")
    fig.tight_layout()
    return fig, axes


def _wide_small_print():
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
    for ax in axes:
        ax.plot([0, 1, 2], [0, 1, 4], label="a line")
        ax.set_xlabel("training step")
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    return fig


@pytest.mark.parametrize("make", [lambda: _many_token_heatmaps()[0], _wide_small_print,
                                  lambda: plt.subplots(figsize=(3, 2))[0]],
                         ids=["heatmaps", "wide", "small"])
def test_the_smallest_text_of_a_shown_figure_is_legible_at_the_column(make):
    """At a 1280 px window the column shows an image at most COLUMN_PX wide: every figure
    figure_bundle makes shows its smallest text at >= 9 CSS px there, and says so in its
    metadata (min_text_px, image px; tools/psbook_sphinx.py puts it on the <img>)."""
    from psbook.plots import core

    fig = make()
    data, md = plots.figure_bundle(fig)
    plt.close(fig)
    assert md["image/png"]["min_text_px"] >= core.MIN_FONT * 130 / 72 - 0.01
    assert _shown_text_px(data, md) >= core.MIN_TEXT_PX
    assert image_outputs_too_small({"cells": [{"source": "show(fig)", "outputs": [
        {"data": data, "metadata": md}]}]}) == []


def test_the_legibility_check_fails_a_wide_figure_with_small_text():
    """Negative control: a 16-inch figure saved as is (the old 10-inch cap at 130 dpi showed
    9 pt at 8.6 CSS px, 8 pt heatmap labels at 7.6) is found; so is an image without
    min_text_px."""
    from psbook.plots import core

    fig = _wide_small_print()
    data, md = plots.figure_bundle(fig, fit=False)
    plt.close(fig)
    assert _shown_text_px(data, md) < core.MIN_TEXT_PX
    nb = {"cells": [{"source": "show(fig)", "outputs": [{"data": data, "metadata": md}]},
                    {"source": "plt.show()", "outputs": [
                        {"data": data, "metadata": {"image/png": {"alt": "x"}}}]}]}
    bad = image_outputs_too_small(nb)
    assert len(bad) == 2 and "CSS px" in bad[0] and "no min_text_px" in bad[1], bad
    assert core.text_at_column(18, 1376) == 9.0 and core.text_at_column(10, 300) == 10


def test_heatmaps_of_many_tokens_thin_their_labels_instead_of_shrinking_them():
    from psbook.plots import core

    fig, axes = _many_token_heatmaps()
    plots.fit_to_column(fig)
    for ax in axes.ravel():
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_text()]
            assert 3 <= len(labels) < 36                   # thinned, not all 36
            assert min(t.get_fontsize() for t in labels) >= core.MIN_FONT
            boxes = sorted((b.y0, b.y1) if axis is ax.yaxis else (b.x0, b.x1)
                           for b in (t.get_window_extent() for t in labels))
            assert all(a1 <= b0 + 0.5 for (_, a1), (b0, _) in zip(boxes, boxes[1:])), \
                "tick labels overlap"
    plt.close(fig)


def test_fit_to_column_caps_the_width_and_the_smallest_text():
    from matplotlib.text import Text

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    x = np.linspace(0, 1, 50)
    for ax in axes:
        ax.plot(x, x, label="rising line")
        ax.plot(x, 1 - x, label="falling line")
        ax.set_title("a long title that is much wider than one third of a ten inch figure")
        ax.legend(fontsize=6, loc="center")        # on top of the crossing lines
        ax.tick_params(labelsize=6)
    plots.fit_to_column(fig)
    assert fig.get_size_inches()[0] <= plots.core.FIT_WIDTH + 1e-9
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    assert min(sizes) >= plots.core.MIN_FONT
    for ax in axes:
        assert "\n" in ax.get_title()                 # wrapped to its panel
        leg = ax.get_legend()
        assert leg.get_window_extent().y1 < ax.bbox.y0  # moved below the panel, off the data
    plt.close(fig)


def test_fit_to_column_leaves_a_legend_that_covers_no_data():
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.linspace(0, 1, 50)
    ax.plot(x, 0.2 * x, label="low line")
    ax.legend(loc="upper left")
    plots.fit_to_column(fig)
    assert ax.get_legend().get_bbox_to_anchor().bounds == ax.bbox.bounds  # still inside
    plt.close(fig)


def _count_calls(monkeypatch, owner, name: str) -> list:
    """Count the calls of ``owner.name`` (a method), returning the list it appends to."""
    calls, original = [], getattr(owner, name)

    def counted(self, *a, **k):
        calls.append(1)
        return original(self, *a, **k)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_fit_to_column_lays_out_again_only_where_text_was_wrapped(monkeypatch):
    """The first layout (default padding) is the padding search's first try: a figure whose
    panels do not collide is drawn once by fit_to_column, not twice. Control: a title wrapped
    to its panel changes the layout, so that figure is laid out and drawn again."""
    from matplotlib.figure import Figure

    draws = _count_calls(monkeypatch, Figure, "draw")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_title("short")
    plots.fit_to_column(fig)
    assert len(draws) == 1, f"{len(draws)} draws for a figure with nothing to change"
    plt.close(fig)
    draws.clear()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_title("a title much wider than its panel, which fit_to_column wraps to it")
    plots.fit_to_column(fig)
    assert "\n" in axes[0].get_title() and len(draws) == 2, (axes[0].get_title(), len(draws))
    plt.close(fig)


def test_figure_bundle_keeps_a_constrained_layout_it_has_just_made(monkeypatch):
    """A constrained figure is laid out once by figure_bundle (the fit's draw), not again in
    savefig (which lays it out to measure its tight box); its PNG is the one savefig makes with the layout redone, to a pixel or two.
    Control: a figure changed after its last draw (stale) is laid out again when saved."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from psbook.plots import core

    def grid():
        fig, axes = plt.subplots(1, 3, figsize=(9, 3), layout="constrained")
        for k, ax in enumerate(axes):
            im = ax.imshow(np.eye(6) * (k + 1) / 3, vmin=0, vmax=1)
            ax.set_title(f"panel {k}\nsecond line")
        fig.colorbar(im, ax=axes, label="value")
        fig.suptitle("three panels")
        return fig

    fig = grid()
    plots.fit_to_column(fig)
    redone = plots.core.png_size(core._render_png(fig, 130)[0])   # stale-free: kept
    fig.set_layout_engine("constrained")                          # a fresh engine: stale
    layouts = _count_calls(monkeypatch, ConstrainedLayoutEngine, "execute")
    fig.stale = True
    again = plots.core.png_size(core._render_png(fig, 130)[0])
    assert len(layouts) == 1, f"a stale figure was laid out {len(layouts)} times, not once"
    assert all(abs(a - b) <= 3 for a, b in zip(redone, again)), (redone, again)
    plt.close(fig)
    layouts.clear()
    fig = grid()
    plots.figure_bundle(fig)
    assert len(layouts) == 1, f"figure_bundle laid the figure out {len(layouts)} times"
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)   # given back
    plt.close(fig)
