"""Kernel-free knobs: a chapter's precomputed states behind a slider or a selector.

A *knob* is an Altair (Vega-Lite) chart whose parameters are bound to HTML controls; every
state the chapter already computed is in the chart's data, and each view filters that data by
the controls' values. Turning a control redraws the picture *and* the numbers beside it (R_cos,
R_order, accuracy or loss of that state) in the reader's browser: no kernel, no training.

* In Jupyter and Colab a :class:`Knob` displays as Altair's own HTML output.
* On the published page myst-nb renders the extra output type :data:`KNOB_MIME` (the chart's
  Vega-Lite spec and the table of states): ``tools/psbook_sphinx.py`` turns it into a
  ``<div class="psbook-knob">`` drawn by the vendored vega-embed (no CDN), loaded only on pages
  that hold a knob. ``tests/test_browser.py`` turns each control and checks that the drawn
  numbers are those of the state computed for that setting.

Presentation only (DESIGN: plots never train): the builders take results the chapter holds.

:func:`heatmap_knob` -- one cosine (or any) matrix per state.
:func:`curve_knob` -- one set of curves per state (e.g. a metric along training).
:func:`sweep_knob` -- one control along a swept value: the whole response curve (mean ± sd over
seeds), the chosen value marked on it, that value's numbers above.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["KNOB_MIME", "Knob", "heatmap_knob", "curve_knob", "sweep_knob", "result_states",
           "results_knob", "seed_mean_curve"]

KNOB_MIME = "application/vnd.psbook.knob+json"
# The widest a knob's drawing area gets: it fits a 390 px phone's text column (~350 px).
WIDTH = 300


def _check_states(states, controls) -> None:
    if not isinstance(states, Sequence) or not states:
        raise ValueError(f"states: expected a non-empty list of (settings, picture, numbers), "
                         f"got {type(states).__name__} of length "
                         f"{len(states) if hasattr(states, '__len__') else '?'}")
    if not isinstance(controls, Mapping) or not controls:
        raise ValueError(f"controls: expected a non-empty mapping name -> label, got {controls!r}")
    for name in controls:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            raise ValueError(f"controls: a control's name must be an identifier (it becomes a "
                             f"Vega-Lite parameter), got {name!r}")
    seen = set()
    for k, st in enumerate(states):
        if not (isinstance(st, tuple) and len(st) == 3):
            raise TypeError(f"states[{k}]: expected a tuple (settings, picture, numbers), got "
                            f"{type(st).__name__}")
        settings, _, numbers = st
        if set(settings) != set(controls):
            raise ValueError(f"states[{k}]: settings must name exactly the controls "
                             f"{sorted(controls)}, got {sorted(settings)}")
        key = tuple(settings[c] for c in controls)
        if key in seen:
            raise ValueError(f"states[{k}]: the setting {dict(settings)} appears twice")
        seen.add(key)
        if not isinstance(numbers, Mapping) or not numbers:
            raise ValueError(f"states[{k}]: numbers must be a non-empty mapping label -> float, "
                             f"got {numbers!r}")
        for lab, v in numbers.items():
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise ValueError(f"states[{k}]: number {lab!r} must be a finite float, got {v!r}")


def _fmt(v: float) -> str:
    """One number as the readout shows it (tests/test_browser.py reads the same format): a
    whole number (a step, a count) without decimals, else three decimals under 10, one above."""
    if isinstance(v, (int, np.integer)) or (abs(float(v)) >= 10 and float(v).is_integer()):
        return str(int(v))
    return f"{float(v):.3f}" if abs(float(v)) < 10 else f"{float(v):.1f}"


def _setting_text(settings: Mapping, controls: Mapping) -> str:
    return " · ".join(f"{controls[c]} = {settings[c]}" for c in controls)


def _binding(alt, label: str, values: list):
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 4:
        steps = np.diff(sorted(values))
        if np.allclose(steps, steps[0], rtol=1e-6):
            return alt.binding_range(min=min(values), max=max(values), step=float(steps[0]),
                                     name=f"{label} ")
    if len(values) <= 4:
        return alt.binding_radio(options=values, name=f"{label} ")
    return alt.binding_select(options=values, name=f"{label} ")


def _params(alt, states, controls, defaults):
    params, tests = [], []
    for c, label in controls.items():
        values = list(dict.fromkeys(s[0][c] for s in states))
        default = (defaults or {}).get(c, values[0])
        if default not in values:
            raise ValueError(f"defaults[{c!r}]: expected one of {values}, got {default!r}")
        p = alt.param(name=f"knob_{c}", value=default, bind=_binding(alt, label, values))
        params.append(p)
        num = isinstance(default, (int, float)) and not isinstance(default, bool)
        tests.append(f"abs(datum['{c}'] - knob_{c}) < 1e-9" if num
                     else f"datum['{c}'] == knob_{c}")
    return params, " && ".join(tests)


def _readout(alt, states, controls, filt, height_per_line=17):
    rows = []
    for settings, _, numbers in states:
        lines = [_setting_text(settings, controls)]
        lines += [f"{lab} = {_fmt(v)}" for lab, v in numbers.items()]
        for i, line in enumerate(lines):
            rows.append({**{c: settings[c] for c in controls}, "line": i, "text": line,
                         "bold": i == 0})
    n = max(r["line"] for r in rows) + 1
    base = (alt.Chart(alt.Data(values=rows), width=WIDTH, height=height_per_line * n)
            .transform_filter(filt))
    y = alt.Y("line:O", axis=None, scale=alt.Scale(domain=list(range(n))))
    head = (base.transform_filter("datum.bold")
            .mark_text(align="left", baseline="top", fontSize=13, fontWeight="bold", x=0)
            .encode(y=y, text="text:N"))
    body = (base.transform_filter("!datum.bold")
            .mark_text(align="left", baseline="top", fontSize=13, x=0)
            .encode(y=y, text="text:N"))
    return alt.layer(head, body)


def _title(alt, title: str):
    """The chart's title in lines that fit the drawing's width (a phone's column)."""
    import textwrap

    return alt.Title(textwrap.wrap(title, 40, break_on_hyphens=False) or [""], anchor="start",
                     fontSize=14)


class Knob:
    """A knob to display: Altair's output in a notebook, :data:`KNOB_MIME` for the book."""

    def __init__(self, chart, states: list, controls: Mapping, *, alt_text: str, name: str):
        self.chart = chart
        self._spec = None
        self.controls = dict(controls)
        self.name = name
        self.alt_text = alt_text
        # The table the browser test compares the drawing with: per state, the settings and the
        # readout lines exactly as drawn.
        self.states = [{"settings": {c: s[c] for c in controls},
                        "lines": [_setting_text(s, controls)]
                        + [f"{lab} = {_fmt(v)}" for lab, v in nums.items()]}
                       for s, _, nums in states]

    def spec(self) -> dict:
        """The Vega-Lite spec (built once; the schema check is left to the tests: validating
        tens of thousands of data rows costs a second per knob)."""
        if self._spec is None:
            self._spec = self.chart.to_dict(validate=False)
        return self._spec

    def _repr_mimebundle_(self, include=None, exclude=None):
        import altair as alt

        spec = self.spec()
        out = alt.renderers.get()(spec, **alt.renderers.options)  # Altair's own output
        data, meta = out if isinstance(out, tuple) else (out, {})
        data = dict(data or {})
        data[KNOB_MIME] = {"name": self.name, "spec": spec, "states": self.states,
                           "alt": self.alt_text, "controls": self.controls}
        data["text/plain"] = self.alt_text
        return data, dict(meta or {})

    def __repr__(self) -> str:
        return f"<Knob {self.name}: {len(self.states)} states>"


def heatmap_knob(states, controls: Mapping[str, str], *, name: str, title: str,
                 axis_label: str = "key token", value_label: str = "cosine",
                 domain: tuple = (-1.0, 1.0), defaults: Mapping | None = None,
                 alt_text: str | None = None) -> Knob:
    """A knob over ``states = [(settings, matrix, numbers), ...]``: one square matrix per state
    (drawn as a heatmap on the fixed colour range ``domain``), its ``numbers`` beside it.

    ``controls`` maps each setting's name to the label of its control, e.g.
    ``{"gamma": "γ", "data": "data"}``; ``defaults`` the value each control starts at."""
    import altair as alt

    _check_states(states, controls)
    rows = []
    for settings, M, _ in states:
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ValueError(f"states: each picture must be a square matrix, got shape {M.shape}")
        if not np.isfinite(M).all():
            raise ValueError(f"states: the matrix of {dict(settings)} has non-finite entries")
        # one row per state, its cells as three parallel lists (flattened in the browser after
        # the filter): a third of the bytes of one row per cell
        n = M.shape[0]
        rows.append({**{c: settings[c] for c in controls},
                     "i": np.repeat(np.arange(n), n).tolist(),
                     "j": np.tile(np.arange(n), n).tolist(),
                     "v": [round(float(x), 3) for x in M.ravel()]})
    params, filt = _params(alt, states, controls, defaults)
    heat = (alt.Chart(alt.Data(values=rows), width=WIDTH, height=WIDTH)
            .transform_filter(filt)
            .transform_flatten(["i", "j", "v"])
            .mark_rect()
            .encode(x=alt.X("j:O", title=f"{axis_label} (in order)",
                            axis=alt.Axis(labels=False, ticks=False)),
                    y=alt.Y("i:O", title=f"{axis_label} (in order)",
                            axis=alt.Axis(labels=False, ticks=False)),
                    color=alt.Color("v:Q", title=value_label,
                                    scale=alt.Scale(scheme="redblue", reverse=True,
                                                    domain=list(domain)),
                                    legend=alt.Legend(orient="bottom", gradientLength=160)),
                    tooltip=[alt.Tooltip("i:O", title="row"), alt.Tooltip("j:O", title="column"),
                             alt.Tooltip("v:Q", title=value_label, format="+.2f")]))
    return _finish(alt, heat, states, controls, filt, params, name=name, title=title,
                   alt_text=alt_text or (
                       f"Interactive heatmap: {title}. Controls: "
                       f"{', '.join(controls.values())}; {len(states)} precomputed states, "
                       f"each with its numbers printed above the picture."))


def _finish(alt, picture, states, controls, filt, params, *, name, title, alt_text) -> Knob:
    """The knob of every builder: the chosen state's numbers above ``picture``, the controls'
    parameters, the title, and no frame around the view."""
    chart = (alt.vconcat(_readout(alt, states, controls, filt), picture, spacing=6)
             .add_params(*params)
             .properties(title=_title(alt, title))
             .configure_view(stroke=None))
    return Knob(chart, states, controls, alt_text=alt_text, name=name)


def curve_knob(states, controls: Mapping[str, str], *, name: str, title: str, x_label: str,
               y_label: str, defaults: Mapping | None = None, alt_text: str | None = None,
               y_domain: tuple | None = None) -> Knob:
    """A knob over ``states = [(settings, curves, numbers), ...]``, where ``curves`` maps a
    series label to ``(x, y)``: the selected state's curves are drawn, its numbers above."""
    import altair as alt

    _check_states(states, controls)
    rows = []
    for settings, curves, _ in states:
        if not isinstance(curves, Mapping) or not curves:
            raise ValueError(f"states: each picture must map a label to (x, y), got {curves!r}")
        key = {c: settings[c] for c in controls}
        for lab, (x, y) in curves.items():
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            if x.shape != y.shape or x.ndim != 1:
                raise ValueError(f"states: curve {lab!r} of {dict(settings)} needs x and y of "
                                 f"one length, got {x.shape} and {y.shape}")
            rows += [{**key, "series": str(lab), "x": float(a), "y": round(float(b), 4)}
                     for a, b in zip(x, y) if math.isfinite(b)]
    params, filt = _params(alt, states, controls, defaults)
    series = list(dict.fromkeys(r["series"] for r in rows))
    from .core import PALETTE

    if not y_domain:   # one axis for every state, so that turning the knob compares them
        ys = [r["y"] for r in rows]
        pad = 0.05 * ((max(ys) - min(ys)) or 1.0)
        y_domain = (round(min(ys) - pad, 4), round(max(ys) + pad, 4))
    yscale = alt.Scale(domain=list(y_domain), nice=False)
    lines = (alt.Chart(alt.Data(values=rows), width=WIDTH, height=220)
             .transform_filter(filt)
             .mark_line(point=True)
             .encode(x=alt.X("x:Q", title=x_label),
                     y=alt.Y("y:Q", title=y_label, scale=yscale),
                     color=alt.Color("series:N", title=None,
                                     scale=alt.Scale(domain=series,
                                                     range=PALETTE[:len(series)]),
                                     legend=alt.Legend(orient="bottom", columns=1)),
                     tooltip=["series:N", alt.Tooltip("x:Q"), alt.Tooltip("y:Q", format="+.3f")]))
    return _finish(alt, lines, states, controls, filt, params, name=name, title=title,
                   alt_text=alt_text or (
                       f"Interactive chart: {title}. Controls: "
                       f"{', '.join(controls.values())}; {len(states)} precomputed states, "
                       f"each with its numbers printed above the picture."))


def sweep_knob(x, series: Mapping[str, Any], numbers: Sequence[Mapping[str, float]], *,
               name: str, control: str, label: str, title: str, y_label: str,
               alt_text: str | None = None, default=None) -> Knob:
    """A knob along one swept value ``x`` (e.g. a mixture proportion or a dose): ``series`` maps
    a label to an array (seeds x len(x)) whose mean ± sd over seeds is drawn against ``x``;
    the control moves a marker along ``x`` and ``numbers[k]`` (label -> float) of the chosen
    ``x[k]`` are printed above the picture."""
    import altair as alt
    from .core import PALETTE

    xs = [float(v) for v in x]
    if len(xs) < 2 or len(set(xs)) != len(xs):
        raise ValueError(f"x: expected at least two distinct swept values, got {list(x)}")
    if len(numbers) != len(xs):
        raise ValueError(f"numbers: expected one mapping per value of x ({len(xs)}), got "
                         f"{len(numbers)}")
    states = [({control: v}, None, nums) for v, nums in zip(xs, numbers)]
    _check_states(states, {control: label})
    rows = []
    for lab, Y in series.items():
        Y = np.asarray(Y, dtype=float)
        Y = Y[None, :] if Y.ndim == 1 else Y
        if Y.ndim != 2 or Y.shape[1] != len(xs):
            raise ValueError(f"series[{lab!r}]: expected (seeds x {len(xs)}) values, got shape "
                             f"{Y.shape}")
        m, sd = Y.mean(0), (Y.std(0, ddof=1) if Y.shape[0] > 1 else np.zeros(len(xs)))
        rows += [{control: v, "series": str(lab), "y": round(float(a), 4),
                  "lo": round(float(a - b), 4), "hi": round(float(a + b), 4)}
                 for v, a, b in zip(xs, m, sd)]
    params, filt = _params(alt, states, {control: label},
                           {control: default if default is not None else xs[0]})
    names = list(series)
    color = alt.Color("series:N", title=None,
                      scale=alt.Scale(domain=names, range=PALETTE[:len(names)]),
                      legend=alt.Legend(orient="bottom", columns=1, labelLimit=280))
    base = alt.Chart(alt.Data(values=rows), width=WIDTH, height=220)
    xenc = alt.X(f"{control}:Q", title=label)
    band = base.mark_area(opacity=0.18).encode(x=xenc, y=alt.Y("lo:Q", title=y_label),
                                                y2="hi:Q", color=color)
    line = base.mark_line(point=True).encode(x=xenc, y="y:Q", color=color,
                                             tooltip=["series:N", f"{control}:Q",
                                                      alt.Tooltip("y:Q", format="+.3f")])
    chosen = base.transform_filter(filt)
    rule = chosen.mark_rule(color="black", strokeDash=[4, 3]).encode(x=xenc)
    dots = chosen.mark_point(size=120, filled=True, stroke="black").encode(x=xenc, y="y:Q",
                                                                          color=color)
    return _finish(alt, alt.layer(band, line, rule, dots), states, {control: label}, filt,
                   params, name=name, title=title, alt_text=alt_text or (
                       f"Interactive chart: {title}. A control for {label} moves a marker "
                       f"along the response curves; the chosen value's numbers are printed "
                       f"above the picture."))


def result_states(grid, *, signature: str = "phi_y", extra=None) -> list:
    """``[(settings, ExperimentResult), ...]`` (a synthetic chapter's grid of runs) as knob
    states: the key embeddings' cosine matrix (keys in order) and the state's R_cos against the
    signature, R_order and test accuracy -- the numbers the static small multiples print."""
    from ..metrics import cosine_matrix

    out = []
    for settings, res in grid:
        t = res.task.ordered_tokens
        m = res.metrics
        out.append((dict(settings), cosine_matrix(res.W_E[t]),
                    {f"R_cos(W^E, {signature.replace('phi_', 'φ^')})":
                         float(m["R_cos_" + signature]),
                     "R_order": float(m["R_order"]),
                     "test accuracy": float(res.test_accuracy),
                     **{k: float(v) for k, v in (extra(res) if extra else {}).items()
                        if v is not None}}))
    return out


def results_knob(grid, controls: Mapping[str, str], *, name: str, title: str,
                 signature: str = "phi_y", defaults: Mapping | None = None,
                 alt_text: str | None = None, extra=None) -> Knob:
    """:func:`heatmap_knob` over a grid of experiment results ``[(settings, result), ...]``
    (:func:`result_states`): each state's key-embedding cosines and its R_cos, R_order and test
    accuracy."""
    for k, (settings, _) in enumerate(grid):
        if not set(controls) <= set(settings):
            raise ValueError(f"grid[{k}]: its settings {sorted(settings)} lack a control of "
                             f"{sorted(controls)}")
    # settings not turned by a control (e.g. the model, for the static figure) are dropped
    states = [({c: s[c] for c in controls}, M, nums)
              for s, M, nums in result_states(grid, signature=signature, extra=extra)]
    return heatmap_knob(states, controls,
                        name=name, title=title, defaults=defaults, value_label="cosine of W^E rows",
                        alt_text=alt_text or (
                            f"Interactive heatmap of the key embeddings' cosine similarities "
                            f"(keys in order), {title}; controls: "
                            f"{', '.join(controls.values())}; above it the chosen state's R_cos "
                            f"against {signature}, R_order and test accuracy."))


def seed_mean_curve(results, key: str, x: str = "step") -> tuple:
    """``(x, mean over seeds of history[key])`` of trainings that log the same steps (e.g. a
    language model's ``TrainResult`` per seed): one curve of a :func:`curve_knob` state."""
    if not results:
        raise ValueError("results: expected at least one training result, got none")
    for r in results:
        if key not in r.history:
            raise ValueError(f"key: {key!r} is not logged; the history holds "
                             f"{sorted(r.history)}")
    n = min(len(r.history[key]) for r in results)
    ys = np.array([np.asarray(r.history[key][:n], dtype=float) for r in results])
    return np.asarray(results[0].history[x][:n], dtype=float), ys.mean(0)
