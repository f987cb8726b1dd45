"""Helpers shared by the test modules."""

import importlib
import os

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
