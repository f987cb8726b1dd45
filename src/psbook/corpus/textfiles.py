"""Reading text files: strict UTF-8 with a useful error, folders of ``.txt`` files with a report of
what was skipped, and documents streamed in bounded memory.

The data layer's one place for reading a user's text files: :mod:`psbook.corpus.sources` (the
``local:NAME`` corpora) and :mod:`psbook.align` (``psbook align --corpus``) both use it.

* :func:`not_utf8_error` -- the ``ValueError`` for a file that is not UTF-8: which file, the
  first bad byte and the encoding it probably is (with the ``iconv`` line that converts it).
* :func:`scan_folder` -- the non-empty, readable ``.txt`` *files* under a folder, and what was
  skipped and why (unreadable files or subfolders, FIFOs, devices, sockets, symlink loops).
* :func:`file_documents` -- a file as documents (WikiText articles, else ~1 MB blocks cut at
  line ends), read :data:`PIECE_CHARS` characters at a time: a file that is one line of
  hundreds of megabytes is cut at whitespace, never held whole.
* :func:`path_kind` -- what a path is, in words (for error messages).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

__all__ = ["not_utf8_error", "suggest_encoding", "file_documents", "scan_folder", "FolderScan",
           "path_kind", "readable", "WIKI_HEADING", "BLOCK_CHARS", "PIECE_CHARS"]

BLOCK_CHARS = 1 << 20              # a plain text file is read in ~1 MB documents
PIECE_CHARS = 1 << 20              # the longest piece of a line read at once
WIKI_HEADING = re.compile(r"^ = [^=].* = $", re.MULTILINE)
_SPACES = " \t\r\f\v"


def suggest_encoding(data: bytes) -> tuple[str, str | None]:
    """A guess at what bytes that are not UTF-8 are: (words, iconv encoding name or None)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32 (it starts with a UTF-32 byte-order mark)", "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 (it starts with a UTF-16 byte-order mark)", "utf-16"
    head = data[:4096]
    if b"\0" in head:
        if max(head[1::2].count(b"\0"), head[0::2].count(b"\0")) > len(head) // 4:
            return "UTF-16 (every other byte is 0)", "utf-16"
        return "a binary file, not text (it holds NUL bytes)", None
    return "Latin-1 / Windows-1252 text", "cp1252"


