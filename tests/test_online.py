"""The online branch of psbook.corpus.sources, with a fake ``datasets.load_dataset``.

No network is used: ``datasets`` is replaced by a module whose ``load_dataset`` returns an
iterator we control (a working mirror, a missing mirror, a stream that breaks midway).
"""

import sys
import types

import pytest

from psbook.corpus import _network, sources


def _rows(set_name, n, *, other_every=0):
    for i in range(n):
        name = "Github" if other_every and i % other_every == 0 else set_name
        yield {"text": f"document {i} of {name}", "meta": {"pile_set_name": name}}


class _Broken:
    """A stream that yields ``ok`` rows, then fails as a dropped connection would."""

    def __init__(self, set_name, ok, exc):
        self.set_name, self.ok, self.exc = set_name, ok, exc

    def __iter__(self):
        yield from _rows(self.set_name, self.ok)
        raise self.exc


@pytest.fixture
def online(monkeypatch):
    """Force the online decision and install a fake ``datasets``; yields the call log and a
    dict ``repo -> factory`` that the test fills."""
    calls, served = [], {}

    def load_dataset(repo, split=None, streaming=False):
        calls.append(repo)
        assert streaming and split == "train"
        if repo not in served:
            raise FileNotFoundError(f"Dataset '{repo}' doesn't exist on the Hub")
        return served[repo]()

    fake = types.ModuleType("datasets")
    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", fake)
    monkeypatch.setenv("PSBOOK_ONLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    _network.reset_network_cache()
    sources._PLANS.clear()
    yield calls, served
    _network.reset_network_cache()
    sources._PLANS.clear()


def test_mirror_is_used_and_named(online):
    calls, served = online
    served["timaeus/pile-github"] = lambda: iter(list(_rows("Github", 5)))
    desc = sources.describe_source("code")
    assert "timaeus/pile-github" in desc and "mirror" in desc, desc
    docs = list(sources.documents("code", max_chars=10_000))
    assert len(docs) == 5 and docs[0].startswith("document 0")


def test_fallback_to_full_stream_is_named_and_filtered(online):
    calls, served = online
    # the Wikipedia mirror is not served; the full stream mixes subsets
    served["monology/pile-uncopyrighted"] = lambda: iter(
        list(_rows("Wikipedia (en)", 9, other_every=3)))
    desc = sources.describe_source("wikipedia")
    assert "monology/pile-uncopyrighted" in desc and "filtered" in desc, desc
    assert "timaeus/pile-wikipedia_en" not in desc, desc
    docs = list(sources.documents("wikipedia", max_chars=10_000))
    assert docs and all("Wikipedia (en)" in d for d in docs)
    assert len(docs) == 6                                   # every third row was Github
    assert calls[0] == "timaeus/pile-wikipedia_en"          # the mirror was tried first


def test_stream_failing_midway_names_the_cause(online):
    calls, served = online
    served["timaeus/pile-dm_mathematics"] = lambda: iter(
        _Broken("DM Mathematics", 3, ConnectionResetError("connection reset by peer")))
    it = sources.documents("math", max_chars=1_000_000)
    with pytest.raises(RuntimeError) as err:
        list(it)
    msg = str(err.value)
    assert "after 3 documents" in msg and "connection reset by peer" in msg, msg
    assert "timaeus/pile-dm_mathematics" in msg
    assert "connect to the network" not in msg


def test_missing_zstandard_is_named(online):
    calls, served = online
    served["timaeus/pile-github"] = lambda: iter(
        _Broken("Github", 1, ImportError("Please pip install zstandard")))
    with pytest.raises(RuntimeError, match="psbook\\[online\\]"):
        list(sources.documents("code", max_chars=1_000_000))


def test_nothing_served_falls_back_offline_with_reason(online, capsys):
    # no repository is served: the offline fallback is used and the reason printed
    desc = sources.describe_source("math")
    assert "generated arithmetic" in desc
    out = capsys.readouterr().out
    assert "Pile unavailable" in out and "doesn't exist on the Hub" in out, out


def test_failed_stream_without_fallback_names_both(online, monkeypatch, tmp_path):
    monkeypatch.setenv("PSBOOK_DATA", str(tmp_path))    # no Wikipedia corpus here
    with pytest.raises(ValueError) as err:
        sources.describe_source("wikipedia")
    msg = str(err.value)
    assert "could not be streamed" in msg and "doesn't exist on the Hub" in msg, msg


def test_online_extra_declares_zstandard():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    online_line = next(line for line in text.splitlines() if line.startswith("online"))
    assert "zstandard" in online_line, online_line
