"""psbook.plots.synthetic.small_multiples: the static fallback of the synthetic chapters' knobs
(chapters 05, 06, 08) is readable at the column's width: every title within its panel's column
(none runs into a neighbour or the colour bar), token indices as whole numbers."""

from __future__ import annotations

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from psbook import plots  # noqa: E402
from psbook.plots import synthetic as psyn  # noqa: E402


def _result(n: int, seed: int):
    """The parts of an ExperimentResult that small_multiples reads."""
    rng = np.random.default_rng(seed)
    return types.SimpleNamespace(
        task=types.SimpleNamespace(ordered_tokens=np.arange(n)),
        metrics={"R_cos_phi_y": 0.91, "R_cos_phi_X": -0.15, "R_order": -0.8},
        W_E=rng.normal(size=(n + 4, 8)), test_accuracy=0.97)


def _grid_08(n=14):
    return [({"data": d, "gamma": g}, _result(n, 7 * i + j))
            for i, d in enumerate(["uniform", "zipf keys", "zipf anchors"])
            for j, g in enumerate([0.5, 0.8, 1.0, 1.5])]


def _titles_that_collide(fig) -> list:
    """Panel titles whose drawn box runs into another panel's title or a colour bar."""
    fig.draw_without_rendering()
    axes = [a for a in fig.get_axes() if a.get_title()]
    bars = [a for a in fig.get_axes() if not a.get_title() and a not in axes]
    out = []
    for a in axes:
        box = a.title.get_window_extent()
        others = [b.title.get_window_extent() for b in axes if b is not a]
        others += [b.get_tightbbox() for b in bars]
        if any(box.overlaps(o) for o in others):
            out.append(a.get_title().split("\n")[0])
    return out


@pytest.mark.parametrize("grid, keys", [
    (_grid_08(), ("data", "gamma")),
    ([({"model": "linear", "width": w}, _result(14, k))
      for k, w in enumerate(["1 (f~_add)", "3", "∞ (f_add)"])], ("model", "width"))],
    ids=["3x4", "1x3"])
def test_small_multiples_fit_the_column_without_colliding_titles(grid, keys):
    fig = psyn.small_multiples(grid, *keys, title="a grid of key-embedding cosines")
    plots.fit_to_column(fig)
    assert _titles_that_collide(fig) == []
    for ax in fig.get_axes()[:-1]:       # the panels (the last axes is the colour bar)
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_majorticklocs()
            assert np.allclose(ticks, np.round(ticks)), f"token ticks {ticks}"
    left = [ax.get_ylabel() for ax in fig.get_axes()[:-1] if ax.get_ylabel()]
    assert left and all(ln.startswith(f"{keys[0]} = ") for ln in left), left
    plt.close(fig)


def test_the_title_check_finds_a_title_wider_than_its_column():
    """Control: one panel's title made three times wider runs into its neighbour's."""
    fig = psyn.small_multiples(_grid_08(), "data", "gamma")
    plots.fit_to_column(fig)
    ax = fig.get_axes()[1]
    ax.set_title("a title much wider than its panel, " * 3, fontsize=9)
    assert _titles_that_collide(fig), "a title three panels wide passed"
    plt.close(fig)
