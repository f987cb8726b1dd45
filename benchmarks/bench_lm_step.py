"""One stacked language-model training step: this checkout against a baseline commit.

Run on demand (not in CI):
    .venv/bin/python benchmarks/bench_lm_step.py [--baseline main] [--preset cpu] [--K 7]

The step is chapter 13's (``preset.interventions``' model and training on the preset's
``train_vocab``; ``--chapter 10``: the preset's own language model, chapters 10 and 11's):
``K`` members stacked by :func:`psbook.lm.stacked.train_stacked`, which is
run for ``--steps`` steps on random tokens. The baseline is ``psbook`` as of ``--baseline``
(a git commit, extracted with ``git archive``); both run in fresh subprocesses, alternating
in rounds so that a busy machine slows both alike, and each reports its own process CPU
seconds (the only number that means something on a shared machine; the load average is
printed beside it). Prints CPU ms per step (the median over rounds) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, os
import numpy as np, torch
from dataclasses import replace
torch.set_num_threads(1)
from psbook.presets import get_preset
from psbook.lm import configs_from_preset
from psbook.lm.stacked import train_stacked
preset, K, steps, chapter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
p = get_preset(preset, device="cpu")
I = p.interventions
V = int(p.lm["train_vocab"])
if chapter == "13":
    mcfg, tcfg = configs_from_preset(p, V, model=I["lm_model"],
                                     train={**I["lm_train"], "steps": steps})
else:          # chapters 10 and 11: the preset's language model itself
    mcfg, tcfg = configs_from_preset(p, V, train={"steps": steps})
rng = np.random.default_rng(0)
jobs = [{"tokens": rng.integers(0, V, 100_000), "model_cfg": mcfg,
         "train_cfg": replace(tcfg, seed=k)} for k in range(K)]
train_stacked(jobs[:1] if K > 1 else jobs)          # warm-up (allocator, kernels)
t0 = time.process_time()
res = train_stacked(jobs)
cpu = time.process_time() - t0
print(json.dumps({"cpu_ms_per_step": 1e3 * cpu / steps,
                  "loss": float(res[0].history["loss"][-1]), "load": os.getloadavg()[0]}))
"""


def _baseline_src(ref: str, into: Path) -> Path:
    """``src/`` of commit ``ref``, extracted into ``into``."""
    tar = into / "src.tar"
    with open(tar, "wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=f, check=True)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def _run(src: Path, preset: str, K: int, steps: int, chapter: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, preset, str(K), str(steps), chapter],
                         env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="main", help="git commit of the baseline")
    ap.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "gpu"])
    ap.add_argument("--chapter", default="13", choices=["10", "13"],
                    help="whose model: chapter 13's small one or chapters 10-11's")
    ap.add_argument("--K", type=int, default=7, help="members per stack (chapter 13: 6-7)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {"baseline " + args.baseline: _baseline_src(args.baseline, Path(tmp)),
                "this checkout": ROOT / "src"}
        rows = {k: [] for k in srcs}
        for _ in range(args.rounds):
            for name, src in srcs.items():
                rows[name].append(_run(src, args.preset, args.K, args.steps, args.chapter))
    print(f"chapter {args.chapter}'s model, preset={args.preset} K={args.K} steps={args.steps} rounds={args.rounds} "
          f"(one thread; CPU ms per step, median over rounds)")
    med = {}
    for name, rs in rows.items():
        med[name] = statistics.median(r["cpu_ms_per_step"] for r in rs)
        print(f"  {name:24s} {med[name]:8.1f} ms   rounds: "
              + ", ".join(f"{r['cpu_ms_per_step']:.1f}" for r in rs)
              + "   load: " + ", ".join(f"{r['load']:.1f}" for r in rs)
              + f"   final loss {rs[-1]['loss']:.4f}")
    a, b = med.values()
    print(f"  speed-up (baseline / this checkout): {a / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
