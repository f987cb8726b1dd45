"""The release: one version, and notebooks that install a commit of main (never a tag).

`make release VERSION=x.y.z` (tools/release.py) is run in a temporary clone of this repository:
it commits the version, pins the setup cells to that commit, commits the notebooks, tags. The
install itself (tagless clone, Colab's pip) is tests/test_install_ref.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import release  # noqa: E402

GIT_ENV = {"GIT_AUTHOR_NAME": "release test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "release test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def _run(cmd, cwd, **kw):
    env = {**os.environ, **GIT_ENV, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, **kw)


def test_pyproject_reads_the_one_version_and_uses_spdx_license():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert py["project"]["dynamic"] == ["version"] and "version" not in py["project"]
    assert py["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "psbook.__version__"}
    assert py["project"]["license"] == "MIT", "SPDX string: a TOML table warns on every install"
    req = " ".join(py["build-system"]["requires"])
    m = re.search(r"setuptools>=(\d+)", req)
    assert m and int(m.group(1)) >= 77, "SPDX `license = \"MIT\"` needs setuptools>=77"
    assert re.match(r"^\d+\.\d+\.\d+", release.version())


def test_release_refuses_bad_versions_and_existing_tags(tmp_path):
    clone = tmp_path / "repo"
    assert _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path).returncode == 0
    out = _run([sys.executable, "tools/release.py", "1.2"], clone)
    assert out.returncode != 0 and "1.2.3" in (out.stdout + out.stderr)
    _run(["git", "tag", "v7.7.7"], clone)
    out = _run([sys.executable, "tools/release.py", "7.7.7"], clone)
    assert out.returncode != 0 and "exists" in (out.stdout + out.stderr)
    (clone / "README.md").write_text("changed\n")
    out = _run([sys.executable, "tools/release.py", "7.7.8"], clone)
    assert out.returncode != 0 and "uncommitted" in (out.stdout + out.stderr)


def _commit(repo: Path, path: str, text: str, msg: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    assert _run(["git", "add", path], repo).returncode == 0
    assert _run(["git", "commit", "-q", "-m", msg], repo).returncode == 0
    return _run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def test_install_ref_is_the_last_package_change_on_the_first_parent_line(tmp_path):
    """After a merge that combines two branches' changes to src/, the ref is the merge (its
    package is HEAD's), not the branch commit git log would pick without --first-parent."""
    repo = tmp_path / "r"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo)
    _commit(repo, "src/a.py", "a = 1\n", "a")
    _commit(repo, "pyproject.toml", "[project]\n", "pyproject")
    _run(["git", "checkout", "-q", "-b", "side"], repo)
    side = _commit(repo, "src/b.py", "b = 1\n", "side: b")
    _run(["git", "checkout", "-q", "main"], repo)
    _commit(repo, "src/a.py", "a = 2\n", "main: a")
    assert _run(["git", "merge", "-q", "--no-edit", "side"], repo).returncode == 0
    merge = _run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    _commit(repo, "README.md", "docs only\n", "docs")
    ref = release.install_ref(repo)
    assert ref == merge and ref != side
    assert release._package_trees(ref, repo) == release._package_trees("HEAD", repo)


def test_chapter_extras_come_from_the_front_matter_and_must_exist(tmp_path):
    md = tmp_path / "99-x.md"
    md.write_text("---\njupytext: {}\npsbook:\n  extras: [pretrained]\n---\n# X\n")
    assert release.chapter_extras(md) == ["pretrained"]
    md.write_text("---\npsbook:\n  extras: [nonesuch]\n---\n# X\n")
    with pytest.raises(SystemExit, match="nonesuch"):
        release.chapter_extras(md)
    md.write_text("# no front matter\n")
    assert release.chapter_extras(md) == []      # the light default: no extras
    assert release.install_spec("0" * 40, []).startswith("psbook @ git+")
    assert "pretrained" in release.chapter_extras(ROOT / "book" / "12-pretrained-models.md")


@pytest.mark.slow
def test_release_pins_the_notebooks_to_the_version_commit_not_the_tag(tmp_path):
    clone = tmp_path / "repo"
    v = "9.8.7"
    assert _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path).returncode == 0
    out = _run([sys.executable, "tools/release.py", v], clone)
    assert out.returncode == 0, out.stdout + out.stderr
    tag = f"v{v}"
    assert _run(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}"], clone).returncode == 0
    assert _run(["git", "status", "--porcelain"], clone).stdout.strip() == "", \
        "release left uncommitted changes"
    shown = _run(["git", "show", f"{tag}:src/psbook/__init__.py"], clone).stdout
    assert f'__version__ = "{v}"' in shown
    cfg = yaml.safe_load(_run(["git", "show", f"{tag}:_config.yml"], clone).stdout)
    assert cfg["repository"]["branch"] == "main", "the Colab button must not need the tag"
    url = cfg["repository"]["url"].rstrip("/")
    refs = set()
    for nb in sorted((clone / "book").glob("[0-9][0-9]-*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                         if c["cell_type"] == "code")
        found = release.SPEC_RE.findall(code)
        assert found, f"{nb.name}: no install spec in the setup cell"
        assert all(u == url for _, _, u, _ in found)
        refs |= {r for _, _, _, r in found}
    assert len(refs) == 1 and tag not in refs, refs
    ref = refs.pop()
    # the pinned commit is the version commit: an ancestor of the tag, with the tag's package
    assert f'__version__ = "{v}"' in _run(["git", "show", f"{ref}:src/psbook/__init__.py"],
                                          clone).stdout
    assert _run(["git", "merge-base", "--is-ancestor", ref, tag], clone).returncode == 0
    assert release._package_trees(ref, clone) == release._package_trees(tag, clone)
