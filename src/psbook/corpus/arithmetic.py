"""Generated arithmetic text: the offline stand-in for the Pile's ``DM Mathematics`` subset.

DM Mathematics :cite:p:`saxton2019analysing` is question/answer text: one question per line,
its answer on the next. We generate the same shape -- sums, differences, products,
remainders, linear equations, comparisons, sorting, rounding, and calendar questions
(months and weekdays) -- from a seeded generator, so the corpus is identical on every
machine and endless. Each document is 10-30 question/answer pairs.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["arithmetic_documents", "MONTHS", "WEEKDAYS"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _num(rng: np.random.Generator, hi_exp: float = 3.0) -> int:
    """A number whose size is log-uniform up to 10**hi_exp (small numbers are common)."""
    return int(10 ** rng.uniform(0, hi_exp)) - 1 + int(rng.integers(0, 2))


def _problem(rng: np.random.Generator) -> str:
    k = int(rng.integers(0, 11))
    a, b = _num(rng), _num(rng)
    if k == 0:
        return f"What is {a} + {b}?\n{a + b}"
    if k == 1:
        return f"Calculate {a} - {b}.\n{a - b}"
    if k == 2:
        a, b = _num(rng, 2.0), _num(rng, 2.0)
        return f"What is {a} times {b}?\n{a * b}"
    if k == 3:
        b = max(b % 50, 2)
        return f"What is the remainder when {a} is divided by {b}?\n{a % b}"
    if k == 4:
        x, c = int(rng.integers(-20, 21)), int(rng.integers(2, 13))
        return f"Solve {c}*x + {b} = {c * x + b} for x.\n{x}"
    if k == 5:
        c = a + b + int(rng.integers(-9, 10))
        return f"Let x = {a} + {b}. Is x greater than {c}?\n{a + b > c}"
    if k == 6:
        xs = [int(v) for v in rng.integers(-99, 100, size=int(rng.integers(3, 6)))]
        return f"Sort {', '.join(map(str, xs))} in increasing order.\n" \
               f"{', '.join(map(str, sorted(xs)))}"
    if k == 7:
        v = round(float(rng.uniform(0, 100)), 2)
        return f"Round {v} to the nearest integer.\n{int(np.floor(v + 0.5))}"
    if k == 8:
        m, s = int(rng.integers(0, 12)), int(rng.integers(1, 12))
        return f"Which month comes {s} months after {MONTHS[m]}?\n{MONTHS[(m + s) % 12]}"
    if k == 9:
        d, s = int(rng.integers(0, 7)), int(rng.integers(1, 30))
        return f"What day of the week is {s} days after {WEEKDAYS[d]}?\n{WEEKDAYS[(d + s) % 7]}"
    y, s = int(rng.integers(1990, 2030)), int(rng.integers(1, 28))
    m = int(rng.integers(0, 12))
    return f"What is the date {s} days after {MONTHS[m]} 1, {y}?\n{MONTHS[m]} {1 + s}, {y}"


def arithmetic_documents(seed: int = 0, n_docs: int | None = None) -> Iterator[str]:
    """Endless (or ``n_docs``) documents of generated arithmetic questions and answers.

    Document ``i`` depends only on ``(seed, i)``, so any prefix of the stream is reproducible.
    """
    i = 0
    while n_docs is None or i < n_docs:
        rng = np.random.default_rng([int(seed), i])
        n = int(rng.integers(10, 31))
        yield "\n".join(_problem(rng) for _ in range(n)) + "\n"
        i += 1
