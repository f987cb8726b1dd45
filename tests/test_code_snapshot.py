"""The offline "code" corpus is a fixed snapshot: the same files and bytes on every Python.

Before issue 31 it was the running Python's standard library (630 files on 3.13, 734 on 3.11),
so chapter 11's result depended on the Python version. Now `documents("code")` offline reads
`src/psbook/corpus/data/cpython-3.11.7-stdlib.tar.xz` (tools/code_snapshot.py builds it).
"""

from __future__ import annotations

import hashlib
import itertools
import sysconfig
import tarfile

import pytest

from psbook import corpus
from psbook.corpus import code_snapshot as cs
from psbook.corpus import sources

# typed here, not read from the module: changing the snapshot means changing both (and VERSION)
SHA256 = "e94f2b5327807e41ed5c1e72d41ce4059ec8b34e97224461dbb79c5cde724c41"


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("PSBOOK_ONLINE", "0")
    from psbook.corpus import _network
    _network.reset_network_cache()
    sources._PLANS.clear()
    yield
    _network.reset_network_cache()
    sources._PLANS.clear()


def test_the_shipped_snapshot_has_its_sha256_and_size():
    data = cs.SNAPSHOT.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256 == cs.SNAPSHOT_SHA256
    assert cs.verify() == SHA256
    assert len(data) < 2_100_000, f"{len(data):,} bytes: the snapshot grew"


def test_the_snapshot_holds_what_it_says():
    with tarfile.open(cs.SNAPSHOT, "r:xz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and len(names) == cs.N_FILES == 734
        assert all(n.startswith("Lib/") and n.endswith(".py") for n in names)
        assert not [n for n in names if "/test/" in n or "/tests/" in n
                    or n.rsplit("/", 1)[1].startswith("test_")]
        assert {m.mtime for m in members} == {0} and {m.uid for m in members} == {0}
        chars = sum(len(tar.extractfile(m).read().decode("utf-8")) for m in members)
    assert chars == cs.N_CHARS
    assert "Lib/os.py" in names and "Lib/json/decoder.py" in names


def test_the_psf_licence_notice_ships_beside_it():
    text = (cs.SNAPSHOT.parent / "CPython-LICENSE.txt").read_text()
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in text
    assert "Python Software Foundation" in cs.__doc__ + text


def test_offline_code_is_the_snapshot_and_not_the_running_python(offline, monkeypatch, tmp_path):
    first = list(itertools.islice(corpus.documents("code", max_chars=200_000), 50))
    assert "".join(first) == "".join(itertools.islice(cs.snapshot_documents(), len(first)))[
        :200_000]
    desc = corpus.describe_source("code")
    assert "CPython 3.11.7 standard-library source" in desc and "snapshot v1" in desc
    assert sysconfig.get_paths()["stdlib"] not in desc
    # a Python whose library is elsewhere (or absent) reads the same corpus
    real = sysconfig.get_paths

    def elsewhere(*a, **k):
        return {**real(*a, **k), "stdlib": str(tmp_path)}
    monkeypatch.setattr(sysconfig, "get_paths", elsewhere)
    sources._PLANS.clear()
    again = list(itertools.islice(corpus.documents("stdlib", max_chars=200_000), 50))
    assert again == first


def test_a_missing_snapshot_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(cs, "SNAPSHOT", tmp_path / "gone.tar.xz")
    with pytest.raises(FileNotFoundError, match="reinstall psbook"):
        next(cs.snapshot_documents())
