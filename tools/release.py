"""Release the book: one version, and an install line that exists in main without tags.

The version lives in ONE place, `src/psbook/__init__.py` (`__version__`; pyproject.toml reads it).
Readers never depend on a tag (a clone of main has none):

- every chapter's setup cell installs `psbook @ git+<repository.url>@<sha>`, where
  <sha> is the last commit on main's first-parent line that changed the package source
  (`src/`, `pyproject.toml`): a commit every clone of main has, whose package equals HEAD's;
  a chapter that needs extras names them in its front matter (`psbook: {extras: [pile]}`:
  the chapters that read the corpora; chapter 12 `[online, pretrained]`), the others install
  the light base package;
- `_config.yml`'s `repository.branch` is `main`, so the Colab button (and the course pages'
  "Open in Colab" links) open the notebooks on main;
- `repository.url` in `_config.yml` is the one place the repository URL is set.

    python tools/release.py --sync     # (make pair) write the SHA into every setup cell, the
                                       # Colab ref, regenerate the notebooks; no commit
    python tools/release.py 0.2.0      # (make release VERSION=0.2.0) set the version and commit
                                       # it, then sync (the setup cells install THAT commit),
                                       # commit the notebooks, tag v0.2.0 (for the publish
                                       # workflow only: no reader's install uses the tag)

Run `make pair` after the last change to src/ is committed (and after every merge that touches
src/): tests/test_install_ref.py fails with "notebooks are stale, run make pair" otherwise.
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
# exactly two lines (an exception that IPython shows as its own text, no traceback): the cause,
# named (no network; a commit that does not exist; a dependency conflict; an invalid requirement;
# else pip's or git's first error line) and the remedy for that cause. pip and git run without
# forced colour (Colab's kernel sets FORCE_COLOR/CLICOLOR_FORCE) and any ANSI code left is stripped.
SETUP_HEAD = """import sys
if "google.colab" in sys.modules:  # fresh Colab runtime: install psbook (silent on success)
    import os, re, subprocess
    PSBOOK = "{spec}"
    _env = {{k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}}
    _env.update(NO_COLOR="1", PIP_NO_COLOR="1", TERM="dumb", GIT_TERMINAL_PROMPT="0")
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", PSBOOK],
                          capture_output=True, text=True, env=_env)
    if _pip.returncode:  # two lines: the cause, and what to do about that cause
        _txt = re.sub(r"\\x1b\\[[0-9;?]*[ -/]*[@-~]", "", _pip.stderr + "\\n" + _pip.stdout)
        _out = [l.strip(" \\t×╰─│") for l in _txt.splitlines() if l.strip(" \\t×╰─│")]
        _new = ("open this notebook again from the book's current link (its Colab button, or "
                "{colab})")
        _why = next((l for l in _out if l.startswith(("ERROR", "fatal:", "error:"))),
                    _out[-1] if _out else "pip printed nothing")
        _do = f"run by hand in a new cell to see pip's whole output:  !pip install '{{PSBOOK}}'"
        for _pat, _cause, _fix in [  # what pip or git says -> the cause -> its remedy
                (r"resolve host|name resolution|establish a new connection|unreachable|timed out"
                 r"|max retries|unable to access|connection (refused|reset)", "no network",
                 "connect this runtime to the internet (Runtime > Restart session), then run "
                 "this cell again"),
                (r"not our ref|not a tree|unknown revision|did not match any|couldn't find remote"
                 r" ref", f"commit {{PSBOOK.rsplit('@', 1)[1][:12]}} does not exist", _new),
                (r"not appear to be a git repository|repository .* not found|could not read from"
                 r" remote", "the repository cannot be read", _new),
                (r"ResolutionImpossible|conflicting dependencies|dependency conflict",
                 "a dependency conflict", "Runtime > Restart session, then run this cell again "
                 "(the restarted runtime loads the versions psbook needs)"),
                (r"invalid requirement", "an invalid requirement", _new)]:
            _i = next((i for i, l in enumerate(_out) if re.search(_pat, l, re.I)), None)
            if _i is not None:  # the line that says so (pip gives an invalid one's reason next)
                _hit = " ".join(_out[_i:_i + 1 + (_cause == "an invalid requirement")])
                _why, _do = f"{{_cause}} ({{_hit}})", _fix
                break

        class InstallFailed(Exception):
            def _render_traceback_(self):
                return str(self).splitlines()

        raise InstallFailed(f"Installing psbook failed: {{_why[:300]}}\\nTo fix: {{_do}}")
