"""Training runs of the small language model: cached, resumable, and side by side.

* :func:`train_cached` -- :func:`psbook.lm.train.train_lm` through the cache, keyed by the full
  configuration and the data's fingerprint, with checkpoints to resume an interrupted run;
* :func:`train_many` -- several independent such runs on several cores (worker processes,
  ``PSBOOK_WORKERS``; :mod:`psbook.parallel`), each giving what it gives alone;
* :func:`check_jobs` -- a list of such runs' arguments checked (both trainers use it);
* :func:`fingerprint` -- the short hash of a token stream or of signatures that keys them.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..cache import checkpoint_dir, load_or_compute
from ..progress import progress_bar
from ..signatures import NextTokenSignatures
from .model import LMConfig
from .train import CHECKPOINT, TrainConfig, TrainResult, train_lm

__all__ = ["train_cached", "train_many", "check_jobs", "JOB_KEYS", "fingerprint"]


def fingerprint(obj) -> str:
    """A short hash of a token stream (array / list of arrays) or of signatures' counts."""
    h = hashlib.sha1()
    if isinstance(obj, NextTokenSignatures):
        c = obj.counts.tocsr()
        for a in (c.indptr, c.indices, c.data):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(c.shape).encode())
    elif isinstance(obj, (list, tuple)):
        for a in obj:
            h.update(np.ascontiguousarray(np.asarray(a, dtype=np.int64)).tobytes())
            h.update(b"|")
    else:
        h.update(np.ascontiguousarray(np.asarray(obj, dtype=np.int64)).tobytes())
    return h.hexdigest()[:16]


def _train_config(tokens, model_cfg: LMConfig, train_cfg: TrainConfig, signatures,
                  token_sets) -> dict:
    """Everything a cached training's result depends on (the cache adds the code)."""
    return {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
            "tokens": fingerprint(tokens),
            "signatures": fingerprint(signatures) if signatures is not None else None,
            "token_sets": {k: np.asarray(v, dtype=np.int64).tolist()
                           for k, v in (token_sets or {}).items()}}


def train_cached(tokens, model_cfg: LMConfig, train_cfg: TrainConfig, *,
                 signatures: NextTokenSignatures | None = None, token_sets: dict | None = None,
                 device: str = "cpu", progress: bool = True, desc: str = "training",
                 namespace: str = "lm-train") -> TrainResult:
    """:func:`train_lm` through :func:`psbook.cache.load_or_compute`, keyed by the full
    configuration (model, training, data and signature fingerprints, token sets). While it
    runs, checkpoints go to ``<cache>/<namespace>/checkpoints/<key>/`` (same key as the entry:
    code + config + data; :func:`psbook.cache.clear` removes them), so an interrupted run (a
    disconnected Colab runtime) resumes where it stopped when the cell is run again; once the
    result is cached the checkpoint is deleted."""
    config = _train_config(tokens, model_cfg, train_cfg, signatures, token_sets)
    ckdir = checkpoint_dir(namespace, config)   # keyed like the entry; clear() removes it

    def compute():
        return train_lm(tokens, model_cfg, train_cfg, signatures=signatures,
                        token_sets=token_sets, device=device, checkpoint_dir=ckdir,
                        progress=progress, desc=desc)
    out = load_or_compute(namespace, config, compute)
    if ckdir is not None:  # the result is cached now (missing_ok: a parallel run may race us)
        (ckdir / CHECKPOINT).unlink(missing_ok=True)
        for folder in (ckdir, ckdir.parent):      # <key>/, then checkpoints/ if now empty
            try:
                folder.rmdir()
            except OSError:
                break
    return out


def _cached_result(job: dict):
    """The cached result of the :func:`train_cached` call ``job``, or None."""
    from ..cache import lookup
    config = _train_config(job["tokens"], job["model_cfg"], job["train_cfg"],
                           job.get("signatures"), job.get("token_sets"))
    return lookup(job.get("namespace", "lm-train"), config)[1]


JOB_KEYS = frozenset({"tokens", "model_cfg", "train_cfg", "signatures", "token_sets", "device",
                      "desc", "namespace"})


def check_jobs(jobs, caller: str) -> list:
    """``jobs`` as a list, each checked to be a dict of :func:`train_cached`'s arguments
    (``tokens``, ``model_cfg``, ``train_cfg`` and optionally the other :data:`JOB_KEYS`);
    raises ValueError naming the job and ``caller`` (the function that was given them).

    Book: chapters 10, 11 and 13 (through :func:`train_many` and
    :func:`psbook.lm.stacked.train_stacked_cached`)."""
    if not isinstance(caller, str) or not caller:
        raise TypeError(f"caller must be the calling function's name; got {caller!r}")
    jobs = list(jobs)
    for i, j in enumerate(jobs):
        if not isinstance(j, dict) or not {"tokens", "model_cfg", "train_cfg"} <= set(j):
            raise ValueError(f"{caller}: jobs[{i}] must be a dict with tokens, model_cfg and "
                             f"train_cfg (the arguments of train_cached); got "
                             f"{sorted(j) if isinstance(j, dict) else type(j).__name__}")
        if set(j) - JOB_KEYS:
            raise ValueError(f"{caller}: jobs[{i}] has unknown keys {sorted(set(j) - JOB_KEYS)}; "
                             f"{caller} takes {sorted(JOB_KEYS)}")
    return jobs


def train_many(jobs, *, progress: bool = True, desc: str = "training") -> list:
    """:func:`train_cached` for every job in ``jobs`` (dicts of its arguments: ``tokens``,
    ``model_cfg``, ``train_cfg`` and optionally ``signatures``, ``token_sets``, ``device``,
    ``desc``, ``namespace``); returns the :class:`TrainResult` list in the order of ``jobs``.

    The trainings are independent, so the ones not yet cached run side by side on
    :func:`psbook.parallel.workers` processes (``PSBOOK_WORKERS``; one process in the tiny
    preset and on a GPU), each with the result it would have in this process."""
    from ..parallel import map_jobs, workers
    jobs = check_jobs(jobs, "train_many")
    out = [_cached_result(j) for j in jobs]
    todo = [i for i, r in enumerate(out) if r is None]
    device = str(jobs[todo[0]].get("device", "cpu")) if todo else "cpu"
    n = workers(len(todo), device)
    if n <= 1:
        if len(todo) == 1:   # one training: its own bar, by steps
            out[todo[0]] = train_cached(**jobs[todo[0]], progress=progress)
            return out
        # a sweep: ONE bar for all its trainings (a bar per training left ~20 widgets per page)
        bar = progress_bar(total=len(todo), desc=f"{desc} ({len(todo)} models)",
                           enabled=progress, unit="model")
        try:
            for i in todo:
                out[i] = train_cached(**jobs[i], progress=False)
                bar.update(1)
        finally:
            bar.close()
        return out
    results = map_jobs(train_cached, [((), {**jobs[i], "progress": False}) for i in todo],
                       n_workers=n, device=device, desc=desc, progress=progress)
    for i, r in zip(todo, results):
        out[i] = r
    return out
