"""The release: one version, a tag, and an install line that works from that tag.

`make release VERSION=x.y.z` (tools/release.py) is run in a temporary clone of this repository;
the setup cell's install spec of the resulting notebooks is then installed from the clone with
a `git+file://` URL, as Colab would install it from GitHub.
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


@pytest.mark.slow
def test_release_tag_installs_from_its_own_install_line(tmp_path):
    clone = tmp_path / "repo"
    v = "9.8.7"
    assert _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path).returncode == 0
    out = _run([sys.executable, "tools/release.py", v], clone)
    assert out.returncode == 0, out.stdout + out.stderr
    tag = f"v{v}"
    assert _run(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}"], clone).returncode == 0
    assert _run(["git", "status", "--porcelain"], clone).stdout.strip() == "", \
        "release left uncommitted changes"
    # the tag holds the version, the Colab ref and the install lines, all at the tag
    shown = _run(["git", "show", f"{tag}:src/psbook/__init__.py"], clone).stdout
    assert f'__version__ = "{v}"' in shown
    cfg = yaml.safe_load(_run(["git", "show", f"{tag}:_config.yml"], clone).stdout)
    assert cfg["repository"]["branch"] == tag
    url = cfg["repository"]["url"].rstrip("/")
    specs = set()
    for nb in sorted((clone / "book").glob("[0-9][0-9]-*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                         if c["cell_type"] == "code")
        found = release.SPEC_RE.findall(code)
        assert found, f"{nb.name}: no install spec in the setup cell"
        specs |= {s for s, _, _ in found}
    assert specs == {f"psbook[online] @ git+{url}@{tag}"}, specs
    # install that exact line, with the repository URL pointing at the clone
    spec = specs.pop().replace(url, clone.as_uri())
    target = tmp_path / "site"
    pip = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                "--target", str(target), spec], tmp_path, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    noise = [line for line in (pip.stdout + pip.stderr).splitlines()
             if re.search(r"deprecat|warning", line, re.I)]
    assert not noise, "the install is not silent:\n" + "\n".join(noise[:10])
    assert f'__version__ = "{v}"' in (target / "psbook" / "__init__.py").read_text()
    assert list(target.glob(f"psbook-{v}.dist-info")), sorted(p.name for p in target.iterdir())
