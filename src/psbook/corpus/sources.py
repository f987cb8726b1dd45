r"""Text sources behind one interface: :func:`documents` yields the documents of a corpus.

Source names
------------
``"wikipedia"``, ``"math"``, ``"code"``
    The three domains of the book. **Online** they are the Pile subsets ``Wikipedia (en)``,
    ``DM Mathematics`` and ``Github`` :cite:p:`gao2020pile`, streamed with ``datasets``
    (optional extra ``psbook[pile]``, also in ``psbook[online]``). **Offline** they fall back
    to: a Wikipedia corpus in the local data folder (``wikitext-103`` or ``wikitext-2``, else
    any subfolder whose name contains ``wiki``); generated arithmetic text; a fixed snapshot of
    CPython 3.11.7's standard-library source shipped with psbook (``corpus/code_snapshot.py``:
    the same on every Python, so results do not depend on the Python that runs them).
``"pile:<set name>"``
    Any Pile subset by its ``meta.pile_set_name`` (e.g. ``"pile:ArXiv"``); online only.
``"local:<name>"``
    The ``.txt`` files (searched recursively) of the subfolder ``<name>`` of the local data
    folder ``$PSBOOK_DATA``. Any folder of text files works, not only WikiText.
``"stdlib"``, ``"arithmetic"``
    The offline code and math corpora, by name (available on every machine; ``"stdlib"`` is
    the shipped snapshot, not the running Python's library).
``"pydoc"``
    English prose that ships with every Python: the language-reference topics of
    ``pydoc_data.topics`` and the docstrings of the standard library's modules (one document
    per topic and per module; PSF License). A second English corpus for the offline book.

A second corpus for the book: ``$PSBOOK_CORPUS``
-----------------------------------------------
The chapters of Part III-IV (09-13) use ``"wikipedia"`` as the book's English corpus. Setting
the environment variable ``PSBOOK_CORPUS`` to another source name (``"pydoc"``,
``"local:<name>"``, ``"stdlib"``, ...) makes ``"wikipedia"`` resolve to that corpus instead,
so every chapter runs unchanged on it (:func:`book_corpus` says which one is in use;
:func:`describe_source` names it). Use an English text: with ``"stdlib"`` the book's
"wikipedia" and "code" domains are the same corpus.

Where the Pile comes from
-------------------------
The original ``EleutherAI/pile`` is no longer served. We stream
``monology/pile-uncopyrighted`` (https://huggingface.co/datasets/monology/pile-uncopyrighted:
the Pile without its copyrighted subsets, JSON lines with ``text`` and ``meta.pile_set_name``)
and keep the documents of the requested subset. For the two subsets that have a
single-subset mirror with the same fields, the mirror is tried first because it is much
faster to stream: ``timaeus/pile-dm_mathematics`` and ``timaeus/pile-github``
(https://huggingface.co/datasets/timaeus/pile-github); ``timaeus/pile-wikipedia_en`` is
tried for Wikipedia on the same naming scheme (**unverified**: it has never been streamed by
this project; if it is not served, the filtered full stream is used -- about 1.5 % of its
documents are Wikipedia, so that is slow). :func:`describe_source` names the repository that
actually answered. If streaming fails the offline fallback is used and the reason is printed;
a stream that breaks midway raises a RuntimeError naming the repository and the cause.
"""

from __future__ import annotations

import functools
import os
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..settings import source_setting
from ._network import is_online
from .arithmetic import arithmetic_documents
from .textfiles import not_utf8_error

__all__ = ["documents", "describe_source", "data_dir", "list_local_corpora", "valid_sources",
           "book_corpus", "PILE_SUBSETS", "DEFAULT_MAX_CHARS", "CORPUS_ENV"]

# Domain name -> Pile subset name (meta.pile_set_name).
PILE_SUBSETS = {"wikipedia": "Wikipedia (en)", "math": "DM Mathematics", "code": "Github"}
_PILE_STREAM = "monology/pile-uncopyrighted"
_PILE_MIRRORS = {"DM Mathematics": "timaeus/pile-dm_mathematics",
                 "Github": "timaeus/pile-github",
                 # same naming scheme; tried first, skipped at once if it is not served
                 "Wikipedia (en)": "timaeus/pile-wikipedia_en"}
# Endless sources (generated text, online streams) stop here when max_chars is None.
DEFAULT_MAX_CHARS = 20_000_000
_WIKI_HEADING = re.compile(r"^ = [^=].* = $", re.MULTILINE)
#: the environment variable that replaces the book's English corpus ("wikipedia")
CORPUS_ENV = "PSBOOK_CORPUS"


