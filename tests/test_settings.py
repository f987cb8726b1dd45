"""psbook.settings: every PSBOOK_* variable validated whatever else is set, the gpu preset on a
CPU machine announced, and the foundations (settings, presets, validation, cache, parallel,
progress) importing nothing above them and not each other in a cycle."""

import ast
import warnings
from pathlib import Path

import pytest

from psbook import presets, settings
from psbook._validate import check_environment

SRC = Path(__file__).resolve().parents[1] / "src" / "psbook"
FOUNDATIONS = {"settings", "presets", "_validate", "cache", "cache_format", "atomic", "parallel",
               "progress", "display"}


@pytest.fixture
def clean_env(monkeypatch):
    import os
    for k in list(os.environ):
        if k.startswith("PSBOOK_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    return monkeypatch


def _imports(path: Path) -> set:
    """The psbook modules ``path`` imports, at any depth of the file, as absolute dotted names
    below psbook (``"presets"``, ``"corpus.textfiles"``; ``"__version__"`` is the package's
    version string)."""
    pkg = list(path.relative_to(SRC).parent.parts)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
            elif (node.module or "").split(".")[0] == "psbook":
                base = []
                node_mod = node.module.split(".", 1)[1] if "." in node.module else ""
                out.add(node_mod) if node_mod else out.update(a.name for a in node.names)
                continue
            else:
                continue
            mod = ".".join(base + ([node.module] if node.module else []))
            if mod:
                out.add(mod)
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".", 1)[1] for a in node.names
                       if a.name.startswith("psbook."))
    return out


def _psbook_imports(path: Path) -> set:
    """The top-level psbook modules ``path`` imports."""
    return {m.split(".")[0] for m in _imports(path)}


def test_settings_imports_nothing_from_psbook():
    assert _psbook_imports(SRC / "settings.py") == set()


def test_foundations_import_no_module_above_them_and_have_no_cycle():
    graph = {m: _psbook_imports(SRC / f"{m}.py") for m in FOUNDATIONS}
    for m, deps in graph.items():
        # "__version__" is the package's version string (psbook/__init__.py), not a module
        above = deps - FOUNDATIONS - {"__version__", "preset_sizes"}   # preset_sizes: tables of data
        assert not above, f"{m} imports {sorted(above)}, above the foundations"

    def reach(start, seen):
        for d in graph.get(start, ()):
            if d == "__version__" or d in seen:
                continue
            seen.add(d)
            reach(d, seen)
        return seen

    for m in FOUNDATIONS:
        assert m not in reach(m, set()), f"{m} is in an import cycle: {graph}"


def test_corpus_reads_text_files_without_importing_align():
    for f in (SRC / "corpus").glob("*.py"):
        assert "align" not in _psbook_imports(f), f.name
    assert "corpus.textfiles" in _imports(SRC / "corpus" / "sources.py")


@pytest.mark.parametrize("var, value, msg", [
    ("PSBOOK_DEVICE", "mps", r"PSBOOK_DEVICE must be one of \['cpu', 'cuda'\].*'mps'.*MPS"),
    ("PSBOOK_CORPUS", "no-such-corpus", r"PSBOOK_CORPUS must name a corpus source.*no-such"),
    ("PSBOOK_CORPUS", "local:", r"PSBOOK_CORPUS must name a corpus source"),
    ("PSBOOK_SECOND_CORPUS", "maybe", r"PSBOOK_SECOND_CORPUS must name a corpus source"),
    ("PSBOOK_SECOND_CORPUS_SEED", "-1", r"PSBOOK_SECOND_CORPUS_SEED must be"),
    ("PSBOOK_WORKERS", "many", r"PSBOOK_WORKERS must be a positive integer"),
    ("PSBOOK_PROGRESS", "loud", r"PSBOOK_PROGRESS must be one of"),
])
@pytest.mark.parametrize("preset", ["", "tiny", "gpu"])
def test_every_variable_is_checked_whatever_preset_is_named(clean_env, var, value, msg, preset):
    if preset:
        clean_env.setenv("PSBOOK_PRESET", preset)
    clean_env.setenv(var, value)
    with pytest.raises(ValueError, match=msg):
        check_environment()
    with pytest.raises(ValueError, match=msg):
        presets.get_preset("tiny")


def test_corpus_variables_accept_source_names_and_check_local_folders(clean_env, tmp_path):
    (tmp_path / "mine").mkdir()
    clean_env.setenv("PSBOOK_DATA", str(tmp_path))
    for ok in ("pydoc", "stdlib", "pile:Github", "local:mine"):
        clean_env.setenv("PSBOOK_CORPUS", ok)
        check_environment()
    clean_env.setenv("PSBOOK_CORPUS", "local:absent")
    with pytest.raises(ValueError, match=r"PSBOOK_CORPUS='local:absent'.*no folder 'absent'"):
        check_environment()
    clean_env.setenv("PSBOOK_CORPUS", "pydoc")
    for ok in ("1", "off", "local:mine"):
        clean_env.setenv("PSBOOK_SECOND_CORPUS", ok)
        check_environment()


def test_cuda_device_without_a_gpu_is_refused_at_startup(clean_env):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    clean_env.setenv("PSBOOK_PRESET", "tiny")
    clean_env.setenv("PSBOOK_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="PSBOOK_DEVICE=cuda.*no usable CUDA"):
        check_environment()


def test_the_gpu_preset_on_a_cpu_machine_warns_once(clean_env):
    import torch
    clean_env.setattr(torch.cuda, "is_available", lambda: False)
    clean_env.setattr(presets, "_WARNED_GPU", False)
    clean_env.setenv("PSBOOK_PRESET", "gpu")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        p = presets.get_preset()
        presets.get_preset()
    msgs = [str(w.message) for w in got if "gpu preset runs on the CPU" in str(w.message)]
    assert p.name == "gpu" and p.device == "cpu"
    assert len(msgs) == 1 and "PSBOOK_PRESET=cpu" in msgs[0]
    clean_env.setattr(presets, "_WARNED_GPU", False)
    with warnings.catch_warnings(record=True) as got:   # code that names the preset reads its
        warnings.simplefilter("always")                # sizes (chapter 01, the Compute notes)
        presets.get_preset("gpu", device="cpu")
        presets.get_preset("gpu")
        presets.get_preset(device="cpu")
    assert not [w for w in got if "gpu preset" in str(w.message)]
    clean_env.setenv("PSBOOK_PRESET", "cpu")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        presets.get_preset()
    assert not [w for w in got if "gpu preset" in str(w.message)]


def test_old_import_places_still_work():
    from psbook._validate import KNOWN_ENV, max_bytes
    from psbook.presets import DEVICES, PRESET_NAMES, device, env_seed, preset_name
    assert KNOWN_ENV is settings.KNOWN_ENV and max_bytes is settings.max_bytes
    assert (DEVICES, PRESET_NAMES) == (settings.DEVICES, settings.PRESET_NAMES)
    assert (device, env_seed, preset_name) == (settings.device, settings.env_seed,
                                               settings.preset_name)
