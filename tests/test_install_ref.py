"""The install line of every generated notebook works for a reader of main: no tag needed.

Every setup cell (book/*.ipynb, course/notebooks/**) installs
`psbook[<extras>] @ git+<repository.url>@<sha>`, the SHA written by `make pair`
(tools/release.py --sync): the last commit that changed the package source. Here, on a
`git clone --no-tags` of this repository:

- the SHA exists in the clone and is an ancestor of its HEAD (main's history, not a tag's);
- the package source (src/, pyproject.toml) at the SHA equals HEAD's; else the notebooks are
  stale: run `make pair` (the integrator: after the last merge that touched src/);
- each distinct install line, with only the repository URL swapped for the clone, installs
  into a fresh virtual environment with pip 23.2 (Colab's pip; the oldest we support), quietly;
- a failed install shows exactly two lines: what failed and what to do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import release  # noqa: E402

OLDEST_PIP = "23.2"   # Colab's pip
STALE = ("notebooks are stale, run make pair (tools/release.py --sync); integrator: run it "
         "after the last merge that touched src/ or pyproject.toml, then commit")


def _git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _notebooks() -> list[Path]:
    return sorted(ROOT.glob("book/[0-9][0-9]-*.ipynb")) + \
        sorted(ROOT.glob("course/notebooks/*/[0-9][0-9]-*.ipynb"))


def _specs() -> dict:
    """{notebook: (spec, extras, url, ref)} of every generated notebook's setup cell."""
    out = {}
    for nb in _notebooks():
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                         if c["cell_type"] == "code")
        found = release.SPEC_RE.findall(code)
        assert len(found) == 1, (f"{nb.relative_to(ROOT)}: expected one install spec in the "
                                 f"setup cell, found {found}: run `make pair`")
        out[nb] = found[0]
    return out


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if _git("rev-parse", "--verify", "-q", "HEAD").returncode:
        pytest.skip("no git history here (an unpacked archive?): the install ref is a commit")
    dest = tmp_path_factory.mktemp("tagless") / "repo"
    r = subprocess.run(["git", "clone", "-q", "--no-tags", str(ROOT), str(dest)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _git("tag", "--list", cwd=dest).stdout.strip() == "", "the clone has tags"
    return dest


def test_every_notebook_installs_one_commit_that_a_tagless_clone_has(clone):
    specs = _specs()
    assert len(specs) >= 13, f"found only {len(specs)} notebooks with a setup cell"
    refs = {ref for _, _, _, ref in specs.values()}
    urls = {url for _, _, url, _ in specs.values()}
    assert urls == {release.repository_url()}, urls
    assert len(refs) == 1, f"the notebooks install different refs {sorted(refs)}: {STALE}"
    ref = refs.pop()
    assert re.fullmatch(r"[0-9a-f]{40}", ref), f"the install ref {ref!r} is not a commit SHA"
    assert _git("cat-file", "-e", f"{ref}^{{commit}}", cwd=clone).returncode == 0, (
        f"commit {ref} is not in a `git clone --no-tags` of the repository: {STALE}")
    assert _git("merge-base", "--is-ancestor", ref, "HEAD", cwd=clone).returncode == 0, (
        f"commit {ref} is not in the history of HEAD: {STALE}")
    assert release._package_trees(ref, clone) == release._package_trees("HEAD", clone), (
        f"the package source at {ref[:12]} differs from HEAD's: {STALE}")
    # a light default: each notebook installs the extras its chapter's front matter names, no
    # more (chapter 12: online + pretrained; the corpus chapters: pile; the others: none)
    by_name = {nb.name: [e for e in extras.split(",") if e] for nb, (_, extras, _, _) in
               specs.items()}
    for md in release.chapters():
        assert by_name[md.with_suffix(".ipynb").name] == release.chapter_extras(md), md.name
    assert {"online", "pretrained"} <= set(by_name["12-pretrained-models.ipynb"])
    assert by_name["01-reading-this-book.ipynb"] == []
    assert not [n for n, e in by_name.items() if "online" in e and not n.startswith("12-")], (
        "only chapter 12 needs transformers (psbook[online])")


def _pip_wheel() -> Path:
    cache = ROOT / "_build" / "pip-wheels"
    have = sorted(cache.glob(f"pip-{OLDEST_PIP}-*.whl"))
    if have:
        return have[0]
    import tempfile

    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:  # xdist workers may race: move whole
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            f"pip=={OLDEST_PIP}", "-d", tmp], capture_output=True, text=True)
        for whl in Path(tmp).glob("*.whl"):
            os.replace(whl, cache / whl.name)
    have = sorted(cache.glob(f"pip-{OLDEST_PIP}-*.whl"))
    if not have:
        msg = f"could not download pip=={OLDEST_PIP} from the registry: {r.stderr[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return have[0]


