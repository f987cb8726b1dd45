from psbook.progress import progress_bar, progress_enabled


def test_progress_switch(monkeypatch):
    monkeypatch.delenv("PSBOOK_PROGRESS", raising=False)
    assert progress_enabled() and not progress_enabled(False)
    for off in ("off", "0", "FALSE", "no"):
        monkeypatch.setenv("PSBOOK_PROGRESS", off)
        assert not progress_enabled()
        bar = progress_bar(range(3))
        assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv("PSBOOK_PROGRESS", "on")
    assert progress_enabled()
