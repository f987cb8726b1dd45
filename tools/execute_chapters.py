"""Execute the book's chapters in parallel, measure each, and hand the results to Jupyter Book.

`make book` runs this before `jupyter-book build`. The long chapters (over ``ALONE_OVER_S`` CPU
seconds in the last timings, ``benchmarks/chapter-times.json``: the language-model chapters)
run first, one at a time, each with one worker process per core for its independent trainings
(``PSBOOK_WORKERS``, :mod:`psbook.parallel`); then a pool of ``--jobs`` workers (default: one
per core), each a fresh process with its own kernel and ``--threads`` BLAS/torch threads
(default: cores // jobs), executes the rest longest first. Every chapter is executed exactly as
myst-nb would (the chapter read by
myst-nb's own reader, executed by jupyter-cache's ``single_nb_execution`` in ``book/``). Each
executed notebook is stored in the jupyter-cache that the generated config
``_build/_config-book.yml`` points the build at (``execute_notebooks: cache``), so the build
renders the outputs without executing anything again; a chapter whose cached outputs do not
match its source fails here, not silently later.

``_config.yml`` itself keeps ``execute_notebooks: force``: a plain ``jupyter-book build .`` (CI)
executes every chapter as before and never shows outputs of an older psbook.

    python tools/execute_chapters.py --jobs 2 --jupyter-cache _build/.jupyter_cache \
        --write-config _build/_config-book.yml
    python tools/execute_chapters.py --chapters 05 10 --jobs 1      # just run and time two

Per chapter it prints the wall seconds and the CPU seconds (user + system of the worker and its
kernel, from ``wait4``). ``benchmarks/time_chapters.py`` uses the same pool with an empty psbook
cache per chapter to write the book's table of chapter timings.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TIMES_JSON = ROOT / "benchmarks" / "chapter-times.json"


@dataclass
class Result:
    chapter: str            # file stem, e.g. "05-composite-addition"
    wall: float             # seconds, start of the worker to its exit
    cpu: float              # user + system seconds of the worker and its kernel
    ok: bool
    error: str = ""         # the traceback when not ok
    notebook: str = ""      # path of the executed notebook (in a temporary folder)
    load: float = 0.0       # the 1-minute load average when the chapter started
    mode: tuple = (1, 1, 1)  # (chapters at once, threads, PSBOOK_WORKERS) it ran with


def book_config() -> dict:
    import yaml
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def chapter_files(select=None) -> list[Path]:
    """The chapters ``book/NN-*.md``; ``select``: number prefixes ("05") or stems to keep."""
    files = sorted(BOOK.glob("[0-9][0-9]-*.md"))
    if select:
        select = [str(s) for s in select]
        keep = [f for f in files if f.name[:2] in select or f.stem in select]
        unknown = [s for s in select if not any(f.name[:2] == s or f.stem == s for f in files)]
        if unknown:
            raise SystemExit(f"--chapters: no chapter {unknown}; have "
                             f"{[f.name[:2] for f in files]}")
        files = keep
    return files


def read_chapter(path: Path):
    """The chapter as the notebook myst-nb builds from it (same reader, same Markdown config),
    so that its jupyter-cache hash is the one the book build looks up."""
    from myst_nb.core.read import create_nb_reader
    from myst_nb.core.config import NbParserConfig
    from myst_parser.config.main import MdParserConfig
    cfg = book_config()
    md = MdParserConfig(enable_extensions=set(cfg.get("parse", {}).get("myst_enable_extensions",
                                                                        [])))
    text = path.read_text()
    reader = create_nb_reader(str(path), md, NbParserConfig(), text)
    if reader is None:
        raise ValueError(f"{path} is not a MyST notebook (no jupytext/kernelspec front matter)")
    return reader.read(text)


def _timeout(nb, override: int | None = None) -> int:
    """The per-cell timeout the build uses: ``execute.timeout`` of _config.yml, or a larger
    ``execution: timeout:`` in the chapter's front matter (which nbmake honours); ``override``
    replaces the first (a timing run on a loaded machine needs more)."""
    t = int(override or book_config().get("execute", {}).get("timeout", 900))
    own = nb.metadata.get("execution", {}).get("timeout")
    return max(t, int(own)) if own else t


def _exit_on_term(signum, frame):
    raise SystemExit(128 + signum)


def _worker(md: str, out: str, timeout: str = "") -> int:
    """Executed in a fresh process: run one chapter, write the notebook and a JSON summary."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution
    signal.signal(signal.SIGTERM, _exit_on_term)     # stop: shut the kernel down on the way out
    path = Path(md)
    nb = read_chapter(path)
    extra = {"startup_timeout": int(timeout)} if timeout else {}  # a loaded machine: slow start
    res = single_nb_execution(nb, cwd=str(path.parent), allow_errors=False,
                              timeout=_timeout(nb, int(timeout) if timeout else None),
                              meta_override=True, **extra)
    nbformat.write(nb, out)
    summary = {"seconds": res.time, "error": res.exc_string if res.err is not None else ""}
    Path(out + ".json").write_text(json.dumps(summary))
    return 0 if res.err is None else 1