@pytest.fixture(scope="module")
def old_pip_venv(tmp_path_factory):
    """A fresh venv with pip 23.2. setuptools>=77 (pyproject's build requirement) comes from
    this interpreter when it has it (then --no-build-isolation: no network); else pip builds
    in isolation, from the registry."""
    wheel = _pip_wheel()
    venv = tmp_path_factory.mktemp("oldpip") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), str(wheel / "pip"), "install", "-q", "--no-index", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(py), "-m", "pip", "--version"], capture_output=True, text=True)
    assert out.stdout.startswith(f"pip {OLDEST_PIP} "), out.stdout
    isolation = ["--no-build-isolation"]
    try:
        import setuptools
        ok = int(setuptools.__version__.split(".")[0]) >= 77
    except ImportError:
        ok = False
    if ok:
        purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                  "['purelib'])"], capture_output=True, text=True).stdout.strip()
        (Path(purelib) / "_build_tools.pth").write_text(str(Path(setuptools.__file__).parents[1])
                                                         + "\n")
    else:
        isolation = []
    return py, isolation


def test_the_install_line_installs_from_a_tagless_clone_with_colabs_pip(clone, old_pip_venv):
    py, isolation = old_pip_venv
    specs = sorted({(spec, url) for spec, _, url, _ in _specs().values()})
    local = "file://localhost" + clone.as_posix()   # pip 23.2 rejects git+file:/// (no host)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    for spec, url in specs:
        line = spec.replace(url, local)
        # the setup cell's command: [python, -m, pip, install, -q, PSBOOK]; --no-deps (and
        # --no-build-isolation) only keep the test fast and offline
        cmd = [str(py), "-m", "pip", "install", "-q", "--no-deps", *isolation, line]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}{r.stderr}"
        noise = [ln for ln in (r.stdout + r.stderr).splitlines()
                 if re.search(r"deprecat|warning|error", ln, re.I)]
        assert not noise, f"the install of {line!r} is not silent:\n" + "\n".join(noise[:10])
        meta = subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; d = m.distribution('psbook'); "
             "print(d.version); print(d.read_text('direct_url.json'))"],
            capture_output=True, text=True)
        version, direct = meta.stdout.split("\n", 1)
        assert version == release.version(), meta.stdout + meta.stderr
        assert _specs_ref() in direct, f"installed from another commit: {direct}"


def test_the_installed_package_carries_the_code_corpus_snapshot(clone, old_pip_venv):
    """The offline code corpus is package data: a (non-editable) install of HEAD has the
    snapshot and its licence notice."""
    py, isolation = old_pip_venv
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *isolation,
                        "--force-reinstall", str(clone)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    files = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; "
         "print('\\n'.join(str(f) for f in m.distribution('psbook').files))"],
        capture_output=True, text=True).stdout.splitlines()
    assert "psbook/corpus/data/cpython-3.11.7-stdlib.tar.xz" in files, files[:20]
    assert "psbook/corpus/data/CPython-LICENSE.txt" in files


def _specs_ref() -> str:
    return next(iter(_specs().values()))[3]


FAKE_COLAB = textwrap.dedent('''\
    import sys, types
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="NoColor")
    shell.run_cell(open(sys.argv[1]).read())
    ''')


