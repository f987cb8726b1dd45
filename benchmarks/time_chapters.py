"""Time every chapter of the book, cold (empty psbook cache), in one or more presets.

Run on demand (not in CI); the table it prints is what README.md and each chapter's
*Compute* note quote. Each chapter is executed in a fresh kernel, one at a time, exactly as
the book build executes it (working directory ``book/``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/time_chapters.py --presets tiny cpu
    .venv/bin/python benchmarks/time_chapters.py --presets tiny --chapters 05 06
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def run_chapter(path: Path, preset: str, cache: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(PSBOOK_PRESET=preset, PSBOOK_CACHE=str(cache))
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(BOOK)}})
        t0 = time.perf_counter()
        client.execute()
        return time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "cpu"])
    ap.add_argument("--chapters", nargs="*", default=None,
                    help="chapter number prefixes (default: all)")
    ap.add_argument("--timeout", type=int, default=1200)
    args = ap.parse_args()
    chapters = sorted(BOOK.glob("[0-9][0-9]-*.ipynb"))
    if args.chapters:
        chapters = [c for c in chapters if c.name[:2] in args.chapters]
    results: dict[str, dict[str, float]] = {}
    for preset in args.presets:
        for ch in chapters:
            cache = Path(tempfile.mkdtemp(prefix="psbook-time-"))
            try:
                sec = run_chapter(ch, preset, cache, args.timeout)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            results.setdefault(ch.stem, {})[preset] = sec
            print(f"{preset:5s} {ch.stem:40s} {sec:7.1f} s", flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    head = "| chapter | " + " | ".join(f"{p} preset" for p in args.presets) + " |"
    print(head)
    print("|" + "---|" * (len(args.presets) + 1))
    for stem, row in results.items():
        cells = " | ".join(f"{row[p]:.0f} s" if p in row else "–" for p in args.presets)
        print(f"| {stem} | {cells} |")


if __name__ == "__main__":
    main()
