"""The small Qwen2.5-style language model of Part III, its training and its analysis.

* :mod:`psbook.lm.model` -- :class:`LMConfig`, :class:`QwenLM`, Hugging Face interoperability.
* :mod:`psbook.lm.train` -- :func:`train_lm` (AdamW, checkpoints + exact resume, divergence
  detection, alignment metrics logged along training).
* :mod:`psbook.lm.config` -- the model and training configuration a preset prescribes
  (one scheme for chapters 10, 11 and 13) and the sizes the Compute notes show.
* :mod:`psbook.lm.runs` -- cached, resumable training runs, several side by side on several
  cores.
* :mod:`psbook.lm.analysis` -- the leading-order gradient check, token sets, binned alignment
  and the cross-domain matrix.
* :mod:`psbook.lm.controls` -- seeds, frequency controls, the attention ablation and
  corpus mixtures.
"""

from .model import LMConfig, QwenLM, from_hf_state_dict, hf_config, hf_model, to_hf_state_dict
from .train import (AlignmentProbe, DivergenceError, TrainConfig, TrainingDiverged, TrainResult,
                    as_stream, sample_windows, train_lm)
from .config import configs_from_preset, model_sizes, model_sizes_table, run_table
from .runs import fingerprint, train_cached, train_many
from .analysis import (binned, binned_runs, binned_table, cross_domain_by_seed,
                       derangements, own_corpus_gap, own_corpus_nulls, order_null,
                       cross_domain_matrix, flow_by_seed,
                       gradient_check, gradient_check_table, mismatch_costs,
                       predicted_gradients, shared_top_tokens, top_tokens)
from .controls import (ablation_configs, ablation_table, equal_loss_table, frequency_controls,
                       gamma_table, history_frame, mean_sd, mixture_alignment, mixture_docs,
                       removal_effects,
                       removal_table, token_counts, train_grid, train_seeds, at_loss, probes)

__all__ = ["LMConfig", "QwenLM", "hf_config", "hf_model", "to_hf_state_dict",
           "from_hf_state_dict", "TrainConfig", "TrainResult", "TrainingDiverged", "DivergenceError",
           "AlignmentProbe", "train_lm", "as_stream", "sample_windows", "configs_from_preset", "model_sizes",
           "train_cached", "train_many", "train_grid", "predicted_gradients", "gradient_check",
           "top_tokens", "shared_top_tokens", "cross_domain_matrix", "mismatch_costs", "binned", "fingerprint",
           "train_seeds", "probes", "history_frame", "mean_sd", "frequency_controls", "ablation_configs",
           "mixture_docs", "token_counts", "at_loss", "model_sizes_table", "run_table",
           "gradient_check_table", "flow_by_seed", "binned_runs", "binned_table",
           "ablation_table", "removal_effects", "removal_table", "gamma_table",
           "equal_loss_table", "cross_domain_by_seed", "mixture_alignment", "own_corpus_gap",
           "own_corpus_nulls", "derangements", "order_null"]
