"""Chapter 6: mixture of experts (needs torch).

Routers and their losses (``sparsecourse.moe.routing``), the :class:`MoELayer` with dense,
loop and grouped (dropless, MegaBlocks-style) dispatch, grouped GEMM kernels (numba on the CPU,
Triton in ``sparsecourse.moe.triton_grouped``), MoEfication of a trained dense MLP
(:mod:`~sparsecourse.moe.moefication`), expert parallelism over ``torch.distributed``
(:mod:`~sparsecourse.moe.parallel`) and a small MoE language model
(:mod:`~sparsecourse.moe.lm`; trained by ``python -m sparsecourse.moe.train``).

Examples
--------
>>> import torch
>>> from sparsecourse.moe import MoELayer
>>> layer = MoELayer(d_model=16, d_ff=32, n_experts=8, k=2)
>>> layer(torch.randn(10, 16)).shape
torch.Size([10, 16])
"""

from . import layer, routing
from ._kernels import grouped_mm, grouped_mm_numba, grouped_mm_reference
from .layer import *  # noqa: F403
from .routing import *  # noqa: F403

__all__ = [*routing.__all__, *layer.__all__, "grouped_mm", "grouped_mm_numba",
           "grouped_mm_reference"]
