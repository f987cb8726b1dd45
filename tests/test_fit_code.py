"""Visible code fits the page's column (tools/fit_code.py).

The code column of a page at a 1280 px window holds 81 characters (13 px code font, see
tools/psbook_static/psbook.css); a longer line of a code cell the reader sees needs horizontal
scrolling and hides its end. `python tools/fit_code.py` reformats the chapters.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import fit_code  # noqa: E402

CHAPTERS = fit_code.chapters()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_fits_the_column(path):
    long = [x for b in fit_code.blocks(path) for x in fit_code.long_lines(b)]
    assert not long, (f"{len(long)} visible code lines over {fit_code.WIDTH} characters (run "
                      f"`python tools/fit_code.py`):\n"
                      + "\n".join(f"  {path.name}:{n}: {s.strip()[:70]}" for n, s in long[:10]))


_CHAPTER = '''# Title

```{code-cell} ipython3
:tags: [hide-input]

import sys
PSBOOK = "psbook[online] @ git+https://github.com/psbook/probability-signatures-book@0123456789abcdef"
# --- chapter imports below ---
import numpy as np
```

```{code-cell} ipython3
x = 1  # short
result = some_function_with_a_long_name(argument_one=1, argument_two=2, argument_three=3, four=4)
y = [1,2,3]
# a comment line that is far too long for the column of the page, so it must be wrapped somewhere
```

```{code-cell} ipython3
:tags: [remove-cell]

hidden = some_function_with_a_long_name(argument_one=1, argument_two=2, argument_three=3, four=4)
```

````{solution} ex-1
:class: dropdown

```python
shown = some_function_with_a_long_name(argument_one=1, argument_two=2, argument_three=3, f=4)
```
````
'''


def test_the_tool_fits_visible_code_and_leaves_the_rest(tmp_path):
    ch = tmp_path / "99-test.md"
    ch.write_text(_CHAPTER)
    before = [b for b in fit_code.blocks(ch)]
    assert [b.visible for b in before] == [True, True, False, True]
    assert len([x for b in before for x in fit_code.long_lines(b)]) == 3  # not the setup head
    left = fit_code.fit_file(ch)
    assert left == []
    text = ch.read_text()
    after = fit_code.blocks(ch)
    for b in after:
        ast.parse(b.code)
    # the setup cell's head (release.py owns it) and the hidden cell are untouched
    assert after[0].code == before[0].code
    assert after[2].code == before[2].code
    # the rest of a reformatted cell keeps its author's layout
    assert "x = 1  # short\n" in after[1].code and "y = [1,2,3]\n" in after[1].code
    assert ":tags: [hide-input]" in text and "````{solution} ex-1" in text
    assert all(len(x) <= fit_code.WIDTH for b in after[1:] if b.visible
               for x in b.code.splitlines())
    assert fit_code.fit_file(ch) == [] and ch.read_text() == text  # idempotent


def test_the_check_fails_a_long_visible_line(tmp_path):
    """Negative control for test_visible_code_fits_the_column."""
    ch = tmp_path / "99-test.md"
    ch.write_text(_CHAPTER)
    long = [x for b in fit_code.blocks(ch) for x in fit_code.long_lines(b)]
    assert [len(s) > fit_code.WIDTH for _, s in long] == [True, True, True]
    assert fit_code.main(["--check", str(ch)]) == 1
