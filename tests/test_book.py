"""Structural checks of the book: pairing, setup cell, table of contents, chapter anatomy.

The `.ipynb` next to each chapter is GENERATED from its `.md` by tools/colab.py (`make pair`):
same code cells (plus a first-line mark on hidden and solution cells), markdown converted from
MyST to what Colab renders. Pairing is checked by regenerating in memory and comparing.
"""

from __future__ import annotations

import re
from pathlib import Path

import sys

import pytest
import yaml

jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402
import release  # noqa: E402

BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]-*.md"))


def _cells(path: Path):
    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]



def test_there_are_chapters():
    assert len(CHAPTERS) >= 2, f"expected chapters in {BOOK}, found {CHAPTERS}"


@pytest.fixture(scope="module")
def book():
    return colab.load_book()


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_is_paired_and_output_free(md: Path, book):
    nb = md.with_suffix(".ipynb")
    assert nb.exists(), f"{md.name} has no generated {nb.name}: run `make pair`"
    # code cells: the .md's, unchanged but for the mark on hidden / solution cells
    src_code = [c.source.strip() for c in jupytext.read(md).cells if c.cell_type == "code"]
    nb_code = [colab.strip_code_marks(c.source).strip() for c in jupytext.read(nb).cells
               if c.cell_type == "code" and not colab.is_prose_cell(c)]
    assert src_code == nb_code, f"{nb.name}: code cells differ from {md.name}: run `make pair`"
    # everything (markdown included): what the converter makes of the .md today
    want = [(c.cell_type, c.source) for c in colab.notebook(md, book).cells]
    got = [(c.cell_type, c.source) for c in jupytext.read(nb).cells]
    for k, (w, g) in enumerate(zip(want, got)):
        assert w == g, (f"{nb.name} cell {k} is not what tools/colab.py makes of {md.name}: "
                        f"run `make pair`\n--- generated now:\n{w[1][:300]}\n--- in the file:\n"
                        f"{g[1][:300]}")
    assert len(want) == len(got), f"{nb.name}: {len(got)} cells, expected {len(want)}: make pair"
    for cell in jupytext.read(nb).cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{nb.name} carries outputs: commit it output-free"


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _setup_cell(md: Path) -> str:
    for c in jupytext.read(md).cells:
        if c.cell_type == "code" and "google.colab" in c.source:
            return c.source
    raise AssertionError(f"{md.name}: no setup cell (the one guarding the Colab install)")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_setup_cell_is_the_shared_one(md: Path):
    src = _setup_cell(md)
    url = _config()["repository"]["url"].rstrip("/")
    assert f"git+{url}@" in src, f"{md.name}: Colab install must use the repository URL {url}"
    # the ref is a commit (tests/test_install_ref.py checks it is the current one and installs it)
    specs = release.SPEC_RE.findall(src)
    assert len(specs) == 1 and re.fullmatch(r"[0-9a-f]{40}", specs[0][3]), (
        f"{md.name}: the install must pin a commit SHA (not a tag): run `make pair`; got {specs}")
    ref, extras = specs[0][3], release.chapter_extras(md)
    assert src.startswith(release.setup_head(ref, extras)), (
        f"{md.name}: setup cell head is not tools/release.py's SETUP_HEAD with extras {extras}: "
        "run `make pair`")
    head = src.split("# --- chapter imports below ---")[0]
    reference = _setup_cell(CHAPTERS[0]).split("# --- chapter imports below ---")[0]
    name = f"psbook[{','.join(extras)}]" if extras else "psbook"   # chapter 01: no extras
    assert head == reference.replace('"psbook @ ', f'"{name} @ '), (
        f"{md.name}: setup cell differs from {CHAPTERS[0].name}'s")
    tags = next(c.metadata.get("tags", []) for c in jupytext.read(md).cells
                if c.cell_type == "code" and "google.colab" in c.source)
    assert "hide-input" in tags, f"{md.name}: tag the setup cell hide-input"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_chapter_anatomy(md: Path):
    text = md.read_text()
    assert re.search(r"Learning goals", text), f"{md.name}: no learning goals"
    assert re.search(r"\{admonition\} Compute", text), f"{md.name}: no compute note"
    assert "TODO" not in text and "FIXME" not in text, f"{md.name}: says TODO/FIXME"
    if not md.name.startswith("01-"):
        assert "{exercise}" in text and "{solution}" in text, f"{md.name}: no exercise+solution"
        cells = jupytext.read(md).cells
        hidden = [c for c in cells if "remove-cell" in c.metadata.get("tags", [])
                  and "assert" in c.source]
        assert hidden, f"{md.name}: no hidden assertion cell (tag remove-cell)"


def test_toc_lists_every_chapter_and_only_existing_files():
    files = colab.toc_files()
    for f in files:
        assert (ROOT / f).with_suffix(".md").exists(), f"_toc.yml names missing page {f}"
    listed = {Path(f).name for f in files}
    for md in CHAPTERS:
        assert md.stem in listed, f"{md.name} is not in _toc.yml"


def test_config_never_executes_ipynb_twice_and_has_offline_safe_settings():
    cfg = _config()
    assert "**/*.ipynb" in cfg["exclude_patterns"]
    assert cfg["execute"]["timeout"] >= 60
    assert "intersphinx_mapping" not in str(cfg), "intersphinx breaks the offline -W build"
    # path_to_book "." would give Colab links like .../blob/main/./book/NN.ipynb
    assert cfg["repository"].get("path_to_book", "") in ("", None)


def test_colab_button_opens_main_and_notebooks_install_the_chapters_commit():
    """The Colab button opens `repository.branch` = main (no tag: a clone of main has none);
    each notebook installs the commit its chapter's setup cell names."""
    assert str(_config()["repository"]["branch"]) == release.BRANCH, (
        f"_config.yml repository.branch must be {release.BRANCH} (links that resolve on GitHub "
        "without tags): run `make pair`")
    for md in CHAPTERS:
        ref = release.SPEC_RE.findall(_setup_cell(md))[0][3]
        nb = md.with_suffix(".ipynb").read_text()
        assert f"{release.repository_url()}@{ref}" in nb, f"{md.name}: notebook not at {ref}"
