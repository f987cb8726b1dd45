"""Presets (tiny / cpu / gpu / full), device choice and seeding (DESIGN §5).

One code path for every preset; only sizes change. The preset is chosen by
``PSBOOK_PRESET``; otherwise ``CI=true`` selects ``tiny``, a CUDA device selects ``gpu``,
and anything else ``cpu``. ``full`` is never chosen automatically: only by name.

* ``tiny`` -- CI and quick checks: seconds per chapter.
* ``cpu``  -- the default on a laptop or a CPU Colab runtime: at most ~3 min per chapter
  on 2 cores.
* ``gpu``  -- what a reader with a Colab T4 (16 GB) has: at most ~5 min per chapter.
* ``full`` -- the largest sizes (a reconstruction of the paper's scale), on one large GPU;
  chosen only with ``PSBOOK_PRESET=full``.

Each chapter reads the sizes it needs from the preset's sections (``preset.signatures``,
``preset.synthetic``, ``preset.theory``, ``preset.lm``); every section is a plain dict, so a
reader can override one value: ``preset = get_preset("cpu", lm={"train": {"steps": 500}})``.
The tables themselves are in :mod:`psbook.preset_sizes`, one module per domain.
``PSBOOK_SEED`` overrides the seed of every preset; ``preset.seeds()`` lists the seeds a claim
is measured over (``n_seeds`` of them: 3 in tiny, 5 in the others).
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Preset", "PRESETS", "PRESET_NAMES", "AUTO_PRESETS", "get_preset", "preset_name",
           "device", "seed_everything", "describe", "env_seed", "size_table"]

# the environment's readers live in psbook.settings (the bottom of the package); the names
# stay importable from here
from . import settings
from .settings import (AUTO_PRESETS, DEVICES, PRESET_NAMES, device,  # noqa: F401
                       env_seed, preset_name)


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    seed: int = 0
    # how many seeds each headline claim is measured over (DESIGN §4): seeds() lists them
    n_seeds: int = 3
    # chapter 02 / 09: counting signatures of real text
    signatures: dict = field(default_factory=dict)
    # chapters 05-08: synthetic tasks (sizes, steps, widget grids)
    synthetic: dict = field(default_factory=dict)
    # chapters 03-04: numerical checks of the gradient-flow theory
    theory: dict = field(default_factory=dict)
    # chapters 09-11: corpora, tokenizer, the small Qwen2.5-style model
    lm: dict = field(default_factory=dict)
    # chapter 13: interventions on the data, and the gradient flow along training
    interventions: dict = field(default_factory=dict)

    def __str__(self) -> str:  # what the setup cell of every chapter prints
        return f"preset={self.name} device={self.device} seed={self.seed} n_seeds={self.n_seeds}"

    def seeds(self, n: int | None = None) -> list[int]:
        """The seeds a claim is measured over: ``seed, seed + 1, ...`` (``n_seeds`` of them).

        They start at :attr:`seed`, so ``PSBOOK_SEED`` moves every seed of a run at once.
        """
        n = self.n_seeds if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        return [int(self.seed) + i for i in range(int(n))]


# the sizes of every preset, one module per domain (synthetic, language, interventions)
from .preset_sizes import SECTIONS as _SECTIONS  # noqa: E402


def _check_override_type(old, new, where: str) -> None:
    """An override must have the kind of value it replaces (None replaces freely)."""
    def bad(kind):
        return TypeError(f"override {where} must be {kind} like the preset's value {old!r}; "
                         f"got {new!r}")
    if old is None:
        return
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise bad("True or False")
    elif isinstance(old, (int, np.integer)):
        if isinstance(new, bool) or not isinstance(new, (int, np.integer)):
            raise bad("an integer")
    elif isinstance(old, (float, np.floating)):
        if isinstance(new, bool) or not isinstance(new, (int, float, np.integer, np.floating)):
            raise bad("a number")
    elif isinstance(old, str):
        if not isinstance(new, str):
            raise bad("a string")
    elif isinstance(old, (list, tuple)):
        if not isinstance(new, (list, tuple)):
            raise bad("a list")
    elif isinstance(old, dict) and not isinstance(new, dict):
        raise bad("a dict of settings")


def _merge(base: dict, val: dict, where: str) -> None:
    """Merge ``val`` into ``base`` in place; nested dicts merge key by key; unknown keys and
    values of another kind than the preset's raise."""
    unknown = set(val) - set(base)
    if unknown:
        raise ValueError(f"unknown {where} setting(s) {sorted(map(str, unknown))}; known: "
                         f"{sorted(map(str, base))}")
    for k, v in val.items():
        _check_override_type(base.get(k), v, f"{where}.{k}")
        if isinstance(base.get(k), dict) and isinstance(v, dict):
            _merge(base[k], v, f"{where}.{k}")
        else:
            base[k] = copy.deepcopy(v)


