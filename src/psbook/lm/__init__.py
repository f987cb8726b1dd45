"""The small Qwen2.5-style language model of Part III, its training and its analysis.

* :mod:`psbook.lm.model` -- :class:`LMConfig`, :class:`QwenLM`, Hugging Face interoperability.
* :mod:`psbook.lm.train` -- :func:`train_lm` (AdamW, checkpoints + exact resume, divergence
  detection, alignment metrics logged along training).
* :mod:`psbook.lm.analysis` -- the leading-order gradient check, cached training runs built
  from a preset, binned alignment and the cross-domain matrix.
* :mod:`psbook.lm.controls` -- seeds, frequency controls, the attention ablation and
  corpus mixtures.
"""

from .model import LMConfig, QwenLM, from_hf_state_dict, hf_config, hf_model, to_hf_state_dict
from .train import (AlignmentProbe, DivergenceError, TrainConfig, TrainingDiverged, TrainResult,
                    as_stream, sample_windows, train_lm)
from .analysis import (binned, configs_from_preset, cross_domain_matrix, fingerprint, gradient_check,
                       mismatch_costs, predicted_gradients, shared_top_tokens, top_tokens,
                       train_cached, train_many)
from .controls import (ablation_configs, frequency_controls, history_frame, mean_sd,
                       mixture_docs, token_counts, train_grid, train_seeds, at_loss)

__all__ = ["LMConfig", "QwenLM", "hf_config", "hf_model", "to_hf_state_dict",
           "from_hf_state_dict", "TrainConfig", "TrainResult", "TrainingDiverged", "DivergenceError",
           "AlignmentProbe", "train_lm", "as_stream", "sample_windows", "configs_from_preset",
           "train_cached", "train_many", "train_grid", "predicted_gradients", "gradient_check",
           "top_tokens", "shared_top_tokens", "cross_domain_matrix", "mismatch_costs", "binned", "fingerprint",
           "train_seeds", "history_frame", "mean_sd", "frequency_controls", "ablation_configs",
           "mixture_docs", "token_counts", "at_loss"]
