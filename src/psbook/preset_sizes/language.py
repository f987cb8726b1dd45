"""Sizes of the language side in each preset: counting signatures of real text (chapters 02
and 09: ``preset.signatures``), corpora, tokenizer and the small language model (chapters
09-11: ``preset.lm``). The model and its training are given in the names of
:class:`psbook.lm.LMConfig` / :class:`psbook.lm.TrainConfig` (``lm["model"]``,
``lm["train"]``); :func:`psbook.lm.configs_from_preset` reads them, and
:func:`psbook.lm.model_sizes` writes them for the chapters" Compute notes. One table per
section, one entry per preset; :mod:`psbook.presets` puts them together."""

# chapters 02 and 09: counting signatures of real text
SIGNATURES = {
    "tiny": dict(max_chars=2_500_000, vocab_words=5_000, top_k=500),
    "cpu": dict(max_chars=5_000_000, vocab_words=10_000, top_k=1_000),
    "gpu": dict(max_chars=10_000_000, vocab_words=20_000, top_k=1_500),
    "full": dict(max_chars=50_000_000, vocab_words=30_000, top_k=2_000),
}

# chapters 09-11, and the language model of chapter 13 (with INTERVENTIONS" changes)
LM = {
    "tiny": dict(
        # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
        # training it, tokens counted per corpus, shards, frequent tokens for baselines
        corpus_tokenizer="auto", corpus_bpe_vocab=4096, corpus_max_chars=400_000,
        sig_max_tokens=300_000, sig_shards=4, sig_top_k=300,
        # chapters 10-11 (and 13): the small Qwen2.5-style decoder in the names of
        # psbook.lm.LMConfig, its training in those of psbook.lm.TrainConfig (psbook.lm.config)
        model=dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=172, gamma=0.8),
        train=dict(steps=150, batch_size=8, seq_len=64, lr=0.003, weight_decay=0.0,
                   warmup=15, eval_every=15, checkpoint_every=75),
        # chapters 10-11: tokenizer size, tokens of text, tokens analysed, bins, the
        # gradient check"s scales and windows, corpora; chapter 10: the init scales
        # trained beside model"s gamma; chapter 11: mixtures
        train_vocab=1024, train_max_tokens=150_000, train_top_k=100, train_bins=5,
        train_grad_gammas=[0.5, 0.8, 1.2], train_grad_windows=32,
        train_domains=["wikipedia", "code", "math"],
        train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
    ),
    "cpu": dict(
        # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
        # training it, tokens counted per corpus, shards, frequent tokens for baselines
        corpus_tokenizer="auto", corpus_bpe_vocab=8192, corpus_max_chars=2_000_000,
        sig_max_tokens=2_000_000, sig_shards=8, sig_top_k=500,
        # chapters 10-11 (and 13): the small Qwen2.5-style decoder in the names of
        # psbook.lm.LMConfig, its training in those of psbook.lm.TrainConfig (psbook.lm.config)
        # (5 seeds x 6 models in chapter 10, 30 runs in chapter 11: batch 8 keeps each
        # chapter near 3 min of one core; batch 16 took 343 s and 353 s)
        model=dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=172, gamma=0.8),
        train=dict(steps=250, batch_size=8, seq_len=64, lr=0.003, weight_decay=0.0,
                   warmup=25, eval_every=25, checkpoint_every=50),
        # chapters 10-11: tokenizer size, tokens of text, tokens analysed, bins, the
        # gradient check"s scales and windows, corpora; chapter 10: the init scales
        # trained beside model"s gamma; chapter 11: mixtures
        train_vocab=2048, train_max_tokens=400_000, train_top_k=200, train_bins=8,
        train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2], train_grad_windows=64,
        train_domains=["wikipedia", "code", "math"],
        train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
    ),
    "gpu": dict(
        # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
        # training it, tokens counted per corpus, shards, frequent tokens for baselines
        corpus_tokenizer="auto", corpus_bpe_vocab=8192, corpus_max_chars=4_000_000,
        sig_max_tokens=4_000_000, sig_shards=8, sig_top_k=700,
        # chapters 10-11 (and 13): the small Qwen2.5-style decoder in the names of
        # psbook.lm.LMConfig, its training in those of psbook.lm.TrainConfig (psbook.lm.config)
        # (5 seeds x 6 models in chapter 10; a few MB of weights, far below a T4"s 16 GB)
        model=dict(n_layers=2, d_model=128, n_heads=4, n_kv_heads=2, d_ff=344, gamma=0.8),
        train=dict(steps=400, batch_size=32, seq_len=128, lr=0.003, weight_decay=0.0,
                   warmup=40, eval_every=40, checkpoint_every=100),
        # chapters 10-11: tokenizer size, tokens of text, tokens analysed, bins, the
        # gradient check"s scales and windows, corpora; chapter 10: the init scales
        # trained beside model"s gamma; chapter 11: mixtures
        train_vocab=4096, train_max_tokens=1_500_000, train_top_k=300, train_bins=8,
        train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2], train_grad_windows=64,
        train_domains=["wikipedia", "code", "math"],
        train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
    ),
    "full": dict(
        # chapter 09 (corpus_* / sig_*): tokenizer, BPE fallback size, chars per source for
        # training it, tokens counted per corpus, shards, frequent tokens for baselines
        corpus_tokenizer="auto", corpus_bpe_vocab=16_384, corpus_max_chars=20_000_000,
        sig_max_tokens=10_000_000, sig_shards=16, sig_top_k=1000,
        # chapters 10-11 (and 13): the small Qwen2.5-style decoder in the names of
        # psbook.lm.LMConfig, its training in those of psbook.lm.TrainConfig (psbook.lm.config)
        # (sized for 5 seeds x 6 models per chapter within a few minutes on one GPU)
        model=dict(n_layers=4, d_model=256, n_heads=4, n_kv_heads=2, d_ff=688, gamma=0.8),
        train=dict(steps=600, batch_size=32, seq_len=256, lr=0.002, weight_decay=0.01,
                   warmup=60, eval_every=50, checkpoint_every=200),
        # chapters 10-11: tokenizer size, tokens of text, tokens analysed, bins, the
        # gradient check"s scales and windows, corpora; chapter 10: the init scales
        # trained beside model"s gamma; chapter 11: mixtures
        train_vocab=8192, train_max_tokens=5_000_000, train_top_k=500, train_bins=10,
        train_grad_gammas=[0.5, 0.65, 0.8, 1.0, 1.2], train_grad_windows=64,
        train_domains=["wikipedia", "code", "math"],
        train_compare_gammas=[0.5, 1.2], mix_alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
    ),
}