def data_dir() -> Path | None:
    """The local data folder ``$PSBOOK_DATA`` (a folder whose subfolders are corpora), or None."""
    env = os.environ.get("PSBOOK_DATA", "").strip()
    if not env:
        return None
    p = Path(env).expanduser()
    return p if p.is_dir() else None


def list_local_corpora() -> list[str]:
    """Names of the subfolders of the local data folder that hold ``.txt`` files."""
    d = data_dir()
    if d is None:
        return []
    return sorted(p.name for p in d.iterdir()
                  if p.is_dir() and next(p.rglob("*.txt"), None) is not None)


def valid_sources() -> list[str]:
    return (list(PILE_SUBSETS) + ["stdlib", "arithmetic", "pydoc", "pile:<set name>"]
            + [f"local:{n}" for n in list_local_corpora()])


# --------------------------------------------------------------------------------------
# Offline sources
# --------------------------------------------------------------------------------------


def _split_wikitext(text: str) -> list[str]:
    """Split WikiText into articles at top-level headings `` = Title = ``."""
    docs, cur = [], []
    for line in text.splitlines(keepends=True):
        if _WIKI_HEADING.match(line.rstrip("\n")) and any(s.strip() for s in cur):
            docs.append("".join(cur))
            cur = []
        cur.append(line)
    if any(s.strip() for s in cur):
        docs.append("".join(cur))
    return docs


def _local_documents(folder: Path) -> Iterator[str]:
    """Documents of a folder of ``.txt`` files: WikiText-style files are split into articles,
    any other file is one document. Files are read in sorted order."""
    for path in sorted(folder.rglob("*.txt")):
        if not path.is_file():          # a folder named x.txt: its own .txt files count
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:   # say which file, where, and what it may be
            raise not_utf8_error(path, exc) from None
        if not text.strip():
            continue
        yield from _split_wikitext(text) if _WIKI_HEADING.search(text[:20000]) else [text]