from psbook.presets import get_preset, seed_everything, describe
preset = get_preset()          # PSBOOK_PRESET, else tiny under CI, gpu with CUDA, else cpu
seed_everything(preset.seed)
print(describe(preset))
"""
_HEAD_RE = re.compile(r'^import sys\nif "google\.colab" in sys\.modules:.*?^(?=' +
                      re.escape(MARKER) + r"$)", re.M | re.S)
_VERSION_RE = re.compile(r'^__version__ = "([^"]+)"$', re.M)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc|\.post|\.dev)\d+)?$")
#: the install spec of a setup cell: (spec, extras, repository URL, ref)
SPEC_RE = re.compile(r'"(psbook(?:\[([\w,]+)\])? @ git\+([^"\s\\]+)@([^"\s\\]+))"')
PACKAGE = ("src", "pyproject.toml")   # the package source: what the setup cells install
BRANCH = "main"                       # the ref of the Colab button and the course links
BASE_EXTRAS = ()   # a light default: a chapter's front matter names what more it needs


def version() -> str:
    m = _VERSION_RE.search(INIT.read_text())
    if not m:
        raise SystemExit(f"no `__version__ = \"...\"` line in {INIT}")
    return m.group(1)


def tag(v: str | None = None) -> str:
    return f"v{v or version()}"


def repository_url() -> str:
    return yaml.safe_load(CONFIG.read_text())["repository"]["url"].rstrip("/")


def _git(*args, check=True, root: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=check)


def _package_trees(ref: str, root: Path = ROOT) -> list[str | None]:
    """The git object ids of src/ and pyproject.toml at ``ref`` (None where absent)."""
    out = []
    for path in PACKAGE:
        r = _git("rev-parse", "-q", "--verify", f"{ref}:{path}", check=False, root=root)
        out.append(r.stdout.strip() if r.returncode == 0 else None)
    return out


def install_ref(root: Path = ROOT) -> str:
    """The commit the setup cells install: the last commit on HEAD's first-parent line (main)
    that changed the package source (src/, pyproject.toml). Its package equals HEAD's, and
    every clone of main has it (no tag needed)."""
    r = _git("log", "-1", "--first-parent", "--format=%H", "HEAD", "--", *PACKAGE, check=False,
             root=root)
    sha = r.stdout.strip()
    if r.returncode or not sha:
        raise SystemExit(f"{root}: no git history with {' or '.join(PACKAGE)} (git log said: "
                         f"{r.stderr.strip() or 'nothing'}); the setup cells install a commit, "
                         "so run this in a clone with its history")
    if _package_trees(sha, root) != _package_trees("HEAD", root):  # pragma: no cover - git
        sha = _git("rev-parse", "HEAD", root=root).stdout.strip()
    return sha


def uncommitted_package_changes(root: Path = ROOT) -> list[str]:
    out = _git("status", "--porcelain", "--", *PACKAGE, check=False, root=root).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def chapter_extras(md: Path) -> list[str]:
    """The pip extras a chapter's setup cell installs: those the chapter's front matter names
    (``psbook: {extras: [pile]}``); none by default (a light install: no ``datasets``, no
    ``transformers``)."""
    text = md.read_text()
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    meta = (yaml.safe_load(m.group(1)) or {}) if m else {}
    extra = list((meta.get("psbook") or {}).get("extras") or [])
    known = optional_dependencies()
    unknown = [e for e in extra if e not in known]
    if unknown:
        raise SystemExit(f"{md.name}: front matter psbook.extras names {unknown}, which "
                         f"pyproject.toml does not define (it has {sorted(known)})")
    return list(BASE_EXTRAS) + [e for e in extra if e not in BASE_EXTRAS]


def optional_dependencies() -> set:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(py["project"].get("optional-dependencies", {}))


def install_spec(ref: str | None = None, extras=BASE_EXTRAS) -> str:
    name = f"psbook[{','.join(extras)}]" if extras else "psbook"
    return f"{name} @ git+{repository_url()}@{ref or install_ref()}"


def colab_home() -> str:
    """Colab's page of the repository (it lists the notebooks of its default branch): where
    the current version of every notebook opens."""
    return "https://colab.research.google.com/github/" + \
        repository_url().removeprefix("https://github.com/")


def setup_head(ref: str | None = None, extras=BASE_EXTRAS) -> str:
    return SETUP_HEAD.format(spec=install_spec(ref, extras), colab=colab_home())


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


def sync_setup_cells(ref: str | None = None) -> list[Path]:
    """Rewrite the setup-cell head of every chapter to SETUP_HEAD, installing commit ``ref``
    (default: :func:`install_ref`) with the chapter's extras; returns the changed files."""
    ref = ref or install_ref()
    changed = []
    for md in chapters():
        text = md.read_text()
        if not _HEAD_RE.search(text):
            raise SystemExit(f"{md.name}: no setup cell (`import sys` / google.colab ... "
                             f"{MARKER}); copy it from another chapter")
        head = setup_head(ref, chapter_extras(md))
        new = _HEAD_RE.sub(lambda _m: head, text, count=1)
        if new != text:
            md.write_text(new)
            changed.append(md)
    return changed


