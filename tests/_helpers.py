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
