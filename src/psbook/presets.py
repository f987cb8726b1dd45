"""Presets (tiny / cpu / gpu), device choice and seeding (DESIGN §5).

One code path for every preset; only sizes change. The preset is chosen by
``PSBOOK_PRESET``; otherwise ``CI=true`` selects ``tiny``, a CUDA device selects ``gpu``,
and anything else ``cpu``.

* ``tiny`` -- CI and quick checks: seconds per chapter.
* ``cpu``  -- the default on a laptop or a CPU Colab runtime: at most ~3 min per chapter
  on 2 cores.
* ``gpu``  -- paper-like scale, on one GPU.

Each chapter reads the sizes it needs from the preset's sections (``preset.signatures``,
``preset.synthetic``, ``preset.theory``, ``preset.lm``); every section is a plain dict, so a
reader can override one value: ``preset = get_preset("cpu", lm={"steps": 500})``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Preset", "PRESETS", "get_preset", "preset_name", "device", "seed_everything",
           "describe"]

PRESET_NAMES = ("tiny", "cpu", "gpu")


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    seed: int = 0
    # chapter 02 / 09: counting signatures of real text
    signatures: dict = field(default_factory=dict)
    # chapters 05-08: synthetic tasks (sizes, steps, widget grids)
    synthetic: dict = field(default_factory=dict)
    # chapters 03-04: numerical checks of the gradient-flow theory
    theory: dict = field(default_factory=dict)
    # chapters 09-11: corpora, tokenizer, the small Qwen2.5-style model
    lm: dict = field(default_factory=dict)

    def __str__(self) -> str:  # what the setup cell of every chapter prints
        return f"preset={self.name} device={self.device} seed={self.seed}"


_SECTIONS = {
    "tiny": dict(
        signatures=dict(max_chars=400_000, vocab_words=2_000, top_k=300),
        synthetic=dict(),
        theory=dict(),
        lm=dict(),
    ),
    "cpu": dict(
        signatures=dict(max_chars=2_500_000, vocab_words=5_000, top_k=500),
        synthetic=dict(),
        theory=dict(),
        lm=dict(),
    ),
    "gpu": dict(
        signatures=dict(max_chars=50_000_000, vocab_words=20_000, top_k=1_000),
        synthetic=dict(),
        theory=dict(),
        lm=dict(),
    ),
}


def device() -> str:
    """'cuda' when a CUDA GPU is usable, else 'cpu' (torch is imported lazily)."""
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


def preset_name() -> str:
    """The preset this process uses: PSBOOK_PRESET, else tiny under CI, gpu with CUDA, else cpu."""
    env = os.environ.get("PSBOOK_PRESET", "").strip().lower()
    if env:
        if env not in PRESET_NAMES:
            raise ValueError(f"PSBOOK_PRESET must be one of {PRESET_NAMES}; got {env!r}")
        return env
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return "tiny"
    return "gpu" if device() == "cuda" else "cpu"


def get_preset(name: str | None = None, **overrides) -> Preset:
    """The named preset (default: :func:`preset_name`), with section values overridden.

    ``overrides`` maps a section name to a dict of values, e.g. ``lm={"steps": 200}``, or
    sets ``seed``/``device`` directly.
    """
    name = preset_name() if name is None else name
    if name not in PRESET_NAMES:
        raise ValueError(f"name must be one of {PRESET_NAMES}; got {name!r}")
    sections = {k: dict(v) for k, v in _SECTIONS[name].items()}
    p = Preset(name=name, device=device(), **sections)
    top = {}
    for key, val in overrides.items():
        if key in sections:
            if not isinstance(val, dict):
                raise TypeError(f"override {key} must be a dict of values; got "
                                f"{type(val).__name__}")
            unknown = set(val) - set(sections[key]) if sections[key] else set()
            if unknown:
                raise ValueError(f"unknown {key} setting(s) {sorted(unknown)}; known: "
                                 f"{sorted(sections[key])}")
            getattr(p, key).update(val)
        elif key in ("seed", "device"):
            top[key] = val
        else:
            raise ValueError(f"unknown override {key!r}; expected one of "
                             f"{sorted(list(sections) + ['seed', 'device'])}")
    return replace(p, **top) if top else p


PRESETS = {n: (lambda n=n: get_preset(n)) for n in PRESET_NAMES}


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover
        pass


def describe(preset: Preset | None = None) -> str:
    """One line for a chapter's setup cell: preset, device, seed, versions."""
    import platform

    p = get_preset() if preset is None else preset
    try:
        import torch
        tv = torch.__version__
        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        tv, threads = "absent", 0
    from . import __version__
    return (f"psbook {__version__} | {p} | torch {tv} ({threads} threads) | "
            f"python {platform.python_version()}")
