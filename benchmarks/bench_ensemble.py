"""Batched ensemble vs single runs: K seeds of chapter 05's linear model on f_add.

Run on demand (not in CI):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ensemble.py            # cpu preset, 5 seeds
    .venv/bin/python benchmarks/bench_ensemble.py --preset tiny --rounds 2

Both sides make the same call chapter 05 makes, ``experiments.run_over_seeds("f_add",
"linear", preset, snapshot_steps=...)``, with the cache off, in one process:

* ``single``:   ``batch=False`` -- one :func:`psbook.synthetic.experiments.run` per seed, one after another;
* ``ensemble``: ``batch=True``  -- the seeds' models stacked and trained as one
  (:mod:`psbook.synthetic.ensemble`).

Rounds alternate the two (single, ensemble, single, ...), so load from other processes hits
both alike; the script prints the median CPU time (user + sys of this process) and wall time
per side and their ratios, and checks that every seed's loss curve, final ``R_order`` and
final ``W_E`` agree between the two sides (bitwise for f_add, whose seeds' tasks have equally
many distinct training rows). Goal (issue 17): ensemble >= 3x faster than single.

``--hog N`` starts N busy-looping processes (pure Python, one core each) beside the runs for
their whole length and stops them at the end: the machine "otherwise busy" of issue 30. psbook
sizes torch's threads from the usable cores (``psbook.parallel.limit_threads``), so the runs
do not add oversubscribed threads of their own; the hog only takes cores away.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _spin() -> None:            # a CPU hog: one core, busy until killed
    while True:
        pass


def _start_hogs(n: int) -> list:
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    hogs = [ctx.Process(target=_spin, daemon=True, name=f"cpu-hog-{i}") for i in range(n)]
    for h in hogs:
        h.start()
    return hogs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "gpu", "full"])
    ap.add_argument("--task", default="f_add")
    ap.add_argument("--model", default="linear", choices=["linear", "ffn"])
    ap.add_argument("--members", type=int, default=5, help="seeds (ensemble members)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: the preset's)")
    ap.add_argument("--hog", type=int, default=0, metavar="N",
                    help="run N busy-looping processes beside the runs (a busy machine)")
    args = ap.parse_args(argv)
    hogs = _start_hogs(args.hog) if args.hog > 0 else []
    try:
        _bench(args)
    finally:
        for h in hogs:
            h.terminate()
            h.join()


def _bench(args):
    os.environ["PSBOOK_CACHE"] = "off"
    os.environ.setdefault("PSBOOK_PROGRESS", "off")

    import numpy as np
    import torch

    from psbook.synthetic import experiments
    from psbook.presets import get_preset

    preset = get_preset(args.preset, **({"device": args.device} if args.device else {}))
    steps = preset.synthetic["train"][args.task][args.model]["steps"]
    snaps = [0, steps // 20, steps // 5, steps]          # chapter 05's snapshots
    seeds = list(range(args.members))

    def call(batch):
        return experiments.run_over_seeds(args.task, args.model, preset, seeds=seeds,
                                          snapshot_steps=snaps, batch=batch)

    call(True)                                            # warm-up (imports, kernels)
    times = {"single": [], "ensemble": []}
    out = {}
    for _ in range(args.rounds):
        for side, batch in (("single", False), ("ensemble", True)):
            c0, w0 = _cpu(), time.perf_counter()
            out[side] = call(batch)
            times[side].append((_cpu() - c0, time.perf_counter() - w0))

    rel, dR, dW = 0.0, 0.0, 0.0
    for a, b in zip(out["single"].outputs, out["ensemble"].outputs):
        ha, hb = a["result"].history, b["result"].history
        rel = max(rel, float(np.max(np.abs(ha.loss - hb.loss) / np.abs(ha.loss))))
        dR = max(dR, abs(a["result"].metrics["R_order"] - b["result"].metrics["R_order"]))
        dW = max(dW, float(np.max(np.abs(a["result"].W_E - b["result"].W_E))))
    med = {k: (float(np.median([t[0] for t in v])), float(np.median([t[1] for t in v])))
           for k, v in times.items()}
    print(f"{args.task} {args.model}, preset {preset.name}, {args.members} seeds, {steps} steps, "
          f"device {preset.device}, cache off, {args.rounds} rounds (median)")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}, {args.hog} CPU hog process(es) beside the runs")
    print(f"{'side':<9} {'CPU s':>8} {'wall s':>8}")
    for k, (c, w) in med.items():
        print(f"{k:<9} {c:8.2f} {w:8.2f}")
    print(f"speed-up ensemble vs single: CPU {med['single'][0] / med['ensemble'][0]:.2f}x, "
          f"wall {med['single'][1] / med['ensemble'][1]:.2f}x (goal >= 3x)")
    print(f"agreement: max relative loss difference {rel:.2e}, max |R_order difference| "
          f"{dR:.2e}, max |final W_E difference| {dW:.2e}")


if __name__ == "__main__":
    main()
