"""Run each chapter ALONE in the gpu preset, with a time limit per chapter, and write a table of
per-chapter wall time and pass/fail -- the check the README's gpu-preset times wait for.

Run on a machine with a CUDA GPU (not in CI), from the repository root:

    .venv/bin/python benchmarks/gpu_chapters.py                       # all chapters, 300 s each
    .venv/bin/python benchmarks/gpu_chapters.py --chapters 05 06 --limit 600
    .venv/bin/python benchmarks/gpu_chapters.py --preset tiny --device cpu --chapters 05   # dry run
    PSBOOK_WORKERS=2 .venv/bin/python benchmarks/gpu_chapters.py --chapters 10 11 13

The last line is worth one run beside the default: on a GPU the language-model chapters train
one model at a time (``PSBOOK_WORKERS`` is 1 there by default); small models leave the GPU idle
between kernel launches, so two processes sharing it may finish sooner. Unmeasured so far.

Each chapter's notebook is generated from ``book/NN-*.md`` (jupytext) into a scratch folder
and executed in its own process (nbclient, working directory ``book/``) with
``PSBOOK_PRESET=<preset>``, ``PSBOOK_DEVICE=<device>`` (``cuda`` by default, so a missing GPU
fails at once instead of silently running the gpu sizes on the CPU), progress bars off, and
an empty cache of its own -- one chapter at a time, so no chapter shares the GPU. A chapter
that runs past ``--limit`` seconds is killed and reported as ``timeout``; a failing cell (a
hidden assertion included) is ``fail`` with the error's last line. The table goes to stdout
and to ``--out`` (markdown), with the GPU's name, torch's version and the command line.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

_RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=None, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def _gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30)
        return out.stdout.strip().replace("\n", "; ") or "no GPU reported by nvidia-smi"
    except (OSError, subprocess.TimeoutExpired):
        return "nvidia-smi not available"


def _torch_version() -> str:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, "
                          "torch.cuda.is_available())"], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def run_chapter(md: Path, work: Path, env: dict, limit: int) -> tuple[str, float, str]:
    """``(status, seconds, note)`` of executing chapter ``md`` once within ``limit`` s."""
    nb = work / (md.stem + ".ipynb")
    conv = subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "-o", str(nb),
                           str(md)], capture_output=True, text=True)
    if conv.returncode:
        return "fail", 0.0, "jupytext: " + (conv.stderr.strip().splitlines() or ["?"])[-1]
    cache = Path(tempfile.mkdtemp(prefix="psbook-gpu-cache-", dir=work))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(nb), str(BOOK)],
                            env={**env, "PSBOOK_CACHE": str(cache)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
        sec = time.perf_counter() - t0
        if proc.returncode == 0:
            return "pass", sec, ""
        out = re.sub(r"\x1b\[[0-9;]*m", "", out)          # colour codes of tracebacks
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        err = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "?")
        return "fail", sec, err.strip()[:160]
    except subprocess.TimeoutExpired:
        # the runner's group; the kernel has a session of its own and exits when ipykernel's
        # parent poller sees its parent gone
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", time.perf_counter() - t0, f"killed after {limit} s"
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="gpu", help="PSBOOK_PRESET for every chapter")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="PSBOOK_DEVICE for every chapter (default cuda: no silent CPU run)")
    ap.add_argument("--chapters", nargs="*", default=None,
                    help="chapter number prefixes, e.g. 05 10 (default: all)")
    ap.add_argument("--limit", type=int, default=300, help="seconds per chapter (default 300)")
    ap.add_argument("--out", default="gpu_chapters.md", help="markdown table written here")
    args = ap.parse_args(argv)
    chapters = sorted(BOOK.glob("[0-9][0-9]-*.md"))
    if args.chapters:
        chapters = [c for c in chapters if c.name[:2] in args.chapters]
    if not chapters:
        ap.error(f"--chapters {args.chapters} matches no book/NN-*.md")
    env = {**os.environ, "PSBOOK_PRESET": args.preset, "PSBOOK_DEVICE": args.device,
           "PSBOOK_PROGRESS": "off"}
    env.pop("CI", None)
    header = [f"# Chapters alone, preset {args.preset}, device {args.device}, limit "
              f"{args.limit} s per chapter", "",
              f"GPU: {_gpu_name()}; torch {_torch_version()}; python "
              f"{platform.python_version()}; {os.cpu_count()} CPUs", "",
              f"Command: {' '.join([Path(sys.argv[0]).name] + (argv or sys.argv[1:]))}", "",
              "| chapter | status | wall s | note |", "|---|---|---|---|"]
    print("\n".join(header), flush=True)
    rows = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="psbook-gpu-chapters-") as work:
        for md in chapters:
            status, sec, note = run_chapter(md, Path(work), env, args.limit)
            failed += status != "pass"
            row = f"| {md.stem} | {status} | {sec:.0f} | {note.replace('|', '/')} |"
            rows.append(row)
            print(row, flush=True)
    Path(args.out).write_text("\n".join(header + rows) + "\n")
    print(f"\n{len(chapters) - failed}/{len(chapters)} chapters passed; table written to "
          f"{args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
