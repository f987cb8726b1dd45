"""Tests of psbook.lm.stacked: K same-shape language models trained as one batched model.

A stacked member must be its single run: bitwise where the operations are the same (the
initialisation, the batches), and within float32 rounding where they are not (batched
products and the fused cross-entropy sum in another order). "Within rounding" is measured,
not assumed: a float64 run of the same model is the reference, and the stacked float32
gradient must be as close to it as the single float32 gradient is (a small multiple of that
error), on whatever CPU and thread count the test runs.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from psbook import interventions as iv
from psbook.lm import LMConfig, QwenLM, TrainConfig, train_lm
from psbook.lm import stacked as S

V = 40
CFG = LMConfig(vocab_size=V, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=24,
               max_seq_len=16)
TCFG = TrainConfig(steps=6, batch_size=4, seq_len=16, warmup=2, eval_every=3,
                   checkpoint_every=6)


def _tokens(seed, n=3000):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, V, n)
    t[1::2] = (t[::2][: t[1::2].size] * 7 + 3) % V       # some next-token structure
    return t


def _jobs(k=3):
    return [dict(tokens=_tokens(i), model_cfg=replace(CFG, gamma=0.8 + 0.2 * (i == 2)),
                 train_cfg=replace(TCFG, seed=10 + i)) for i in range(k)]


def test_members_start_from_their_single_initialisation_bitwise():
    cfgs = [replace(CFG, gamma=g) for g in (0.8, 1.2)]
    model = S.StackedLM(cfgs, [3, 4])
    for k, (c, s) in enumerate(zip(cfgs, (3, 4))):
        single = dict(QwenLM(c, seed=s).named_parameters())
        for name in model.names:
            assert torch.equal(model.p(name)[k], single[name].detach()), name


def _grads_single(cfg, seed, ids, dtype):
    m = QwenLM(cfg, seed=seed).to(dtype)
    m.loss(ids).backward()
    return {n: p.grad.double() for n, p in m.named_parameters()}


def test_a_member_gradient_is_its_single_run_within_float32_rounding():
    torch.manual_seed(0)
    cfgs, seeds = [CFG, replace(CFG, gamma=1.2), CFG], [1, 2, 3]
    ids = torch.randint(0, V, (3, 4, 17))
    model = S.StackedLM(cfgs, seeds)
    model.loss(ids).sum().backward()
    for k, (c, s) in enumerate(zip(cfgs, seeds)):
        ref = _grads_single(c, s, ids[k], torch.float64)        # the exact gradient (to 1e-16)
        one = _grads_single(c, s, ids[k], torch.float32)        # the single run's rounding
        for name in model.names:
            g = model.p(name).grad[k].double()
            err_single = (one[name] - ref[name]).abs().max().item()
            err_stack = (g - ref[name]).abs().max().item()
            scale = ref[name].abs().max().item()
            # as close to the exact gradient as the single float32 run is, up to a factor
            # (another summation order), plus a floor of a few float32 ulps of the scale
            assert err_stack <= 8 * err_single + 8 * 2 ** -23 * scale, (name, err_stack,
                                                                      err_single, scale)


def test_the_control_a_wrong_member_fails_the_gradient_check():
    # planted failure: member 0 is compared with the single run of ANOTHER seed
    torch.manual_seed(0)
    ids = torch.randint(0, V, (2, 4, 17))
    model = S.StackedLM([CFG, CFG], [1, 2])
    model.loss(ids).sum().backward()
    ref = _grads_single(CFG, 2, ids[0], torch.float64)
    one = _grads_single(CFG, 2, ids[0], torch.float32)
    name = "embed_tokens.weight"
    err_single = (one[name] - ref[name]).abs().max().item()
    err_stack = (model.p(name).grad[0].double() - ref[name]).abs().max().item()
    assert err_stack > 8 * err_single + 8 * 2 ** -23 * ref[name].abs().max().item()


def _grad_error(fn, ref, inputs):
    """The largest relative difference between ``fn``'s and ``ref``'s outputs and gradients
    (float64, one random upstream gradient) over ``inputs`` that require a gradient."""
    torch.manual_seed(1)
    outs, grads = [], []
    for f in (fn, ref):
        xs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
        y = f(*xs)
        g = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(2))
        y.backward(g)
        outs.append(y.detach())
        grads.append([x.grad for x in xs if x.requires_grad])
    err = ((outs[0] - outs[1]).abs().max() / outs[1].abs().max()).item()
    for a, b in zip(*grads):
        err = max(err, ((a - b).abs().max() / b.abs().max()).item())
    return err


def _rms_inputs():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 10, 8, dtype=torch.float64, generator=gen).requires_grad_()
    w = (1 + 0.3 * torch.randn(3, 8, dtype=torch.float64, generator=gen)).requires_grad_()
    return x, w


def _rms_reference(x, w):
    return w[:, None, :] * torch.nn.functional.rms_norm(x, (x.shape[-1],), eps=1e-6)


def test_the_hand_written_rms_norm_is_autograds_in_float64():
    x, w = _rms_inputs()
    err = _grad_error(lambda x, w: S._RMSNorm.apply(x, w, 1e-6), _rms_reference, (x, w))
    assert err < 1e-12, err
    assert torch.autograd.gradcheck(lambda x, w: S._RMSNorm.apply(x, w, 1e-6), (x, w))

    # planted wrong backward: without the normalisation's own term (- y * mean(g * y))
    class Wrong(S._RMSNorm):
        @staticmethod
        def backward(ctx, grad):
            y, rstd, w = ctx.saved_tensors
            return grad * w[:, None, :] * rstd, (grad * y).sum(1), None
    assert _grad_error(lambda x, w: Wrong.apply(x, w, 1e-6), _rms_reference, (x, w)) > 1e-3


def _rotary_reference(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def test_the_hand_written_rotary_is_autograds_in_float64():
    # the shapes of StackedLM._attention: (K*B, T, heads, hd) with tables (T, 1, hd)
    cfg = replace(CFG, max_seq_len=12, d_model=24, n_heads=2)
    model = QwenLM(cfg)
    cos, sin = model.rope_cos[:, None].double(), model.rope_sin[:, None].double()
    x = torch.randn(5, 12, 3, 12, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0)).requires_grad_()
    signed = S._sin_signed(sin)
    err = _grad_error(lambda x: S._Rotary.apply(x, cos, signed),
                      lambda x: _rotary_reference(x, cos, sin), (x,))
    assert err < 1e-12, err
    assert torch.autograd.gradcheck(lambda x: S._Rotary.apply(x, cos, signed), (x,))

    # planted wrong backward: the forward rotation instead of its inverse
    class Wrong(S._Rotary):
        @staticmethod
        def backward(ctx, grad):
            cos, s = ctx.saved_tensors
            return torch.addcmul(grad * cos, grad.roll(grad.shape[-1] // 2, -1), s), None, None
    assert _grad_error(lambda x: Wrong.apply(x, cos, signed),
                       lambda x: _rotary_reference(x, cos, sin), (x,)) > 1e-3


def test_the_fused_loss_by_blocks_of_rows_equals_the_whole_product():
    # on the CPU the logits are made and normalised a block of rows at a time (in the cache);
    # the loss and both gradients must be those of the whole product (blocks of 5 rows of 17:
    # the last block is short)
    gen = torch.Generator().manual_seed(0)
    K, N, d = 3, 17, 8
    h0 = torch.randn(K, N, d, generator=gen)
    W0 = torch.randn(K, V, d, generator=gen) * 0.5
    y = torch.randint(0, V, (K, N), generator=gen)

    def run(work, y=y):
        h, W = h0.clone().requires_grad_(), W0.clone().requires_grad_()
        loss = S._UnembedCrossEntropy.apply(h, W, y, torch.empty(K, N, V), work)
        (loss * torch.arange(1.0, K + 1)).sum().backward()
        return loss.detach(), h.grad, W.grad
    whole, blocks = run(None), run(torch.empty(K * 5 * V))
    for a, b in zip(whole, blocks):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    # control: the comparison sees a block that lands one row off (targets shifted by a row)
    shifted = run(torch.empty(K * 5 * V), y=y.roll(1, dims=1))
    assert not torch.allclose(shifted[0], whole[0], rtol=1e-6, atol=1e-7)


def test_stacked_training_follows_the_single_runs():
    jobs = _jobs()
    stacked = S.train_stacked(jobs)
    for j, r in zip(jobs, stacked):
        single = train_lm(j["tokens"], j["model_cfg"], j["train_cfg"], progress=False)
        np.testing.assert_array_equal(r.W_E0, single.W_E0)      # same initialisation
        np.testing.assert_array_equal(r.history["step"], single.history["step"])
        # 6 AdamW steps from gradients equal to rounding: the curves agree to ~1e-6
        np.testing.assert_allclose(r.history["loss"], single.history["loss"], rtol=1e-4)
        np.testing.assert_allclose(r.W_E, single.W_E, atol=1e-4 * np.abs(single.W_E).max())
    # control: the members are not the same model (their curves differ)
    assert not np.allclose(stacked[0].history["loss"], stacked[1].history["loss"], rtol=1e-4)


def test_a_member_does_not_depend_on_its_stack_mates():
    # bitwise on the CPUs tried (the batched kernels treat each member alone); asserted to
    # float32 rounding, since another BLAS may block a batch differently
    jobs = _jobs(3)
    three = S.train_stacked(jobs)
    one = S.train_stacked(jobs[:1])
    np.testing.assert_allclose(three[0].W_E, one[0].W_E, rtol=0,
                               atol=16 * 2 ** -23 * np.abs(one[0].W_E).max())
    np.testing.assert_allclose(three[0].history["loss"], one[0].history["loss"], rtol=1e-6)


def test_stack_refuses_members_of_different_shapes_or_training():
    jobs = _jobs(2)
    jobs[1]["model_cfg"] = replace(CFG, d_model=32)
    with pytest.raises(ValueError, match="stack_key"):
        S.train_stacked(jobs)
    jobs = _jobs(2)
    jobs[1]["train_cfg"] = replace(TCFG, lr=1e-2)
    with pytest.raises(ValueError, match="stack_key"):
        S.train_stacked(jobs)
    with pytest.raises(ValueError, match="jobs is empty"):
        S.train_stacked([])
    with pytest.raises(ValueError, match="cfgs"):
        S.StackedLM([CFG, replace(CFG, n_heads=4, n_kv_heads=2)], [0, 1])


def test_both_trainers_check_their_jobs_with_one_function_that_names_the_caller():
    # lm.runs.check_jobs is the one check; each trainer's message names the trainer
    from psbook.lm import runs
    from psbook.lm.runs import check_jobs, train_many
    good = _jobs(1)
    assert check_jobs(iter(good), "f") == good
    for bad, why in (([{"tokens": 1}], "must be a dict with tokens"),
                     ([5], "must be a dict with tokens"),
                     ([{**good[0], "lr": 1.0}], "unknown keys")):
        for fn, name in ((train_many, "train_many"),
                         (S.train_stacked_cached, "train_stacked_cached")):
            with pytest.raises(ValueError, match=f"^{name}: jobs\\[0\\].*{why}"):
                fn(bad, progress=False)
    # control: a valid job list passes the check unchanged, and no copy of the check is left
    import inspect
    assert "unknown keys" not in inspect.getsource(S) and "_JOB_KEYS" not in dir(runs)
    with pytest.raises(TypeError, match="caller"):
        check_jobs(good, "")


def test_a_diverging_member_is_reported_as_its_single_run_would():
    cfg = TCFG
    err = S._divergence({"model_cfg": CFG, "desc": "p=1 seed=0"}, 5, float("nan"), 1.0, 1.0,
                        10.0, cfg)
    assert isinstance(err, S.DivergenceError) and "p=1 seed=0" in str(err)
    assert S._divergence({"model_cfg": CFG}, 5, 3.0, 1.0, 1.0, 10.0, cfg) is None
    big = S._divergence({"model_cfg": CFG}, 5, 3.0, 1.0, 2e3, 10.0, cfg)
    assert "|w|" in str(big)


def test_cached_stacks_train_each_distinct_job_once_under_their_own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("PSBOOK_WORKERS", "1")
    jobs = _jobs(2)
    calls = []
    real = S.train_stacked

    def counting(js, **kw):
        calls.append(len(js))
        return real(js, **kw)

    monkeypatch.setattr(S, "train_stacked", counting)
    out = S.train_stacked_cached(jobs + [dict(jobs[0])], progress=False)
    assert sum(calls) == 2                                  # the repeated job trained once
    np.testing.assert_array_equal(out[0].W_E, out[2].W_E)
    again = S.train_stacked_cached(jobs, progress=False)
    assert sum(calls) == 2                                  # from the cache
    np.testing.assert_array_equal(again[1].W_E, out[1].W_E)
    # a stacked result never answers a single run's cache lookup (another key)
    from psbook.lm.runs import _cached_result
    assert _cached_result({**jobs[0], "namespace": "lm-train"}) is None


def test_the_adamw_kernel_is_part_of_the_cache_key_and_falls_back(tmp_path, monkeypatch):
    # fused AdamW where torch has it (CPU: torch >= 2.4), foreach otherwise: the two agree to
    # rounding only, so a result of one is never served for the other
    from psbook.cache import config_key
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    job = _jobs(1)[0]
    kind = S.adamw_impl("cpu")
    assert kind in ("fused", "foreach") and S.trainer_key()["adamw"] == kind
    key = config_key("lm-train", S._config(job))
    assert config_key("lm-train", S._config(dict(job))) == key         # control: stable
    other = "foreach" if kind == "fused" else "fused"
    monkeypatch.setitem(S._FUSED_CHECKED, "cpu", other)
    assert config_key("lm-train", S._config(job)) != key
    # torch without a fused CPU AdamW (torch < 2.4 raises at construction): foreach, cleanly
    real = torch.optim.AdamW

    def no_fused(params, **kw):
        if kw.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be CUDA tensors")
        return real(params, **kw)
    monkeypatch.setattr(torch.optim, "AdamW", no_fused)
    monkeypatch.delitem(S._FUSED_CHECKED, "cpu")
    assert S.adamw_impl("cpu") == "foreach"
    r = S.train_stacked([job])[0]
    assert np.isfinite(r.history["loss"]).all()


def test_chapter_10s_variants_stack_and_follow_their_single_runs():
    # tied, attention-free, attention-only and zero-layer models (lm.ablation_configs): each
    # its own stack, each member its single run to float32 rounding over 6 steps
    from psbook.lm import ablation_configs
    variants = ablation_configs(CFG) | {"tied": replace(CFG, tie_embeddings=True)}
    t = _tokens(0)
    singles = {}
    for name, cfg in variants.items():
        jobs = [dict(tokens=t, model_cfg=cfg, train_cfg=replace(TCFG, seed=s)) for s in (1, 2)]
        for j, r in zip(jobs, S.train_stacked(jobs)):
            one = train_lm(t, cfg, j["train_cfg"], progress=False)
            np.testing.assert_allclose(r.history["loss"], one.history["loss"], rtol=1e-4,
                                       err_msg=name)
            np.testing.assert_allclose(r.W_U, one.W_U, atol=1e-4 * np.abs(one.W_U).max(),
                                       err_msg=name)
            singles[name] = one
    # control: the variants are different models (a member is not another variant's run)
    assert not np.allclose(singles["zero-layer"].history["loss"],
                           singles["full"].history["loss"], rtol=1e-4)


def test_train_grid_trains_through_the_stacked_trainer(tmp_path, monkeypatch):
    # chapters 10 and 11 train through lm.train_grid: stacked by default, one stack per shape
    from psbook.lm import train_grid
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("PSBOOK_WORKERS", "1")
    calls = []
    real = S.train_stacked
    monkeypatch.setattr(S, "train_stacked", lambda js, **kw: calls.append(len(js)) or real(js, **kw))
    t = _tokens(0)
    out = train_grid({0.8: (t, CFG, TCFG), 1.2: (t, replace(CFG, gamma=1.2), TCFG)}, [1, 2],
                     progress=False)
    assert calls == [4]                          # two gammas x two seeds: one stack
    assert [r.train_cfg["seed"] for r in out[1.2]] == [1, 2]
    single = train_grid({0.8: (t, CFG, TCFG)}, [2], progress=False, trainer="single")
    assert calls == [4]                          # the single trainer did not stack
    np.testing.assert_allclose(out[0.8][1].history["loss"], single[0.8][0].history["loss"],
                               rtol=1e-4)


def test_sham_draw_null_counts_and_values():
    rng = np.random.default_rng(0)
    sl = rng.normal(size=(3, 2, 4))                         # 3 draws, 2 seeds, 4 pairs
    null = iv.sham_draw_null(sl)
    assert null.size == (3 * 2) ** 2
    np.testing.assert_allclose(np.sort(null), np.sort(-null))   # a against b and b against a
    v = sl.mean(2)
    assert np.isclose(null, ((v[1, 0] - v[0, 0]) + (v[2, 1] - v[1, 1])) / 2).any()
    # control: identical draws give a null of zeros
    assert np.all(iv.sham_draw_null(np.repeat(sl[:1], 3, axis=0)) == 0)
    with pytest.raises(ValueError, match="sham_slopes"):
        iv.sham_draw_null(sl[:1])
