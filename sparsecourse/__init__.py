"""sparsecourse: the companion package of the book *Sparsity in Machine Learning*.

Modules
-------
utils
    Seeding, side-by-side timing and the machine's memory bandwidth.
datasets
    Synthetic sparse signals, sensing matrices and random CSR matrices; offline loaders for
    scikit-learn's bundled digits, diabetes data and sample images (with patches).
kernels
    Numba CPU kernels (CSR SpMV/SpMM) and optional Triton GPU kernels.
regression
    Chapter 1: LASSO (ISTA, FISTA, coordinate descent with working sets), OMP and its loss-based
    variants, hard thresholding (IHT, NIHT, HTP), square-root and LAD LASSO; scikit-learn
    estimators.
phase_retrieval
    Chapter 2: measurement models, spectral initialization, first-order and sparse solvers and the
    Newton hard-thresholding method.
coding
    Chapter 3: batched sparse coding, dictionary learning, LISTA/ALISTA/HyperLISTA and sparse
    autoencoders (needs torch).
pruning
    Chapter 4: masks, magnitude/random/SNIP/GraSP/SynFlow pruning, iterative magnitude pruning with
    rewinding and dynamic sparse training (needs torch).
sparse_nn
    Chapter 4: truly sparse layers whose weights live as CSR non-zeros, with numba kernels for the
    forward and backward products, SGD with momentum, SET topology updates and a Triton forward
    kernel (needs torch).
models
    Chapters 5-7: a small Llama-style language model (Hugging Face module names, SwiGLU/ReLU/
    ReLU²/GELU MLPs) with its King James Bible corpus, BPE tokenizer and trained weights
    (needs torch).
activation
    Chapter 5: measuring activation sparsity (exact zeros, ReLU² Wins' magnitude definition,
    PPL-p%), the training-free methods CATS, TEAL, CHESS and top-k for any Llama-style model,
    and a predictor of active neurons (needs torch).
moe
    Chapter 6: mixture of experts: routers (top-k, Switch, expert choice, threshold) and their
    losses, an MoE layer with dense, loop and grouped (dropless) dispatch, grouped GEMM kernels,
    MoEfication of a dense MLP and expert parallelism over torch.distributed (needs torch).
checks
    Pass/fail helpers for the book's exercises.
claims
    The "paper vs. this book" tables: a verdict per claim, computed from a measurement.

The chapter modules from Chapter 2 on are imported on first use (``sparsecourse.coding`` or
``from sparsecourse import coding``), so ``import sparsecourse`` stays quick and does not load
torch.
"""

import importlib

__version__ = "0.1.0"

# Thread pools sized to the CPUs this process may really use, before numba (imported by kernels)
# and torch load: see sparsecourse/_threads.py.
from ._threads import available_cpus, configure_threads  # noqa: E402

configure_threads()

from . import checks, datasets, kernels, regression, utils  # noqa: E402

_LAZY = ("phase_retrieval", "coding", "pruning", "sparse_nn", "models", "activation", "moe")

__all__ = ["__version__", "available_cpus", "configure_threads",
           "checks", "datasets", "kernels", "regression", "utils", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
