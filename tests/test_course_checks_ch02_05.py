"""The exercise checks of chapters 02-05: right answers pass, wrong ones fail, missing ones are
reported (never filled in with the reference)."""

from __future__ import annotations

import numpy as np
import pytest

from psbook.course.checks import ch03, ch04, ch05


def test_ch03_collapse_reference_and_wrong_answer():
    ns = {}
    r = ch03.collapse(ns)
    assert not r and set(r.missing) == set(ch03.collapse.answers) and not ns
    ns = dict(ch03.collapse.reference(ns))
    assert np.allclose(ns["cos_star"][5:8], 1 / np.sqrt(2))     # tie between keys 5, 6, 7
    assert ch03.collapse(ns)
    ns["cos_star"] = ns["cos_star"] + 0.1
    assert not ch03.collapse(ns)


def test_ch04_delay_and_strict(monkeypatch):
    onset = {"f_mod": {"tanh": np.array([300., 280]), "GELU": np.array([120., 120])},
             "f_add": {"tanh": np.array([20., 20]), "GELU": np.array([30., 30])}}
    ns = {"onset": onset, "ocfg": {"steps": 600}, "delay_mod": 290 / 120, "delay_add": 2 / 3,
          "my_delay": ch04._delay_ref}
    assert ch04.delay(ns)
    # a tanh run still on the plateau (nan) counts as the last step: a lower bound
    cens = {"f_mod": {"tanh": np.array([np.nan, 280]), "GELU": np.array([120., 120])},
            "f_add": onset["f_add"]}
    assert ch04.delay({"onset": cens, "ocfg": {"steps": 600}, "delay_mod": (5 + 280 / 120) / 2,
                       "delay_add": 2 / 3, "my_delay": ch04._delay_ref})
    monkeypatch.setenv("PSBOOK_CHECK_STRICT", "1")
    with pytest.raises(AssertionError, match="delay_add"):
        ch04.delay(dict(ns, delay_add=1.0))


def test_ch05_anchors_needs_the_chapter():
    with pytest.raises(NameError, match="res"):
        ch05.anchors({})
