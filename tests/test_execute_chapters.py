"""The parallel chapter execution of `make book` (tools/execute_chapters.py) and the one table of
chapter timings (benchmarks/time_chapters.py -> benchmarks/chapter-times.md)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


ex = _load("execute_chapters", ROOT / "tools" / "execute_chapters.py")
tc = _load("time_chapters", ROOT / "benchmarks" / "time_chapters.py")

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
:tags: [hide-input]
import os
x = sum(range(10))
print("x =", x, os.environ.get("OMP_NUM_THREADS"))
```
"""


def test_ci_build_still_executes_every_chapter():
    """_config.yml (what CI's `jupyter-book build . -W -n` reads) keeps force: only `make book`
    reads pre-executed chapters, through the generated config."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert "benchmarks" in cfg["exclude_patterns"]


def test_make_book_executes_in_parallel_then_builds_from_the_cache():
    text = (ROOT / "Makefile").read_text()
    book = text.split("\nbook:", 1)[1].split("\n\n", 1)[0]
    assert "tools/execute_chapters.py --jobs $(JOBS) --jupyter-cache _build/.jupyter_cache" in book
    assert "--config _build/_config-book.yml -W -n" in book
    assert book.index("execute_chapters.py") < book.index("jupyter-book build")


def test_written_config_reads_the_cache(tmp_path):
    out = ex.write_config(tmp_path / "c.yml", tmp_path / "jc")
    cfg = yaml.safe_load(out.read_text())
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "cache"
    assert cfg["execute"]["cache"] == str(tmp_path / "jc")
    # everything else as in _config.yml; local extension folders made absolute (Jupyter Book
    # resolves them against the config file's folder, here _build/)
    for name, folder in base["sphinx"]["local_extensions"].items():
        assert Path(cfg["sphinx"]["local_extensions"][name]) == (ROOT / folder).resolve()
    assert cfg["exclude_patterns"] == base["exclude_patterns"]
    assert cfg["execute"]["timeout"] == base["execute"]["timeout"]


def test_chapter_selection_and_order(tmp_path, monkeypatch):
    files = ex.chapter_files()
    assert [f.name[:2] for f in files] == sorted(f.name[:2] for f in files) and len(files) >= 13
    assert [f.name[:2] for f in ex.chapter_files(["05", "10"])] == ["05", "10"]
    with pytest.raises(SystemExit, match=r"--chapters: no chapter \['99'\]"):
        ex.chapter_files(["99"])
    js = tmp_path / "t.json"
    js.write_text('{"cpu": {"05-composite-addition": {"cpu": 19}, '
                  '"10-training-a-small-qwen": {"cpu": 343}}}')
    monkeypatch.setattr(ex, "TIMES_JSON", js)
    sel = ex.chapter_files(["01", "05", "10"])
    # longest first; a chapter never measured counts as long (it may be)
    assert [f.name[:2] for f in ex.order_longest_first(sel, "cpu")] == ["01", "10", "05"]
    assert [f.name[:2] for f in ex.order_longest_first(sel, "tiny")] == ["01", "05", "10"]
    # the long chapters run alone (with every core as worker processes), the rest side by side
    alone, shared = ex.plan(ex.order_longest_first(sel, "cpu"), "cpu", jobs=2)
    assert [f.name[:2] for f in alone] == ["10"] and [f.name[:2] for f in shared] == ["01", "05"]
    assert ex.plan(sel, "cpu", jobs=1) == ([], sel)          # one core: nothing to share
    assert ex.plan(sel, "tiny", jobs=2) == ([], sel)         # nothing recorded as long


def test_pool_executes_measures_and_caches(tmp_path):
    good = tmp_path / "good.md"
    good.write_text(CHAPTER)
    bad = tmp_path / "bad.md"
    bad.write_text(CHAPTER.replace("x = sum(range(10))", "raise ValueError('broken chapter')"))
    work = tmp_path / "work"
    work.mkdir()
    res = {r.chapter: r for r in ex.run_pool([good, bad], jobs=2, threads=1, workdir=work,
                                             echo=lambda s: None)}
    assert res["good"].ok and not res["good"].error
    assert res["good"].wall > 0 and res["good"].cpu > 0   # the worker's and kernel's CPU time
    assert not res["bad"].ok and "broken chapter" in res["bad"].error
    import nbformat
    nb = nbformat.read(res["good"].notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "x = 45 1" in "".join(o.get("text", "") for o in code[0].outputs)
    # stored where the book build looks it up: the chapter as myst-nb reads it matches
    from jupyter_cache import get_cache
    ex.store(tmp_path / "jc", good, res["good"].notebook, res["good"].wall)
    rec = get_cache(str(tmp_path / "jc")).match_cache_notebook(ex.read_chapter(good))
    assert rec.data["execution_seconds"] == pytest.approx(res["good"].wall)
    # an edited chapter no longer matches: the build would not show stale outputs
    good.write_text(CHAPTER.replace("range(10)", "range(11)"))
    with pytest.raises(KeyError):
        get_cache(str(tmp_path / "jc")).match_cache_notebook(ex.read_chapter(good))
    with pytest.raises(ValueError, match="jobs and threads must be >= 1"):
        ex.run_pool([good], jobs=0, threads=1, workdir=work)


SAMPLE = {
    "tiny": {"01-reading-this-book": dict(wall=3.0, cpu=2.5, jobs=2, threads=1, date="2026-12-05",
                                          load=9.0, machine="m"),
             "10-training-a-small-qwen": dict(wall=120.0, cpu=47.0, jobs=2, threads=1,
                                              date="2026-12-05", load=9.0, machine="m")},
    "cpu": {"10-training-a-small-qwen": dict(wall=600.0, cpu=170.0, jobs=2, threads=1,
                                             date="2026-12-05", load=12.0, machine="m")},
}


def test_table_shows_wall_and_cpu_and_what_is_missing():
    t = tc.render(SAMPLE)
    lines = t.splitlines()
    assert lines[0] == ("| chapter | `tiny` wall s | `tiny` CPU s | `tiny` units | `cpu` wall s "
                        "| `cpu` CPU s | `cpu` units |")
    assert "| 01 reading-this-book | 3.0 | 2.5 | – | – | – | – |" in lines
    assert "| 10 training-a-small-qwen | 120 | 47 | – | 600 | 170 | – |" in lines
    assert "| **sum** | 123 | 50 | – | 600 (1 of 2) | 170 (1 of 2) | – |" in lines
    assert "the CPU time much less" in t and "#" not in t.split("\n\n")[0]  # no headings


def test_committed_table_readme_and_course_pages_agree():
    """One source: the table, README's block and the course pages all come from the JSON."""
    data = tc.load()
    assert data.get("tiny"), "benchmarks/chapter-times.json has no tiny timings"
    stems = {f.stem for f in ex.chapter_files()}
    assert set(data["tiny"]) == stems, "every chapter is timed in the tiny preset"
    table = tc.render(data)
    assert tc.TABLE.read_text() == table, "chapter-times.md is stale: run time_chapters.py --render"
    readme = tc.README.read_text()
    assert f"{tc.BEGIN}\n{table}{tc.END}" in readme, "README's chapter-times block is stale"
    for page in ("schedule", "instructor-guide", "syllabus"):
        assert "```{include} ../benchmarks/chapter-times.md" in \
            (ROOT / "course" / f"{page}.md").read_text(), page
    # ... and every chapter's Compute note quotes its own row, not a number typed by hand
    for f in ex.chapter_files():
        text = f.read_text()
        note = text.split("{admonition} Compute", 1)[1].split("\n```", 1)[0]
        want = f"{tc.CH_BEGIN}\n{tc.chapter_line(data, f.stem)}\n{tc.CH_END}"
        assert want in note, f"{f.name}: its Compute note's chapter-time block is stale or " \
                             f"missing: run time_chapters.py --render"
        assert not re.search(r"\b\d+(\.\d+)?\s*(s|min|minutes?)\b", note.replace(want, "")), \
            f"{f.name}: a time typed by hand in the Compute note"


def test_chapter_line_names_workers_and_what_is_missing():
    row = {"wall": 95.0, "cpu": 190.0, "workers": 2, "date": "2026-12-05", "machine": "M"}
    line = tc.chapter_line({"tiny": {"x": {**row, "wall": 20.0, "workers": 1}},
                            "cpu": {"x": row}}, "x")
    assert "`tiny` 20 s" in line and "`cpu` 95 s (its trainings on 2 worker processes; 190 s of CPU)" \
        in line and "Not measured there: `gpu`, `full`" in line and "M; 2026-12-05" in line
