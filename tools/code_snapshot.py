"""Build the offline "code" corpus: a fixed snapshot of CPython's standard-library source.

The corpus ``"code"`` (offline) and ``"stdlib"`` read ``src/psbook/corpus/data/
cpython-3.11.7-stdlib.tar.xz``, not the running Python's library, so a chapter's result does not
depend on the Python version (issue 31.1: 630 files on 3.13, 734 on 3.11). What it holds:

- every ``.py`` file of CPython 3.11.7's ``Lib/`` (as installed: ``sysconfig``'s ``stdlib``
  path), tests excluded (folders ``test``, ``tests``, ``idle_test``, ``site-packages``,
  ``dist-packages``, ``__pycache__``; files ``test_*.py``) -- the selection the book used before,
  so the tiny-preset results on Python 3.11 are unchanged;
- in sorted path order, as ``Lib/<path>`` members of a tar (mtime 0, uid/gid 0, mode 0644),
  compressed with xz (preset 9e).

Why all of it: the largest preset (``full``) reads 20 M characters of "code" to train its
tokenizer and 10 M tokens for its signatures, more than the 12.1 M characters here, and so did
it from the standard library before; a smaller cut would shrink what ``full`` and ``gpu`` read.

Python's source is under the PSF License Agreement, which permits redistribution with its notice:
``src/psbook/corpus/data/CPython-LICENSE.txt`` (copied from the same installation).

    python tools/code_snapshot.py            # check: rebuild in memory, compare with the file
    python tools/code_snapshot.py --write    # (re)write the file; then update SNAPSHOT_SHA256

Only a CPython 3.11.7 can rebuild it byte for byte; every Python reads it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import os
import sys
import sysconfig
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from psbook.corpus import code_snapshot as cs  # noqa: E402

SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


def stdlib_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        files.extend(Path(dirpath) / f for f in filenames
                     if f.endswith(".py") and not f.startswith("test_"))
    return sorted(files)


def build() -> bytes:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.implementation.name != "cpython" or version != cs.CPYTHON_VERSION:
        raise SystemExit(f"the snapshot is CPython {cs.CPYTHON_VERSION}'s library; this is "
                         f"{sys.implementation.name} {version}")
    root = Path(sysconfig.get_paths()["stdlib"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in stdlib_files(root):
            data = path.read_bytes()
            data.decode("utf-8")       # every member is UTF-8 text
            info = tarfile.TarInfo("Lib/" + path.relative_to(root).as_posix())
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ,
                         preset=9 | lzma.PRESET_EXTREME)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the snapshot file")
    a = ap.parse_args(argv)
    blob = build()
    sha = hashlib.sha256(blob).hexdigest()
    print(f"{len(blob):,} bytes, sha256 {sha}")
    if a.write:
        cs.SNAPSHOT.write_bytes(blob)
        print(f"wrote {cs.SNAPSHOT}; set SNAPSHOT_SHA256 = {sha!r} in "
              f"src/psbook/corpus/code_snapshot.py")
        return 0
    have = cs.SNAPSHOT.read_bytes() if cs.SNAPSHOT.is_file() else b""
    if have != blob:
        print(f"{cs.SNAPSHOT} differs from this rebuild", file=sys.stderr)
        return 1
    print("the shipped snapshot equals the rebuild")
    return 0


if __name__ == "__main__":
    sys.exit(main())