def _setup_head(tmp_path, url: str | None = None, ref: str | None = None) -> tuple[Path, str]:
    """The setup cell's head of chapter 02's notebook (as Colab runs it), with the repository
    URL and/or the commit swapped; returns the file and the install spec it holds."""
    nb = ROOT / "book" / "02-probability-signatures.ipynb"
    spec, _, old_url, old_ref = _specs()[nb]
    cell = next("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                if c["cell_type"] == "code" and "google.colab" in "".join(c["source"]))
    head = cell.split(release.MARKER)[0]
    new = spec
    if url:
        new = new.replace(old_url, url)
    if ref:
        new = new.replace("@" + old_ref, "@" + ref)
    path = tmp_path / "cell.py"
    path.write_text(head.replace(spec, new))
    return path, new


COLOUR_ENV = {"FORCE_COLOR": "1", "CLICOLOR_FORCE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
              "PIP_NO_INPUT": "1", "PIP_NO_INDEX": "1"}   # what Colab's kernel sets, + offline


def _run_cell(tmp_path, cell: Path, runner: str = FAKE_COLAB) -> list[str]:
    (tmp_path / "run.py").write_text(runner)
    env = {**os.environ, **COLOUR_ENV}
    r = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(cell)],
                       capture_output=True, text=True, env=env, timeout=300)
    out = r.stdout + r.stderr
    assert "\x1b" not in out, f"colour codes reach the reader: {out!r}"
    assert "describe" not in r.stdout, "the cell went on after the failed install"
    return [ln for ln in out.splitlines() if ln.strip()]


def test_a_failed_install_says_two_lines_what_failed_and_what_to_do(tmp_path):
    """The setup cell as Colab runs it (IPython, google.colab present, colour forced) with an
    install that fails (no such repository): exactly two lines, no traceback, no pip dump."""
    missing = "file://localhost" + (tmp_path / "no-such-repo").as_posix()
    cell, spec = _setup_head(tmp_path, url=missing)
    lines = _run_cell(tmp_path, cell)
    assert len(lines) == 2, "expected two lines:\n" + "\n".join(lines)
    assert lines[0].startswith("Installing psbook failed: the repository cannot be read ("), \
        lines[0]
    assert "does not appear to be a git repository" in lines[0], lines[0]
    assert lines[1].startswith("To fix: open this notebook again from the book's current link"), \
        lines[1]
    assert release.colab_home() in lines[1], lines[1]


def test_a_commit_that_does_not_exist_is_named_with_its_remedy(tmp_path, clone):
    """A real `pip install` of a commit that a (tagless) clone lacks, colour forced: the cause
    is git's "not our ref", the remedy a current copy of the notebook, not the network."""
    ref = "0123456789abcdef0123456789abcdef01234567"
    assert _git("cat-file", "-e", f"{ref}^{{commit}}", cwd=clone).returncode != 0
    cell, spec = _setup_head(tmp_path, url="file://localhost" + clone.as_posix(), ref=ref)
    lines = _run_cell(tmp_path, cell)
    assert len(lines) == 2, "expected two lines:\n" + "\n".join(lines)
    assert lines[0].startswith("Installing psbook failed: commit 0123456789ab does not exist ("), \
        lines[0]
    assert "not our ref" in lines[0], lines[0]
    assert "open this notebook again from the book's current link" in lines[1], lines[1]
    assert "network" not in lines[1], lines[1]


# what pip (23.2, as on Colab) and git print for each cause, with the colour codes that a kernel
# forcing colour makes them write (the setup cell must strip any that still come)
_RED, _BOLD, _OFF = "\x1b[1;31m", "\x1b[1m", "\x1b[0m"
_GIT_FAIL = (f"  {_RED}error{_OFF}: {_BOLD}subprocess-exited-with-error{_OFF}\n  \n"
             "  \x1b[31m×\x1b[0m \x1b[32mgit clone --filter=blob:none --quiet "
             "https://github.com/psbook/probability-signatures-book /tmp/pip-install-1/psbook"
             "\x1b[0m did not run successfully.\n  \x1b[31m│\x1b[0m exit code: "
             "\x1b[1;36m128\x1b[0m\n  \x1b[31m╰─>\x1b[0m [1 lines of output]\n"
             "      {line}\n      [end of output]\n  \n"
             f"  \x1b[1;35mnote{_OFF}: This error originates from a subprocess, and is likely "
             "not a problem with pip.\n")