def order_longest_first(files: list[Path], preset: str) -> list[Path]:
    """Chapters sorted by their last recorded CPU seconds in ``preset`` (unknown ones first:
    an unmeasured chapter may be long)."""
    try:
        rows = json.loads(TIMES_JSON.read_text()).get(preset, {})
    except (OSError, ValueError):
        rows = {}
    return sorted(files, key=lambda f: -rows.get(f.stem, {}).get("cpu", float("inf")))


# A chapter whose last recorded CPU time (this preset) exceeds this runs alone, with every core:
# its independent trainings go to one worker process per core (psbook.parallel,
# PSBOOK_WORKERS), so no chapter takes much longer than its share of the machine. The others
# then run side by side, one process each.
ALONE_OVER_S = 120.0


def plan(files: list[Path], preset: str, jobs: int,
         alone_over: float = ALONE_OVER_S) -> tuple[list[Path], list[Path]]:
    """``(alone, shared)``: the long chapters (run one at a time with ``jobs`` worker processes)
    and the rest (run ``jobs`` at a time), each in the order given."""
    if jobs <= 1:
        return [], list(files)
    try:
        rows = json.loads(TIMES_JSON.read_text()).get(preset, {})
    except (OSError, ValueError):
        rows = {}
    alone = [f for f in files if rows.get(f.stem, {}).get("cpu", 0.0) > alone_over]
    return alone, [f for f in files if f not in alone]


def run_plan(files: list[Path], *, preset: str, jobs: int, threads: int, env: dict | None = None,
             alone_over: float = ALONE_OVER_S, echo=print, **kwargs) -> list[Result]:
    """:func:`plan` then :func:`run_pool`: the long chapters one at a time, each with
    ``jobs * threads`` threads and ``PSBOOK_WORKERS=jobs``; then the rest, ``jobs`` at a time
    with ``PSBOOK_WORKERS=1``. Each :class:`Result` records the mode it ran in."""
    alone, shared = plan(files, preset, jobs, alone_over)
    env = dict(env or {})
    results: list[Result] = []
    if alone:
        echo(f"  alone, with {jobs} worker processes each: "
             f"{', '.join(f.stem[:2] for f in alone)}")
        for r in run_pool(alone, jobs=1, threads=jobs * threads,
                          env={**env, "PSBOOK_WORKERS": str(jobs)}, echo=echo, **kwargs):
            r.mode = (1, jobs * threads, jobs)
            results.append(r)
    for r in run_pool(shared, jobs=jobs, threads=threads, env={**env, "PSBOOK_WORKERS": "1"},
                      echo=echo, **kwargs):
        r.mode = (jobs, threads, 1)
        results.append(r)
    return results


def run_pool(files: list[Path], *, jobs: int, threads: int, env: dict | None = None,
             per_chapter_env=None, workdir: Path, echo=print,
             timeout: int | None = None) -> list[Result]:
    """Execute ``files`` with at most ``jobs`` workers at once, in the order given; returns
    one :class:`Result` per chapter (in the order they finished). ``per_chapter_env(path)``
    may add variables for one chapter (e.g. its own empty cache); ``timeout`` replaces the
    book's per-cell timeout."""
    if jobs < 1 or threads < 1:
        raise ValueError(f"jobs and threads must be >= 1; got jobs={jobs}, threads={threads}")
    base = dict(os.environ)
    base.update(env or {})
    base.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                OPENBLAS_NUM_THREADS=str(threads))
    base.setdefault("PSBOOK_PROGRESS", "off")
    signal.signal(signal.SIGTERM, _exit_on_term)     # stopped: stop our workers too (finally)
    todo = list(files)
    running: dict[int, tuple[Path, float, str, float]] = {}
    results: list[Result] = []
    procs = []
    try:
        while todo or running:
            while todo and len(running) < jobs:
                path = todo.pop(0)
                out = str(workdir / (path.stem + ".ipynb"))
                e = dict(base)
                if per_chapter_env is not None:
                    e.update(per_chapter_env(path))
                p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_worker",
                                      str(path), out, str(timeout or "")], env=e, cwd=str(ROOT))
                procs.append(p)
                running[p.pid] = (path, time.perf_counter(), out, os.getloadavg()[0])
                echo(f"  start  {path.stem}")
            pid, status, ru = os.wait4(-1, 0)
            if pid not in running:
                continue
            for p in procs:      # reaped by wait4: tell Popen, so it does not wait again
                if p.pid == pid:
                    p.returncode = os.waitstatus_to_exitcode(status)
            path, t0, out, load = running.pop(pid)
            wall = time.perf_counter() - t0
            cpu = ru.ru_utime + ru.ru_stime
            try:
                summary = json.loads(Path(out + ".json").read_text())
            except (OSError, ValueError):
                summary = {"error": f"the worker exited with status {status} and no result"}
            ok = os.waitstatus_to_exitcode(status) == 0 and not summary["error"]
            results.append(Result(path.stem, wall, cpu, ok, summary["error"], out, load))
            echo(f"  {'done ' if ok else 'FAILED'} {path.stem:36s} wall {wall:7.1f} s   "
                 f"cpu {cpu:7.1f} s")
    finally:
        for pid in running:          # interrupted: stop the workers we started (and kernels)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return results


