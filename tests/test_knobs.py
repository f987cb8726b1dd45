"""psbook.plots.knobs (kernel-free interactive figures) and their HTML container in the book's
Sphinx extension. The drawing itself is checked in a real browser by tests/test_browser.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("altair")

from psbook.plots import knobs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _states():
    rng = np.random.default_rng(0)
    out = []
    for g in (0.3, 0.8):
        for d in ("uniform", "zipf keys"):
            M = np.clip(rng.normal(size=(5, 5)), -1, 1)
            out.append(({"gamma": g, "data": d}, M, {"R_cos": g, "R_order": -g,
                                                     "test accuracy": 0.5}))
    return out


def _datasets(spec):
    """Every inline table of a Vega-Lite spec (top-level ``datasets`` or a view's ``values``)."""
    out = list(spec.get("datasets", {}).values()) if isinstance(spec, dict) else []
    items = spec.values() if isinstance(spec, dict) else spec if isinstance(spec, list) else []
    for v in items:
        if isinstance(v, dict) and isinstance(v.get("values"), list):
            out.append(v["values"])
        if isinstance(v, (dict, list)):
            out += _datasets(v)
    return out


def test_heatmap_knob_holds_every_state_and_binds_each_control():
    k = knobs.heatmap_knob(_states(), {"gamma": "γ", "data": "data"}, name="t", title="T",
                           defaults={"gamma": 0.8})
    spec = k.spec()
    assert k.chart.to_dict(validate=True) == spec    # a valid Vega-Lite spec
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == {"knob_gamma", "knob_data"}
    assert params["knob_gamma"]["value"] == 0.8 and params["knob_data"]["value"] == "uniform"
    assert params["knob_gamma"]["bind"]["input"] == "radio"
    assert params["knob_gamma"]["bind"]["options"] == [0.3, 0.8]
    # the heatmap's rows: 4 states x 25 cells, each tagged with its state's settings
    per_state = [r for ds in _datasets(spec) for r in ds if "v" in r]
    cells = [{**{k: r[k] for k in ("gamma", "data")}, "i": i, "j": j, "v": v}
             for r in per_state for i, j, v in zip(r["i"], r["j"], r["v"])]
    assert len(per_state) == 4 and len(cells) == 4 * 25
    assert len({(c["gamma"], c["data"], c["i"], c["j"]) for c in cells}) == 4 * 25
    M = dict(zip(((s["gamma"], s["data"]) for s, _, _ in _states()),
                 (m for _, m, _ in _states())))
    for c in cells:
        assert c["v"] == round(float(M[(c["gamma"], c["data"])][c["i"], c["j"]]), 3)
    assert {(r["gamma"], r["data"]) for r in cells} == {(s["gamma"], s["data"])
                                                        for s, _, _ in _states()}
    # the readout: the state's numbers as drawn, one table the browser test compares with
    st = {(s["settings"]["gamma"], s["settings"]["data"]): s["lines"] for s in k.states}
    assert st[(0.8, "zipf keys")] == ["γ = 0.8 · data = zipf keys", "R_cos = 0.800",
                                      "R_order = -0.800", "test accuracy = 0.500"]
    texts = {r["text"] for ds in _datasets(spec) for r in ds if "text" in r}
    assert set(st[(0.8, "zipf keys")]) <= texts


def test_knob_displays_as_altair_in_a_notebook_and_as_its_own_type_in_the_book():
    k = knobs.heatmap_knob(_states(), {"gamma": "γ", "data": "data"}, name="t", title="T")
    data, _ = k._repr_mimebundle_()
    assert "text/html" in data                       # Altair's output (Jupyter, Colab)
    payload = data[knobs.KNOB_MIME]
    assert payload["spec"] == k.spec() and payload["states"] == k.states
    assert payload["alt"] and data["text/plain"] == payload["alt"]
    json.dumps(payload)                              # the notebook can store it


def test_a_slider_for_an_evenly_spaced_sweep():
    x = [0.0, 0.25, 0.5, 0.75, 1.0]
    k = knobs.sweep_knob(x, {"A": np.ones((3, 5)), "B": np.zeros((3, 5))},
                         [{"R": v} for v in x], name="s", control="alpha", label="α",
                         title="T", y_label="R")
    k.chart.to_dict(validate=True)
    (p,) = k.spec()["params"]
    assert p["bind"]["input"] == "range" and p["bind"]["step"] == 0.25
    assert [s["settings"]["alpha"] for s in k.states] == x


@pytest.mark.parametrize("bad, match", [
    ([], "states: expected a non-empty list"),
    ([({"gamma": 1}, np.zeros((2, 2)), {"R": 1.0})] * 2, "appears twice"),
    ([({"gamma": 1, "x": 2}, np.zeros((2, 2)), {"R": 1.0})], "name exactly the controls"),
    ([({"gamma": 1}, np.zeros((2, 3)), {"R": 1.0})], "square matrix"),
    ([({"gamma": 1}, np.zeros((2, 2)), {"R": float("nan")})], "finite float"),
    ([({"gamma": 1}, np.zeros((2, 2)), {})], "non-empty mapping"),
])
def test_bad_states_are_refused_with_a_message(bad, match):
    with pytest.raises(ValueError, match=match):
        knobs.heatmap_knob(bad, {"gamma": "γ"}, name="t", title="T")


def test_a_default_outside_the_states_is_refused():
    with pytest.raises(ValueError, match=r"defaults\['gamma'\]: expected one of"):
        knobs.heatmap_knob(_states(), {"gamma": "γ", "data": "data"}, name="t", title="T",
                           defaults={"gamma": 0.5})


def test_sweep_knob_checks_shapes():
    with pytest.raises(ValueError, match="numbers: expected one mapping per value"):
        knobs.sweep_knob([0, 1], {"A": np.ones((2, 2))}, [{"R": 1.0}], name="s", control="a",
                         label="a", title="T", y_label="R")
    with pytest.raises(ValueError, match=r"series\['A'\]: expected \(seeds x 2\)"):
        knobs.sweep_knob([0, 1], {"A": np.ones((2, 3))}, [{"R": 1.0}, {"R": 2.0}], name="s",
                         control="a", label="a", title="T", y_label="R")


def test_result_states_carry_the_results_numbers():
    W = np.eye(4) + 0.1
    res = SimpleNamespace(task=SimpleNamespace(ordered_tokens=[3, 2, 1, 0]), W_E=W,
                          metrics={"R_cos_phi_y": 0.42, "R_order": -0.9},
                          test_accuracy=0.75)
    ((settings, M, nums),) = knobs.result_states([({"gamma": 0.8}, res)])
    assert settings == {"gamma": 0.8}
    np.testing.assert_allclose(np.diag(M), 1.0)
    assert nums == {"R_cos(W^E, φ^y)": 0.42, "R_order": -0.9, "test accuracy": 0.75}


def test_the_readout_prints_a_step_as_a_whole_number_and_keeps_words_whole_in_titles():
    """A step (chapter 06's first step below a threshold) reads "168", not "168.0"; other
    numbers keep their decimals (control: 168.5, 0.25, and a whole 1.0 under 10 as accuracy);
    a long title breaks between words, never after a hyphen inside one."""
    assert [knobs._fmt(v) for v in (168.0, 168, np.int64(7), 168.5, 0.25, 1.0)] == [
        "168", "168", "7", "168.5", "0.250", "1.000"]
    states = [({"g": g}, np.eye(3), {"first step": 168.0}) for g in (0.5, 1.0)]
    k = knobs.heatmap_knob(states, {"g": "γ"}, name="s",
                           title="Linear model on composite addition: key-embedding cosines")
    assert k.states[0]["lines"][1] == "first step = 168"
    lines = k.spec()["title"]["text"]
    assert "key-embedding" in " ".join(lines) and not any(ln.endswith("-") for ln in lines)


def test_the_books_html_container_cannot_be_closed_by_the_data():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import psbook_sphinx
    finally:
        sys.path.pop(0)
    html = psbook_sphinx._knob_html({"name": "n", "alt": 'a "quoted" alt',
                                     "spec": {"title": "</script><b>x</b>"}, "states": []})
    assert html.count("</script>") == 1              # only the container's own
    assert 'aria-label="a &quot;quoted&quot; alt"' in html
    body = html.split('class="psbook-knob-data">')[1].rsplit("</script>", 1)[0]
    assert json.loads(body)["spec"]["title"] == "</script><b>x</b>"


def test_results_knob_keeps_only_the_controls_settings():
    res = SimpleNamespace(task=SimpleNamespace(ordered_tokens=[0, 1, 2]), W_E=np.eye(3),
                          metrics={"R_cos_phi_y": 0.5, "R_order": -0.5}, test_accuracy=1.0)
    grid = [({"model": "linear", "data": d}, res) for d in ("uniform", "zipf keys")]
    k = knobs.results_knob(grid, {"data": "data"}, name="r", title="T")
    assert [s["settings"] for s in k.states] == [{"data": "uniform"}, {"data": "zipf keys"}]
    with pytest.raises(ValueError, match=r"grid\[0\]: its settings .* lack a control"):
        knobs.results_knob(grid, {"gamma": "γ"}, name="r", title="T")


def test_curve_knob_keeps_one_axis_for_every_state():
    states = [({"g": g}, {"R": ([0, 1, 2], [0.0, g, 2 * g])}, {"final R": 2 * g})
              for g in (0.5, 1.0)]
    k = knobs.curve_knob(states, {"g": "γ"}, name="c", title="T", x_label="step",
                         y_label="R")
    k.chart.to_dict(validate=True)
    doms = [v["scale"]["domain"] for v in _find(k.spec(), "y")
            if "scale" in v and v.get("field") == "y"]
    # the curve's axis spans both states (0 .. 2), not only the shown one (0 .. 1)
    assert doms and all(d[0] < 0.0 and d[1] > 2.0 for d in doms), doms


def _find(spec, key):
    """Every value stored under ``key`` anywhere in a nested spec."""
    out = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key and isinstance(v, dict):
                out.append(v)
            out += _find(v, key)
    elif isinstance(spec, list):
        for v in spec:
            out += _find(v, key)
    return out
