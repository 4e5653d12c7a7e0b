"""Chapter 3: sparse coding, dictionary learning, unrolled networks and sparse autoencoders.

Submodules
----------
sparse_coding
    Batched sparse coding (ISTA/FISTA in torch, a numba CPU path).
dictionary
    Dictionary learning (MOD, K-SVD, online) and predictive sparse decomposition.
unrolled
    LISTA, LISTA-CP/SS, ALISTA and HyperLISTA as ``torch.nn.Module``\\ s.
autoencoders
    ReLU + L1, TopK, Mutual Choice and Feature Choice sparse autoencoders and their metrics.
train_unrolled
    Training script of the full-size unrolled networks and :func:`load_pretrained`, their loader.

Everything public is importable from ``sparsecourse.coding`` directly.
"""

from __future__ import annotations

from . import autoencoders, dictionary, sparse_coding, unrolled
from .autoencoders import *  # noqa: F403
from .dictionary import *  # noqa: F403
from .sparse_coding import *  # noqa: F403
from .unrolled import *  # noqa: F403

# isort: split
from .train_unrolled import load_pretrained  # after .unrolled, which it imports

__all__ = [*sparse_coding.__all__, *dictionary.__all__, *unrolled.__all__, *autoencoders.__all__,
           "load_pretrained"]
