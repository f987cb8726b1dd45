"""One way to write a file, for every file psbook writes (cache entries, LM checkpoints, BPE
tokenizers, the cache marker, course builds).

:func:`write_file` takes the file's bytes already serialised in memory, writes them to a
temporary file in the same folder (``.<name>.<pid>.<8 hex>.tmp``), flushes it to disk
(``fsync``) and renames it over the target (``os.replace``): a reader never sees half a file,
and a writer killed at any point leaves at most its temporary file behind.

When the write fails (a full disk, ENOSPC; a read-only or vanished folder; any ``OSError``):

* ``on_error="warn"`` (results that can be recomputed: the cache, checkpoints, tokenizers)
  warns **once per process** -- which folder, that the results are still returned, and how to
  move the cache (``PSBOOK_CACHE``) -- removes the temporary file and returns False; the
  caller goes on with the result it computed;
* ``on_error="raise"`` (outputs that are the point of the call, e.g. course notebooks) raises
  an ``OSError`` naming the file and what to do.

:func:`sweep_stale` removes the temporary files of dead writers: those whose writer PID is no
longer a process on this machine, or older than :data:`STALE_SECONDS`. Every write sweeps its
folder once per process.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import warnings
from pathlib import Path

__all__ = ["write_file", "warn_write_failed", "sweep_stale", "tmp_target", "STALE_SECONDS"]

# A temporary file older than this belongs to a dead writer whatever its PID says (a write is
# one in-memory buffer going to disk: seconds, not minutes).
STALE_SECONDS = 600
_TMP = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d{1,10})\.[0-9a-f]{8}\.tmp$")

_warned = False
_swept: set = set()


def tmp_target(name: str) -> str | None:
    """The name of the file a temporary file of :func:`write_file` was going to become, or
    None when ``name`` is not such a temporary file."""
    m = _TMP.match(name)
    return m.group("target") if m else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True              # another user's process (or cannot tell): treat as alive
    return True


def sweep_stale(folder, *, max_age: float = STALE_SECONDS) -> int:
    """Remove the temporary files of dead writers in ``folder`` (not below it): those whose
    writer PID is gone, or older than ``max_age`` seconds. Returns how many were removed."""
    n = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    now = time.time()
    for name in names:
        m = _TMP.match(name)
        if not m:
            continue
        p = Path(folder) / name
        try:
            st = p.lstat()
            pid = int(m.group("pid"))
            if (now - st.st_mtime > max_age
                    or (pid != os.getpid() and not _pid_alive(pid))):
                p.unlink()
                n += 1
        except OSError:
            pass
    return n


def warn_write_failed(path, exc: BaseException) -> None:
    """Warn -- once per process, whatever the folder -- that a file psbook keeps to save time
    (cache entry, checkpoint, tokenizer) could not be written; the caller goes on."""
    global _warned
    if _warned:
        return
    _warned = True
    folder = Path(path).parent
    warnings.warn(
        f"psbook: could not write {path} ({type(exc).__name__}: {exc}). The folder {folder} is "
        f"full or not writable. Results are still computed and returned, but not saved, so "
        f"they will be computed again next time (this warning is shown once; later write "
        f"failures are silent). Free space there, or move the cache to a folder with space: "
        f"PSBOOK_CACHE=/path/to/folder (or PSBOOK_CACHE=off to stop caching)",
        RuntimeWarning, stacklevel=3)


def _write_all(f, data) -> None:
    """Write ``data`` (bytes, or a list of bytes-like parts) to the open file ``f``."""
    for part in (data if isinstance(data, (list, tuple)) else (data,)):
        f.write(part)


def write_file(path, data, *, on_error: str = "warn", fsync: bool = True) -> bool:
    """Write ``data`` (bytes, a ``str`` -- written as UTF-8 --, or a list of bytes-like parts)
    to ``path`` atomically. Returns True when written; on failure see the module docstring
    (``on_error``: ``"warn"`` or ``"raise"``)."""
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise'; got {on_error!r}")
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = str(path.parent.resolve())
        if folder not in _swept:
            _swept.add(folder)
            sweep_stale(path.parent)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as exc:
        if on_error == "raise":
            raise OSError(exc.errno, f"psbook could not write {path} ({exc.strerror or exc}); "
                                     f"free space in {path.parent} or write somewhere else"
                          ) from exc
        warn_write_failed(path, exc)
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
