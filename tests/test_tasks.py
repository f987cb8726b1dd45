"""Unit tests of psbook.synthetic.tasks: labels, distributions, splits, bad parameters."""

import numpy as np
import pytest

from psbook.synthetic import tasks


def test_f_add_labels_and_shapes():
    t = tasks.f_add(n_keys=6, n_anchors=3, n_slots=2, test_frac=0.2)
    keys, anchors = t.groups["keys"], t.groups["anchors"]
    assert t.X_train.dtype == np.int64 and t.y_train.dtype == np.int64
    assert t.vocab_size == 9 and t.label_size == 6 + 2 * 2
    for X, y in ((t.X_train, t.y_train), (t.X_test, t.y_test)):
        assert np.all(np.isin(X[:, 0], keys)) and np.all(np.isin(X[:, 1:], anchors))
        assert np.array_equal(y, X[:, 0] + (X[:, 1:] - 6).sum(1))
    assert np.array_equal(t.ordered_tokens, np.arange(6))
    assert t.token_names[6] == "+0" and len(t.token_names) == t.vocab_size


def test_f_add_split_is_a_partition_of_the_table():
    t = tasks.f_add(n_keys=5, n_anchors=3, test_frac=0.25, seed=3)
    rows = {tuple(r) for r in np.concatenate([t.X_train, t.X_test])}
    assert len(rows) == 5 * 3 * 3 == t.X_train.shape[0] + t.X_test.shape[0]
    assert not ({tuple(r) for r in t.X_train} & {tuple(r) for r in t.X_test})
    assert t.X_test.shape[0] == round(0.25 * 45)


def test_pair_form_and_holdout():
    t = tasks.f_add(form="pair", n_keys=5, holdout=[(1, 2), (2, 1)])
    assert t.vocab_size == 5 and t.label_size == 9
    assert np.array_equal(t.y_train, t.X_train.sum(1))
    assert {tuple(r) for r in t.X_test} == {(1, 2), (2, 1)}


def test_zipf_keys_follow_the_law():
    t = tasks.f_add(n_keys=8, n_anchors=3, key_dist="zipf", key_zipf=1.0, test_frac=0.0,
                    n_samples=40_000, seed=1)
    freq = np.bincount(t.X_train[:, 0], minlength=8) / t.X_train.shape[0]
    expect = tasks.value_weights(8, "zipf", 1.0)
    assert np.allclose(freq, expect, atol=0.01)
    assert freq[0] > 2.5 * freq[-1]


def test_f_add_tilde_signature_contrast():
    add = tasks.f_add(n_keys=12, n_anchors=7)
    til = tasks.f_add_tilde(n_keys=12, n_anchors=7, n_samples=6000)
    assert np.array_equal(til.y_train, til.X_train[:, 0] + (til.X_train[:, 1:] - 12).sum(1))
    ca, ct = tasks.signature_contrast(add), tasks.signature_contrast(til)
    assert ct["mean_cos_phi_y"] > ca["mean_cos_phi_y"] + 0.3
    assert ct["mean_cos_phi_X"] < ca["mean_cos_phi_X"] - 0.2
    assert ct["r_order_phi_X"] < -0.8


def test_f_mod_labels_and_uniform_phi_y():
    t = tasks.f_mod(p=7, test_frac=0.0)
    assert np.array_equal(t.y_train, t.X_train.sum(1) % 7)
    assert t.X_train.shape == (49, 2)
    assert np.allclose(t.signatures().phi_y, 1 / 7)


def test_signatures_are_of_training_data():
    t = tasks.f_mod(p=5)
    sig = t.signatures()
    assert sig.n_samples == t.X_train.shape[0]
    assert t.signatures() is sig


@pytest.mark.parametrize("call, exc, word", [
    (lambda: tasks.f_mod(p=1), ValueError, "p"),
    (lambda: tasks.f_mod(p=2.5), TypeError, "p"),
    (lambda: tasks.f_add(n_keys=2), ValueError, "n_keys"),
    (lambda: tasks.f_add(key_dist="gauss"), ValueError, "dist"),
    (lambda: tasks.f_add(test_frac=1.0), ValueError, "test_frac"),
    (lambda: tasks.f_add(key_dist="zipf"), ValueError, "n_samples"),
    (lambda: tasks.f_add_tilde(width=0), ValueError, "width"),
    (lambda: tasks.f_add(holdout=[(0, 0)]), ValueError, "holdout"),
    (lambda: tasks.f_add(form="pair", n_keys=3, test_frac=0.9), ValueError, "test_frac"),
])
def test_bad_parameters_raise_clear_errors(call, exc, word):
    with pytest.raises(exc, match=word):
        call()


def test_every_registered_task_has_sizes_in_every_preset():
    """Registering a task (tasks.TASKS) without its preset entries is caught here, not in a
    chapter: experiments.run(name) reads preset.synthetic[name] and ["train"][name]."""
    from psbook.presets import PRESET_NAMES, get_preset
    from psbook.synthetic.tasks import TASKS
    for name in PRESET_NAMES:
        syn = get_preset(name).synthetic
        missing = [t for t in TASKS if t not in syn or t not in syn["train"]]
        assert not missing, f"preset {name!r} has no synthetic / synthetic['train'] entry for {missing}"
        for t in TASKS:
            assert set(syn["train"][t]) == {"linear", "ffn"}, (name, t, syn["train"][t])