@functools.lru_cache(maxsize=1)
def _stdlib_files() -> tuple[Path, ...]:
    """The standard library's ``.py`` files, sorted; tests and installed packages excluded."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        files.extend(Path(dirpath) / f for f in filenames
                     if f.endswith(".py") and not f.startswith("test_"))
    return tuple(sorted(files))


def _pydoc_documents() -> Iterator[str]:
    """The language-reference topics of ``pydoc_data`` (one document each, sorted by name),
    then the docstrings of each standard-library module (one document per module: its module,
    class and function docstrings in source order, separated by blank lines)."""
    import ast

    try:
        from pydoc_data.topics import topics
    except ImportError:  # a Python built without pydoc_data: the docstrings still exist
        topics = {}
    for name in sorted(topics):
        if topics[name].strip():
            yield topics[name]
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for path in _stdlib_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        parts = [d for node in ast.walk(tree) if isinstance(node, kinds)
                 for d in [ast.get_docstring(node)] if d and d.strip()]
        if parts:
            yield "\n\n".join(parts) + "\n"


def book_corpus() -> str:
    """The source that plays the book's English corpus: ``$PSBOOK_CORPUS`` if set, else
    ``"wikipedia"``. ValueError (naming the variable) for a value that is no source name."""
    env = source_setting(CORPUS_ENV)
    if not env:
        return "wikipedia"
    return env


# --------------------------------------------------------------------------------------
# Online: the Pile
# --------------------------------------------------------------------------------------


def _pile_documents(set_name: str, repos: list[str] | None = None) -> Iterator[str]:
    """Stream the Pile subset ``set_name``: its single-subset mirror first (if any), then the
    filtered full stream. ``repos`` pins the repositories to try (the plan pins the one that
    answered, so a re-read streams the same source)."""
    return _open_pile(set_name, repos)[1]


def _open_pile(set_name: str, repos: list[str] | None = None) -> tuple[str, Iterator[str]]:
    """``(repository used, documents)`` for the Pile subset ``set_name``."""
    import datasets  # optional dependency (psbook[online]); imported only here

    if repos is None:
        repos = ([_PILE_MIRRORS[set_name]] if set_name in _PILE_MIRRORS else []) + [_PILE_STREAM]
    errors = []
    for repo in repos:
        try:
            ds = datasets.load_dataset(repo, split="train", streaming=True)
            it = iter(ds)
            first = next(it)
        except Exception as exc:  # mirror gone, schema changed, ...: try the next one
            errors.append(f"{repo}: {_why(exc)}"[:300])
            continue
        break
    else:
        raise RuntimeError("could not stream the Pile: " + " | ".join(errors))

    def gen():
        n = 0
        rows = _chain(first, it)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception as exc:  # the stream broke midway: say where and why
                raise RuntimeError(f"streaming {repo} (Pile subset {set_name!r}) failed after "
                                   f"{n} documents: {_why(exc)}") from exc
            meta = row.get("meta") or {}
            name = meta.get("pile_set_name") if isinstance(meta, dict) else None
            if name is None or name == set_name:
                text = row.get("text") or ""
                if text.strip():
                    n += 1
                    yield text
    return repo, gen()


def _why(exc: BaseException) -> str:
    """The cause of a streaming error in words (a missing ``zstandard`` named as such)."""
    text = f"{type(exc).__name__}: {exc}"
    if "zstandard" in text.lower() or "zstd" in text.lower():
        text += (" -- the Pile's .jsonl.zst files need the `zstandard` package "
                 "(pip install 'psbook[online]')")
    return text


def _chain(first, it):
    yield first
    yield from it


# --------------------------------------------------------------------------------------
# Resolution: which concrete corpus a source name means here and now
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    description: str
    open: Callable[[], Iterator[str]]
    endless: bool = False


_PLANS: dict[tuple, _Plan] = {}  # keyed by (source, PSBOOK_DATA, network decision)


def _local_plan(name: str) -> _Plan:
    d = data_dir()
    if d is None:
        raise ValueError(f"source 'local:{name}' needs the local data folder: set PSBOOK_DATA to "
                         f"a folder whose subfolders are corpora (PSBOOK_DATA="
                         f"{os.environ.get('PSBOOK_DATA', '')!r})")
    folder = d / name
    if not folder.is_dir():
        raise ValueError(f"source 'local:{name}': no folder {folder}; local corpora in {d}: "
                         f"{list_local_corpora()}")
    if next((p for p in folder.rglob("*.txt") if p.stat().st_size > 0), None) is None:
        raise ValueError(f"source 'local:{name}': the folder {folder} holds no non-empty .txt "
                         f"file; expected a folder of text files")
    n = len(list(folder.rglob("*.txt")))
    return _Plan(f"local folder {folder} ({n} .txt file{'s' if n != 1 else ''}; offline)",
                 lambda: _local_documents(folder))


def _offline_wikipedia_plan() -> _Plan:
    names = list_local_corpora()
    pick = next((n for n in ("wikitext-103", "wikitext-2") if n in names), None)
    pick = pick or next((n for n in names if "wiki" in n.lower()), None)
    if pick is None:
        raise ValueError("source 'wikipedia' is offline and no Wikipedia corpus was found in the "
                         f"local data folder (PSBOOK_DATA={os.environ.get('PSBOOK_DATA', '')!r}, "
                         f"corpora: {names}); put e.g. WikiText-2 in $PSBOOK_DATA/wikitext-2/ or "
                         "connect to the network")
    return _local_plan(pick)


def _offline_plan(source: str) -> _Plan:
    if source == "wikipedia":
        return _offline_wikipedia_plan()
    if source in ("math", "arithmetic"):
        return _Plan("generated arithmetic text (psbook.corpus.arithmetic, seed 0; offline)",
                     lambda: arithmetic_documents(seed=0), endless=True)
    if source in ("code", "stdlib"):
        from . import code_snapshot   # the same files and bytes on every Python
        return _Plan(code_snapshot.describe(), code_snapshot.snapshot_documents)
    if source == "pydoc":
        return _Plan(f"English prose of Python {sysconfig.get_python_version()}'s documentation "
                     f"(pydoc_data language-reference topics, then standard-library docstrings; "
                     f"offline)", _pydoc_documents)
    raise AssertionError(source)


def _online_plan(set_name: str) -> _Plan | str:
    """A plan streaming the Pile subset, or a string saying why that is impossible."""
    if not is_online():
        return "offline"
    try:
        import datasets  # noqa: F401
    except ImportError:
        return "`datasets` is not installed (pip install 'psbook[online]')"
    try:
        used, it = _open_pile(set_name)
        first = next(it)
    except StopIteration:
        return f"the stream of Pile subset {set_name!r} holds no document"
    except Exception as exc:
        return f"streaming failed: {_why(exc)}"[:400]
    how = ("its single-subset mirror" if used != _PILE_STREAM else
           "the full Pile, filtered by meta.pile_set_name")
    return _Plan(f"Pile subset '{set_name}' streamed from huggingface.co/datasets/{used} "
                 f"({how}; online)", lambda: _pile_documents(set_name, [used]), endless=True)


def _resolve(source: str) -> _Plan:
    if not isinstance(source, str):
        raise TypeError(f"source must be a string such as 'wikipedia'; got "
                        f"{type(source).__name__}")
    from . import _network
    stand_in = book_corpus() if source == "wikipedia" else "wikipedia"
    key = (source, os.environ.get("PSBOOK_DATA", ""), _network._DECISION, stand_in)
    if key in _PLANS:
        return _PLANS[key]
    if stand_in != "wikipedia":
        inner = _resolve(stand_in)
        plan = _Plan(f"{CORPUS_ENV}={stand_in} stands in for 'wikipedia': {inner.description}",
                     inner.open, inner.endless)
    elif source.startswith("local:"):
        plan = _local_plan(source[len("local:"):])
    elif source.startswith("pile:"):
        got = _online_plan(source[len("pile:"):])
        if isinstance(got, str):
            raise ValueError(f"source {source!r} needs the network and `datasets` ({got}); use "
                             f"'wikipedia', 'math', 'code' for sources with offline fallbacks")
        plan = got
    elif source in PILE_SUBSETS:
        got = _online_plan(PILE_SUBSETS[source])
        if isinstance(got, str):
            try:
                plan = _offline_plan(source)
            except ValueError as exc:
                if got == "offline":
                    raise
                raise ValueError(f"source {source!r}: the Pile could not be streamed ({got}), "
                                 f"and the offline fallback failed too: {exc}") from None
            if got != "offline":
                print(f"[psbook.corpus] {source}: Pile unavailable ({got}); using the offline "
                      f"fallback")
        else:
            plan = got
    elif source in ("stdlib", "arithmetic", "pydoc"):
        plan = _offline_plan(source)
    else:
        raise ValueError(f"source must be one of {valid_sources()}; got {source!r}")
    _PLANS[key] = plan
    return plan


def describe_source(source: str) -> str:
    """One line: the corpus that ``source`` actually resolves to here, online or offline.

    A folder of the local data folder is written as ``$PSBOOK_DATA/<name>``, never as the
    machine's own path (the line is printed on the book's pages); :func:`source_key` is the
    same line with the full path, for cache keys."""
    desc = source_key(source)
    d = data_dir()
    if d is not None:
        desc = desc.replace(f"local folder {d}{os.sep}", "local folder $PSBOOK_DATA/")
    return desc


def source_key(source: str) -> str:
    """:func:`describe_source` with a local folder's full path: what the caches of token
    streams, signature counts and tokenizers are keyed by."""
    return f"{source}: {_resolve(source).description}"


def source_table(sources, chars: int = 240):
    """A :class:`psbook.display.Table` of the corpora ``sources`` resolve to here, with the
    first ``chars`` characters of each (white space shown as single spaces).

    Book: chapter 09 (three corpora)."""
    from ..display import Table
    rows = []
    for s in sources:
        first = next(iter(documents(s, max_chars=max(2_000, int(chars)))), "")
        rows.append({"source": s, "corpus used here": describe_source(s).split(": ", 1)[1],
                     f"first {chars} characters": " ".join(first[:chars].split())})
    return Table(rows, caption="The corpora behind the source names, and how each begins")


def documents(source: str, max_chars: int | None = None) -> Iterator[str]:
    """Yield the documents (strings) of ``source``, at most ``max_chars`` characters in all.

    The last document is cut so that the total is exactly ``max_chars`` when the corpus is
    longer. Endless sources (generated text, online streams) stop at
    :data:`DEFAULT_MAX_CHARS` when ``max_chars`` is None. Raises ValueError for an unknown
    source or a corpus without text.
    """
    if max_chars is not None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, (int, np.integer)):
            raise TypeError(f"max_chars must be an integer >= 1 or None; got "
                            f"{type(max_chars).__name__} {max_chars!r}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be an integer >= 1 or None; got {max_chars}")
    plan = _resolve(source)
    limit = max_chars if max_chars is not None else (DEFAULT_MAX_CHARS if plan.endless else None)
    return _limited(plan, source, limit)


def _limited(plan: _Plan, source: str, limit: int | None) -> Iterator[str]:
    total = 0
    for doc in plan.open():
        if limit is not None and total + len(doc) >= limit:
            rest = doc[: limit - total]
            if rest:
                total += len(rest)
                yield rest
            break
        total += len(doc)
        yield doc
    if total == 0:
        raise ValueError(f"source {source!r} ({plan.description}) yielded no text; expected a "
                         f"non-empty corpus")
