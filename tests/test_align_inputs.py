"""``psbook align`` inputs (issue 32.4): every input checked before the model loads, paths named
for what they are (FIFO, device, symlink loop, unreadable), skipped files reported, every
failure one line and exit status 2; and text files streamed in bounded memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _helpers import CharTokenizer, FakeCharModel, word_text

from psbook import cli, pretrained
from psbook.corpus import textfiles


_FakeModel = FakeCharModel
_text = word_text


@pytest.fixture
def loads(monkeypatch):
    """Records every model load; the loaded model is a small fake."""
    calls = []
    monkeypatch.setattr(pretrained, "load",
                        lambda name, revision=None: calls.append(name) or _FakeModel())
    for k in list(os.environ):
        if k.startswith("PSBOOK_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("PSBOOK_CACHE", "off")
    return calls


def _run(capsys, *args):
    code = cli.main(["align", "--model", "fake", "--quiet", *args])
    cap = capsys.readouterr()
    return code, cap.out, [ln for ln in cap.err.strip().splitlines() if ln]


def _one_error(code, err, *words):
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("psbook align: error:"), err
    for w in words:
        assert w in err[0], err


def test_a_negative_seed_is_refused_before_the_model_loads(tmp_path, loads, capsys):
    (tmp_path / "a.txt").write_text(_text())
    code, _, err = _run(capsys, "--corpus", str(tmp_path), "--seed", "-1")
    _one_error(code, err, "--seed must be an integer >= 0", "'-1'")
    assert loads == []


def test_corpus_errors_come_before_the_model_loads(tmp_path, loads, capsys):
    code, _, err = _run(capsys, "--corpus", str(tmp_path / "absent"))
    _one_error(code, err, "no such file or folder")
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "--corpus", str(tmp_path / "empty"))
    _one_error(code, err, "holds no non-empty .txt file")
    assert loads == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_a_device_and_a_symlink_loop_are_named_as_such(tmp_path, loads, capsys):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    for path, words in ((fifo, "a FIFO (named pipe)"), (loop, "a symlink loop")):
        code, _, err = _run(capsys, "--corpus", str(path))
        _one_error(code, err, str(path), words)
    if Path("/dev/null").exists():
        code, _, err = _run(capsys, "--corpus", "/dev/null")
        _one_error(code, err, "a character device")
    assert loads == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_skipped_files_are_counted_and_named(tmp_path, loads, capsys):
    (tmp_path / "good.txt").write_text(_text())
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text(_text(seed=1))
    code, out, err = _run(capsys, "--corpus", str(tmp_path), "--top", "20", "--skip", "0")
    assert code == 0, err
    assert "R_cos" in out and "2 .txt files" in out
    assert len(err) == 1 and err[0].startswith("psbook align: skipped 2 path(s)"), err
    assert "loop.txt (a symlink loop)" in err[0] and "pipe.txt (a FIFO (named pipe))" in err[0]


def test_an_unreadable_corpus_file_is_one_line(tmp_path, loads, capsys, monkeypatch):
    f = tmp_path / "secret.txt"
    f.write_text(_text())
    if os.geteuid() == 0:         # root reads every file: make this one look unreadable
        monkeypatch.setattr(textfiles, "readable", lambda p, folder=False: folder)
    else:
        f.chmod(0)
    code, _, err = _run(capsys, "--corpus", str(f))
    _one_error(code, err, "secret.txt", "cannot be read")
    code, _, err = _run(capsys, "--corpus", str(tmp_path))
    _one_error(code, err, "holds no non-empty .txt file", "secret.txt (unreadable")
    assert loads == []


def test_os_and_runtime_errors_during_the_run_are_one_line(tmp_path, loads, capsys,
                                                            monkeypatch):
    (tmp_path / "a.txt").write_text(_text())
    for exc in (PermissionError(13, "Permission denied", str(tmp_path / "a.txt")),
                RuntimeError("unexpected pos 510208 vs 510096\nmore\nlines")):
        def boom(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(pretrained, "load", boom)
        code, _, err = _run(capsys, "--corpus", str(tmp_path))
        _one_error(code, err)
        assert ("Permission denied" in err[0]) or ("unexpected pos" in err[0])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_json_to_a_full_device_is_one_line(tmp_path, loads, capsys):
    (tmp_path / "a.txt").write_text(_text())
    code, out, err = _run(capsys, "--corpus", str(tmp_path), "--top", "20", "--skip", "0",
                          "--json", "/dev/full")
    _one_error(code, err, "could not write the results", "No space left on device")
    assert "R_cos" in out                       # the table was printed before the write


def test_cuda_on_a_cpu_machine_is_one_line(tmp_path, loads, capsys, monkeypatch):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    monkeypatch.setenv("PSBOOK_DEVICE", "cuda")
    code, _, err = _run(capsys, "--corpus", str(tmp_path))
    _one_error(code, err, "PSBOOK_DEVICE=cuda", "no usable CUDA GPU")
    assert loads == []


# ---- streaming ---------------------------------------------------------------------------------


def _old_file_documents(text: str, block: int) -> list[str]:
    """The reader before streaming (whole lines, ~block-char documents), for comparison."""
    import re
    heading = re.compile(r"^ = [^=].* = $", re.MULTILINE)
    wiki = bool(heading.search(text[:20000]))
    out, cur, size = [], [], 0
    for line in text.splitlines(keepends=True):
        if wiki and heading.match(line.rstrip("\n")) and any(s.strip() for s in cur):
            out.append("".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line)
        if not wiki and size >= block:
            out.append("".join(cur))
            cur, size = [], 0
    if any(s.strip() for s in cur):
        out.append("".join(cur))
    return out


@pytest.mark.parametrize("kind", ["lines", "wiki"])
def test_files_with_line_breaks_give_the_documents_they_gave_before(tmp_path, monkeypatch,
                                                                    kind):
    monkeypatch.setattr(textfiles, "BLOCK_CHARS", 5000)
    rng = np.random.default_rng(1)
    lines = [_text(int(rng.integers(1, 60)), seed=i) for i in range(400)]
    if kind == "wiki":
        for i in range(0, 400, 37):
            lines[i] = f" = Article {i} = \n"
    text = "".join(lines)
    f = tmp_path / "t.txt"
    f.write_text(text)
    assert list(textfiles.file_documents(f)) == _old_file_documents(text, 5000)


def test_a_single_line_file_is_read_in_bounded_pieces_cut_at_whitespace(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles, "BLOCK_CHARS", 4000)
    monkeypatch.setattr(textfiles, "PIECE_CHARS", 1000)
    text = _text(20000).rstrip("\n")            # ~110 k characters, no line break
    f = tmp_path / "one-line.txt"
    f.write_text(text)
    docs = list(textfiles.file_documents(f))
    assert "".join(docs) == text
    assert max(len(d) for d in docs) <= 4000 + 2 * 1000
    # every cut is just before a space: no word is split
    assert all(d[-1] != " " and (i == 0 or d[0] == " ") for i, d in enumerate(docs))
    # a line with no whitespace at all is cut at the piece length, nothing lost
    f.write_text("x" * 9500)
    docs = list(textfiles.file_documents(f))
    assert "".join(docs) == "x" * 9500 and max(len(d) for d in docs) <= 6000


def test_non_utf8_errors_point_at_the_first_bad_byte_across_blocks(tmp_path):
    f = tmp_path / "late.txt"
    f.write_bytes(b"a" * (3 << 20) + "é".encode("latin-1") + b"tail\n")
    with pytest.raises(ValueError, match=rf"late\.txt is not UTF-8 text: undecodable byte "
                                         rf"0xe9 at byte {3 << 20}; .*Latin-1"):
        list(textfiles.file_documents(f))


def test_a_single_line_corpus_is_counted_whole(tmp_path, monkeypatch):
    from psbook.align import corpus_documents, count_corpus
    monkeypatch.setattr(textfiles, "BLOCK_CHARS", 4000)
    monkeypatch.setattr(textfiles, "PIECE_CHARS", 1000)
    words = _text(40000).split()
    one = tmp_path / "one.txt"
    one.write_text(" ".join(words))
    counts = count_corpus(CharTokenizer(), corpus_documents(str(one))[1], kinds=("next",),
                          progress=False)
    assert counts.n_tokens == len(" ".join(words)) and counts.n_docs > 40