def store(cache_path: Path, path: Path, executed_nb: str, seconds: float) -> None:
    """Put an executed chapter into the jupyter-cache at ``cache_path`` and check that the
    book build will find it (the hash of the chapter as myst-nb reads it must match)."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    cache = get_cache(str(cache_path))
    nb = nbformat.read(executed_nb, as_version=4)
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
                                check_validity=False, overwrite=True)
    try:
        cache.match_cache_notebook(read_chapter(path))
    except KeyError:
        raise SystemExit(f"{path.name}: the executed notebook does not match the chapter as the "
                         f"book build reads it (jupyter-cache hash); build with "
                         f"execute_notebooks: force") from None


def write_config(output: Path, cache_path: Path) -> Path:
    """``_config.yml`` with ``execute_notebooks: cache`` reading ``cache_path``."""
    import yaml
    cfg = book_config()
    cfg.setdefault("execute", {}).update(execute_notebooks="cache", cache=str(cache_path))
    # Jupyter Book resolves local extensions' folders against the config file's folder
    ext = cfg.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in ext.items():
        ext[name] = str((ROOT / folder).resolve())
    output = output if output.is_absolute() else ROOT / output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("# generated by tools/execute_chapters.py (make book): do not edit; the "
                      "chapters were executed before the build\n"
                      + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return output


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_worker"]:
        return _worker(*argv[1:4])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", nargs="*", help="number prefixes or stems (default: all)")
    ap.add_argument("--jobs", type=int, default=None, help="chapters at once (default: cores)")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/torch threads per chapter (default: cores // jobs)")
    ap.add_argument("--jupyter-cache", type=Path, default=None,
                    help="store the executed chapters here for `execute_notebooks: cache`")
    ap.add_argument("--write-config", type=Path, default=None,
                    help="write a book config that reads --jupyter-cache")
    args = ap.parse_args(argv)
    cores = default_jobs()
    jobs = args.jobs or cores
    threads = args.threads or max(1, cores // jobs)
    from psbook.presets import preset_name
    preset = preset_name()
    files = order_longest_first(chapter_files(args.chapters), preset)
    print(f"executing {len(files)} chapters, preset {preset}, longest first: the long ones alone "
          f"(PSBOOK_WORKERS={jobs}), the rest {jobs} at a time with {threads} thread(s) each"
          if jobs > 1 else f"executing {len(files)} chapters, preset {preset}, one at a time "
          f"with {threads} thread(s)", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="psbook-exec-") as tmp:
        results = run_plan(files, preset=preset, jobs=jobs, threads=threads, workdir=Path(tmp),
                           echo=lambda s: print(s, flush=True))
        failed = [r for r in results if not r.ok]
        for r in failed:
            print(f"\n=== {r.chapter} failed:\n{r.error}", file=sys.stderr)
        if not failed and args.jupyter_cache is not None:
            cache = args.jupyter_cache.resolve()
            for r in results:
                store(cache, BOOK / (r.chapter + ".md"), r.notebook, r.wall)
            if args.write_config is not None:
                print(f"wrote {write_config(args.write_config, cache)}")
    total = time.perf_counter() - t0
    cpu = sum(r.cpu for r in results)
    print(f"{len(results)} chapters in {total:.0f} s wall, {cpu:.0f} s CPU "
          f"(on average {cpu / max(total, 1e-9):.1f} of {cores} cores busy)")
    if failed:
        print(f"failed: {[r.chapter for r in failed]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