CAUSES = {
    "no-network": (
        _GIT_FAIL.format(line="fatal: unable to access 'https://github.com/psbook/probability-"
                              "signatures-book/': Could not resolve host: github.com"),
        "no network (fatal: unable to access", "connect this runtime to the internet"),
    "missing-commit": (
        _GIT_FAIL.format(line="fatal: remote error: upload-pack: not our ref 0123456789abcdef"),
        "does not exist (fatal: remote error: upload-pack: not our ref",
        "open this notebook again from the book's current link"),
    "dependency-conflict": (
        f"\x1b[31mERROR: Cannot install psbook and numpy==1.21.0 because these package versions "
        f"have conflicting dependencies.{_OFF}\n\nThe conflict is caused by:\n    psbook 0.3.0 "
        f"depends on numpy>=1.24\n\x1b[31mERROR: ResolutionImpossible: for help visit "
        f"https://pip.pypa.io/en/latest/topics/dependency-resolution/{_OFF}\n",
        "a dependency conflict (ERROR: Cannot install psbook and numpy==1.21.0",
        "Runtime > Restart session, then run this cell again"),
    "invalid-requirement": (
        "\x1b[31mERROR: Invalid requirement: 'psbook[online @ git+https://x'\n"
        "Hint: It looks like a path. File 'psbook[online @ git+https://x' does not exist."
        f"{_OFF}\x1b[31m\n{_OFF}",
        "an invalid requirement (ERROR: Invalid requirement: 'psbook[online @ git+https://x' "
        "Hint: It looks like a path.", "open this notebook again from the book's current link"),
    "anything-else": (
        f"{_RED}ERROR: Could not build wheels for psbook{_OFF}\n",
        "Installing psbook failed: ERROR: Could not build wheels for psbook",
        "run by hand in a new cell to see pip's whole output:  !pip install 'psbook"),
}

FAKE_PIP = FAKE_COLAB.replace("from IPython", """import json, os, subprocess
_said = json.load(open(os.environ["FAKE_PIP_OUTPUT"]))
def _fake_run(cmd, **kw):   # pip as a kernel that forces colour would run it; record its env
    json.dump({k: v for k, v in kw["env"].items() if "COLOR" in k or k == "TERM"},
              open(os.environ["FAKE_PIP_ENV"], "w"))
    return subprocess.CompletedProcess(cmd, 1, stdout="", stderr=_said)
subprocess.run = _fake_run
from IPython""", 1)


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_each_cause_of_a_failed_install_is_named_with_its_remedy(tmp_path, cause, monkeypatch):
    """Two lines, colour codes stripped, pip run without forced colour: the cause and what to
    do about that cause, for each cause a reader meets (pip's output simulated)."""
    said, why, fix = CAUSES[cause]
    (tmp_path / "said.json").write_text(json.dumps(said))
    monkeypatch.setenv("FAKE_PIP_OUTPUT", str(tmp_path / "said.json"))
    monkeypatch.setenv("FAKE_PIP_ENV", str(tmp_path / "env.json"))
    cell, spec = _setup_head(tmp_path)
    lines = _run_cell(tmp_path, cell, FAKE_PIP)
    assert len(lines) == 2, "expected two lines:\n" + "\n".join(lines)
    assert lines[0].startswith("Installing psbook failed: ") and why in lines[0], lines[0]
    assert lines[1].startswith("To fix: ") and fix in lines[1], lines[1]
    env = json.loads((tmp_path / "env.json").read_text())
    assert "FORCE_COLOR" not in env and "CLICOLOR_FORCE" not in env, env
    assert env.get("NO_COLOR") == "1" and env.get("PIP_NO_COLOR") == "1", env
