"""Time the book's chapters: the single source of the chapter timings the book quotes.

Each chapter is executed as the book build executes it (myst-nb's reader, a fresh kernel,
working directory ``book/``; the pool of ``tools/execute_chapters.py``), cold: with its own
empty psbook cache. ``--jobs N`` runs N chapters at once (longest first), each with
``--threads`` BLAS/torch threads. For every chapter it records the wall seconds and the CPU
seconds (user + system of the worker and its kernel): on a shared machine the wall time grows
with the load, the CPU time hardly does.

Seconds hold for one machine only (two 2-vCPU machines differ by 2x), so the same run also
times a fixed reference workload (``benchmarks/reference_workload.py``: a few seconds of the
synthetic and the language-model training step, one thread) before and after the chapters,
and records each chapter also in *reference units*: its CPU seconds divided by the reference's
seconds. A reader times the reference on their own machine and multiplies.

The results go to ``benchmarks/chapter-times.json`` (merged: a run replaces only the chapters and
preset it ran) and from there to the Markdown table ``benchmarks/chapter-times.md``, which
``course/schedule.md`` and ``course/instructor-guide.md`` include, to the block between the
``chapter-times`` markers in README.md, and to the sentence between the ``chapter-time`` markers
in each chapter's Compute note (then run ``make pair``: the notebooks carry it too). Run it on
demand (never in CI), e.g. before a release:

    .venv/bin/python benchmarks/time_chapters.py --presets tiny            # every chapter
    .venv/bin/python benchmarks/time_chapters.py --presets cpu --chapters 10 11 --jobs 2
    .venv/bin/python benchmarks/time_chapters.py --render                  # table from the JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_chapters as ex  # noqa: E402

JSON = ROOT / "benchmarks" / "chapter-times.json"
TABLE = ROOT / "benchmarks" / "chapter-times.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- chapter-times: begin -->", "<!-- chapter-times: end -->"
PRESETS = ("tiny", "cpu", "gpu", "full")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        tv = f"torch {torch.__version__}"
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:  # pragma: no cover
        tv, gpu = "no torch", "no GPU"
    return f"{cpu}, {ex.default_jobs()} cores, {gpu}, {tv}"


def load() -> dict:
    try:
        return json.loads(JSON.read_text())
    except (OSError, ValueError):
        return {}


def reference(repeats: int = 3) -> dict:
    """The reference workload's record (``benchmarks/reference_workload.py``), timed in a fresh
    process with one thread; raises RuntimeError with its output when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PSBOOK_PROGRESS": "off", "PSBOOK_CACHE": "off"}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reference_workload.py"),
                          str(repeats)], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"the reference workload failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def with_units(rows: dict, before: dict, after: dict) -> dict:
    """Each chapter record gains the reference workload's seconds in this run (the mean of
    its timings before and after the chapters) and its CPU time in reference units."""
    ref = round((before["units"] + after["units"]) / 2, 2)
    spread = round(abs(before["units"] - after["units"]), 2)
    for r in rows.values():
        r.update(ref_s=ref, ref_spread_s=spread, units=round(r["cpu"] / ref, 1))
    return rows


def measure(preset: str, chapters, jobs: int, threads: int, timeout: int) -> tuple[dict, list]:
    """Execute ``chapters`` in ``preset``, each with an empty psbook cache; returns
    ``({stem: record} of the chapters that ran through, [stems that failed])``."""
    files = ex.order_longest_first(ex.chapter_files(chapters), preset)
    caches = Path(tempfile.mkdtemp(prefix="psbook-time-"))
    work = Path(tempfile.mkdtemp(prefix="psbook-time-nb-"))
    try:
        results = ex.run_plan(
            files, preset=preset, jobs=jobs, threads=threads, workdir=work,
            env={"PSBOOK_PRESET": preset, "PSBOOK_PROGRESS": "off"},
            per_chapter_env=lambda p: {"PSBOOK_CACHE": str(caches / p.stem)},
            echo=lambda s: print(f"{preset:5s}{s}", flush=True), timeout=timeout)
    finally:
        shutil.rmtree(caches, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"\n=== {r.chapter} failed in preset {preset} (not recorded):\n{r.error}",
              file=sys.stderr)
    today = dt.date.today().isoformat()
    return {r.chapter: {"wall": round(r.wall, 1), "cpu": round(r.cpu, 1), "jobs": r.mode[0],
                        "threads": r.mode[1], "workers": r.mode[2], "date": today,
                        "load": round(r.load, 1),
                        "machine": machine()}
            for r in results if r.ok}, [r.chapter for r in failed]


