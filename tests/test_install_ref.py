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
    # ch12 needs the pretrained extra; every chapter gets online
    by_name = {nb.name: extras.split(",") for nb, (_, extras, _, _) in specs.items()}
    assert all("online" in e for e in by_name.values())
    assert "pretrained" in by_name["12-pretrained-models.ipynb"]


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


def _specs_ref() -> str:
    return next(iter(_specs().values()))[3]


FAKE_COLAB = textwrap.dedent('''\
    import sys, types
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="NoColor")
    shell.run_cell(open(sys.argv[1]).read())
    ''')


def test_a_failed_install_says_two_lines_what_failed_and_what_to_do(tmp_path):
    """The setup cell as Colab runs it (IPython, google.colab present) with an install that
    fails (no such repository): exactly two lines, no traceback, no pip dump."""
    nb = ROOT / "book" / "02-probability-signatures.ipynb"
    spec, _, url, _ = _specs()[nb]
    cell = next("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                if c["cell_type"] == "code" and "google.colab" in "".join(c["source"]))
    head = cell.split(release.MARKER)[0]
    missing = "file://localhost" + (tmp_path / "no-such-repo").as_posix()
    (tmp_path / "cell.py").write_text(head.replace(url, missing))
    (tmp_path / "run.py").write_text(FAKE_COLAB)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
           "PIP_NO_INDEX": "1"}
    r = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "cell.py")],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert len(lines) == 2, "expected two lines:\n" + "\n".join(lines)
    assert lines[0].startswith("Installing psbook failed: ") and len(lines[0]) > 30, lines[0]
    assert "network" in lines[1], lines[1]
    assert f"!pip install '{spec.replace(url, missing)}'" in lines[1], lines[1]
    assert "describe" not in r.stdout, "the cell went on after the failed install"
