"""Corpora for the language-model chapters: check before a build, fetch when online.

    python tools/data.py check   # (make book / make test run this first) exit 1 in seconds, with
                                 # what to do, when neither $PSBOOK_DATA holds a corpus nor the
                                 # network is there
    python tools/data.py fetch   # (make data) download WikiText-2 through `datasets` into
                                 # $PSBOOK_DATA/wikitext-2/ (valid.txt, test.txt, train.txt)

Chapters 02 and 09-11 read Wikipedia text: streamed from the Hugging Face Hub when online, else
WikiText in $PSBOOK_DATA (psbook.corpus.sources). Without either they fail only minutes into a
build; this check fails first.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

CORPORA = ("wikitext-103", "wikitext-2")


def _data_dir() -> Path | None:
    env = os.environ.get("PSBOOK_DATA", "").strip()
    return Path(env).expanduser() if env else None


def local_corpus() -> Path | None:
    d = _data_dir()
    if d is None or not d.is_dir():
        return None
    for name in CORPORA:
        if any(p.stat().st_size > 0 for p in (d / name).glob("*.txt")):
            return d / name
    return None


def online() -> tuple[bool, str]:
    """psbook's own online decision (PSBOOK_ONLINE, HF_*_OFFLINE, a probe of the Hub), loaded
    from its file so that this works before psbook and its dependencies are installed."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "src" / "psbook" / "corpus" / "_network.py"
    spec = importlib.util.spec_from_file_location("_psbook_network", path)
    net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(net)
    return net.is_online(timeout=3.0, verbose=False), net.network_reason()


def _what_to_do() -> str:
    d = _data_dir()
    return (
        "Do one of:\n"
        "  1. on a machine with network: `make data` (downloads WikiText-2, 13 MB, into "
        f"{d or '$PSBOOK_DATA'}/wikitext-2/), or\n"
        "  2. set PSBOOK_DATA to a folder holding wikitext-2/*.txt (or wikitext-103/*.txt), e.g.\n"
        "     `export PSBOOK_DATA=/path/to/data`, or\n"
        "  3. build with network (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / PSBOOK_ONLINE=0).")


def check() -> int:
    t0 = time.monotonic()
    found = local_corpus()
    if found is not None:
        print(f"[data] corpus: {found} (offline runs use it)")
        return 0
    on, why = online()
    if on:
        print(f"[data] no local corpus, but the network is there ({why}): chapters stream theirs")
        return 0
    d = _data_dir()
    where = ("PSBOOK_DATA is not set" if d is None else
             f"PSBOOK_DATA={d} does not exist" if not d.is_dir() else
             f"PSBOOK_DATA={d} holds no {' or '.join(CORPORA)} folder with .txt files")
    print(f"[data] ERROR: no corpus for chapters 02 and 09-11: {where}, and no network ({why}).\n"
          f"{_what_to_do()}\n(checked in {time.monotonic() - t0:.1f} s; nothing was executed)",
          file=sys.stderr)
    return 1


def fetch() -> int:
    d = _data_dir()
    if d is None:
        print("[data] ERROR: set PSBOOK_DATA to the folder to fill (make data sets it).",
              file=sys.stderr)
        return 1
    dest = d / "wikitext-2"
    if local_corpus() is not None and any(dest.glob("*.txt")):
        print(f"[data] {dest} already holds WikiText-2; nothing to do")
        return 0
    on, why = online()
    if not on:
        print(f"[data] ERROR: no network ({why}): cannot download WikiText-2.\n"
              "Copy a wikitext-2/ folder (valid.txt, test.txt) into "
              f"{d} from a machine that has it, or run `make data` with network.",
              file=sys.stderr)
        return 1
    try:
        from datasets import load_dataset
    except ImportError:
        print("[data] ERROR: `datasets` is not installed: pip install 'psbook[online]'",
              file=sys.stderr)
        return 1
    ds = load_dataset("Salesforce/wikitext", "wikitext-2-v1")
    dest.mkdir(parents=True, exist_ok=True)
    names = {"validation": "valid.txt", "test": "test.txt", "train": "train.txt"}
    for split, fname in names.items():
        (dest / fname).write_text("".join(ds[split]["text"]), encoding="utf-8")
    (dest / "README.md").write_text(
        "# WikiText-2 (tokenised, `wikitext-2-v1`), fetched by `make data`\n\n"
        "Merity et al., Pointer Sentinel Mixture Models (2016), arXiv:1609.07843; "
        "CC BY-SA 3.0. From the Hugging Face dataset Salesforce/wikitext.\n")
    print(f"[data] wrote {', '.join(names.values())} into {dest}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["fetch"]:
        return fetch()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
