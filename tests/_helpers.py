"""Helpers shared by the test modules."""

import importlib
import os

import numpy as np
import pytest


def require(module: str):
    """Import ``module`` for a test: skipped when it is missing on a developer's machine, but a
    failure under CI (``CI=true``), where `.ci/run` installs every extra the tests use."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"{module} is not installed, but CI installs it (.ci/run, the "
                        f"psbook[pretrained] extra): {e}")
        pytest.skip(f"{module} is not installed: {e}")


class CharTokenizer:
    """A tokenizer of ASCII characters (vocabulary 128) for corpus-counting tests."""
    name = "chars"
    vocab_size = 128

    def encode_batch(self, texts):
        return [np.frombuffer(t.encode("ascii", "ignore"), dtype=np.uint8).astype(np.int64)
                for t in texts]


class FakeCharModel:
    """What psbook.align needs of a model: a tokenizer, a vocabulary and embeddings."""
    name = "fake-chars"
    vocab_size = 128
    tied = True
    W_U = None

    def __init__(self):
        self.tokenizer = CharTokenizer()
        self.W_E = np.random.default_rng(0).normal(size=(128, 8))


def word_text(n=3000, seed=0):
    """``n`` random words of a 16-word vocabulary, one line."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "one", "two", "three", "sun", "moon", "star",
             "red", "blue", "green", "cat", "dog", "bird"]
    return " ".join(rng.choice(words, size=n)) + "\n"


@pytest.fixture
def course_env(tmp_path, monkeypatch):
    """A fresh course-check state: an empty cache, lenient checks, no exercise cell recorded
    (request it, e.g. from an autouse fixture of the test module)."""
    from psbook.course.checks import _base
    monkeypatch.setenv("PSBOOK_CACHE", str(tmp_path))
    monkeypatch.delenv("PSBOOK_CHECK_STRICT", raising=False)
    _base._UNFINISHED.clear()
    _base._RAN.clear()


_TINY_RUN = {}


def tiny_f_add_namespace():
    """A notebook namespace holding one short tiny-preset f_add run (trained once per process)
    as chapter 05's exercises name it: ``res``, ``task``, ``zipf_res``."""
    if "r" not in _TINY_RUN:
        from psbook.synthetic import experiments
        _TINY_RUN["r"] = experiments.run("f_add", preset="tiny", steps=60)
    r = _TINY_RUN["r"]
    return {"res": r, "task": r.task, "zipf_res": r}
