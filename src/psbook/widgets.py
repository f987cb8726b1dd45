"""Interactive panels (ipywidgets core controls only; works with ipywidgets 7.7 and 8), and the
kernel-free knob over the same grid.

:func:`grid_knob` -- the grid's states for both models behind kernel-free controls
(:mod:`psbook.plots.knobs`): what the published page shows, and Jupyter/Colab too.

:func:`synthetic_panel` -- pick the initialisation scale gamma, the data distribution and the
model; the panel shows the key-embedding cosine heatmap next to the signature's, with
R_cos / R_order / accuracy. Results come from :func:`psbook.synthetic.experiments.run` (disk-cached)
and are memoised in the panel, so a state visited once redraws instantly. Widgets never train
anything themselves: they call the experiment API.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from .synthetic import experiments
from ._validate import check_choice
from .presets import get_preset

__all__ = ["DISTRIBUTIONS", "distribution_settings", "synthetic_panel", "panel_figure",
           "grid_results", "grid_knob"]

# label shown in the dropdown -> task settings (f_add)
DISTRIBUTIONS = {
    "uniform": {},
    "zipf keys": {"key_dist": "zipf", "key_zipf": 1.5, "n_samples": 10_000},
    "zipf anchors": {"anchor_dist": "zipf", "anchor_zipf": 1.5, "n_samples": 10_000},
}


def distribution_settings(label: str) -> dict:
    """Task settings of a named data distribution (see :data:`DISTRIBUTIONS`)."""
    check_choice("distribution", label, set(DISTRIBUTIONS))
    return dict(DISTRIBUTIONS[label])


def _run(preset, model, gamma, dist, steps):
    return experiments.run("f_add", model=model, preset=preset, gamma=gamma, steps=steps,
                           **distribution_settings(dist))


def grid_results(preset=None, model: str = "ffn") -> list:
    """Every state of :func:`synthetic_panel` for one model, as ``[(settings, result), ...]``:
    what the static small-multiples figure beside the panel shows (and what warms its cache).
    The states of one model train together (:func:`psbook.synthetic.ensemble.batched_map`)."""
    from .synthetic import ensemble

    p = get_preset(preset) if preset is None or isinstance(preset, str) else preset
    syn = p.synthetic
    states = [{"data": d, "gamma": g} for d in syn["widget_dists"] for g in syn["widget_gammas"]]
    # the states train together as one batched model (each as its single run, to rounding)
    return ensemble.batched_map(
        lambda s: (s, _run(p, model, s["gamma"], s["data"], syn["widget_steps"])), states)


def grid_knob(*grids, preset=None):
    """The kernel-free knob over :func:`grid_results` of one or more models (model, gamma and
    data distribution as controls; each state's key-embedding cosines with R_cos, R_order and
    test accuracy). Takes the grids the chapter computed; trains nothing."""
    from .plots import knobs

    if not grids:
        raise ValueError("grids: expected at least one grid_results(...) list, got none")
    p = get_preset(preset) if preset is None or isinstance(preset, str) else preset
    states = []
    for grid in grids:
        states += knobs.result_states([({"model": r.model, "gamma": s["gamma"],
                                         "data": s["data"]}, r) for s, r in grid])
    models = list(dict.fromkeys(st[0]["model"] for st in states))
    gammas = list(dict.fromkeys(st[0]["gamma"] for st in states))
    g0 = p.synthetic["model"].get("gamma", gammas[0])
    return knobs.heatmap_knob(
        states, {"model": "model", "gamma": "γ", "data": "data"}, name="c08-gamma-data-model",
        title="Key-embedding cosines on composite addition", value_label="cosine of W^E rows",
        defaults={"model": "ffn" if "ffn" in models else models[0],
                  "gamma": g0 if g0 in gammas else gammas[0]},
        alt_text=(f"Interactive heatmap of the key embeddings' cosine similarities on composite "
                  f"addition, with controls for the model ({', '.join(models)}), the "
                  f"initialisation scale gamma ({', '.join(map(str, gammas))}) and the data "
                  f"distribution; above it the chosen state's R_cos, R_order and test accuracy."))


def panel_figure(res):
    """The panel's figure for one result: embedding vs signature heatmap and metrics."""
    from .plots.core import cosine_heatmap, set_alt

    t = res.task.ordered_tokens
    names = [res.task.token_names[i] for i in t]
    fig, axes = plt.subplots(1, 2, figsize=(8.2, 3.5))
    m = res.metrics
    cosine_heatmap(res.W_E[t], labels=names, ax=axes[0], axis_label="key token",
                   title=f"$W^E$ ({res.model}, γ={res.config['gamma']})\n"
                         f"$R_{{cos}}$={m['R_cos_phi_y']:+.2f}  $R_{{order}}$={m['R_order']:+.2f}"
                         f"  test acc={res.test_accuracy:.2f}")
    cosine_heatmap(res.signatures.dense("phi_y", t), labels=names, ax=axes[1],
                   axis_label="key token", title=r"signature $\phi^y$ (training data)")
    fig.tight_layout()
    return set_alt(fig, f"Two cosine-similarity heatmaps of the key tokens: the trained "
                        f"embedding W^E ({res.model}, gamma={res.config['gamma']}; R_cos "
                        f"{m['R_cos_phi_y']:+.2f}, R_order {m['R_order']:+.2f}, test accuracy "
                        f"{res.test_accuracy:.2f}) beside the label signature phi^y.")


def synthetic_panel(preset=None, *, display_now: bool = True):
    """Build the panel (gamma slider, distribution and model pickers) and render its first state.

    Returns the ``ipywidgets.VBox``. Choices come from ``preset.synthetic["widget_gammas"]``,
    ``["widget_dists"]`` and ``["widget_steps"]``.
    """
    import ipywidgets as w

    p = get_preset(preset) if preset is None or isinstance(preset, str) else preset
    syn = p.synthetic
    gammas = list(syn["widget_gammas"])
    dists = [d for d in syn["widget_dists"] if d in DISTRIBUTIONS]
    steps = syn["widget_steps"]
    default_gamma = syn["model"].get("gamma", gammas[0])
    g = w.SelectionSlider(options=gammas, value=default_gamma if default_gamma in gammas
                          else gammas[0], description="gamma", continuous_update=False)
    dd = w.Dropdown(options=dists, value=dists[0], description="data")
    md = w.ToggleButtons(options=["linear", "ffn"], value="ffn", description="model")
    out = w.Output()
    status = w.HTML()
    memo: dict = {}

    def redraw(*_):
        key = (md.value, g.value, dd.value)
        status.value = "<i>computing (cached after the first visit)...</i>"
        if key not in memo:
            memo[key] = _run(p, md.value, g.value, dd.value, steps)
        res = memo[key]
        # Put the rendered PNG into the Output widget's state directly instead of capturing
        # plt.show() inside `with out:`: capture goes through the executing client's
        # output-widget emulation, which can leave a non-interactive build waiting forever.
        fig = panel_figure(res)
        from .plots.core import figure_bundle

        data, meta = figure_bundle(fig)  # PNG + one-sentence alt text (psbook.plots.show)
        plt.close(fig)
        out.outputs = ({"output_type": "display_data", "metadata": meta, "data": data},)
        status.value = (f"model={md.value}, gamma={g.value}, data={dd.value}: "
                        f"train acc {res.train_accuracy:.2f}, test acc {res.test_accuracy:.2f}")

    for c in (g, dd, md):
        c.observe(redraw, names="value")
    box = w.VBox([w.HBox([g, dd]), md, status, out])
    redraw()
    if display_now:
        from IPython.display import display
        display(box)
    return box
