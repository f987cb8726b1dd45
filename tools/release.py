"""Release the book: one version, one ref for the Colab button and the install line.

The version lives in ONE place, `src/psbook/__init__.py` (`__version__`; pyproject.toml reads it).
The ref readers get is the tag `v<version>`:

- every chapter's setup cell installs `psbook[online] @ git+<repository.url>@v<version>`;
- `_config.yml`'s `repository.branch` is `v<version>`, so the book's Colab button opens the
  notebook of that same tag;
- `repository.url` in `_config.yml` is the one place the repository URL is set.

    python tools/release.py 0.2.0      # (make release VERSION=0.2.0) set the version, sync the
                                       # setup cells and Colab ref, regenerate the notebooks,
                                       # commit, tag v0.2.0
    python tools/release.py --sync     # (make pair) only sync setup cells + notebooks to the
                                       # current version; no commit, no tag

After a release: `git push origin HEAD v<version>`; the tag triggers .github/workflows/publish.yml.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "psbook" / "__init__.py"
CONFIG = ROOT / "_config.yml"
BOOK = ROOT / "book"
MARKER = "# --- chapter imports below ---"

# The head of every chapter's setup cell (everything above MARKER). Silent on success; on failure
# it raises with pip's output, so the reader sees why instead of a later ModuleNotFoundError.
SETUP_HEAD = '''import sys
if "google.colab" in sys.modules:  # fresh Colab runtime: install psbook at the book's release
    import subprocess  # silent on success; on failure, pip's own words
    PSBOOK = "{spec}"
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", PSBOOK],
                          capture_output=True, text=True)
    if _pip.returncode:
        raise RuntimeError(f"installing {{PSBOOK}} failed:\\n{{_pip.stdout}}{{_pip.stderr}}")
from psbook.presets import get_preset, seed_everything, describe
preset = get_preset()          # PSBOOK_PRESET, else tiny under CI, gpu with CUDA, else cpu
seed_everything(preset.seed)
print(describe(preset))
'''
_HEAD_RE = re.compile(r'^import sys\nif "google\.colab" in sys\.modules:.*?^(?=' +
                      re.escape(MARKER) + r"$)", re.M | re.S)
_VERSION_RE = re.compile(r'^__version__ = "([^"]+)"$', re.M)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc|\.post|\.dev)\d+)?$")
SPEC_RE = re.compile(r'"(psbook\[online\] @ git\+([^"\s\\]+)@([^"\s\\]+))"')


def version() -> str:
    m = _VERSION_RE.search(INIT.read_text())
    if not m:
        raise SystemExit(f"no `__version__ = \"...\"` line in {INIT}")
    return m.group(1)


def tag(v: str | None = None) -> str:
    return f"v{v or version()}"


def repository_url() -> str:
    return yaml.safe_load(CONFIG.read_text())["repository"]["url"].rstrip("/")


def install_spec(v: str | None = None) -> str:
    return f"psbook[online] @ git+{repository_url()}@{tag(v)}"


def setup_head(v: str | None = None) -> str:
    return SETUP_HEAD.format(spec=install_spec(v))


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]-*.md"))


def set_version(v: str) -> None:
    text = INIT.read_text()
    INIT.write_text(_VERSION_RE.sub(f'__version__ = "{v}"', text, count=1))


def set_config_ref(ref: str) -> None:
    text = CONFIG.read_text()
    new, n = re.subn(r"^(repository:\n(?:[ ]+.*\n)*?[ ]+branch:[ ]*)\S+", rf"\g<1>{ref}", text,
                     count=1, flags=re.M)
    if n != 1:
        raise SystemExit("_config.yml: no `branch:` under `repository:`")
    CONFIG.write_text(new)


def sync_setup_cells(v: str | None = None) -> list[Path]:
    """Rewrite the setup-cell head of every chapter to SETUP_HEAD; returns the changed files."""
    head = setup_head(v)
    changed = []
    for md in chapters():
        text = md.read_text()
        if not _HEAD_RE.search(text):
            raise SystemExit(f"{md.name}: no setup cell (`import sys` / google.colab ... "
                             f"{MARKER}); copy it from another chapter")
        new = _HEAD_RE.sub(lambda _m: head, text, count=1)
        if new != text:
            md.write_text(new)
            changed.append(md)
    return changed


_COURSE_LINK_RE = re.compile(r"(https://colab\.research\.google\.com/github/)[^/\s)]+/[^/\s)]+"
                             r"/blob/[^/\s)]+/(course/notebooks/)")


def sync_course_links(v: str | None = None) -> list[Path]:
    """Point the course pages' "Open in Colab" links at the repository and ref of version v
    (the same ref as the book's Colab button); returns the changed pages."""
    base = repository_url().rstrip("/").removeprefix("https://github.com/")
    changed = []
    for page in sorted((ROOT / "course").glob("*.md")):
        text = page.read_text()
        new = _COURSE_LINK_RE.sub(lambda m: f"{m[1]}{base}/blob/{tag(v)}/{m[2]}", text)
        if new != text:
            page.write_text(new)
            changed.append(page)
    return changed


def sync(v: str | None = None) -> None:
    """Setup cells, Colab ref (button and course links) and notebooks (the chapters' Colab
    notebooks and the course's student/solution notebooks), for version v (default: the
    current one)."""
    v = v or version()
    set_config_ref(tag(v))
    sync_setup_cells(v)
    sync_course_links(v)
    sys.path.insert(0, str(ROOT / "tools"))
    import colab

    rc = colab.main([])
    if rc:
        raise SystemExit(rc)
    rc = subprocess.run([sys.executable, "-m", "psbook.course", "build"], cwd=ROOT).returncode
    if rc:
        raise SystemExit(rc)


def _git(*args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=check)


def release(v: str, allow_dirty: bool = False) -> None:
    if not _SEMVER.match(v):
        raise SystemExit(f"VERSION must look like 1.2.3 (or 1.2.3rc1); got {v!r}")
    if _git("rev-parse", "-q", "--verify", f"refs/tags/{tag(v)}", check=False).returncode == 0:
        raise SystemExit(f"tag {tag(v)} exists already")
    dirty = _git("status", "--porcelain").stdout.strip()
    if dirty and not allow_dirty:
        raise SystemExit(f"the working tree has uncommitted changes; commit them first:\n{dirty}")
    set_version(v)
    sync(v)
    _git("add", "-A", str(INIT), str(CONFIG), "book", "course")
    if _git("diff", "--cached", "--quiet", check=False).returncode:
        _git("commit", "-q", "-m", f"Release {tag(v)}: version, setup cells, Colab links, notebooks")
    _git("tag", "-a", tag(v), "-m", f"psbook {v}")
    print(f"released {tag(v)}: push with `git push origin HEAD {tag(v)}` "
          "(the tag starts .github/workflows/publish.yml)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Release the book (version, setup cells, tag).")
    ap.add_argument("version", nargs="?", help="the new version, e.g. 0.2.0")
    ap.add_argument("--sync", action="store_true",
                    help="only sync setup cells, Colab ref and notebooks to the current version")
    ap.add_argument("--allow-dirty", action="store_true", help="release with uncommitted changes")
    a = ap.parse_args(argv)
    if a.sync:
        sync()
        return 0
    if not a.version:
        ap.error("give a VERSION (make release VERSION=1.2.3) or --sync")
    release(a.version, a.allow_dirty)
    return 0


if __name__ == "__main__":
    sys.exit(main())