def _fmt(v) -> str:
    return "–" if v is None else (f"{v:.0f}" if v >= 10 else f"{v:.1f}")


def render(data: dict) -> str:
    """The Markdown table (no headings: it is included into other pages)."""
    presets = [p for p in PRESETS if data.get(p)]
    stems = sorted({s for p in presets for s in data[p]})
    head = "| chapter | " + " | ".join(f"`{p}` wall s | `{p}` CPU s | `{p}` units"
                                       for p in presets) + " |"
    lines = [head, "|---|" + "---:|---:|---:|" * len(presets)]
    totals = {p: [0.0, 0.0] for p in presets}
    for s in stems:
        cells = []
        for p in presets:
            r = data[p].get(s)
            cells += [_fmt(r and r["wall"]), _fmt(r and r["cpu"]), _fmt(r and r.get("units"))]
            if r:
                totals[p][0] += r["wall"]
                totals[p][1] += r["cpu"]
        lines.append(f"| {s[:2]} {s[3:]} | " + " | ".join(cells) + " |")
    miss = {p: len(stems) - len(data[p]) for p in presets}
    tot = []
    for p in presets:
        star = "" if not miss[p] else f" ({len(data[p])} of {len(stems)})"
        units = [r["units"] for r in data[p].values() if r.get("units") is not None]
        tot += [f"{_fmt(totals[p][0])}{star}", f"{_fmt(totals[p][1])}{star}",
                f"{_fmt(sum(units))}" if len(units) == len(data[p]) else "–"]
    lines.append("| **sum** | " + " | ".join(tot) + " |")
    notes = []
    for p in presets:
        rows = list(data[p].values())
        modes = sorted({(r["jobs"], r["threads"], r.get("workers", 1)) for r in rows})
        dates = sorted({r["date"] for r in rows})
        machines = sorted({r["machine"] for r in rows})
        loads = [r["load"] for r in rows if r.get("load") is not None]
        run_loads = [r["load_run"] for r in rows if r.get("load_run") is not None]
        refs = sorted({(r["ref_s"], r.get("ref_spread_s", 0)) for r in rows if r.get("ref_s")})
        mode = "; ".join(
            f"{sum(1 for r in rows if (r['jobs'], r['threads'], r.get('workers', 1)) == (j, t, w))}"
            f" run {'alone' if j == 1 else f'{j} at a time'} with {t} thread{'s' if t > 1 else ''}"
            + (f" and {w} worker processes" if w > 1 else "") + ("" if j == 1 else " each")
            for j, t, w in modes)
        notes.append(f"`{p}`: {len(rows)} chapters ({mode}); {', '.join(dates)}; "
                     f"{' / '.join(machines)}"
                     + (f"; 1-minute load average when a chapter started: {min(loads):g}–{max(loads):g}"
                        if loads else "")
                     + (f"; 1-minute load average when the run started: "
                        f"{', '.join(f'{x:g}' for x in sorted(set(run_loads)))}" if run_loads else "")
                     + (f"; one reference unit (`benchmarks/reference_workload.py`) took "
                        + ", ".join(f"{a:g} s (± {b:g} s between before and after)"
                                    for a, b in refs) + " of CPU there" if refs else
                        "; no reference workload timed with these rows (units: –)")
                     + ".")
    caption = (
        "Chapter timings, written by `benchmarks/time_chapters.py` (do not edit by hand: run it "
        "again). Each chapter executed once as the book build executes it, in a fresh kernel "
        "with an empty psbook cache. *Wall* is the elapsed time, *CPU* the user + system time "
        "of the chapter's process and kernel. The measuring machine may be shared (see the load "
        "average below): there the wall time is inflated many times by the other work, the CPU "
        "time much less (somewhat, through shared caches and memory bandwidth), so on an idle "
        "machine with one thread per chapter expect a wall time close to, or a little below, "
        "the CPU time. *Units* is the CPU time in reference units: the CPU seconds divided by "
        "those of a fixed reference workload (`benchmarks/reference_workload.py`: the "
        "synthetic and the language-model training step at fixed sizes, one thread, a few "
        "seconds) timed in the same run; time the reference on your machine and multiply to "
        "predict a chapter there. Seconds alone do not carry over: a 2-vCPU AMD EPYC machine "
        "needed 1.7-2.5x these CPU seconds for the same chapters. "
        "A `–` is a chapter not measured in that preset.")
    return "\n".join(lines) + "\n\n" + caption + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


