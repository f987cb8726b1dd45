"""Every ``PSBOOK_*`` environment variable: its name, what it accepts, and how it is read.

The bottom of the package: this module imports nothing from psbook at import time, so the
modules that use a setting (:mod:`psbook.presets`, :mod:`psbook.parallel`,
:mod:`psbook._validate`, :mod:`psbook.corpus.sources`) import it from here and never from each
other. Each reader raises ``ValueError`` naming the variable, what it accepts and what it
holds; :func:`check_variables` runs them all at once, whatever else is set
(:func:`psbook._validate.check_environment` adds ``PSBOOK_CACHE``, whose rules live with the
cache, and is what chapters run through :func:`psbook.presets.get_preset` and ``psbook align``
at startup).
"""

from __future__ import annotations

import math
import os
import warnings

__all__ = ["KNOWN_ENV", "FLAG_WORDS", "PRESET_NAMES", "AUTO_PRESETS", "DEVICES", "SOURCE_NAMES",
           "MAX_ENV_SEED", "preset_name", "env_seed", "device", "max_bytes", "workers_setting",
           "flag", "source_setting", "check_variables", "DEFAULT_MAX_BYTES"]

#: every PSBOOK_* variable psbook reads; anything else starting with PSBOOK_ is a typo
KNOWN_ENV = ("PSBOOK_PRESET", "PSBOOK_SEED", "PSBOOK_DATA", "PSBOOK_CACHE", "PSBOOK_MAX_BYTES",
             "PSBOOK_PROGRESS", "PSBOOK_ONLINE", "PSBOOK_CHECK_STRICT",
             "PSBOOK_BROWSER_REQUIRED", "PSBOOK_QWEN_TOKENIZER", "PSBOOK_CHROMIUM",
             "PSBOOK_HTML_DIR", "PSBOOK_DEVICE", "PSBOOK_CORPUS", "PSBOOK_SECOND_CORPUS",
             "PSBOOK_SECOND_CORPUS_SEED", "PSBOOK_WORKERS")
#: what an on/off variable accepts ("" is unset)
FLAG_WORDS = ("", "0", "1", "true", "false", "yes", "no", "on", "off")
_FLAGS = ("PSBOOK_PROGRESS", "PSBOOK_ONLINE", "PSBOOK_CHECK_STRICT", "PSBOOK_BROWSER_REQUIRED")
PRESET_NAMES = ("tiny", "cpu", "gpu", "full")
#: chosen automatically (CI, CUDA, else); "full" only by name
AUTO_PRESETS = ("tiny", "cpu", "gpu")
DEVICES = ("cpu", "cuda")
#: corpus source names (besides ``local:NAME`` and ``pile:SET``); see psbook.corpus.sources
SOURCE_NAMES = ("wikipedia", "math", "code", "stdlib", "arithmetic", "pydoc")
#: PSBOOK_SEED leaves room for the seeds derived from it (seed + k): all stay below 2**32
MAX_ENV_SEED = 2**32 - 2**10
DEFAULT_MAX_BYTES = 4 << 30   # 4 GiB


def _raw(var: str) -> str:
    return os.environ.get(var, "").strip()


def flag(var: str, default: bool = False) -> bool:
    """An on/off variable (one of :data:`FLAG_WORDS`); unset gives ``default``."""
    val = _raw(var).lower()
    if val not in FLAG_WORDS:
        raise ValueError(f"{var} must be one of 0/1, true/false, yes/no, on/off; got "
                         f"{os.environ[var]!r}")
    if not val:
        return default
    return val in ("1", "true", "yes", "on")


def device() -> str:
    """``PSBOOK_DEVICE`` (``cpu`` or ``cuda``) when set, else 'cuda' when a CUDA GPU is
    usable, else 'cpu' (torch is imported lazily). ``PSBOOK_DEVICE=cuda`` without a usable
    CUDA GPU is an error (``RuntimeError``), not a silent fall-back to the CPU."""
    env = _raw("PSBOOK_DEVICE")
    _check_device_name(env)
    if env.lower() == "cpu":
        return "cpu"
    try:
        import torch
        cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        cuda = False
    if env.lower() == "cuda" and not cuda:
        raise RuntimeError("PSBOOK_DEVICE=cuda, but torch finds no usable CUDA GPU "
                           "(torch.cuda.is_available() is False); unset PSBOOK_DEVICE or set "
                           "it to cpu")
    if env:
        return env.lower()
    return "cuda" if cuda else "cpu"


def _check_device_name(env: str) -> None:
    if not env or env.lower() in DEVICES:
        return
    extra = (" (Apple's MPS backend is not supported: psbook's trainings are checked on CPUs "
             "and CUDA only; use cpu)" if env.lower().startswith("mps") else "")
    raise ValueError(f"PSBOOK_DEVICE must be one of {list(DEVICES)} (or unset: CUDA when "
                     f"available); got {env!r}{extra}")


def preset_name() -> str:
    """The preset this process uses: PSBOOK_PRESET, else tiny under CI, gpu with CUDA, else cpu.

    ``full`` is returned only when ``PSBOOK_PRESET=full`` names it (never automatically).
    """
    env = _raw("PSBOOK_PRESET").lower()
    if env:
        if env not in PRESET_NAMES:
            raise ValueError(f"PSBOOK_PRESET must be one of {PRESET_NAMES}; got {env!r}")
        return env
    if _raw("CI").lower() in ("1", "true", "yes"):
        return "tiny"
    return "gpu" if device() == "cuda" else "cpu"


