r"""Tokenizers with one small interface: ``encode``, ``decode``, ``vocab_size``,
``id_to_token``, ``name``.

* The **Qwen2.5 tokenizer** :cite:p:`qwen2025qwen25` (byte-level BPE, 151 643 tokens; numbers
  are split into single digits) when it can be loaded: from ``$PSBOOK_QWEN_TOKENIZER`` (a
  ``tokenizer.json``), from the local Hugging Face cache, or -- online -- from the Hub.
* Otherwise a **byte-level BPE** trained with ``tokenizers`` on the corpus itself, with
  Qwen2's pre-tokenisation rule (so digits are single tokens there too), cached on disk under
  ``psbook.cache.cache_dir()/tokenizers``.
* A **word-level** tokenizer (whitespace words, the top ``vocab_size - 1`` words plus
  ``<unk>``) for readable labels on WikiText-like text.

``id_to_token`` is both a list and a function: ``tok.id_to_token[i]`` and
``tok.id_to_token(i)`` give the *readable* form of token ``i`` (byte-level symbols decoded:
``'Ġ'`` is shown as a space, ``'Ċ'`` as ``'\n'``).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .._validate import as_token_array, check_choice, check_positive_int
from ..atomic import write_file
from ..cache import cache_dir, config_key, load_or_compute
from ._network import is_online
from .sources import documents, source_key
from ..progress import progress_enabled

__all__ = ["WordTokenizer", "HFTokenizer", "get_tokenizer", "load_qwen_tokenizer", "train_bpe",
           "QWEN_REPO"]

QWEN_REPO = "Qwen/Qwen2.5-0.5B"
# Qwen2's pre-tokenisation regex (from its tokenizer.json): letters runs, single digits, ...
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_BPE_SCHEME = 1  # bump when the BPE recipe changes (invalidates cached tokenizers)


class _Vocab(list):
    """A list of readable token strings that can also be called: ``v(i) == v[i]``."""

    def __call__(self, i) -> str:
        return self[int(i)]


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes -> printable-unicode table used by byte-level BPE."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _byte_decoder()


def _readable(token: str) -> str:
    if token and all(ch in _BYTE_DECODER for ch in token):
        return bytes(_BYTE_DECODER[ch] for ch in token).decode("utf-8", errors="replace")
    return token


class WordTokenizer:
    """Whitespace words; the ``vocab_size - 1`` most frequent words get ids ``1..``, every
    other word maps to ``<unk>`` (id 0). Build with :meth:`fit`."""

    unk = "<unk>"

    def __init__(self, words: Sequence[str]):
        words = [w for w in words if w != self.unk]
        self.id_to_token = _Vocab([self.unk] + list(words))
        self.token_to_id = {w: i for i, w in enumerate(self.id_to_token)}
        self.unk_id = 0
        self.vocab_size = len(self.id_to_token)
        digest = hashlib.sha1("\n".join(self.id_to_token).encode()).hexdigest()[:8]
        self.name = f"word-{self.vocab_size}-{digest}"
        # what cache keys use: the whole vocabulary (the name keeps only 8 hex digits of it)
        self.fingerprint = "word-" + hashlib.sha256("\n".join(self.id_to_token).encode()
                                                    ).hexdigest()[:24]

    @classmethod
    def fit(cls, docs: Iterable[str], vocab_size: int) -> "WordTokenizer":
        """Keep the ``vocab_size - 1`` most frequent words of ``docs`` (ties: alphabetical)."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        if isinstance(docs, str):
            docs = [docs]
        counts: Counter = Counter()
        for d in docs:
            if not isinstance(d, str):
                raise TypeError(f"docs must be an iterable of strings; got an item of type "
                                f"{type(d).__name__}")
            counts.update(d.split())
        counts.pop(cls.unk, None)
        if not counts:
            raise ValueError("docs holds no words; expected non-empty text")
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: V - 1]
        return cls([w for w, _ in ranked])

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string; got {type(text).__name__}")
        get = self.token_to_id.get
        return np.fromiter((get(w, 0) for w in text.split()), dtype=np.int64)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(t) for t in texts]

    def decode(self, ids) -> str:
        ids = as_token_array("ids", ids, self.vocab_size, ndim=1, allow_empty=True)
        return " ".join(self.id_to_token[i] for i in ids)

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` (byte-level BPE) behind the psbook interface."""

    def __init__(self, tok, name: str, path: Path | None = None, from_cache: bool = False):
        self.tok = tok
        self.name = name
        self.path = path
        self.from_cache = from_cache
        self.vocab_size = int(tok.get_vocab_size(with_added_tokens=True))
        raw = [tok.id_to_token(i) for i in range(self.vocab_size)]
        self.raw_tokens = [r if r is not None else "" for r in raw]
        self.id_to_token = _Vocab(_readable(r) for r in self.raw_tokens)
        self.token_to_id = {r: i for i, r in enumerate(self.raw_tokens)}
        self._fingerprint = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the tokenizer's full definition (vocabulary, merges, pre-tokeniser):
        what cache keys use, so two ``tokenizer.json`` files under one name never share
        entries."""
        if self._fingerprint is None:
            self._fingerprint = "hf-" + hashlib.sha256(self.tok.to_str().encode()).hexdigest()[:24]
        return self._fingerprint

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string; got {type(text).__name__}")
        return np.asarray(self.tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encs = self.tok.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def decode(self, ids) -> str:
        ids = as_token_array("ids", ids, self.vocab_size, ndim=1, allow_empty=True)
        return self.tok.decode(ids.tolist(), skip_special_tokens=False)

    def __repr__(self) -> str:
        return f"HFTokenizer(name={self.name!r}, vocab_size={self.vocab_size})"


def load_qwen_tokenizer(verbose: bool = True) -> HFTokenizer | None:
    """The Qwen2.5 tokenizer, or None when it cannot be had without waiting on a network."""
    from tokenizers import Tokenizer

    env = os.environ.get("PSBOOK_QWEN_TOKENIZER", "").strip()
    candidates = [Path(env).expanduser()] if env else []
    try:
        from huggingface_hub import hf_hub_download
        try:
            candidates.append(Path(hf_hub_download(QWEN_REPO, "tokenizer.json",
                                                   local_files_only=True)))
        except Exception:
            if is_online():
                try:
                    candidates.append(Path(hf_hub_download(QWEN_REPO, "tokenizer.json")))
                except Exception as exc:
                    if verbose:
                        print(f"[psbook.corpus] could not download the Qwen2.5 tokenizer: {exc}")
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return HFTokenizer(Tokenizer.from_file(str(path)), "qwen2.5", path)
    return None


def _train_bpe_tokenizer(texts: Iterable[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _as_sources(source) -> tuple[str, ...]:
    if isinstance(source, str):
        return (source,)
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, str) for s in source):
        return tuple(source)
    raise TypeError(f"source must be a source name or a non-empty list of them; got {source!r}")


def train_bpe(source="wikipedia", vocab_size: int = 8192,
              max_chars: int | None = 2_000_000, *, verbose: bool = True) -> HFTokenizer:
    """A byte-level BPE trained on ``source`` (a name or a list of names; ``max_chars`` per
    source), cached as ``tokenizer.json`` under ``cache_dir()/tokenizers``."""
    from tokenizers import Tokenizer

    V = check_positive_int("vocab_size", vocab_size, minimum=300)
    sources = _as_sources(source)
    from .streams import source_fingerprint
    cfg = {"scheme": _BPE_SCHEME, "sources": [source_key(s) for s in sources],
           "vocab_size": V, "max_chars": max_chars,
           "data": [source_fingerprint(s) for s in sources]}
    key = config_key("bpe", cfg)
    name = f"bpe-{V}-{key[:8]}"
    root = cache_dir()
    path = root / "tokenizers" / f"{name}.json" if root is not None else None
    if path is not None and path.is_file():
        try:   # a damaged file (a truncated write, a full disk) is removed and retrained
            tok = Tokenizer.from_str(path.read_text(encoding="utf-8"))
            if int(tok.get_vocab_size(with_added_tokens=True)) < 256:
                raise ValueError("fewer than 256 tokens")
        except Exception as exc:
            print(f"[psbook.corpus] the cached tokenizer {name} (PSBOOK_CACHE) is damaged "
                  f"({type(exc).__name__}: {str(exc)[:120]}); removed, training it again")
            path.unlink(missing_ok=True)
        else:
            if verbose and progress_enabled():  # cache bookkeeping: not on executed pages
                print(f"[psbook.corpus] loaded BPE tokenizer from {path}")
            return HFTokenizer(tok, name, path, from_cache=True)

    def texts():
        for s in sources:
            yield from documents(s, max_chars)

    tok = _train_bpe_tokenizer(texts(), V)
    # serialised in memory, written atomically; a full disk warns once and the tokenizer is
    # used all the same
    if path is not None and write_file(path, tok.to_str()) and verbose:
        # one short line, no path of this machine (the file is in the psbook cache)
        print(f"[psbook.corpus] BPE, {V} tokens, trained on {', '.join(sources)} (cached)")
    return HFTokenizer(tok, name, path)


def get_tokenizer(kind: str = "auto", source="wikipedia", vocab_size: int = 8192,
                  max_chars: int | None = 2_000_000, *, verbose: bool = True):
    """A tokenizer with ``encode``, ``decode``, ``vocab_size``, ``id_to_token``, ``name``.

    ``kind``: ``"qwen"`` (the Qwen2.5 tokenizer; ValueError if it cannot be loaded),
    ``"bpe"`` (byte-level BPE trained on ``source``, ``vocab_size`` tokens), ``"word"``
    (:class:`WordTokenizer` fitted on ``source``) or ``"auto"`` (Qwen2.5 if it loads, else BPE).
    ``source`` (a name or a list of names) and ``max_chars`` (per source) only matter for
    the tokenizers that are trained here.
    """
    check_choice("kind", kind, {"auto", "qwen", "bpe", "word"})
    check_positive_int("vocab_size", vocab_size, minimum=2)
    sources = _as_sources(source)
    if kind in ("auto", "qwen"):
        tok = load_qwen_tokenizer(verbose=verbose)
        if tok is not None:
            if verbose:
                # where from, by its setting: the machine's path is not for the book's pages
                env = os.environ.get("PSBOOK_QWEN_TOKENIZER", "").strip()
                where = ("PSBOOK_QWEN_TOKENIZER" if env and Path(env).expanduser() == tok.path
                         else "the Hugging Face cache")
                print(f"[psbook.corpus] tokenizer: Qwen2.5 ({tok.vocab_size} tokens) from "
                      f"{where}")
            return tok
        if kind == "qwen":
            raise ValueError("kind='qwen': the Qwen2.5 tokenizer is not in the local Hugging "
                             "Face cache and the Hub is unreachable; use kind='bpe' or "
                             "set PSBOOK_QWEN_TOKENIZER to a tokenizer.json")
        if verbose:
            print("[psbook.corpus] Qwen2.5 tokenizer not available offline: a byte-level BPE")
    if kind in ("auto", "bpe"):
        return train_bpe(sources, vocab_size, max_chars, verbose=verbose)
    from .streams import source_fingerprint
    cfg = {"sources": [source_key(s) for s in sources], "vocab_size": vocab_size,
           "max_chars": max_chars, "data": [source_fingerprint(s) for s in sources]}

    def fit():
        return WordTokenizer.fit((d for s in sources for d in documents(s, max_chars)),
                                 vocab_size)
    return load_or_compute("word_tokenizer", cfg, fit, verbose=verbose)