def get_preset(name: str | None = None, **overrides) -> Preset:
    """The named preset (default: :func:`preset_name`), with section values overridden.

    ``overrides`` maps a section name to a dict of values, e.g. ``lm={"train": {"steps": 200}}``;
    nested sections merge key by key (``synthetic={"f_add": {"n_keys": 10}}`` keeps the other
    f_add sizes). ``seed``, ``n_seeds`` and ``device`` are set directly. Every call returns a
    deep copy: editing one preset never changes another. ``PSBOOK_SEED`` overrides the seed
    (an explicit ``seed=`` override wins over it).
    """
    if name is not None and name not in PRESET_NAMES:
        raise ValueError(f"name must be one of {PRESET_NAMES}; got {name!r}")
    from ._validate import check_environment
    check_environment()           # every PSBOOK_* variable, once, before any work
    chosen = name is None         # the preset this run uses (PSBOOK_PRESET), not one named
    name = settings.preset_name() if name is None else name
    dev = settings.device()
    if name == "gpu" and dev != "cuda" and chosen and "device" not in overrides:
        # only for the preset a notebook runs: code that names presets reads their sizes
        # (chapter 01's table, lm.model_sizes for the Compute notes)
        _warn_gpu_preset_on_cpu()
    from .parallel import limit_threads
    limit_threads()               # never more torch threads than usable cores
    table = copy.deepcopy(_SECTIONS[name])
    n_seeds = table.pop("n_seeds")
    sections = table
    seed = settings.env_seed()
    p = Preset(name=name, device=dev, n_seeds=n_seeds,
               seed=0 if seed is None else seed, **sections)
    top = {}
    for key, val in overrides.items():
        if key in sections:
            if not isinstance(val, dict):
                raise TypeError(f"override {key} must be a dict of values; got "
                                f"{type(val).__name__}")
            _merge(getattr(p, key), val, key)
        elif key in ("seed", "n_seeds"):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0 \
                    or (key == "n_seeds" and val < 1):
                raise ValueError(f"override {key} must be a {'positive' if key == 'n_seeds' else 'non-negative'} "
                                 f"int; got {val!r}")
            top[key] = int(val)
        elif key == "device":
            if not isinstance(val, str) or not val.strip():
                raise TypeError(f"override device must be a device name such as 'cpu' or "
                                f"'cuda'; got {val!r}")
            top[key] = val
        else:
            raise ValueError(f"unknown override {key!r}; expected one of "
                             f"{sorted(list(sections) + ['seed', 'n_seeds', 'device'])}")
    return replace(p, **top) if top else p


PRESETS = {n: (lambda n=n: get_preset(n)) for n in PRESET_NAMES}

