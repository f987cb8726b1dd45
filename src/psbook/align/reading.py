"""Which text a corpus argument names, as documents: :func:`corpus_documents` (a folder of
``.txt`` files, a text file, a :mod:`psbook.corpus` source name or a ``datasets`` name),
:func:`check_corpus` (the same checks before any work, for ``psbook align``) and
:func:`corpus_fingerprint` (what a cache key of counts must hold). Reading the files themselves
(UTF-8, skipped paths, bounded memory) is :mod:`psbook.corpus.textfiles`.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np

from .._validate import check_positive_int
from ..corpus import textfiles
from ..corpus.textfiles import file_documents, path_kind, scan_folder

__all__ = ["corpus_documents", "corpus_fingerprint", "check_corpus", "source_table",
           "shuffled_within_articles"]


def _files_fingerprint(files: list[Path], root: Path) -> str:
    """SHA-256 over the files' names, sizes and contents: editing, appending to or replacing a
    corpus file changes it (a cached count keyed on it is never stale)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() if f != root else f.name.encode())
        h.update(b"\0%d\0" % f.stat().st_size)
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()




def corpus_fingerprint(corpus) -> str:
    """What a cache key of counts of ``corpus`` must hold besides its description: a hash of
    the content of a file or folder corpus (see :func:`_files_fingerprint`), the names, sizes
    and dates of a ``local:`` corpus's files, or the description for a remote dataset."""
    from ..corpus.streams import source_fingerprint
    name = str(corpus).strip()
    p = Path(name).expanduser()
    if p.is_dir():
        return _files_fingerprint(scan_folder(p).files, p)
    if p.is_file():
        return _files_fingerprint([p], p)
    try:
        return source_fingerprint(name)
    except Exception:       # a datasets name: its description is all we have offline
        return name


def _hf_documents(name: str) -> Iterator[str]:
    import datasets

    ds = datasets.load_dataset(name, split="train", streaming=True)
    for row in ds:
        text = row.get("text") or ""
        if text.strip():
            yield text



def _local_path(name: str) -> Path | None:
    """The path ``name`` names when something exists there (even a FIFO or a symlink loop),
    else None."""
    import os
    p = Path(name).expanduser()
    return p if os.path.lexists(p) else None


def _path_documents(p: Path) -> tuple[str, Iterator[str], str]:
    """``(description, documents, skipped summary)`` of a folder or file corpus; ValueError
    naming the path and what it is when it cannot be read."""
    kind = path_kind(p)
    if kind == "a folder":
        if not textfiles.readable(p, folder=True):
            raise ValueError(f"corpus folder {p} cannot be read (permission denied)")
        scan = scan_folder(p)
        if not scan.files:
            extra = f"; {scan.skipped_summary()}" if scan.skipped else ""
            raise ValueError(f"corpus folder {p} holds no non-empty .txt file{extra}")
        files = scan.files
        desc = f"folder {p} ({len(files)} .txt file{'s' if len(files) != 1 else ''})"
        return desc, itertools.chain.from_iterable(file_documents(f) for f in files), \
            scan.skipped_summary()
    if kind == "a file":
        if not textfiles.readable(p):
            raise ValueError(f"corpus file {p} cannot be read (permission denied)")
        if p.stat().st_size == 0:
            raise ValueError(f"corpus file {p} is empty")
        return f"file {p}", file_documents(p), ""
    raise ValueError(f"corpus {str(p)!r} is {kind}, not a text file or a folder of .txt files")


def corpus_documents(corpus, max_chars: int | None = None, *,
                     skipped: list | None = None) -> tuple[str, Iterator[str]]:
    """``(description, documents)`` of ``corpus`` (see :mod:`psbook.align`), at most
    ``max_chars`` characters in all. Raises ValueError naming what was expected, and for a
    path that exists but cannot be read, what it is (a FIFO, a device, a symlink loop,
    unreadable). Files of a folder that cannot be read are skipped; their summary is appended
    to ``skipped`` when given, else given as a warning."""
    from ..corpus import sources
    from ..corpus import is_online, network_reason

    if max_chars is not None:
        max_chars = check_positive_int("max_chars", max_chars)
    if not isinstance(corpus, (str, Path)) or not str(corpus).strip():
        raise TypeError(f"corpus must be a folder of .txt files, a text file, a psbook corpus "
                        f"name or a datasets name; got {corpus!r}")
    name = str(corpus).strip()
    p = _local_path(name)
    if p is not None:
        desc, docs, note = _path_documents(p)
        if note and skipped is not None:
            skipped.append(note)
        elif note:
            import warnings
            warnings.warn(f"psbook: {note}", UserWarning, stacklevel=2)
    elif name in sources.PILE_SUBSETS or name in ("stdlib", "arithmetic", "pydoc") or \
            name.startswith(("local:", "pile:")):
        return sources.describe_source(name), sources.documents(name, max_chars)
    else:
        hf = name[3:] if name.startswith("hf:") else name
        if "/" in name and not name.startswith("hf:") and (name.startswith((".", "/", "~"))):
            raise ValueError(f"corpus {name!r}: no such file or folder")
        if not is_online(verbose=False):
            raise ValueError(f"corpus {name!r} is not a file, a folder or a psbook corpus name "
                             f"({', '.join(sources.valid_sources())}), and a datasets name needs "
                             f"the network, which is off ({network_reason()})")
        try:
            import datasets  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"corpus {name!r} looks like a datasets name; that needs "
                             f"`datasets`: pip install 'psbook[online]'") from exc
        desc, docs = f"datasets {hf} (train split, streamed)", _hf_documents(hf)
    return desc, _limit(docs, max_chars)


def source_table(sources):
    """A :class:`psbook.display.Table` naming the corpus each psbook source resolves to here,
    with the local data folder written as ``$PSBOOK_DATA`` (a page shows no machine path).

    Book: chapter 12 (the three local corpora)."""
    from ..corpus import sources as _sources
    from ..display import Table

    folder = _sources.data_dir()
    rows = []
    for src in sources:
        text = _sources.describe_source(src).split(": ", 1)[1]
        if folder is not None:
            text = text.replace(str(folder), "$PSBOOK_DATA")
        rows.append({"source": src, "text": text})
    return Table(rows, caption="The corpora, as resolved on this machine.")


def shuffled_within_articles(docs, seed: int = 0) -> Iterator[str]:
    """Each document with its whitespace-separated words in a random order (one generator
    seeded with ``seed`` for all documents): word counts and which documents a word occurs
    in are kept, word order is gone -- the topical placebo of a window signature.

    Book: chapter 12 (words shuffled within each article)."""
    rng = np.random.default_rng(seed)
    for d in docs:
        words = d.split()
        rng.shuffle(words)
        yield " ".join(words)


def check_corpus(corpus) -> list[str]:
    """Every check :func:`corpus_documents` makes, without reading any text: raises ValueError
    / TypeError for a corpus that cannot be read; returns the summaries of skipped files
    (empty when nothing was skipped)."""
    skipped: list = []
    corpus_documents(corpus, skipped=skipped)
    return skipped


def _limit(docs: Iterator[str], max_chars: int | None) -> Iterator[str]:
    total = 0
    for d in docs:
        if max_chars is not None and total + len(d) >= max_chars:
            if max_chars - total > 0:
                yield d[: max_chars - total]
            return
        total += len(d)
        yield d
