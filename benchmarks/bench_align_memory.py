"""Peak memory of `psbook align` on a text file that is one long line (issue 32.4).

Run on demand (not in CI; writes a file of --mb megabytes to a temporary folder):
    .venv/bin/python benchmarks/bench_align_memory.py                 # 200 MB, one line
    .venv/bin/python benchmarks/bench_align_memory.py --mb 50 --lines # the same text, with breaks

It writes ``--mb`` megabytes of English words (a fixed list of common words drawn at random with
Zipf-like frequencies, seed 0) with no line break at all -- or, with ``--lines``, one break
every ~80 characters -- and runs ``psbook align --model glove-6b-50d --corpus FILE`` as a
child process, whole, exactly as a user would. It prints the child's peak resident memory
(``ru_maxrss``) and its wall time. Goal: under 1 GB for 200 MB on one line (the reader used to
hold the whole line: 4.37 GB). The GloVe model itself (400k x 50 floats and its vocabulary) is
part of the peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from "
         "at which but have an they one you were her all she there would their we him been has "
         "when who will more no if out so said what up its about into than them can only other "
         "new some could time these two may then do first any my now such like our over man me "
         "even most made after also did many before must through back years where much your "
         "way well down should because each just those people how too little state good very "
         "make world still own see men work long get here between both life being under never "
         "day same another know while last might us great old year off come since against go "
         "came right used take three").split()


def write_corpus(path: Path, mb: int, lines: bool, seed: int = 0) -> int:
    """``mb`` MB of words, one line (or ~80-character lines); returns the bytes written."""
    import numpy as np
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    target, written = mb << 20, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            words = [WORDS[i] for i in rng.choice(len(WORDS), size=200_000, p=p)]
            if lines:
                chunk = "\n".join(" ".join(words[i:i + 16]) for i in range(0, len(words), 16))
            else:
                chunk = " ".join(words)
            chunk = chunk[: target - written] + ("\n" if lines else " ")
            f.write(chunk)
            written += len(chunk)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the file (default 200)")
    ap.add_argument("--lines", action="store_true", help="line breaks every ~80 characters")
    ap.add_argument("--signature", default="next", choices=["next", "window"],
                    help="what psbook align counts (default next: the reading dominates)")
    ap.add_argument("--dir", default=None, help="folder for the file (default: a temporary one)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / ("lines.txt" if args.lines else "one-line.txt")
        size = write_corpus(path, args.mb, args.lines)
        env = {**os.environ, "PSBOOK_CACHE": "off", "PSBOOK_PROGRESS": "off"}
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "psbook", "align", "--model", "glove-6b-50d",
                            "--corpus", str(path), "--signature", args.signature, "--quiet"],
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss    # KiB on Linux
    print(p.stdout.strip().splitlines()[4] if p.returncode == 0 else p.stderr.strip())
    print(f"file: {size / 2**20:.0f} MiB, {'line breaks every ~80 chars' if args.lines else 'one line'}"
          f"; signature {args.signature}; exit status {p.returncode}")
    print(f"peak resident memory of `psbook align`: {peak_kb / 2**20:.2f} GiB "
          f"(goal < 1 GB); wall {wall:.0f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
