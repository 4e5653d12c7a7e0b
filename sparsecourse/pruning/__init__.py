"""Pruning neural networks: lottery tickets, pruning at initialization, dynamic sparse training.

The pieces, each in its own module:

- ``masks``: boolean masks applied through
  :mod:`torch.nn.utils.prune` (:class:`MaskPruning`), saved and loaded with safetensors, and the
  ``get_state``/``set_state`` pair used for rewinding;
- ``scores``: magnitude (global and layer-wise), LAMP, SNIP, GraSP and
  SynFlow scores, and uniform/ERK/LAMP layer-wise densities for random masks;
- ``imp``: iterative magnitude pruning with rewinding, the random
  reinitialization control, and gradual magnitude pruning with the cubic schedule;
- ``dst``: SET and RigL topology updates at constant density;
- ``planted``: planted tickets ("Plant 'n' Seek") to grade pruning
  methods against a known answer;
- ``oneshot``: one-shot pruning of a pretrained language model (magnitude, Wanda-style,
  SparseGPT, DSnoT, SliceGPT, EvoPress-style density search), layer by layer on calibration text;
- ``nm_training``: N:M sparse training from scratch (SR-STE, STEP, progressive gradient flow);
- ``training``: the digits data, a LeNet-300-100-style MLP and a small
  deterministic training loop that records the early-stopping iteration.

Examples
--------
>>> from sparsecourse.pruning import density, global_magnitude_masks, lenet_300_100
>>> round(density(global_magnitude_masks(lenet_300_100(seed=0), 0.98)), 4)
0.02
"""

from .dst import (
    DynamicSparseTraining,
    cosine_drop_fraction,
    dense_gradients,
    rigl_update,
    set_update,
)
from .imp import (
    GradualMagnitudePruning,
    IMPResult,
    cubic_sparsity,
    iterative_magnitude_pruning,
    reinit_control,
)
from .masks import (
    MaskPruning,
    apply_masks,
    check_masks,
    clone_model,
    density,
    effective_weights,
    get_masks,
    get_state,
    is_nested,
    layer_densities,
    load_masks,
    prunable_weights,
    remove_masks,
    save_masks,
    set_state,
)
from .nm_training import NMTrainResult, gradient_flow, train_nm
from .oneshot import (
    SlicedLM,
    collect_grams,
    default_calibration,
    dsnot,
    evopress,
    linear_layers,
    magnitude_mask,
    model_density,
    nm_mask_scores,
    obs_reference,
    prune_model,
    reconstruction_error,
    slicegpt,
    sparsegpt,
    wanda_mask,
)
from .planted import PlantedTicket, plant_ticket, ticket_recall
from .scores import (
    check_sparsity,
    erk_densities,
    global_magnitude_masks,
    grasp_scores,
    lamp_densities,
    lamp_scores,
    layerwise_magnitude_masks,
    magnitude_scores,
    masks_from_densities,
    masks_from_scores,
    random_masks,
    snip_scores,
    synflow_masks,
    synflow_scores,
    uniform_densities,
)
from .training import DigitsData, TrainResult, digits_data, evaluate, lenet_300_100, train

__all__ = [
    # masks
    "MaskPruning", "prunable_weights", "apply_masks", "get_masks", "effective_weights",
    "remove_masks", "get_state", "set_state", "save_masks", "load_masks", "density",
    "layer_densities", "is_nested", "check_masks", "clone_model",
    # scores and densities
    "check_sparsity", "magnitude_scores", "masks_from_scores", "masks_from_densities",
    "global_magnitude_masks", "layerwise_magnitude_masks", "uniform_densities", "erk_densities",
    "lamp_scores", "lamp_densities", "random_masks", "snip_scores", "grasp_scores",
    "synflow_scores", "synflow_masks",
    # lottery tickets and gradual pruning
    "IMPResult", "iterative_magnitude_pruning", "reinit_control", "cubic_sparsity",
    "GradualMagnitudePruning",
    # dynamic sparse training
    "dense_gradients", "set_update", "rigl_update", "cosine_drop_fraction",
    "DynamicSparseTraining",
    # planted tickets
    "PlantedTicket", "plant_ticket", "ticket_recall",
    # one-shot pruning of language models
    "sparsegpt", "obs_reference", "magnitude_mask", "wanda_mask", "nm_mask_scores", "dsnot",
    "reconstruction_error", "collect_grams", "default_calibration", "linear_layers",
    "prune_model", "model_density", "slicegpt", "SlicedLM", "evopress",
    # N:M training from scratch
    "train_nm", "NMTrainResult", "gradient_flow",
    # training
    "DigitsData", "digits_data", "lenet_300_100", "evaluate", "TrainResult", "train",
]
