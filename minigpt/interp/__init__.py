"""Analysis tools the chapters teach: head detectors, logit attribution, ablation, circuits, composition.

One concern per module:

- :mod:`~minigpt.interp.detectors`: previous-token, duplicate-token, induction head scores;
- :mod:`~minigpt.interp.losses`: per-position loss, the loss on the repeated half;
- :mod:`~minigpt.interp.attribution`: direct logit attribution per component and per head;
- :mod:`~minigpt.interp.ablation`: zero and mean ablation hooks, ablation scores;
- :mod:`~minigpt.interp.factored`: ``FactoredMatrix``, low-rank ``A @ B`` kept factored;
- :mod:`~minigpt.interp.circuits`: QK and OV circuits, full circuits, top-1 accuracy, copying scores;
- :mod:`~minigpt.interp.decompose`: a head's queries and keys, and its attention scores, split by component;
- :mod:`~minigpt.interp.composition`: Q/K/V-composition scores and their random baseline;
- :mod:`~minigpt.interp.patching`: activation patching with TransformerLens's API, batched
  (:mod:`~minigpt.interp.patch_runs`);
- :mod:`~minigpt.interp.path_patching`: path patching, sender heads to receivers' inputs;
- :mod:`~minigpt.interp.superposition`: toy models of superposition, feature dimensionality, the phase diagram.

>>> from minigpt.interp import head_scores, FactoredMatrix   # no side effects on import
"""

from .ablation import ablate_heads, ablation_hooks, ablation_scores, mean_ablation_hook, zero_ablation_hook
from .attribution import apply_ln_final, head_attribution, logit_attribution, residual_stack
from .circuits import (analysis_model, copying_score, full_ov_circuit, full_qk_circuit, k_composition_circuit,
                       ov_circuit, pos_qk_circuit, qk_circuit, top1_accuracy)
from .composition import composition_baseline, composition_score, composition_scores
from .decompose import decompose_attn_scores, decompose_qk
from .detectors import (attention_patterns, current_token_score, duplicate_token_score, first_token_score,
                        head_scores, induction_score, previous_token_score, stripe_score)
from .factored import FactoredMatrix
from .losses import per_token_loss, repeat_loss, repeat_positions

__all__ = [
    "FactoredMatrix", "ablate_heads", "ablation_hooks", "ablation_scores", "analysis_model", "apply_ln_final",
    "attention_patterns", "composition_baseline", "composition_score", "composition_scores", "copying_score",
    "current_token_score", "decompose_attn_scores", "decompose_qk", "duplicate_token_score", "first_token_score",
    "full_ov_circuit", "full_qk_circuit", "head_attribution", "head_scores", "induction_score",
    "k_composition_circuit", "logit_attribution", "mean_ablation_hook", "ov_circuit", "per_token_loss",
    "pos_qk_circuit", "previous_token_score", "qk_circuit", "repeat_loss", "repeat_positions", "residual_stack",
    "stripe_score", "top1_accuracy", "zero_ablation_hook",
]

# Locating and editing: logit and tuned lens, causal tracing, ROME.
from .causal_tracing import CausalTrace, causal_trace, trace_hook_name, trace_window  # noqa: E402
from .lens import TunedLens, kl_to_final, layer_residuals, logit_lens, readout  # noqa: E402
from .prompts import as_tokens, subject_positions  # noqa: E402
from .edit_metrics import EditMetrics, Fact, edit_metrics  # noqa: E402
from .rome import RankOneUpdate, apply_rank_one, mlp_key_covariance, rome_edit, rome_update  # noqa: E402

__all__ += [
    "CausalTrace", "EditMetrics", "Fact", "RankOneUpdate", "TunedLens", "apply_rank_one", "as_tokens",
    "causal_trace", "edit_metrics", "kl_to_final", "layer_residuals", "logit_lens", "mlp_key_covariance",
    "readout", "rome_edit", "rome_update", "subject_positions", "trace_hook_name", "trace_window",
]

# Activation patching with TransformerLens's API (batched), and path patching.
from .patching import (  # noqa: E402
    generic_activation_patch, get_act_patch_attn_head_all_pos_every, get_act_patch_attn_head_by_pos_every,
    get_act_patch_attn_head_k_all_pos, get_act_patch_attn_head_k_by_pos, get_act_patch_attn_head_out_all_pos,
    get_act_patch_attn_head_out_by_pos, get_act_patch_attn_head_pattern_all_pos,
    get_act_patch_attn_head_pattern_by_pos, get_act_patch_attn_head_pattern_dest_src_pos,
    get_act_patch_attn_head_q_all_pos, get_act_patch_attn_head_q_by_pos, get_act_patch_attn_head_v_all_pos,
    get_act_patch_attn_head_v_by_pos, get_act_patch_attn_out, get_act_patch_block_every, get_act_patch_mlp_out,
    get_act_patch_resid_mid, get_act_patch_resid_pre,
)
from .path_patching import path_patch  # noqa: E402

__all__ += [
    "generic_activation_patch", "get_act_patch_attn_head_all_pos_every", "get_act_patch_attn_head_by_pos_every",
    "get_act_patch_attn_head_k_all_pos", "get_act_patch_attn_head_k_by_pos", "get_act_patch_attn_head_out_all_pos",
    "get_act_patch_attn_head_out_by_pos", "get_act_patch_attn_head_pattern_all_pos",
    "get_act_patch_attn_head_pattern_by_pos", "get_act_patch_attn_head_pattern_dest_src_pos",
    "get_act_patch_attn_head_q_all_pos", "get_act_patch_attn_head_q_by_pos", "get_act_patch_attn_head_v_all_pos",
    "get_act_patch_attn_head_v_by_pos", "get_act_patch_attn_out", "get_act_patch_block_every",
    "get_act_patch_mlp_out", "get_act_patch_resid_mid", "get_act_patch_resid_pre", "path_patch",
]

# Reading a feature (a neuron or an SAE latent): top contexts, histogram, residual direction, logit effect.
from .features import (  # noqa: E402
    FeatureContext, Histogram, LogitEffect, TokenValue, activation_histogram, direct_logit_effect, feature_acts,
    latent_acts, latent_direction, logit_effect, neuron_acts, neuron_direction, residual_direction, sae_hook_name,
    top_activating_contexts, top_context_per_feature,
)

__all__ += [
    "FeatureContext", "Histogram", "LogitEffect", "TokenValue", "activation_histogram", "direct_logit_effect",
    "feature_acts", "latent_acts", "latent_direction", "logit_effect", "neuron_acts", "neuron_direction",
    "residual_direction", "sae_hook_name", "top_activating_contexts", "top_context_per_feature",
]

# Toy models of superposition (Elhage et al. 2022): the rest is in minigpt.interp.superposition.
from .superposition import (  # noqa: E402
    PhaseDiagram, ToyModel, ToyModelNeurons, feature_dimensionality, phase_diagram, train_toy_model,
)

__all__ += ["PhaseDiagram", "ToyModel", "ToyModelNeurons", "feature_dimensionality", "phase_diagram",
            "train_toy_model"]