_COURSE_LINK_RE = re.compile(r"(https://colab\.research\.google\.com/github/)[^/\s)]+/[^/\s)]+"
                             r"/blob/[^/\s)]+/(course/notebooks/)")


def sync_course_links(ref: str = BRANCH) -> list[Path]:
    """Point the course pages' "Open in Colab" links at the repository and ``ref`` (the same
    ref as the book's Colab button); returns the changed pages."""
    base = repository_url().rstrip("/").removeprefix("https://github.com/")
    changed = []
    for page in sorted((ROOT / "course").glob("*.md")):
        text = page.read_text()
        new = _COURSE_LINK_RE.sub(lambda m: f"{m[1]}{base}/blob/{ref}/{m[2]}", text)
        if new != text:
            page.write_text(new)
            changed.append(page)
    return changed


def sync() -> str:
    """Setup cells (pinned to :func:`install_ref`), Colab ref (button and course links: main)
    and notebooks (the chapters' Colab notebooks and the course's student/solution notebooks).
    Returns the commit the setup cells install."""
    ref = install_ref()
    dirty = uncommitted_package_changes()
    if dirty:
        print(f"warning: uncommitted changes in {', '.join(dirty)}: the setup cells install "
              f"{ref[:12]}, which lacks them; commit them and run `make pair` again",
              file=sys.stderr)
    set_config_ref(BRANCH)
    sync_setup_cells(ref)
    sync_course_links(BRANCH)
    sys.path.insert(0, str(ROOT / "tools"))
    import colab

    rc = colab.main([])
    if rc:
        raise SystemExit(rc)
    rc = subprocess.run([sys.executable, "-m", "psbook.course", "build"], cwd=ROOT).returncode
    if rc:
        raise SystemExit(rc)
    return ref


def release(v: str, allow_dirty: bool = False) -> None:
    if not _SEMVER.match(v):
        raise SystemExit(f"VERSION must look like 1.2.3 (or 1.2.3rc1); got {v!r}")
    if _git("rev-parse", "-q", "--verify", f"refs/tags/{tag(v)}", check=False).returncode == 0:
        raise SystemExit(f"tag {tag(v)} exists already")
    dirty = _git("status", "--porcelain").stdout.strip()
    if dirty and not allow_dirty:
        raise SystemExit(f"the working tree has uncommitted changes; commit them first:\n{dirty}")
    # 1. the version is package source: commit it first, so the setup cells can install it
    set_version(v)
    _git("add", str(INIT))
    if _git("diff", "--cached", "--quiet", check=False).returncode:
        _git("commit", "-q", "-m", f"Release {tag(v)}: version {v}")
    # 2. the setup cells install that commit (no tag involved); notebooks regenerated
    ref = sync()
    _git("add", "-A", str(CONFIG), "book", "course")
    if _git("diff", "--cached", "--quiet", check=False).returncode:
        _git("commit", "-q", "-m", f"Release {tag(v)}: setup cells install {ref[:12]}, notebooks")
    _git("tag", "-a", tag(v), "-m", f"psbook {v}")
    print(f"released {tag(v)}: the setup cells install commit {ref[:12]}; push with "
          f"`git push origin HEAD {tag(v)}` (the tag starts .github/workflows/publish.yml)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Release the book (version, setup cells, tag).")
    ap.add_argument("version", nargs="?", help="the new version, e.g. 0.2.0")
    ap.add_argument("--sync", action="store_true",
                    help="only sync setup cells (to the last commit that changed src/), the "
                         "Colab ref and the notebooks")
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
