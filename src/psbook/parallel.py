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
  use, at most one per job. ``make book`` sets it per chapter. A number above the usable cores
  (``os.sched_getaffinity``) is lowered to them, with one warning.
* **Threads.** Never more torch threads than cores: this process uses at most the usable cores
  (:func:`limit_threads`, called by :func:`psbook.presets.get_preset`), each of ``n`` workers
  ``cores // n`` (at least 1); an explicit smaller ``OMP_NUM_THREADS`` wins.
* **Workers die with their parent.** Each worker asks Linux to send it SIGTERM when its parent
  dies (``prctl(PR_SET_PDEATHSIG)``) and, on every system, watches its parent from a thread;
  so a parent killed by SIGKILL or SIGTERM leaves no worker behind, and then no
  ``multiprocessing`` resource tracker either (it exits when the last process using it does).
* **Ctrl-C** (or "interrupt kernel") stops at once, also while the pool starts and takes the
  jobs: it says how many jobs it stops and cancels, terminates the running workers (their
  jobs' cached results so far stay; the rest is redone on the next call) and raises
  ``KeyboardInterrupt``; a second Ctrl-C during that clean-up is ignored, so no semaphore
  leaks.
* **A script without ``if __name__ == "__main__":``.** A worker (``spawn``) imports the main
  module again; without the guard the script would start its work again in every worker. When
  the main module is a file with no such guard, :func:`map_jobs` runs the jobs one after the
  other in this process and warns once, naming the line to add: the results are the same and
  nothing fails (a script that ran with one worker keeps running on a machine with more
  cores); the guard only restores the speed-up.

The pool is started on first use (``spawn``: a fresh interpreter per worker, a few seconds) and
kept for later calls in the same session.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from typing import Any, Callable, Sequence

from .settings import preset_name, workers_setting

__all__ = ["workers", "map_jobs", "available_cores", "shutdown", "threads_per_process",
           "limit_threads"]

_POOL = None
_POOL_SIZE = 0
_WARNED: set = set()             # warnings given once per process


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def workers(n_jobs: int | None = None, device: str = "cpu") -> int:
    """How many processes :func:`map_jobs` uses for ``n_jobs`` jobs on ``device`` (see the
    module docstring for ``PSBOOK_WORKERS``); never more than the usable cores."""
    n = workers_setting()
    cores = available_cores()
    if n is None:
        n = 1 if str(device) != "cpu" or preset_name() == "tiny" else cores
    elif n > cores:
        _warn_once("workers", f"psbook: PSBOOK_WORKERS={n} is more than the {cores} CPU "
                              f"core{'s' if cores != 1 else ''} this process may use; using "
                              f"{cores} worker process{'es' if cores != 1 else ''} (each "
                              f"worker holds a model and its data: more would only share the "
                              f"cores and cost memory)")
        n = cores
    if n_jobs is not None:
        n = min(n, max(1, int(n_jobs)))
    return max(1, n)


def _omp_threads() -> int | None:
    """An explicit ``OMP_NUM_THREADS`` as a positive int, else None."""
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "").strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def threads_per_process(n_processes: int = 1) -> int:
    """torch threads for each of ``n_processes`` processes sharing this process's cores:
    ``cores // n_processes``, at least 1, and at most an explicit ``OMP_NUM_THREADS``."""
    t = max(1, available_cores() // max(1, int(n_processes)))
    omp = _omp_threads()
    return min(t, omp) if omp is not None else t


def limit_threads() -> int:
    """Lower torch's intra-op thread count to :func:`threads_per_process` (never raise it: a
    caller's smaller ``torch.set_num_threads`` stays); returns the count in use."""
    import torch
    n = min(torch.get_num_threads(), threads_per_process(1))
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


# ---- worker processes ---------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """In a worker: exit when ``parent_pid`` dies. Linux: the kernel sends SIGTERM at the
    parent's death (prctl); everywhere: a daemon thread polls ``os.getppid()`` (a worker whose
    parent died is adopted by another process) and exits the process."""
    import signal
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):      # no prctl: the watchdog below still works
            pass
    if os.getppid() != parent_pid:             # the parent died before prctl took effect
        os._exit(1)

    def watch():
        import time
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="psbook-parent-watchdog", daemon=True).start()


def _init_worker(threads: int, parent_pid: int) -> None:
    import signal
    _die_with_parent(parent_pid)
    # Ctrl-C / "interrupt kernel" is for the caller, which stops the workers itself
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


def shutdown(*, terminate: bool = False) -> None:
    """Stop the worker processes (they are started again when needed). ``terminate`` kills
    the running jobs instead of waiting for them."""
    global _POOL, _POOL_SIZE
    pool, _POOL, _POOL_SIZE = _POOL, None, 0
    if pool is None:
        return
    if terminate:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def _pool(n: int):
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE != n:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        shutdown()
        _POOL = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_init_worker,
                                    initargs=(threads_per_process(n), os.getpid()))
        _POOL_SIZE = n
    return _POOL


# ---- the __main__ guard ---------------------------------------------------------------------

GUARD_HINT = ('put the script\'s work under `if __name__ == "__main__":` (indent the calls '
              'below it), or set PSBOOK_WORKERS=1')


def _main_lacks_guard() -> str | None:
    """The main module's file when it is a script with no ``if __name__ == "__main__":``
    (a ``spawn`` worker would run its work again), else None (a notebook, ``python -c``, an
    interactive session, or a guarded script)."""
    import ast
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py") or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.dump(node.test) \
                and "__main__" in ast.dump(node.test):
            return None
    return str(path)


def _in_worker_bootstrap() -> bool:
    """True while a ``spawn`` worker imports the main module (before it runs any job)."""
    import multiprocessing
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def map_jobs(fn: Callable, jobs: Sequence[tuple[tuple, dict]], *, n_workers: int | None = None,
             device: str = "cpu", desc: str = "jobs", progress: bool = True) -> list[Any]:
    """``[fn(*args, **kwargs) for args, kwargs in jobs]``, on ``n_workers`` processes (default
    :func:`workers`, at most the usable cores). ``fn`` must be importable (a module-level
    function) and the arguments and results picklable. With one worker (or one job), or from
    a script without a ``__main__`` guard (a warning says what to add), everything runs here,
    in order."""
    jobs = [(tuple(a), dict(k)) for a, k in jobs]
    n = workers(len(jobs), device) if n_workers is None else \
        min(max(1, int(n_workers)), max(1, len(jobs)), available_cores())
    if n > 1 and len(jobs) > 1:
        if _in_worker_bootstrap():
            raise RuntimeError(f"psbook: a worker process is re-running the main script's "
                               f"top-level code, which starts {desc} again: {GUARD_HINT}")
        script = _main_lacks_guard()
        if script is not None:
            _warn_once("guard", f"psbook: running {desc} one after another in this process, "
                                f"not on {n} worker processes: {script} has no "
                                f"`if __name__ == \"__main__\":` block, so each worker would "
                                f"run the whole script again. Put the script's work under such "
                                f"a block (indented below it) to use the workers, or set "
                                f"PSBOOK_WORKERS=1 to run here without this warning")
            n = 1
    if n <= 1 or len(jobs) <= 1:
        return [fn(*a, **k) for a, k in jobs]
    return _map_on_pool(fn, jobs, n, desc, progress)


def _map_on_pool(fn: Callable, jobs: list, n: int, desc: str, progress: bool) -> list:
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from .progress import progress_bar
    env = {k: v for k, v in os.environ.items() if k.startswith("PSBOOK_")}
    futures: dict = {}
    results: list = [None] * len(jobs)
    errors: dict = {}
    bar = None
    try:
        # starting the pool, handing it the jobs and opening the bar are inside the try: a
        # Ctrl-C landing there (the workers start while the jobs are handed over) must stop
        # the workers too, else the interpreter's exit waits for every running job to finish
        pool = _pool(n)
        for i, (a, k) in enumerate(jobs):
            futures[pool.submit(_run, env, fn, a, k)] = i
        bar = progress_bar(total=len(jobs), desc=f"{desc} ({n} processes)", enabled=progress)
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool as exc:
                shutdown()
                raise RuntimeError(f"a worker process died while running {desc} (out of memory, "
                                   f"killed, or it failed while starting: see its message "
                                   f"above); run again with PSBOOK_WORKERS=1 to train one "
                                   f"model at a time in this process") from exc
            except Exception as exc:           # the job's own error: raised after the others
                errors[i] = exc
            bar.update(1)
    except KeyboardInterrupt:
        # a second Ctrl-C can land before _interrupted ignores SIGINT (two in quick succession,
        # or one while this process waits for the CPU): finish the clean-up all the same, else
        # the workers keep running and the interpreter's exit waits for them forever
        while True:
            try:
                _interrupted(futures, desc, len(jobs))
                break
            except KeyboardInterrupt:
                continue
        raise
    except BaseException:                      # any other way out: start no more jobs
        for fut in futures:
            fut.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    if errors:
        raise errors[min(errors)]
    return results


def _interrupted(futures: dict, desc: str, total: int) -> None:
    """Ctrl-C while starting the pool, handing it jobs or waiting for them: cancel the jobs
    not started (of ``total``; those not handed over yet count as not started), terminate the
    running ones, say so. SIGINT is ignored meanwhile (a second Ctrl-C would otherwise leave
    the pool half-closed, and its semaphores leaked)."""
    import signal
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        pending = sum(1 for f in futures if not f.done() and f.cancel())
        running = sum(1 for f in futures if not f.done())
        done = len(futures) - pending - running
        pending += total - len(futures)
        print(f"psbook: interrupted: stopping {running} running job{'s' if running != 1 else ''}"
              f" of {desc}, cancelling {pending} not started ({done} finished, and cached); "
              f"running the same call again redoes only the rest", file=sys.stderr, flush=True)
        shutdown(terminate=True)
    finally:
        if main:
            signal.signal(signal.SIGINT, old)
