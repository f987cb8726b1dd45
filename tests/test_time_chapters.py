"""benchmarks/time_chapters.py's reference units and benchmarks/reference_workload.py (no
timing is asserted: only that the records, the table and the chapters' sentence carry them)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return mod


@pytest.fixture(scope="module")
def tc():
    return _load("time_chapters")


def _row(cpu, **kw):
    return {"wall": cpu, "cpu": cpu, "jobs": 1, "threads": 1, "workers": 1, "date": "2026-12-07",
            "load": 0.5, "machine": "Test CPU, 2 cores, no GPU, torch x", **kw}


def test_units_are_cpu_seconds_over_the_mean_reference(tc):
    rows = tc.with_units({"05-a": _row(30.0), "10-b": _row(120.0)},
                         {"units": 5.0}, {"units": 7.0})
    assert rows["05-a"]["ref_s"] == 6.0 and rows["05-a"]["ref_spread_s"] == 2.0
    assert rows["05-a"]["units"] == 5.0 and rows["10-b"]["units"] == 20.0


def test_table_and_chapter_line_show_units_and_say_when_missing(tc):
    data = {"cpu": tc.with_units({"05-a": _row(30.0)}, {"units": 6.0}, {"units": 6.0}),
            "tiny": {"05-a": _row(3.0)}}
    table = tc.render(data)
    assert "`cpu` units" in table and "| 5.0 |" in table
    assert "one reference unit" in table and "6 s" in table
    assert "no reference workload timed with these rows" in table      # the tiny rows
    line = tc.chapter_line(data, "05-a")
    assert "5.0 reference units" in line and "reference_workload.py" in line


def test_reference_workload_runs_and_reports_positive_seconds(monkeypatch):
    rw = _load("reference_workload")
    monkeypatch.setattr(rw, "SYNTHETIC_STEPS", 5)
    monkeypatch.setattr(rw, "LM_STEPS", 1)
    rec = rw.run(repeats=1)
    assert rec["synthetic"] >= 0 and rec["lm"] > 0 and rec["threads"] == 1
    assert rec["units"] == pytest.approx(rec["synthetic"] + rec["lm"], abs=0.02)
    with pytest.raises(ValueError, match="repeats"):
        rw.run(repeats=0)