#: the sizes :func:`size_table` shows: (label, path into a preset's size table)
SIZE_ROWS = [
    ("seeds per claim", ("n_seeds",)),
    ("characters counted (ch 02)", ("signatures", "max_chars")),
    ("vocabulary words (ch 02)", ("signatures", "vocab_words")),
    ("theory width d (ch 03-04)", ("theory", "d")),
    ("theory training steps", ("theory", "steps")),
    ("synthetic width d (ch 05-08)", ("synthetic", "model", "d")),
    ("FFN hidden units", ("synthetic", "model", "hidden")),
    ("f_add training steps", ("synthetic", "train", "f_add", "linear", "steps")),
    ("LM layers (ch 10-13)", ("lm", "model", "n_layers")),
    ("LM width d_model", ("lm", "model", "d_model")),
    ("LM training steps", ("lm", "train", "steps")),
    ("LM batch (sequences)", ("lm", "train", "batch_size")),
    ("LM sequence length", ("lm", "train", "seq_len")),
    ("LM corpus characters", ("lm", "corpus_max_chars")),
]


def size_table(names=None):
    """A :class:`~psbook.display.Table` of the main sizes of each preset (a row per size).

    Book: chapter 01 (Presets). One column per preset in ``names`` (default: every preset);
    the rows are :data:`SIZE_ROWS`. Every other value is in the preset's sections
    (``get_preset("cpu").lm``). Reads the size tables directly, so it warns about nothing and
    selects no device.
    """
    from .display import Table

    names = list(PRESET_NAMES if names is None else names)
    unknown = [n for n in names if n not in PRESET_NAMES]
    if unknown:
        raise ValueError(f"names must be presets from {PRESET_NAMES}; got {unknown}")

    def value(name, path):
        v = _SECTIONS[name]
        for key in path:
            v = v[key]
        return f"{v:,}" if isinstance(v, int) else str(v)

    rows = [[label] + [value(n, path) for n in names] for label, path in SIZE_ROWS]
    return Table(rows, columns=["size"] + names,
                 caption="The main sizes of each preset.",
                 note='Every value: the sections of get_preset(name), e.g. '
                      'get_preset("cpu").lm.')

_WARNED_GPU = False


def _warn_gpu_preset_on_cpu() -> None:
    """Once per process: the gpu preset was asked for on a machine without a CUDA GPU."""
    global _WARNED_GPU
    if _WARNED_GPU:
        return
    _WARNED_GPU = True
    import warnings
    warnings.warn("psbook: the gpu preset runs on the CPU here (torch finds no CUDA GPU). Its "
                  "sizes are meant for a GPU: a language-model training step does about 500x "
                  "the arithmetic of the cpu preset's (d_model 256 vs 64, 4 vs 2 layers, 32x256 "
                  "vs 8x64 tokens per batch) for 2.4x the steps, so chapters 10, 11 and 13 take "
                  "hours instead of minutes. Use PSBOOK_PRESET=cpu on this machine.",
                  UserWarning, stacklevel=3)


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32); got {seed!r}")
    # PYTHONHASHSEED is not set: it only takes effect when a Python process starts.
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover
        pass


def describe(preset: Preset | None = None) -> str:
    """One short line for a chapter's setup cell: the preset with its device and seeds, the
    psbook version and whether the data folder was found, e.g. ``preset tiny (cpu, seeds 0-2)
    | psbook 0.2.0 | data: PSBOOK_DATA (found)``.

    At most 80 characters (the version is left out before the line gets longer), and no path
    of the machine: the data folder is named by its variable, never by where it is.
    """
    p = get_preset() if preset is None else preset
    seeds = p.seeds()
    seeds = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    folder = os.path.expanduser(os.environ.get("PSBOOK_DATA", "").strip())
    if not folder:
        data = "data: no PSBOOK_DATA"
    else:
        data = f"data: PSBOOK_DATA ({'found' if os.path.isdir(folder) else 'not found'})"
    from . import __version__
    line = f"preset {p.name} ({p.device}, {seeds}) | psbook {__version__} | {data}"
    return line if len(line) <= 80 else f"preset {p.name} ({p.device}, {seeds}) | {data}"
