"""The result of one alignment: :class:`AlignResult` (a table for the console, a dict for JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..metrics import BinnedAlignment

__all__ = ["AlignResult"]


@dataclass
class AlignResult:
    """One row of the alignment table (see :func:`alignment`)."""

    model: str
    corpus: str
    signature: str
    weighting: str
    matrix: str                  # which embedding was compared: "W_E" or "W_U"
    n_tokens: int                # corpus tokens counted
    n_used: int                  # tokens in the analysed set
    ranks: tuple                 # frequency ranks analysed (first, last)
    r_cos: float                 # Pearson R_cos
    r_cos_spearman: float
    r_cos_control: float         # shuffled signature rows
    r_cos_freq_shuffle: float    # rows shuffled among tokens of similar frequency
    r_cos_freq_controlled: float  # partial correlation on log-frequency
    seed: int = 0
    window: int | None = None
    alpha: float | None = None
    binned: BinnedAlignment | None = field(default=None, repr=False)
    tokens: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("binned", "tokens")}
        d["ranks"] = list(self.ranks)
        if self.binned is not None:
            b = self.binned
            d["binned"] = {"edges": b.edges.tolist(), "count": b.count.tolist(),
                           "corr": [None if np.isnan(x) else float(x) for x in b.corr],
                           "mean_emb": [None if np.isnan(x) else float(x) for x in b.mean_emb],
                           "mean_sig": [None if np.isnan(x) else float(x) for x in b.mean_sig]}
        for k, v in list(d.items()):
            if isinstance(v, float) and np.isnan(v):
                d[k] = None
        return d

    def table(self) -> str:
        sig = self.signature + (f" ±{self.window}" if self.signature == "window" else "")
        w = self.weighting + (f" (alpha {self.alpha:g})" if self.weighting == "ppmi"
                              and self.alpha is not None else "")
        rows = [
            ("model", self.model), ("corpus", self.corpus), ("signature", f"{sig}, {w}"),
            ("embedding", self.matrix),
            ("corpus tokens counted", f"{self.n_tokens:,}"),
            ("tokens analysed", f"{self.n_used} (frequency ranks {self.ranks[0]}-{self.ranks[1]})"),
            ("R_cos (Pearson)", f"{self.r_cos:+.3f}"),
            ("R_cos (Spearman)", f"{self.r_cos_spearman:+.3f}"),
            ("shuffled control", f"{self.r_cos_control:+.3f}   (signature rows permuted, "
                                 f"seed {self.seed})"),
            ("frequency-matched shuffle", f"{self.r_cos_freq_shuffle:+.3f}   (what frequency "
                                          f"alone gives)"),
            ("frequency-controlled R_cos", f"{self.r_cos_freq_controlled:+.3f}   (partial on "
                                           f"log-frequency)"),
        ]
        width = max(len(k) for k, _ in rows)
        out = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.binned is not None:
            out += ["binned alignment (pairs grouped by embedding cosine):", self.binned.table()]
        return "\n".join(out)
