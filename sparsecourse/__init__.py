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
checks
    Pass/fail helpers for the book's exercises.
"""

__version__ = "0.1.0"

from . import checks, datasets, kernels, regression, utils  # noqa: E402

__all__ = ["__version__", "checks", "datasets", "kernels", "regression", "utils"]
