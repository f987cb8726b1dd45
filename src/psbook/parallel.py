r"""Independent runs on several CPU cores: a pool of worker processes.

The language-model chapters (10, 11 and 13) train many small models that do not depend on each
other -- seeds, ablations, corpora, doses. On a CPU one such training is too small for a second
BLAS thread to pay off (two threads ran a cpu-preset training 1.33x faster, measured with
``torch.set_num_threads``), but two trainings side by side in two processes run twice as fast as
one after the other. :func:`map_jobs` runs a list of such jobs on :func:`workers` processes and
returns their results in order.

* **Same results.** Each worker calls the same function with the same arguments and one torch
  thread, so a job's result is the one it would give in this process with one thread (the book
  build runs chapters with one thread; with several threads a matrix product may sum in another
  order, a last-bit difference).
* **Same environment.** Every job carries this process's ``PSBOOK_*`` variables (cache folder,
  preset, progress...), so a worker started earlier never writes to a stale cache folder.
* **Errors.** A job's exception is raised here, unchanged, once every job has finished (the
  others' results are cached by then); a worker that dies (out of memory, killed) raises a
  ``RuntimeError`` that says how to run without workers.
* ``PSBOOK_WORKERS``: a positive integer, or ``auto`` (the default): one process (no pool) in
  the ``tiny`` preset -- CI and quick runs, where starting workers costs more than it saves --
  and when training on a GPU (one device, one process); otherwise the cores this process may
  use, at most one per job. ``make book`` sets it per chapter.

The pool is started on first use (``spawn``: a fresh interpreter per worker, a few seconds) and
kept for later calls in the same session.
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Callable, Sequence

__all__ = ["workers", "map_jobs", "available_cores", "shutdown"]

_POOL = None
_POOL_SIZE = 0


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _setting() -> int | None:
    """``PSBOOK_WORKERS`` as an int, or None for ``auto``; a bad value raises naming it."""
    raw = os.environ.get("PSBOOK_WORKERS", "").strip().lower()
    if raw in ("", "auto"):
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"PSBOOK_WORKERS must be a positive integer or 'auto'; got "
                         f"{os.environ['PSBOOK_WORKERS']!r}")
    return n


def workers(n_jobs: int | None = None, device: str = "cpu") -> int:
    """How many processes :func:`map_jobs` uses for ``n_jobs`` jobs on ``device`` (see the
    module docstring for ``PSBOOK_WORKERS``)."""
    n = _setting()
    if n is None:
        from .presets import preset_name
        if str(device) != "cpu" or preset_name() == "tiny":
            n = 1
        else:
            n = available_cores()
    if n_jobs is not None:
        n = min(n, max(1, int(n_jobs)))
    return max(1, n)


def _init_worker(threads: int) -> None:
    import signal
    # Ctrl-C / "interrupt kernel" is for the caller, which stops waiting and cancels the jobs
    # not yet started; a worker finishes (and caches) the job it is on, and exits quietly
    # when the session ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch
    torch.set_num_threads(threads)


def _run(env: dict, fn: Callable, args: tuple, kwargs: dict):
    for k in [k for k in os.environ if k.startswith("PSBOOK_")]:
        if k not in env:
            del os.environ[k]
    os.environ.update(env)
    os.environ["PSBOOK_PROGRESS"] = "off"         # the caller shows one bar for all jobs
    os.environ["PSBOOK_WORKERS"] = "1"            # a job never starts a pool of its own
    return fn(*args, **kwargs)


def shutdown() -> None:
    """Stop the worker processes (they are started again when needed)."""
    global _POOL, _POOL_SIZE
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
    _POOL, _POOL_SIZE = None, 0


atexit.register(shutdown)


def _pool(n: int):
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE != n:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        shutdown()
        threads = max(1, available_cores() // n)
        _POOL = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_worker, initargs=(threads,))
        _POOL_SIZE = n
    return _POOL


def map_jobs(fn: Callable, jobs: Sequence[tuple[tuple, dict]], *, n_workers: int | None = None,
             device: str = "cpu", desc: str = "jobs", progress: bool = True) -> list[Any]:
    """``[fn(*args, **kwargs) for args, kwargs in jobs]``, on ``n_workers`` processes (default
    :func:`workers`). ``fn`` must be importable (a module-level function) and the arguments
    and results picklable. With one worker (or one job) everything runs here, in order."""
    from .progress import progress_bar
    jobs = [(tuple(a), dict(k)) for a, k in jobs]
    n = workers(len(jobs), device) if n_workers is None else \
        min(max(1, int(n_workers)), max(1, len(jobs)))
    if n <= 1 or len(jobs) <= 1:
        return [fn(*a, **k) for a, k in jobs]
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool
    env = {k: v for k, v in os.environ.items() if k.startswith("PSBOOK_")}
    pool = _pool(n)
    futures = {pool.submit(_run, env, fn, a, k): i for i, (a, k) in enumerate(jobs)}
    results: list = [None] * len(jobs)
    errors: dict = {}
    bar = progress_bar(total=len(jobs), desc=f"{desc} ({n} processes)", enabled=progress)
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool as exc:
                shutdown()
                raise RuntimeError(f"a worker process died while running {desc} (out of memory, "
                                   f"or killed); run again with PSBOOK_WORKERS=1 to train one "
                                   f"model at a time in this process") from exc
            except Exception as exc:           # the job's own error: raised after the others
                errors[i] = exc
            bar.update(1)
    except BaseException:                      # interrupted: start no more jobs
        for fut in futures:
            fut.cancel()
        raise
    finally:
        bar.close()
    if errors:
        raise errors[min(errors)]
    return results