def _first_bad_byte(path: Path) -> tuple[int, int, bytes]:
    """(offset of the first byte that is not UTF-8, else of the first NUL byte; that byte; the
    file's first 4 KB), read in blocks (a large file is never held whole)."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    pos, head = 0, None
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            head = block[:4096] if head is None else head
            pending = dec.getstate()[0]
            try:
                dec.decode(block)
            except UnicodeDecodeError as e:
                data = pending + block
                return pos - len(pending) + e.start, data[e.start], head
            pos += len(block)
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError as e:         # a truncated sequence at the very end
            pending = e.object
            return pos - len(pending) + e.start, pending[e.start], head or b""
        f.seek(0)
        at = 0
        for block in iter(lambda: f.read(1 << 20), b""):
            nul = block.find(b"\0")
            if nul >= 0:
                return at + nul, 0, head or b""
            at += len(block)
    return 0, 0, head or b""


def not_utf8_error(path: Path, exc: UnicodeDecodeError | None = None) -> ValueError:
    """The ValueError for a corpus file that is not UTF-8: which file, at which byte, and
    the encoding it probably is."""
    path = Path(path)
    bad, byte, head = _first_bad_byte(path)
    guess, enc = suggest_encoding(head)
    fix = (f"convert it (iconv -f {enc} -t utf-8 {path.name} > {path.stem}-utf8.txt) or "
           f"remove it" if enc else "remove it from the corpus")
    what = "a NUL byte" if byte == 0 else f"undecodable byte 0x{byte:02x}"
    return ValueError(f"corpus file {path} is not UTF-8 text: {what} at byte {bad}; it looks "
                      f"like {guess}: {fix}")


def path_kind(path) -> str:
    """What ``path`` is, in words: 'a folder', 'a file', 'a FIFO (named pipe)', 'a character
    device', 'a block device', 'a socket', 'a symlink loop', 'a broken symlink' or
    'missing'."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        if os.path.islink(p):
            import errno
            return "a symlink loop" if exc.errno == errno.ELOOP else "a broken symlink"
        if not os.path.lexists(p):
            return "missing"
        return f"unreadable ({exc.strerror})"
    mode = st.st_mode
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"),
                        (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a file or folder"


def readable(path, folder: bool = False) -> bool:
    """Whether this process may read ``path`` (and list it, for a ``folder``)."""
    return os.access(path, os.R_OK | (os.X_OK if folder else 0))


@dataclass
class FolderScan:
    """The ``.txt`` files of a folder that are read, and those skipped with the reason."""

    root: Path
    files: list = field(default_factory=list)      # readable, non-empty regular files, sorted
    skipped: list = field(default_factory=list)    # (path, reason)

    def skipped_summary(self, first: int = 3) -> str:
        """'' when nothing was skipped, else 'skipped N: a.txt (a FIFO), ...'."""
        if not self.skipped:
            return ""
        names = ", ".join(f"{_rel(p, self.root)} ({why})" for p, why in self.skipped[:first])
        more = f" and {len(self.skipped) - first} more" if len(self.skipped) > first else ""
        return f"skipped {len(self.skipped)} path(s) under {self.root}: {names}{more}"


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix() or p.name
    except ValueError:
        return str(p)


def _txt_entry(path: Path, scan: FolderScan) -> None:
    """Classify one ``*.txt`` name found in a folder: read it, skip it silently (empty, or a
    folder named x.txt: its files are found on their own) or skip it with a reason."""
    kind = path_kind(path)
    if kind == "a folder":
        return
    if kind != "a file":
        scan.skipped.append((path, kind))
    elif not readable(path):
        scan.skipped.append((path, "unreadable: permission denied"))
    elif os.path.getsize(path) > 0:
        scan.files.append(path)


def scan_folder(folder) -> FolderScan:
    """Every ``.txt`` file under ``folder`` (recursively, symlinks to files followed, symlinked
    folders not: no loops), sorted, with what could not be read and why."""
    root = Path(folder)
    scan = FolderScan(root)

    def unreadable(err: OSError):
        scan.skipped.append((Path(err.filename or root), f"unreadable folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        d = Path(dirpath)
        dirnames.sort()
        for name in dirnames:
            if name.endswith(".txt") and os.path.islink(d / name):
                _txt_entry(d / name, scan)        # a symlinked x.txt folder, or a loop
        for name in filenames:
            if name.endswith(".txt"):
                _txt_entry(d / name, scan)
    scan.files.sort()
    scan.skipped.sort(key=lambda t: str(t[0]))
    return scan


def _pieces(f, limit: int | None = None) -> Iterator[str]:
    """The lines of text file ``f``; a line longer than ``limit`` characters comes in pieces
    cut just before a whitespace character (so a word is never split and a piece that starts
    a word keeps its leading space), or at ``limit`` where a piece has no whitespace. Memory:
    about ``2 * limit`` characters, whatever the line length. ``limit``: default
    :data:`PIECE_CHARS`."""
    limit = PIECE_CHARS if limit is None else limit
    carry = ""
    while True:
        read = f.readline(limit)
        if not read:
            if carry:
                yield carry
            return
        s = carry + read if carry else read
        carry = ""
        if s.endswith("\n") or len(read) < limit:      # a whole line (or the file's end)
            yield s
            continue
        cut = max(s.rfind(c) for c in _SPACES)
        if cut > 0:
            yield s[:cut]
            carry = s[cut:]
        else:
            yield s


def file_documents(path) -> Iterator[str]:
    """A text file as documents: WikiText articles, else blocks of ~1 MB cut at line ends (a
    line longer than :data:`PIECE_CHARS` is cut at whitespace). The file must be UTF-8
    (ValueError naming the file, the byte and a likely encoding); it is read a piece at a
    time, so memory stays bounded for a file of any length, with or without line breaks."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            head = f.read(20000)
            if "\0" in head:        # valid UTF-8 but not text: UTF-16 without a BOM, binary
                raise not_utf8_error(path)
            f.seek(0)
            wiki = bool(WIKI_HEADING.search(head))
            cur, size = [], 0
            for line in _pieces(f):
                if wiki and WIKI_HEADING.match(line.rstrip("\n")) and any(s.strip() for s in cur):
                    yield "".join(cur)
                    cur, size = [], 0
                cur.append(line)
                size += len(line)
                if size >= (BLOCK_CHARS if not wiki else 16 * BLOCK_CHARS):
                    yield "".join(cur)
                    cur, size = [], 0
            if any(s.strip() for s in cur):
                yield "".join(cur)
    except UnicodeDecodeError as exc:
        raise not_utf8_error(path, exc) from None
