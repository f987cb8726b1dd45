"""A tiny fixture chapter with one checkable exercise, for the course tests.

Its check is defined in a temporary module (``fixture_checks.py`` next to the chapter), so the
tests depend on no chapter of the book and on no ``checks/chNN.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CHAPTER = textwrap.dedent('''\
    ---
    jupytext:
      formats: md:myst
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # A fixture chapter

    (sec-fixture)=
    ## Setup

    Read {doc}`01-reading-this-book` first; equation {eq}`eq-x` and {cite:p}`yao2025probability`.
    The sum is {glue:text}`fx_sum:.2f`.

    $$
    x_i = i
    $$ (eq-x)

    ```{code-cell} ipython3
    :tags: [hide-input]

    import numpy as np
    from types import SimpleNamespace
    import fixture_checks
    checks = SimpleNamespace(ch99=fixture_checks)
    x = np.arange(5.0)
    ```

    ```{exercise} Doubling
    :label: ex-99-double

    Store twice `x` in `doubled`.
    ```

    ```{code-cell} ipython3
    :tags: [hide-input, exercise]

    # Exercise ex-99-double: twice x
    scale = 2.0
    if True:
        ### BEGIN SOLUTION
        doubled = scale * x
        ### END SOLUTION
    ```

    ```{code-cell} ipython3
    :tags: [exercise-check]

    checks.ch99.double(globals())
    ```

    ````{solution} ex-99-double
    :class: dropdown

    SECRET-PROSE-SOLUTION

    ```python
    doubled = 2 * x
    ```
    ````

    ```{code-cell} ipython3
    :tags: [remove-cell]

    assert doubled.sum() == 20, "HIDDEN-ASSERTION"
    ```

    ```{code-cell} ipython3
    :tags: [remove-cell]

    helper = 3
    ```

    ```{code-cell} ipython3
    print("total", x.sum() + helper)
    ```

    ```{note}
    KEPT-NOTE after the exercise.
    ```
    ''')

CHECKS = textwrap.dedent('''\
    from psbook.course.checks._base import exercise

    @exercise("ex-99-double", answers={"doubled": "twice x"}, hint="multiply x by scale")
    def double(ns):
        return {"doubled": 2 * ns["x"]}
    ''')

CONFIG = textwrap.dedent('''\
    title: Fixture
    only_build_toc_files: true
    exclude_patterns: [_build, "**/*.ipynb"]
    execute:
      execute_notebooks: "off"
    repository:
      url: https://github.com/owner/repo
      branch: main
    sphinx:
      extra_extensions:
        - sphinx_exercise
        - psbook.course.student
    ''')


def make_book(root: Path) -> Path:
    """A book root with ``_config.yml`` and ``book/99-fixture.md``; returns the chapter."""
    book = root / "book"
    book.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(CONFIG)
    md = book / "99-fixture.md"
    md.write_text(CHAPTER)
    (book / "01-no-exercises.md").write_text(CHAPTER.split("```{code-cell}")[0])
    (book / "fixture_checks.py").write_text(CHECKS)
    return md