CH_BEGIN, CH_END = "<!-- chapter-time: begin -->", "<!-- chapter-time: end -->"


def chapter_line(data: dict, stem: str) -> str:
    """The sentence each chapter's Compute note shows between the chapter-time markers."""
    parts, missing = [], []
    for p in PRESETS:
        r = data.get(p, {}).get(stem)
        if not r:
            missing.append(f"`{p}`")
            continue
        w = r.get("workers", 1)
        how = (f" (its trainings on {w} worker processes; {_fmt(r['cpu'])} s of CPU)"
               if w > 1 else "")
        unit = f", {_fmt(r['units'])} reference units" if r.get("units") is not None else ""
        parts.append(f"`{p}` {_fmt(r['wall'])} s{how}{unit}")
    dates = sorted({data[p][stem]["date"] for p in PRESETS if data.get(p, {}).get(stem)})
    machines = sorted({data[p][stem]["machine"] for p in PRESETS if data.get(p, {}).get(stem)})
    if not parts:
        return "Not yet timed: see `benchmarks/time_chapters.py`."
    line = (f"Measured by `benchmarks/time_chapters.py` (the whole chapter, empty cache; "
            f"{'; '.join(machines)}; {', '.join(dates)}): {', '.join(parts)}.")
    if any(data.get(p, {}).get(stem, {}).get("units") is not None for p in PRESETS):
        line += (" On another machine multiply the units by the seconds of "
                 "`benchmarks/reference_workload.py` there.")
    if missing:
        line += f" Not measured there: {', '.join(missing)} (see the README's preset table)."
    return line


def write_chapters(data: dict) -> list[str]:
    """Rewrite the chapter-time block of every chapter; returns the chapters without one."""
    missing = []
    for path in sorted((ROOT / "book").glob("[0-9][0-9]-*.md")):
        text = path.read_text()
        if CH_BEGIN not in text or CH_END not in text:
            missing.append(path.stem)
            continue
        a, rest = text.split(CH_BEGIN, 1)
        _, b = rest.split(CH_END, 1)
        new = a + CH_BEGIN + "\n" + chapter_line(data, path.stem) + "\n" + CH_END + b
        if new != text:
            path.write_text(new)
    return missing


def write(data: dict) -> None:
    JSON.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    table = render(data)
    TABLE.write_text(table)
    text = README.read_text()
    if BEGIN in text and END in text:
        a, rest = text.split(BEGIN, 1)
        _, b = rest.split(END, 1)
        README.write_text(a + BEGIN + "\n" + table + END + b)
    else:
        print(f"README.md has no {BEGIN} ... {END} block: not updated", file=sys.stderr)
    missing = write_chapters(data)
    if missing:
        print(f"no {CH_BEGIN} block (not updated): {missing}", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny"], choices=PRESETS)
    ap.add_argument("--chapters", nargs="*", default=None,
                    help="chapter number prefixes or stems (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="chapters at once (default 1: alone)")
    ap.add_argument("--threads", type=int, default=1, help="threads per chapter (default 1)")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="per-cell timeout in seconds (default 3600: a loaded machine is slow)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the table and README block from the JSON")
    ap.add_argument("--dry-run", action="store_true", help="measure and print; write nothing")
    args = ap.parse_args(argv)
    measured, failed = {}, []
    if not args.render:
        for preset in args.presets:
            before = reference()
            print(f"reference workload before {preset}: {before}", flush=True)
            rows, bad = measure(preset, args.chapters, args.jobs, args.threads, args.timeout)
            after = reference()
            print(f"reference workload after {preset}: {after}", flush=True)
            measured[preset] = with_units(rows, before, after)
            failed += [f"{preset}/{c}" for c in bad]
    data = load()                 # read only now: another run may have written meanwhile
    for preset, rows in measured.items():
        data.setdefault(preset, {}).update(rows)
    if args.dry_run:
        print(render(data))
        return 1 if failed else 0
    write(data)
    print(render(data))
    print(f"wrote {JSON.relative_to(ROOT)}, {TABLE.relative_to(ROOT)} and README.md's block")
    if failed:
        print(f"failed, not recorded: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
