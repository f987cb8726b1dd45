"""Visible code reads on the page (tools/fit_code.py): no line longer than the page's column,
no code exploded into lines that are only a closing bracket.

The code column of a page at a 1280 px window holds 81 characters (13 px code font, see
tools/psbook_static/psbook.css); a longer line of a code cell the reader sees needs horizontal
scrolling and hides its end. Lines that are only ``)`` or ``],`` are what a reflow leaves
behind; over 5 % of a chapter's visible lines (tools/page_metrics.py's measure) the code was
reflowed to fit rather than shortened. `python tools/fit_code.py` lists both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import fit_code  # noqa: E402
import page_metrics  # noqa: E402

CHAPTERS = fit_code.chapters()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_fits_the_column(path):
    long = [x for b in fit_code.blocks(path) for x in fit_code.long_lines(b)]
    assert not long, (f"{len(long)} visible code lines over {fit_code.WIDTH} characters "
                      f"(shorten them: name things, move bookkeeping into psbook):\n"
                      + "\n".join(f"  {path.name}:{n}: {s.strip()[:70]}" for n, s in long[:10]))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_is_not_exploded(path):
    bad = fit_code.problems(path)
    assert not bad, ("visible code exploded into bracket-only lines (shorten it: name things, "
                     "move bookkeeping into psbook, split the cell):\n" + "\n".join(bad[:12]))


_CHAPTER = '''# Title

```{code-cell} ipython3
:tags: [hide-input]

import sys
PSBOOK = "psbook[online] @ git+https://github.com/psbook/probability-signatures-book@0123456789abcdef"
print(describe(preset))
# --- chapter imports below ---
import numpy as np
```

```{code-cell} ipython3
x = 1  # short
y = [1, 2, 3]
z = x + sum(y)
z
```

```{code-cell} ipython3
:tags: [remove-cell]

hidden = some_function_with_a_long_name(argument_one=1, argument_two=2, argument_three=3, four=4)
rows = [
    1,
]
```

```{code-cell} ipython3
checks.ch99.answer(globals())
```

````{solution} ex-1
:class: dropdown

```python
shown = x + 1
```
````
'''

_LONG = "result = some_function_with_a_long_name(argument_one=1, argument_two=2, three=3, four=4)\n"
_EXPLODED = "table = [\n    [\n        0\n    ],\n    [\n        1\n    ],\n]\n"


def _write(tmp_path, text: str) -> Path:
    ch = tmp_path / "99-test.md"
    ch.write_text(text)
    return ch


def test_the_check_passes_a_chapter_that_reads(tmp_path):
    """The setup cell's long head and the hidden cell's long line and brackets do not count."""
    ch = _write(tmp_path, _CHAPTER)
    assert [b.visible for b in fit_code.blocks(ch)] == [True, True, False, True, True]
    assert fit_code.problems(ch) == []
    assert fit_code.main([str(ch)]) == 0
    assert ch.read_text() == _CHAPTER  # the check rewrites nothing


def test_the_check_fails_a_long_visible_line(tmp_path):
    """Negative control for test_visible_code_fits_the_column: a planted long line, in a cell
    and in a solution's code block."""
    text = _CHAPTER.replace("z = x + sum(y)\n", "z = x + sum(y)\n" + _LONG)
    text = text.replace("shown = x + 1\n", "shown = x + 1\n" + _LONG)
    ch = _write(tmp_path, text)
    long = [x for b in fit_code.blocks(ch) for x in fit_code.long_lines(b)]
    assert len(long) == 2 and all(len(s) > fit_code.WIDTH for _, s in long)
    bad = fit_code.problems(ch)
    assert len(bad) == 2 and all("> 80 characters" in x for x in bad), bad
    assert fit_code.main([str(ch)]) == 1


def test_the_check_fails_an_exploded_list(tmp_path):
    """Negative control for test_visible_code_is_not_exploded: a planted list written one
    bracket per line (chapter 07's ``[\\n 0\\n ],``) is over 5 % of the chapter's lines."""
    ch = _write(tmp_path, _CHAPTER.replace("z = x + sum(y)\n", "z = x + sum(y)\n" + _EXPLODED))
    n, total, where = fit_code.bracket_lines(ch)
    assert (n, len(where)) == (3, 3) and n / total > 0.05
    # the same count as tools/page_metrics.py's (one definition of a bracket line)
    pm = page_metrics.Chapter("99-test")
    page_metrics.measure_cells(ch, pm)
    assert (pm.bracket_lines, pm.code_lines) == (n, total)
    bad = fit_code.problems(ch)
    assert bad and "only a closing bracket" in bad[0] and len(bad) == 4, bad
    assert fit_code.main([str(ch)]) == 1


def test_a_few_bracket_lines_are_allowed(tmp_path):
    """One closing bracket in more than 20 visible lines is within the 5 %."""
    body = "".join(f"v{i} = {i}\n" for i in range(20)) + "w = f(\n    v0, v1)\nprint(\n    w\n)\n"
    ch = _write(tmp_path, _CHAPTER.replace("z = x + sum(y)\n", "z = x + sum(y)\n" + body))
    n, total, _ = fit_code.bracket_lines(ch)
    assert n == 1 and n <= 0.05 * total
    assert fit_code.problems(ch) == []
