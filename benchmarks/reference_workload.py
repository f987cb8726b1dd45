"""A fixed reference workload: the yardstick that makes chapter timings comparable across machines.

Chapter times in seconds hold only for the machine that measured them (two 2-vCPU machines
differ by 2x). ``benchmarks/time_chapters.py`` therefore runs this workload in the same run,
before and after the chapters, and reports every chapter also in *reference units*: the
chapter's CPU seconds divided by this workload's CPU seconds on the same machine. A reader
times the workload on their own machine (a few seconds) and multiplies.

The workload is the same kind of work the chapters do, at sizes fixed here (never taken from
a preset, so that it stays the same yardstick when presets change), on one thread:

* ``synthetic``: full-batch gradient descent of the linear model on composite addition
  (``psbook`` synthetic training, the work of chapters 02-08);
* ``lm``: AdamW steps of the small Qwen2.5-style decoder on random token windows (forward,
  backward, optimiser; the work of chapters 10, 11 and 13).

Each part runs ``repeats`` times after a warm-up; the part's time is the median of its
repeats' CPU seconds (process time: the time this process computed, which a busy machine
inflates much less than wall time). ``units`` = synthetic + lm seconds.

    .venv/bin/python benchmarks/reference_workload.py            # prints the JSON record
"""

from __future__ import annotations

import json
import statistics
import sys
import time

SYNTHETIC_STEPS = 400
LM_STEPS = 12
LM_SIZES = dict(vocab_size=2048, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=344,
                max_seq_len=128)
LM_BATCH = (16, 128)        # windows x tokens


def _synthetic() -> float:
    from psbook.synthetic import tasks, train
    from psbook.synthetic.models import make_model
    t = tasks.make("f_add", n_keys=20, n_anchors=10, n_slots=3, seed=0)
    m = make_model("linear", t.vocab_size, t.label_size, d=64, gamma=0.8, seed=0)
    t0 = time.process_time()
    train.train(m, t, optimizer="gd", lr=0.5, steps=SYNTHETIC_STEPS, progress=False)
    return time.process_time() - t0


def _lm() -> float:
    import torch
    from psbook.lm import LMConfig, QwenLM
    model = QwenLM(LMConfig(**LM_SIZES), seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batches = torch.randint(0, LM_SIZES["vocab_size"], (LM_STEPS, LM_BATCH[0], LM_BATCH[1] + 1),
                            generator=g)
    t0 = time.process_time()
    for b in batches:
        loss = model.loss(b, check=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.process_time() - t0


def run(repeats: int = 3) -> dict:
    """Time the reference workload on one thread; returns ``{"synthetic": s, "lm": s,
    "units": s, "threads": 1, "repeats": repeats}`` (CPU seconds, medians of the repeats)."""
    import torch
    if repeats < 1:
        raise ValueError(f"repeats must be a positive integer; got {repeats}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _synthetic()                       # warm-up: imports, allocator, kernels
        _lm()
        syn = statistics.median(_synthetic() for _ in range(repeats))
        lm = statistics.median(_lm() for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)
    return {"synthetic": round(syn, 2), "lm": round(lm, 2), "units": round(syn + lm, 2),
            "threads": 1, "repeats": repeats}


if __name__ == "__main__":
    json.dump(run(int(sys.argv[1]) if len(sys.argv) > 1 else 3), sys.stdout)
    print()
