"""Tests of psbook.lm: the Qwen2.5-style decoder, its training loop and its analysis."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from psbook.lm import (AlignmentProbe, LMConfig, QwenLM, TrainConfig, TrainingDiverged,
                       configs_from_preset, cross_domain_matrix, from_hf_state_dict,
                       gradient_check, predicted_gradients, shared_top_tokens, to_hf_state_dict,
                       top_tokens, train_lm)
from psbook.metrics import r_cos
from psbook.presets import get_preset
from psbook.signatures import next_token_signatures

V = 50
CFG = LMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48,
               max_seq_len=16)
TCFG = TrainConfig(steps=12, batch_size=4, seq_len=16, lr=3e-3, warmup=3, eval_every=4,
                   checkpoint_every=4)


def markov_stream(n=6000, seed=0):
    """Tokens whose successor is (mostly) 'token + 1 mod 10 clusters': real structure."""
    rng = np.random.default_rng(seed)
    x = np.empty(n, dtype=np.int64)
    x[0] = 0
    jumps = rng.integers(0, V, n)
    noise = rng.random(n) < 0.3
    for i in range(1, n):
        x[i] = jumps[i] if noise[i] else (x[i - 1] + 10 + rng.integers(0, 3)) % V
    return x


@pytest.fixture(scope="module")
def stream():
    return markov_stream()


@pytest.fixture(scope="module")
def sig(stream):
    return next_token_signatures(stream, V)


# ---- model ------------------------------------------------------------------------------

def test_shapes_and_loss():
    m = QwenLM(CFG, seed=0)
    ids = torch.randint(0, V, (3, 10), generator=torch.Generator().manual_seed(0))
    assert m(ids).shape == (3, 10, V)
    assert m.hidden(ids).shape == (3, 10, CFG.d_model)
    loss = m.loss(ids)
    assert loss.shape == () and np.isfinite(loss.item())
    # small init: logits are small (std ~ d^(1/2 - gamma)), so the loss is close to ln V
    assert abs(loss.item() - np.log(V)) < 0.2


def test_init_scale_follows_gamma():
    for gamma in (0.5, 1.0):
        m = QwenLM(replace(CFG, d_model=64, d_ff=128, gamma=gamma), seed=0)
        std = m.layers[0].mlp.down_proj.weight.std().item()
        assert std == pytest.approx(128 ** -gamma, rel=0.05)
        assert m.W_E.std().item() == pytest.approx(64 ** -gamma, rel=0.05)
        assert torch.all(m.layers[0].self_attn.q_proj.bias == 0)


def test_causal():
    m = QwenLM(replace(CFG, gamma=0.5), seed=0)
    ids = torch.randint(0, V, (1, 12))
    ids2 = ids.clone()
    ids2[0, 8:] = (ids2[0, 8:] + 1) % V
    with torch.no_grad():
        a, b = m(ids), m(ids2)
    assert torch.allclose(a[0, :8], b[0, :8], atol=1e-6)
    assert not torch.allclose(a[0, 8:], b[0, 8:])


def test_tied_weights_really_shared():
    m = QwenLM(replace(CFG, tie_embeddings=True), seed=0)
    assert m.W_E is m.W_U
    n_untied = sum(p.numel() for p in QwenLM(CFG, seed=0).parameters())
    n_tied = sum(p.numel() for p in m.parameters())
    assert n_untied - n_tied == V * CFG.d_model
    assert n_tied == replace(CFG, tie_embeddings=True).n_params()
    with torch.no_grad():
        m.embed_tokens.weight[3, 0] = 7.0
    assert m.lm_head.weight[3, 0].item() == 7.0
    # a training step keeps them shared
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    m.loss(torch.randint(0, V, (2, 8))).backward()
    opt.step()
    assert torch.equal(m.embed_tokens.weight, m.lm_head.weight)


@pytest.mark.parametrize("tie", [False, True])
def test_matches_transformers_qwen2(tie):
    pytest.importorskip("transformers")
    from psbook.lm import hf_model
    cfg = replace(CFG, tie_embeddings=tie, gamma=0.5, n_kv_heads=1)
    m = QwenLM(cfg, seed=1)
    with torch.no_grad():  # non-trivial biases and norm gains
        for p in m.parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn_like(p))
    hf = hf_model(m).eval()
    ids = torch.randint(0, V, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = m(ids), hf(input_ids=ids).logits
    assert ours.abs().max() > 0.5  # the comparison is not between near-zero logits
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    # and back again
    m2 = from_hf_state_dict(QwenLM(cfg, seed=99), hf.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(m2(ids), ours)
    assert set(to_hf_state_dict(m)) >= {"model.embed_tokens.weight", "lm_head.weight"}


def test_bad_input_messages():
    m = QwenLM(CFG, seed=0)
    with pytest.raises(ValueError, match="vocab_size=50"):
        m(torch.tensor([[1, 2, 50]]))
    with pytest.raises(ValueError, match=r"\[0, vocab_size"):
        m(torch.tensor([[1, -1]]))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="2-D"):
        m(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="n_kv_heads"):
        LMConfig(vocab_size=10, d_model=32, n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="gamma"):
        LMConfig(vocab_size=10, gamma=-1.0)


def test_tokenizer_model_vocab_mismatch(stream):
    small = replace(CFG, vocab_size=20)
    with pytest.raises(ValueError, match="tokenizer's vocab_size"):
        train_lm(stream, small, TCFG, progress=False)
    sig_other = next_token_signatures(stream, V + 5)
    with pytest.raises(ValueError, match="same tokenizer"):
        train_lm(stream, CFG, TCFG, signatures=sig_other, token_sets={"top": [0, 1, 2]},
                 progress=False)
    with pytest.raises(ValueError, match="fewer than one training window"):
        train_lm(stream[:10], CFG, TCFG, progress=False)


# ---- training ---------------------------------------------------------------------------

def test_resume_equals_uninterrupted(stream, sig, tmp_path):
    sets = {"top": top_tokens(sig, 30)}
    full = train_lm(stream, CFG, TCFG, signatures=sig, token_sets=sets, progress=False,
                    keep_state=True)
    part = train_lm(stream, CFG, TCFG, signatures=sig, token_sets=sets, progress=False,
                    checkpoint_dir=tmp_path, stop_after=6)  # "disconnect" after 6 steps
    assert part.history["step"][-1] == 4 and (tmp_path / "checkpoint.npz").exists()
    resumed = train_lm(stream, CFG, TCFG, signatures=sig, token_sets=sets, progress=False,
                       checkpoint_dir=tmp_path, keep_state=True)
    for k, v in full.state_dict.items():
        assert torch.equal(v, resumed.state_dict[k]), k
    for k in full.history:
        if k != "seconds":
            np.testing.assert_array_equal(full.history[k], resumed.history[k], err_msg=k)
    np.testing.assert_array_equal(full.W_E0, resumed.W_E0)
    # a different configuration in the same folder is refused, not silently resumed
    with pytest.raises(ValueError, match="different configuration"):
        train_lm(stream, CFG, replace(TCFG, lr=1e-3), progress=False, checkpoint_dir=tmp_path)


def test_training_aligns_embeddings(stream, sig):
    sets = {"top": top_tokens(sig, 40)}
    t = replace(TCFG, steps=150, eval_every=50, batch_size=8)
    res = train_lm(stream, CFG, t, signatures=sig, token_sets=sets, progress=False)
    h = res.history
    assert h["loss"][-1] < h["loss"][0] - 0.5
    assert abs(h["E~next/top"][0]) < 0.3
    assert h["E~next/top"][-1] > h["E~next/top"][0] + 0.3
    assert h["U~pre/top"][-1] > h["U~pre/top"][0] + 0.3
    # the logged value is exactly psbook.metrics.r_cos
    assert h["E~next/top"][-1] == pytest.approx(r_cos(res.W_E, sig.phi_next, sets["top"]),
                                                abs=1e-9)


def test_divergence_is_reported(stream):
    with pytest.raises(TrainingDiverged, match="Lower the learning rate"):
        train_lm(stream, replace(CFG, gamma=0.3), replace(TCFG, lr=50.0, warmup=0,
                                                          grad_clip=1e6),
                 progress=False)


def test_probe_tied_keys_and_small_sets(sig):
    p = AlignmentProbe(sig, {"top": top_tokens(sig, 10), "two": [1, 2]}, tied=True)
    assert p.keys == ["W~tied/top"]
    W = np.random.default_rng(0).normal(size=(V, 8))
    assert p(W)["W~tied/top"] == pytest.approx(r_cos(W, sig.tied, top_tokens(sig, 10)))
    with pytest.raises(TypeError):
        AlignmentProbe(sig, [1, 2, 3], tied=False)


# ---- analysis ---------------------------------------------------------------------------

def test_leading_order_gradient_at_small_init(stream):
    ids = torch.from_numpy(stream[: 32 * 17].reshape(32, 17).copy())
    res = gradient_check(CFG, ids, [0.5, 1.5])
    big, small = res[0.5], res[1.5]
    assert small["cos_E"].size > 10
    # at small init the prediction is close to autograd, and closer than at large init
    assert np.median(small["cos_E"]) > 0.9
    assert np.median(small["cos_U"]) > 0.9
    assert np.median(small["cos_E"]) > np.median(big["cos_E"])
    tied = predicted_gradients(QwenLM(replace(CFG, gamma=1.5, tie_embeddings=True), seed=0),
                               ids)
    assert np.median(tied["cos_W"]) > 0.8


def test_configs_from_preset_and_token_sets(sig):
    m, t = configs_from_preset(get_preset("tiny"), 123, tie=True)
    assert m.vocab_size == 123 and m.tie_embeddings and m.max_seq_len == t.seq_len
    top = top_tokens(sig, 5)
    counts = np.asarray(sig.counts.sum(axis=1)).ravel()
    assert np.all(np.diff(counts[top]) <= 0)
    shared = shared_top_tokens([sig, sig], 5)
    assert set(shared) == set(top)
    W = {"a": np.random.default_rng(0).normal(size=(V, 4)), "b": sig.phi_next.toarray()}
    M = cross_domain_matrix(W, {"s": sig}, top_tokens(sig, 20))
    assert M.shape == (2, 1) and M[1, 0] == pytest.approx(1.0)


def test_train_cached_loads_and_cleans_up(stream, sig, tmp_path, monkeypatch):
    from psbook.lm import train_cached
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    t = replace(TCFG, steps=4)
    a = train_cached(stream, CFG, t, signatures=sig, token_sets={"top": top_tokens(sig, 10)},
                     progress=False)
    assert list(tmp_path.rglob("lm-train/*.npz"))          # the result is cached ...
    assert not list(tmp_path.rglob("checkpoint.*"))        # ... and its checkpoint removed
    b = train_cached(stream, CFG, t, signatures=sig, token_sets={"top": top_tokens(sig, 10)},
                     progress=False)
    np.testing.assert_array_equal(a.W_E, b.W_E)
    assert b.seconds == a.seconds  # loaded, not retrained


def test_mismatch_costs_by_hand():
    from psbook.lm import mismatch_costs
    M = np.array([[0.9, 0.5, 0.2],
                  [0.4, 0.8, 0.3],
                  [0.1, 0.2, 0.7]])
    pairs, cost = mismatch_costs(M, ["a", "b", "c"])
    assert pairs == ["a/b", "a/c", "b/c"]
    np.testing.assert_allclose(cost, [((0.9 - 0.5) + (0.8 - 0.4)) / 2,
                                      ((0.9 - 0.2) + (0.7 - 0.1)) / 2,
                                      ((0.8 - 0.3) + (0.7 - 0.2)) / 2])
    with pytest.raises(ValueError, match="square"):
        mismatch_costs(M[:2], ["a", "b", "c"])


# ---- ablations, seeds, controls, mixtures (lm.controls) -----------------------------------

from psbook import lm as LM  # noqa: E402


def test_zero_layer_and_attention_free_models(stream):
    zero = replace(CFG, n_layers=0)
    free = replace(CFG, attention=False)
    for cfg in (zero, free):
        m = QwenLM(cfg, seed=0)
        assert m(torch.zeros(2, 5, dtype=torch.int64)).shape == (2, 5, V)
        assert cfg.n_params() == sum(p.numel() for p in m.parameters())
    assert not any("self_attn" in n for n, _ in QwenLM(free, seed=0).named_parameters())
    assert len(QwenLM(zero, seed=0).layers) == 0
    assert CFG.n_params() == sum(p.numel() for p in QwenLM(CFG, seed=0).parameters())
    # without blocks the direct path is exact: the flow matches autograd almost perfectly
    ids = torch.from_numpy(stream[: 8 * 17].reshape(8, 17).copy())
    res = gradient_check(zero, ids, [0.8])[0.8]
    assert np.median(res["cos_E"]) > 0.95


def test_ablation_configs_and_bad_layers():
    v = LM.ablation_configs(CFG)
    assert v["zero-layer"].n_layers == 0 and v["attention-free"].attention is False
    assert v["full"] == CFG
    with pytest.raises(ValueError, match="n_layers"):
        replace(CFG, n_layers=-1)
    with pytest.raises(TypeError, match="attention"):
        replace(CFG, attention="no")
    with pytest.raises(TypeError, match="LMConfig"):
        LM.ablation_configs({"d_model": 4})


def test_attention_free_has_no_hf_config():
    from psbook.lm import hf_config
    with pytest.raises(ValueError, match="attention-free"):
        hf_config(replace(CFG, attention=False))


def test_attention_only_model(stream):
    only = LM.ablation_configs(CFG)["attention-only"]
    assert only.mlp is False and only.attention is True
    m = QwenLM(only, seed=0)
    assert m(torch.zeros(2, 5, dtype=torch.int64)).shape == (2, 5, V)
    assert only.n_params() == sum(p.numel() for p in m.parameters())
    assert not any(".mlp." in n for n, _ in m.named_parameters())
    # the embedding is drawn first: the same initial W^E as the full model
    assert torch.equal(m.W_E, QwenLM(CFG, seed=0).W_E)
    with pytest.raises(TypeError, match="mlp"):
        replace(CFG, mlp="no")
    with pytest.raises(ValueError, match="n_layers=0"):
        replace(CFG, attention=False, mlp=False)
    assert replace(CFG, n_layers=0, attention=False, mlp=False).n_layers == 0
    from psbook.lm import hf_config
    with pytest.raises(ValueError, match="attention-only"):
        hf_config(only)


def test_at_loss_reads_a_curve_at_equal_loss():
    h = {"step": [0, 10, 20], "loss": [7.0, 5.0, 4.0], "R": [0.0, 0.2, 0.5]}
    assert LM.at_loss(h, 4.5, "R") == (15.0, 0.35)          # halfway between evaluations 1 and 2
    assert LM.at_loss(h, 5.0, "R") == (10.0, 0.2)
    assert LM.at_loss(h, 7.5, "R") == (0.0, 0.0)            # already there at the start
    assert all(np.isnan(LM.at_loss(h, 3.0, "R")))          # never reached
    with pytest.raises(ValueError, match="logged curve"):
        LM.at_loss(h, 4.5, "nope")
    with pytest.raises(ValueError, match="loss must be"):
        LM.at_loss(h, float("nan"), "R")
    with pytest.raises(TypeError, match="history"):
        LM.at_loss([1, 2], 4.5, "R")


def test_train_seeds_cached_and_distinct(stream, tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    sig = next_token_signatures(stream, V)
    sets = {"top": top_tokens(sig, 20)}
    runs = LM.train_seeds(stream, CFG, TCFG, [0, 1], signatures=sig, token_sets=sets,
                          progress=False)
    assert [r.train_cfg["seed"] for r in runs] == [0, 1]
    assert not np.allclose(runs[0].W_E0, runs[1].W_E0)
    again = LM.train_seeds(stream, CFG, TCFG, [0, 1], signatures=sig, token_sets=sets,
                           progress=False)
    np.testing.assert_array_equal(runs[1].W_E, again[1].W_E)
    df = LM.history_frame({"m": runs})
    assert set(df.columns) == {"model", "seed", "step", "tokens", "metric", "value"}
    assert set(df["seed"]) == {0, 1} and "E~next/top" in set(df["metric"])
    with pytest.raises(ValueError, match="seeds"):
        LM.train_seeds(stream, CFG, TCFG, [])


def test_probes_let_chapters_10_and_11_share_their_wikipedia_runs(stream, tmp_path,
                                                                   monkeypatch):
    """Chapters 10 and 11 train the same untied model on the same corpus; with one definition
    of what is logged (lm.probes) the second chapter loads the first one's runs. Control: the
    old chapter 11 probe (an extra token set) is a different cache entry, trained again."""
    import re
    from pathlib import Path
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    preset = get_preset("tiny")
    sig = next_token_signatures(stream, V)
    pr = LM.probes(sig, preset)
    np.testing.assert_array_equal(pr["token_sets"]["top"],
                                  top_tokens(sig, preset.lm["train_top_k"]))
    t = replace(TCFG, steps=4)
    a = LM.train_cached(stream, CFG, t, **pr, progress=False)
    b = LM.train_cached(stream, CFG, t, **LM.probes(next_token_signatures(stream, V), preset),
                        progress=False)
    assert b.seconds == a.seconds                            # loaded, not retrained
    other = {"signatures": sig, "token_sets": {**pr["token_sets"], "shared": np.arange(5)}}
    c = LM.train_cached(stream, CFG, t, **other, progress=False)
    assert c.seconds != a.seconds                            # the control: trained again
    np.testing.assert_array_equal(a.W_E, c.W_E)              # ... to the same weights
    book = Path(__file__).resolve().parents[1] / "book"
    for ch in ("10-training-a-small-qwen.md", "11-data-domain.md"):
        src = (book / ch).read_text()
        assert re.search(r"train_grid\([^`]*lm\.probes\(", src), ch
        assert "token_sets=" not in src, f"{ch} logs another probe: its runs are not shared"
    with pytest.raises(TypeError, match="signatures"):
        LM.probes("sig", preset)
    with pytest.raises(TypeError, match="preset"):
        LM.probes(sig, {"lm": {}})


def test_order_null_equals_the_loop_over_listings():
    """lm.order_null is chapter 10's loop of r_order over random listings, computed at once.
    Control: the same matrices with the listing ignored give another answer."""
    from psbook.metrics import r_order
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(30, 6)) for _ in range(3)]
    toks = np.array([3, 7, 1, 12, 20, 5, 9, 28, 14, 0])
    Ws[0][toks] += np.linspace(0, 3, 10)[:, None]            # one matrix ordered
    orders = [rng.permutation(10) for _ in range(40)]
    loop = np.array([np.mean([r_order(W, toks[p]) for W in Ws]) for p in orders])
    fast = LM.order_null(Ws, toks, orders)
    np.testing.assert_allclose(fast, loop, atol=1e-12)
    unlisted = np.mean([r_order(W, toks) for W in Ws])
    assert not np.allclose(fast, unlisted)                   # the listing matters
    with pytest.raises(ValueError, match="orders"):
        LM.order_null(Ws, toks, [np.arange(9)])
    with pytest.raises(ValueError, match="orders"):
        LM.order_null(Ws, toks, [np.zeros(10, dtype=int)])


def test_mean_sd():
    assert LM.mean_sd([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    assert LM.mean_sd([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        LM.mean_sd([1.0, np.nan])


def test_frequency_controls_separate_signal_from_frequency():
    rng = np.random.default_rng(0)
    n_tok, V_ = 40, 60
    Phi = rng.random((V_, V_)) ** 4
    counts = rng.integers(10, 10_000, V_).astype(float)
    tokens = np.arange(n_tok)
    W = Phi @ rng.standard_normal((V_, 30))          # embedding built from the signature
    out = LM.frequency_controls(W, Phi, tokens, counts, draws=10)
    assert out["r_cos"] > 0.5 and out["partial"] > 0.5
    assert abs(out["permuted"]) < 0.3 < out["r_cos"]
    # signatures that only encode frequency (4 frequency levels, one template each): the
    # embedding follows them, and the frequency-permutation null explains all of it
    level = np.arange(V_) % 4
    counts4 = 10.0 ** (level + 1)
    templates = rng.random((4, V_)) ** 4
    Phif = templates[level] + 0.001 * rng.random((V_, V_))
    Wf = Phif @ rng.standard_normal((V_, 30))
    outf = LM.frequency_controls(Wf, Phif, tokens, counts4, n_bins=4, draws=10)
    assert outf["r_cos"] > 0.5 and outf["permuted"] > 0.8 * outf["r_cos"]
    with pytest.raises(ValueError, match="counts"):
        LM.frequency_controls(W, Phi, tokens, counts[:5])


def test_mixture_docs():
    A = [np.arange(0, 50), np.arange(50, 100)]
    B = [np.arange(100, 160)]
    full_a = np.concatenate(LM.mixture_docs(A, B, 1.0))
    np.testing.assert_array_equal(full_a, np.arange(60) if False else np.arange(0, 60))
    half = np.concatenate(LM.mixture_docs(A, B, 0.5, 40))
    assert (half < 100).sum() == 20 and (half >= 100).sum() == 20
    assert np.concatenate(LM.mixture_docs(A, B, 0.0)).min() >= 100
    with pytest.raises(ValueError, match="alpha"):
        LM.mixture_docs(A, B, 1.5)
    with pytest.raises(ValueError, match="n_tokens"):
        LM.mixture_docs(A, B, 0.5, 1000)
    with pytest.raises(TypeError, match="docs_b"):
        LM.mixture_docs(A, [], 0.5)


def test_own_corpus_gap_and_its_placebos():
    """The own-corpus gap is 0 for models whose rows are equal (shared initialisation), the
    permuted-label null reads a strong diagonal as a loss, and untrained embeddings drawn
    afresh per corpus give gaps that vary (a placebo that could pass or fail)."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    equal_rows = np.repeat(rng.normal(size=(4, 1, 3)), 3, axis=1)
    assert np.allclose(LM.own_corpus_gap(equal_rows), 0)
    M = 0.1 * rng.normal(size=(4, 3, 3)) + 0.5 * np.eye(3)
    assert np.all(LM.own_corpus_gap(M) > 0.4)
    assert np.all(LM.own_corpus_gap(M, [1, 2, 0]) < 0)
    with pytest.raises(ValueError, match="assignment must be a permutation"):
        LM.own_corpus_gap(M, [0, 0, 1])
    with pytest.raises(ValueError, match="seeds x models x signatures"):
        LM.own_corpus_gap(M[0])
    streams = {c: rng.integers(0, 12, size=2000) for c in ("a", "b", "c")}
    sigs = {c: next_token_signatures(s, 12) for c, s in streams.items()}
    init = rng.normal(size=(12, 8))
    runs = {c: [SimpleNamespace(W_E0=init) for _ in range(4)] for c in sigs}
    nulls = LM.own_corpus_nulls(M, runs, sigs, np.arange(12), seed=1)
    assert nulls["permuted"].shape == (4,) and np.all(nulls["permuted"] < 0)
    drawn = nulls["random init"]
    assert drawn.shape == (4,) and np.ptp(drawn) > 0 and np.all(np.abs(drawn) < 0.5)
    assert nulls["random init matrix"].shape == (4, 3, 3)


def test_derangements_move_every_index():
    assert LM.derangements(3) == [(1, 2, 0), (2, 0, 1)]
    assert len(LM.derangements(4)) == 9 and LM.derangements(1) == []
