"""Issue 29.5: the problem sets' answer key is computed into _build/, never committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from psbook.course import instructor

ROOT = Path(__file__).resolve().parents[1]


def test_softplus_coefficients_are_a_half_and_an_eighth():
    c1, c2 = instructor.softplus_coefficients()
    assert c1 == pytest.approx(0.5, abs=1e-6) and c2 == pytest.approx(0.125, abs=1e-6)


def test_ps2_variants_are_not_the_books_settings_and_count():
    sig = instructor.ps2_signatures()
    assert len(sig) == 4 and all(set(v) == {"R_order phi_y", "R_order phi_X", "phi_y uniform"}
                                 for v in sig.values())


def test_the_answer_key_goes_to_build_and_is_ignored_by_git(tmp_path, monkeypatch):
    monkeypatch.setattr(instructor, "answer_key", lambda: "KEY\n")
    path = instructor.write(tmp_path)
    assert path == tmp_path / "_build" / "course-instructor" / "answer-key.md"
    assert path.read_text() == "KEY\n"
    r = subprocess.run(["git", "check-ignore", "-q", "_build/course-instructor/answer-key.md"],
                       cwd=ROOT)
    assert r.returncode == 0, "_build/ must stay out of the repository"
    public = "\n".join(p.read_text() for p in (ROOT / "course" / "notebooks").rglob("*.ipynb"))
    assert "squared loss" not in public.lower() and "softplus" not in public.lower()
