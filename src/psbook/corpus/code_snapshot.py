"""The offline "code" corpus: a fixed snapshot of CPython 3.11.7's standard-library source.

``data/cpython-3.11.7-stdlib.tar.xz`` (package data; built by ``tools/code_snapshot.py``, whose
docstring says what it holds and why) is read as one document per ``.py`` file, in sorted path
order. The same files and bytes on every Python, so the chapters' results do not depend on the
Python version that runs them. Python's source is distributed under the PSF License Agreement:
``data/CPython-LICENSE.txt`` (copied from the same CPython installation).
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Iterator

__all__ = ["SNAPSHOT", "SNAPSHOT_SHA256", "CPYTHON_VERSION", "N_FILES", "N_CHARS",
           "snapshot_documents", "describe", "verify"]

CPYTHON_VERSION = "3.11.7"
#: the package-data file (xz-compressed tar of ``Lib/<path>.py`` members)
SNAPSHOT = Path(__file__).with_name("data") / f"cpython-{CPYTHON_VERSION}-stdlib.tar.xz"
#: its SHA-256 (tests/test_corpus.py checks it; tools/code_snapshot.py rebuilds it)
SNAPSHOT_SHA256 = "e94f2b5327807e41ed5c1e72d41ce4059ec8b34e97224461dbb79c5cde724c41"
#: files and characters it holds (checked by the tests)
N_FILES = 734
N_CHARS = 12_117_233
#: the version of the corpus: a changed snapshot is a new version (and a new cache key)
VERSION = 1


def describe() -> str:
    return (f"CPython {CPYTHON_VERSION} standard-library source, psbook snapshot v{VERSION} "
            f"({N_FILES} .py files, {N_CHARS / 1e6:.1f} M characters, tests excluded; "
            f"PSF License; the same on every Python; offline)")


def _open() -> tarfile.TarFile:
    if not SNAPSHOT.is_file():
        raise FileNotFoundError(f"the code corpus snapshot {SNAPSHOT} is missing from the "
                                f"installed psbook; reinstall psbook (it is package data)")
    try:
        return tarfile.open(SNAPSHOT, mode="r|xz")   # a stream: read only what is used
    except tarfile.CompressionError as exc:  # a Python built without lzma
        raise RuntimeError(f"reading {SNAPSHOT.name} needs Python's lzma module, which this "
                           f"Python lacks ({exc})") from None


def snapshot_documents() -> Iterator[str]:
    """One string per ``.py`` file of the snapshot, in sorted path order."""
    with _open() as tar:
        for member in tar:
            if not member.isfile():
                continue
            f = tar.extractfile(member)
            text = f.read().decode("utf-8")
            if text.strip():
                yield text


def verify() -> str:
    """The SHA-256 of the shipped file; ValueError if it is not :data:`SNAPSHOT_SHA256`."""
    sha = hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    if sha != SNAPSHOT_SHA256:
        raise ValueError(f"{SNAPSHOT.name}: SHA-256 {sha}, expected {SNAPSHOT_SHA256} (a "
                         f"changed snapshot needs a new VERSION)")
    return sha
