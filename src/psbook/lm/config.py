"""The language model's configuration from a preset: one scheme for every chapter.

A preset describes the small decoder in the names of :class:`psbook.lm.model.LMConfig` and its
training in those of :class:`psbook.lm.train.TrainConfig`:

* ``preset.lm["model"]`` -- ``n_layers``, ``d_model``, ``n_heads``, ``n_kv_heads``, ``d_ff``,
  ``gamma`` (chapters 10 and 11);
* ``preset.lm["train"]`` -- ``steps``, ``batch_size``, ``seq_len``, ``lr``, ``weight_decay``,
  ``warmup``, ``eval_every``, ``checkpoint_every``;
* ``preset.interventions["lm_model"]`` / ``["lm_train"]`` -- chapter 13's changes to those two
  (a smaller model), in the same names.

:func:`configs_from_preset` turns them into the two config objects; :func:`model_sizes`
writes the sizes as the chapters' Compute notes show them (never typed by hand).
"""

from __future__ import annotations

from .._validate import check_positive_int
from .model import LMConfig
from .train import TrainConfig

__all__ = ["configs_from_preset", "model_sizes", "model_sizes_table", "run_table",
           "MODEL_KEYS", "TRAIN_KEYS"]

#: what ``preset.lm["model"]`` and ``preset.lm["train"]`` must hold
MODEL_KEYS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "gamma")
TRAIN_KEYS = ("steps", "batch_size", "seq_len", "lr", "weight_decay", "warmup", "eval_every",
              "checkpoint_every")


def _lm_section(preset) -> dict:
    lm = getattr(preset, "lm", None)
    if not isinstance(lm, dict):
        raise TypeError(f"preset must be a psbook Preset with an lm section; got "
                        f"{type(preset).__name__}")
    for part, keys in (("model", MODEL_KEYS), ("train", TRAIN_KEYS)):
        if not isinstance(lm.get(part), dict):
            raise ValueError(f"preset.lm[{part!r}] must be a dict with {list(keys)}; got "
                             f"{lm.get(part)!r}")
        missing = [k for k in keys if k not in lm[part]]
        if missing:
            raise ValueError(f"preset.lm[{part!r}] lacks the setting(s) {missing}")
    return lm


def configs_from_preset(preset, vocab_size: int, *, tie: bool = False, seed: int | None = None,
                        model: dict | None = None, train: dict | None = None,
                        **model_overrides) -> tuple[LMConfig, TrainConfig]:
    """The model and training configuration a preset prescribes (``preset.lm["model"]`` and
    ``preset.lm["train"]``), for a tokenizer of ``vocab_size`` tokens.

    ``model`` / ``train``: changes in the same names (chapter 13 passes
    ``preset.interventions["lm_model"]`` and ``["lm_train"]``); ``model_overrides``: single
    model settings (``gamma=1.2``). ``seed`` defaults to the preset's."""
    lm = _lm_section(preset)
    mk = {**lm["model"], **(model or {}), **model_overrides}
    tk = {**lm["train"], **(train or {})}
    tk["seed"] = preset.seed if seed is None else seed
    mcfg = LMConfig(vocab_size=check_positive_int("vocab_size", vocab_size),
                    max_seq_len=tk["seq_len"], tie_embeddings=bool(tie), **mk)
    return mcfg, TrainConfig(**tk)


def model_sizes(section: str = "lm", presets=("tiny", "cpu", "gpu", "full")) -> str:
    """The language model's sizes in each preset, as a Compute note says them: ``"tiny: 2
    layers, d = 64, 1024-token BPE, 150 steps of 8 x 64 tokens, from 150000 tokens of text;
    cpu: ..."``.

    ``section="interventions"``: chapter 13's model (``lm_model``/``lm_train`` over ``lm``)."""
    out = []
    for name, lm, m, t in _preset_sizes(section, presets):
        layers = f"{m['n_layers']} layer{'s' if m['n_layers'] != 1 else ''}"
        vocab = lm["train_vocab"]
        out.append(f"{name}: {layers}, d = {m['d_model']}, {vocab}-token BPE, {t['steps']} "
                   f"steps of {t['batch_size']} x {t['seq_len']} tokens, from "
                   f"{lm['train_max_tokens']} tokens of text")
    return "; ".join(out)


def _preset_sizes(section: str, presets):
    """``(name, lm section, model settings, train settings)`` of each preset, read on the CPU
    without the warning a GPU preset gives there (only its sizes are read)."""
    import warnings
    from ..presets import get_preset
    if section not in ("lm", "interventions"):
        raise ValueError(f"section must be 'lm' or 'interventions'; got {section!r}")
    for name in presets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            p = get_preset(name, device="cpu")
        lm = _lm_section(p)
        m, t = dict(lm["model"]), dict(lm["train"])
        if section == "interventions":
            m.update(p.interventions["lm_model"])
            t.update(p.interventions["lm_train"])
        yield name, lm, m, t


def model_sizes_table(section: str = "lm", presets=("tiny", "cpu", "gpu", "full")):
    """A :class:`psbook.display.Table` of :func:`model_sizes`: one row per preset.

    Book: chapters 10, 11 and 13 (the Compute note's sizes)."""
    from ..display import Table
    rows = [{"preset": name, "layers": m["n_layers"], "d": m["d_model"],
             "BPE tokens": lm["train_vocab"], "steps": t["steps"],
             "batch": f"{t['batch_size']} x {t['seq_len']}",
             "text tokens": lm["train_max_tokens"]}
            for name, lm, m, t in _preset_sizes(section, presets)]
    return Table(rows, caption="The language model's sizes in each preset",
                 formats={"text tokens": ",d"}, note="batch: windows x tokens per window")


def run_table(model_cfg: LMConfig, train_cfg: TrainConfig, *, docs=None, tokenizer=None):
    """A :class:`psbook.display.Table` (setting, value) of one training run: the text (with
    ``docs``, token arrays), the tokenizer, the model and the training.

    Book: chapters 10 and 11 (the model and the data)."""
    from ..display import Table
    m, t = model_cfg, train_cfg
    rows = []
    if docs is not None:
        n = sum(int(d.size) for d in docs)
        rows.append(("text", f"{n:,} tokens in {len(docs):,} documents"))
    if tokenizer is not None:
        rows.append(("tokenizer", f"{tokenizer.name} ({tokenizer.vocab_size} tokens)"))
    rows += [("model", f"{m.n_layers} layers, d = {m.d_model}, heads {m.n_heads} "
                       f"(kv {m.n_kv_heads}), MLP {m.d_ff}, γ = {m.gamma}"),
             ("parameters", f"{m.n_params():,} untied, {m.n_params(embeddings=False):,} "
                            f"without embeddings"),
             ("training", f"{t.steps} steps x {t.batch_size} x {t.seq_len} tokens = "
                          f"{t.steps * t.batch_size * t.seq_len:,} tokens seen"),
             ("optimiser", f"AdamW, lr {t.lr}, warm-up {t.warmup}, cosine decay")]
    return Table(rows, ["setting", "value"], caption="One training run")