def _seed_var(var: str) -> int | None:
    raw = _raw(var)
    if not raw:
        return None
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"{var} must be a non-negative integer; got {raw!r}") from None
    if not 0 <= seed < MAX_ENV_SEED:
        raise ValueError(f"{var} must be an integer in [0, {MAX_ENV_SEED}): the seeds "
                         f"derived from it (seed, seed + 1, ...) must stay below 2**32; got {raw}")
    return seed


def env_seed() -> int | None:
    """``PSBOOK_SEED`` as an int (it overrides every preset's seed for a whole run), or None."""
    return _seed_var("PSBOOK_SEED")


def max_bytes() -> int:
    """The largest single allocation psbook makes: ``$PSBOOK_MAX_BYTES`` (bytes; suffixes
    K, M, G, T in powers of 1024 are accepted, e.g. ``16G``), default 4 GiB."""
    env = _raw("PSBOOK_MAX_BYTES")
    if not env:
        return DEFAULT_MAX_BYTES
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    txt = env.upper().removesuffix("IB").removesuffix("B")
    k = mult.get(txt[-1:], 1)
    try:
        val = float(txt[:-1] if k > 1 else txt) * k
    except ValueError:
        val = float("nan")
    # A fraction of a byte (PSBOOK_MAX_BYTES=0.5) would silently become 0: refuse it.
    if not math.isfinite(val) or val < 1 or (k == 1 and val != int(val)):
        raise ValueError(f"PSBOOK_MAX_BYTES must be a whole number of bytes >= 1 such as "
                         f"4294967296, or a size such as 4G or 512M; got {env!r}")
    return int(val)


def workers_setting() -> int | None:
    """``PSBOOK_WORKERS`` as an int, or None for ``auto`` (see :mod:`psbook.parallel`)."""
    raw = _raw("PSBOOK_WORKERS").lower()
    if raw in ("", "auto"):
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"PSBOOK_WORKERS must be a positive integer or 'auto'; got "
                         f"{os.environ['PSBOOK_WORKERS']!r}")
    return n


def _data_folder() -> str | None:
    data = os.path.expanduser(_raw("PSBOOK_DATA"))
    return data if data and os.path.isdir(data) else None


def source_setting(var: str) -> str | None:
    """A corpus source name held by ``var`` (``PSBOOK_CORPUS``, ``PSBOOK_SECOND_CORPUS``), or
    None when unset: one of :data:`SOURCE_NAMES`, ``pile:SET`` or ``local:NAME`` (a folder of
    ``$PSBOOK_DATA``, checked when that folder exists)."""
    env = _raw(var)
    if not env:
        return None
    ok = env in SOURCE_NAMES or (env.startswith("pile:") and env[5:].strip()) or \
        (env.startswith("local:") and env[6:].strip())
    if not ok:
        raise ValueError(f"{var} must name a corpus source (one of {', '.join(SOURCE_NAMES)}, "
                         f"pile:<set name>, local:<folder of PSBOOK_DATA>); got {env!r}")
    data = _data_folder()
    if env.startswith("local:") and data and not os.path.isdir(os.path.join(data, env[6:])):
        raise ValueError(f"{var}={env!r}: the data folder PSBOOK_DATA={data!r} holds no folder "
                         f"{env[6:]!r}")
    return env


def _check_second_corpus() -> None:
    """``PSBOOK_SECOND_CORPUS`` (the opt-in of tests/test_second_corpus.py): an on/off word or a
    corpus source name; ``PSBOOK_SECOND_CORPUS_SEED`` a seed."""
    if _raw("PSBOOK_SECOND_CORPUS").lower() not in FLAG_WORDS:
        source_setting("PSBOOK_SECOND_CORPUS")
    _seed_var("PSBOOK_SECOND_CORPUS_SEED")


def _check_paths() -> None:
    data = _raw("PSBOOK_DATA")
    if data and os.path.exists(os.path.expanduser(data)) and \
            not os.path.isdir(os.path.expanduser(data)):
        raise ValueError(f"PSBOOK_DATA must be a folder of corpora; {data!r} is a file")
    tok = _raw("PSBOOK_QWEN_TOKENIZER")
    if tok and not os.path.exists(os.path.expanduser(tok)):
        raise ValueError(f"PSBOOK_QWEN_TOKENIZER must name a tokenizer.json or a folder holding "
                         f"one; {tok!r} does not exist")


def check_variables() -> None:
    """Validate every ``PSBOOK_*`` environment variable but ``PSBOOK_CACHE`` (see
    :func:`psbook._validate.check_environment`) at once, whatever else is set, so that a
    bad value stops the run before any work with one line naming the variable, what it
    accepts and what it holds -- not an hour later, or never (``PSBOOK_MAX_BYTES=0.5`` used to
    become 0). ``PSBOOK_DEVICE=cuda`` without a CUDA GPU raises ``RuntimeError``; every other
    bad value ``ValueError``."""
    env = os.environ
    unknown = sorted(k for k in env if k.startswith("PSBOOK_") and k not in KNOWN_ENV)
    if unknown:        # a warning, not an error: a newer psbook may read more variables
        warnings.warn(f"psbook: unknown environment variable(s) {', '.join(unknown)} are "
                      f"ignored; psbook reads {', '.join(KNOWN_ENV)} (a typo?)", UserWarning,
                      stacklevel=3)
    preset = _raw("PSBOOK_PRESET").lower()
    if preset and preset not in PRESET_NAMES:
        preset_name()                               # raises naming PSBOOK_PRESET
    _check_device_name(_raw("PSBOOK_DEVICE"))      # checked even when a preset is named
    if _raw("PSBOOK_DEVICE").lower() == "cuda":
        device()                                    # RuntimeError without a CUDA GPU
    env_seed()
    max_bytes()
    workers_setting()
    for var in _FLAGS:
        flag(var)
    _check_paths()
    source_setting("PSBOOK_CORPUS")
    _check_second_corpus()
