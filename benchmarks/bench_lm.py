"""Training throughput of psbook.lm against transformers' Qwen2, same config and batch.

Run on demand (not in CI):  .venv/bin/python benchmarks/bench_lm.py [--preset cpu] [--steps 20]

Both models get the same weights, the same batches, AdamW with the same settings and the same
loss (mean next-token cross-entropy); the script times forward + backward + optimiser step
after a few warm-up steps, alternating the two models in rounds so that a busy machine
slows both alike, and prints tokens/s and the ratio psbook / transformers (goal >= 1.0).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from psbook.lm import configs_from_preset, hf_model, QwenLM
from psbook.presets import get_preset


def _step_fn(model, opt, hf: bool):
    def step(batch):
        if hf:
            logits = model(input_ids=batch[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                   batch[:, 1:].reshape(-1))
        else:
            loss = model.loss(batch, check=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach().item()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "gpu"])
    ap.add_argument("--vocab", type=int, default=None,
                    help="vocabulary size (default: the preset's lm['train_vocab'])")
    ap.add_argument("--steps", type=int, default=15, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset)
    V = args.vocab or int(preset.lm["train_vocab"])
    mcfg, tcfg = configs_from_preset(preset, V, tie=args.tied)
    dev = torch.device(preset.device)
    ours = QwenLM(mcfg, seed=0).to(dev)
    theirs = hf_model(ours).to(dev).train()
    batches = torch.randint(0, V, (args.warmup + args.steps, tcfg.batch_size, tcfg.seq_len + 1),
                            generator=torch.Generator().manual_seed(0)).to(dev)
    runs = {}
    for name, model, hf in (("psbook.lm", ours, False), ("transformers Qwen2", theirs, True)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
        runs[name] = _step_fn(model, opt, hf)
        for b in batches[:args.warmup]:
            runs[name](b)
    secs = {k: 0.0 for k in runs}
    for _ in range(args.rounds):
        for name, step in runs.items():
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for b in batches[args.warmup:]:
                step(b)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            secs[name] += time.perf_counter() - t0
    ntok = args.rounds * args.steps * tcfg.batch_size * tcfg.seq_len
    tps = {k: ntok / v for k, v in secs.items()}
    print(f"preset={preset.name} device={dev} threads={torch.get_num_threads()} "
          f"torch {torch.__version__} python {platform.python_version()}")
    print(f"model: V={V} d={mcfg.d_model} layers={mcfg.n_layers} heads={mcfg.n_heads}/"
          f"{mcfg.n_kv_heads} ff={mcfg.d_ff} tied={mcfg.tie_embeddings} "
          f"params={mcfg.n_params():,}; batch {tcfg.batch_size} x {tcfg.seq_len} tokens")
    for k, v in tps.items():
        print(f"  {k:20s} {v:10,.0f} tokens/s")
    ratio = tps["psbook.lm"] / tps["transformers Qwen2"]
    print(f"  ratio psbook / transformers: {ratio:.2f}x")
    return tps


if __name__ == "__main__":
    main()
