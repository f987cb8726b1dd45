"""The exercise checks of chapters 06-08 accept the reference and reject a wrong answer."""

import numpy as np
import pytest

from psbook.synthetic import experiments, tasks
from psbook.course import checks


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)


def _with_reference(check, ns):
    """``ns`` with the check's reference answers (a check never writes them itself)."""
    refs = check.reference(ns)
    return dict(ns, **{k: refs[k] for k in check.answers})


def test_ch07_spectrum_right_wrong_missing():
    ns = {}
    assert not checks.ch07.spectrum(ns) and not ns                   # missing: nothing filled
    ns = _with_reference(checks.ch07.spectrum, ns)
    assert ns["k_first"] == 4 and checks.ch07.spectrum(dict(ns))
    bad = dict(ns, k_first=2)
    assert not checks.ch07.spectrum(bad)


def test_ch06_checks():
    tilde = experiments.run("f_add_tilde", preset="tiny", n_keys=6, n_anchors=4, n_samples=500,
                            steps=30)
    ns = _with_reference(checks.ch06.partial, {"tilde": tilde})
    ns = _with_reference(checks.ch06.direction, ns)
    assert checks.ch06.partial(dict(ns)) and checks.ch06.direction(dict(ns))
    assert not checks.ch06.partial(dict(ns, pc_tilde=ns["pc_tilde"] + 0.1))


def test_ch08_matched():
    r = experiments.run("f_add", model="ffn", preset="tiny", form="pair", n_keys=6, steps=40,
                        optimizer="gd", lr=0.2)
    ns = {"h0": r.history, "L_match": 100.0}
    assert not checks.ch08.matched(ns) and "step_m" not in ns
    ns = _with_reference(checks.ch08.matched, ns)
    assert ns["step_m"] == 0
    assert checks.ch08.matched(dict(ns))
    assert not checks.ch08.matched(dict(ns, rcos_m=np.nan))


def test_ch07_energy():
    r = experiments.run("f_mod_noisy", model="linear", preset="tiny", p=11, freq=2, steps=5)
    ns = _with_reference(checks.ch07.energy, {"ex": {"ffn_n": r}, "k1": 2})
    assert checks.ch07.energy(dict(ns))
    assert not checks.ch07.energy(dict(ns, energy_k=2.0))
