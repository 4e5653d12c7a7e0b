"""Chapter 5: activation sparsity in language models (needs torch).

Measuring it (``measure``: exact zeros, the magnitude definition of "ReLU² Wins" with its CETT
thresholds, PPL-p% sparsity of "Sparsing Law"), creating it without training (``methods``:
CATS, TEAL, CHESS, top-k) and predicting it (``predictor``: a low-rank predictor of the active
set and the previous-token baseline). Everything works on any model with Hugging Face Llama naming
(``mlp.gate_proj/up_proj/down_proj/act_fn``, ``self_attn.q_proj/k_proj/v_proj/o_proj``): the
book's ``sparsecourse.models.LlamaLM`` and ``transformers``' ``LlamaForCausalLM``.

The kernels that turn the zeros into speed live in :mod:`sparsecourse.kernels`
(``sparse_gemv``, ``cats_mlp``); ``sparsecourse.activation.speed`` times them for the book.
"""

from ._core import SparsityHandle, as_batches, find_blocks, find_mlps, is_gated
from .measure import (
    SparsityReport,
    activation_sparsity,
    cett,
    cett_threshold,
    cett_thresholds,
    collect_mlp_activations,
    magnitude_mask,
    magnitude_sparsity,
    ppl_p_sparsity,
    sparsity_ppl_curve,
)
from .methods import (
    CATS,
    CHESS,
    TEAL,
    MaskedActivation,
    TopK,
    mask_activations,
    mask_linear_inputs,
    sparsity_sweep,
)
from .predictor import (
    ActivePredictor,
    predictivity,
    previous_token_baseline,
    recall_precision,
    train_predictor,
)

__all__ = [
    "SparsityHandle",
    "as_batches",
    "find_blocks",
    "find_mlps",
    "is_gated",
    "SparsityReport",
    "activation_sparsity",
    "cett",
    "cett_threshold",
    "cett_thresholds",
    "collect_mlp_activations",
    "magnitude_mask",
    "magnitude_sparsity",
    "ppl_p_sparsity",
    "sparsity_ppl_curve",
    "CATS",
    "CHESS",
    "TEAL",
    "TopK",
    "MaskedActivation",
    "mask_activations",
    "mask_linear_inputs",
    "sparsity_sweep",
    "ActivePredictor",
    "predictivity",
    "previous_token_baseline",
    "recall_precision",
    "train_predictor",
]
