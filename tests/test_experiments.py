"""Tests of the one-call experiment API (tiny preset) and the widget/plot plumbing."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from psbook.synthetic import experiments  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))


def test_run_f_add_linear_orders_keys():
    r = experiments.run("f_add", model="linear", preset="tiny", steps=300)
    assert r.W_E.shape == (r.task.vocab_size, r.config["d"])
    assert r.metrics["R_order"] < -0.8 and r.metrics["R_cos_phi_y"] > 0.8
    assert 0 <= r.test_accuracy <= 1 and len(r.history.steps) > 2
    assert r.signatures.phi_y.shape == (r.task.vocab_size, r.task.label_size)


def test_run_f_mod_ffn_beats_linear():
    lin = experiments.run("f_mod", model="linear", preset="tiny")
    ffn = experiments.run("f_mod", model="ffn", preset="tiny")
    assert ffn.test_accuracy > lin.test_accuracy + 0.4


def test_overrides_and_errors():
    r = experiments.run("f_add", preset="tiny", n_keys=6, gamma=0.6, steps=20)
    assert r.task.params["n_keys"] == 6 and r.config["gamma"] == 0.6
    with pytest.raises(ValueError, match="unknown setting"):
        experiments.run("f_add", preset="tiny", colour="red")
    with pytest.raises(ValueError, match="name"):
        experiments.run("f_sub", preset="tiny")
    with pytest.raises(ValueError, match="gamma"):
        experiments.run("f_add", preset="tiny", gamma=0, steps=5)


def test_fourier_signature_is_the_shift_eigenvalue():
    from psbook.synthetic import tasks
    t = tasks.f_mod(p=7)
    S = experiments.fourier_signature(t, 2)
    assert np.allclose(S[:, 0] + 1j * S[:, 1], np.exp(2j * np.pi * 2 * np.arange(7) / 7))
    W = np.stack([np.cos(2 * np.pi * 3 * np.arange(7) / 7), np.sin(2 * np.pi * 3 * np.arange(7) / 7)], 1)
    assert experiments.dominant_frequencies(W, 1)[0] == 3


def test_widget_builds_and_plots_render():
    import matplotlib.pyplot as plt
    from psbook import widgets
    from psbook.plots import synthetic as psyn
    box = widgets.synthetic_panel("tiny", display_now=False)
    assert "test acc" in box.children[2].value
    out = box.children[-1]
    assert out.outputs and out.outputs[0]["data"]["image/png"], "panel shows no figure"
    first_png = out.outputs[0]["data"]["image/png"]
    slider = box.children[0].children[0]
    other = [g for g in slider.options if g != slider.value][0]
    slider.value = other                       # a reader moves the slider: the panel redraws
    assert f"gamma={other}" in box.children[2].value
    assert out.outputs[0]["data"]["image/png"] != first_png
    r = experiments.run("f_add", preset="tiny", steps=40, snapshot_steps=[0, 40])
    psyn.training_heatmaps(r, [0, 40])
    psyn.signature_heatmaps(r.task)
    plt.close("all")


# --- claims over seeds ------------------------------------------------------------------

def test_run_seeds_stacks_scalars_and_curves():
    from psbook.synthetic.experiments import run_seeds
    from psbook.presets import get_preset
    r = run_seeds(lambda s: {"a": float(s), "c": np.array([s, 2 * s]), "obj": "x"},
                  seeds=[1, 2, 3])
    assert r.seeds == [1, 2, 3] and r["a"].shape == (3,) and r["c"].shape == (3, 2)
    assert r.mean("a") == 2.0 and abs(r.sd("a") - 1.0) < 1e-12
    assert np.allclose(r.mean("c"), [2, 4])
    assert "obj" not in r.values and r.outputs[0]["obj"] == "x"
    assert r.glue_values("x_") == {"x_a_mean": 2.0, "x_a_sd": 1.0}
    assert "a" in str(r.table()) and r.table()["value"] == ["a"]
    assert run_seeds(lambda s: s, seeds=[0, 2])["value"].tolist() == [0.0, 2.0]
    assert run_seeds(lambda s: 1.0, preset="tiny").seeds == get_preset("tiny").seeds()
    with pytest.raises(TypeError, match="fn"):
        run_seeds(3)
    with pytest.raises(ValueError, match="seeds"):
        run_seeds(lambda s: 1.0, seeds=[])
    with pytest.raises(TypeError, match="dict"):
        run_seeds(lambda s: [1, 2], seeds=[0])
    with pytest.raises(KeyError, match="measured"):
        r["nope"]



def test_seed_runs_table_spreads_and_per_seed():
    from psbook.display import Table
    from psbook.synthetic.experiments import SeedRuns, init_scale_table
    r = SeedRuns(seeds=[0, 1], values={"a": np.array([0.4, 0.6]), "c": np.array([3.0, 3.0])},
                 outputs=[])
    t = r.table(labels={"a": "alpha"}, caption="x")
    assert isinstance(t, Table) and t["value"] == ["alpha", "c"]
    assert "± 0.00" not in str(t) and "3 (every seed)" in str(t) and "2 seeds" in str(t)
    assert r.glue_spreads("p_") == {"p_a_pm": "0.50 ± 0.14", "p_c_pm": "3.00"}
    one = SeedRuns(seeds=[7], values={"a": np.array([0.4])}, outputs=[])
    assert "0.400" in str(one.table()) and "over 1 seed (7)" in str(one.table())
    assert one.glue_spreads() == {"a_pm": "0.40"}
    assert r.per_seed(["a"])["seed"] == [0, 1]
    with pytest.raises(KeyError, match="measured"):
        r.table(["nope"])
    vals = {f"ffn_0.3_{k}": np.array([1.0, np.nan]) for k in ("fixed", "matched", "final")}
    tab = init_scale_table(SeedRuns([0, 1], vals, []), [0.3], 600, 1.0, models=("ffn",))
    assert tab["reached"] == ["1/2"] and all(len(x) <= 80 for x in str(tab).splitlines())

def test_run_over_seeds_varies_split_and_init():
    from psbook.synthetic.experiments import run_over_seeds
    r = run_over_seeds("f_add", "linear", "tiny", seeds=[0, 1], steps=5)
    a, b = (o["result"] for o in r.outputs)
    assert a.config["seed"] == 0 and b.config["seed"] == 1
    assert a.task.config() != b.task.config()
    assert r["R_cos_phi_y"].shape == (2,)
    with pytest.raises(ValueError, match="seeds"):
        run_over_seeds("f_add", seed=3)


def test_key_geometry_claims_and_controls():
    from psbook.synthetic.experiments import key_geometry, run
    res = run("f_add", "linear", "tiny", steps=300)
    g = key_geometry(res, n_shuffles=5)
    assert g["R_cos_centred"] > 0.5 and abs(g["R_cos_shuffled"]) < 0.3
    assert g["R_order"] < -0.5 and abs(g["R_order_shuffled"]) < 0.3
    assert g["R_cos_phi_y_curve"].shape == res.history.steps.shape
    assert 0.5 < g["phi_X_cos_min"] <= 1.0
    with pytest.raises(TypeError, match="ExperimentResult"):
        key_geometry("x")


def test_seed_band_draws_mean_and_band():
    from psbook.plots.synthetic import seed_band
    ax = seed_band(np.arange(4), {"a": np.array([[0, 1, 2, 3], [2, 3, 4, 5.0]])}, ylabel="y")
    assert np.allclose(ax.lines[0].get_ydata(), [1, 2, 3, 4]) and len(ax.collections) == 1
    with pytest.raises(ValueError, match="shape"):
        seed_band(np.arange(3), {"a": np.zeros((2, 4))})


# --- chapters 06-08 helpers -------------------------------------------------------------

def test_f_add_flat_has_key_independent_phi_y():
    from psbook.synthetic import tasks
    t = tasks.f_add_flat(n_keys=8, n_anchors=8, n_samples=40000, test_frac=0.0, seed=1)
    c = tasks.signature_contrast(t)
    assert c["mean_cos_phi_y"] > 0.98 and abs(c["r_order_phi_y"]) < 0.5
    assert c["r_order_phi_X"] < -0.8
    assert set(np.unique(t.y_train)) <= set(range(7, 15))
    with pytest.raises(ValueError, match="n_anchors"):
        tasks.f_add_flat(n_keys=14, n_anchors=4)


def test_partial_r_cos_removes_the_control():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    assert experiments.partial_r_cos(A, B, A) == 0.0
    assert experiments.partial_r_cos(B, B, A) > 0.95
    with pytest.raises(ValueError, match="same number of rows"):
        experiments.partial_r_cos(A, B[:5], A)


def test_matched_loss_movement_and_frequency_selection():
    r = experiments.run("f_add", model="ffn", preset="tiny", form="pair", n_keys=8,
                        gamma=0.3, optimizer="gd", lr=0.2, steps=60)
    step, val = experiments.at_matched_loss(r.history, 100.0)
    assert step == 0 and np.isfinite(val)
    assert np.isnan(experiments.at_matched_loss(r.history, 1e-9)[0])
    assert experiments.value_at_step(r.history, 10**6, "loss") == r.history.loss[-1]
    mv = experiments.weight_movement(r)
    assert set(mv) == {"W_E", "W_1"} and mv["W_E"] > 0 and r.W_1 is not None
    m = experiments.run("f_mod_noisy", model="linear", preset="tiny", p=11, freq=3, steps=5)
    sel = experiments.frequency_selection(m)
    assert sel["data_freq"] == 3 and 0 <= sel["energy_at_data_freq"] <= 1
    with pytest.raises(TypeError, match="History"):
        experiments.at_matched_loss("nope", 1.0)
