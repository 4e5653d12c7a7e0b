r"""Dictionary learning: MOD, K-SVD, online learning and predictive sparse decomposition.

Given signals ``X`` (one per row, shape ``(n_samples, n_features)``) we look for a dictionary
``D`` of ``n_atoms`` unit-norm atoms (its **rows**, scikit-learn's ``components_`` layout) and
sparse codes ``C`` with ``X ~ C D``:

.. math::

    \min_{D,\,C} \; \frac1n \sum_{i=1}^n \tfrac12 \|x_i - c_i D\|_2^2 + \lambda \|c_i\|_1
    \quad \text{s.t.} \quad \|d_j\|_2 \le 1 ,

(or with ``||c_i||_0 <= k`` instead of the ``l1`` penalty, for K-SVD). Every method alternates
a *sparse coding* step (:func:`sparsecourse.coding.sparse_encode`, the codes for a fixed
dictionary) with a *dictionary update*:

* **MOD** (Engan, Aase & Husøy, 1999): the least-squares dictionary for fixed codes,
  ``D = (C^T C)^{-1} C^T X`` (:func:`mod_update`).
* **K-SVD** (Aharon, Elad & Bruckstein, 2006): one atom at a time, the best rank-one fit of the
  residual of the signals that use it, which updates the atom *and* its codes
  (:func:`ksvd_update`).
* **Online dictionary learning** (Mairal, Bach, Ponce & Sapiro, 2009): mini-batches, with the
  past summarised by ``A = sum C^T C`` and ``B = sum C^T X`` and block-coordinate descent on the
  atoms (:func:`online_dictionary_update`).

:func:`learn_dictionary` runs any of them; :class:`DictionaryLearning` wraps it in scikit-learn's
estimator API. :class:`PredictiveSparseDecomposition` (Kavukcuoglu, Ranzato & LeCun, 2008)
learns, next to the dictionary, a feed-forward encoder that *predicts* the codes, so that
inference is one matrix product instead of an optimisation.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import as_float_array, check_int, check_positive, get_rng, validate_data
from .sparse_coding import check_layout, sparse_coding_objective, sparse_encode

__all__ = [
    "normalize_atoms",
    "init_dictionary",
    "mod_update",
    "ksvd_update",
    "online_dictionary_update",
    "learn_dictionary",
    "DictionaryLearning",
    "PredictiveSparseDecomposition",
    "psnr",
    "orientation_concentration",
]

_METHODS = ("mod", "ksvd", "online")


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------

def normalize_atoms(D) -> np.ndarray:
    """Scale every atom (row) of ``D`` to unit Euclidean norm; zero atoms stay zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import normalize_atoms
    >>> normalize_atoms(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    D = as_float_array(D, "D", ndim=2, dtype=np.float64)
    norms = np.linalg.norm(D, axis=1, keepdims=True)
    return np.divide(D, norms, out=np.zeros_like(D), where=norms > 0)


def init_dictionary(X, n_atoms: int, *, seed=None) -> np.ndarray:
    """A starting dictionary: ``n_atoms`` distinct random signals of ``X``, normalised.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_atoms : int, 1 <= n_atoms <= n_samples
    seed : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of shape (n_atoms, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import init_dictionary
    >>> D = init_dictionary(np.random.default_rng(0).standard_normal((50, 4)), 6, seed=0)
    >>> D.shape, bool(np.allclose(np.linalg.norm(D, axis=1), 1))
    ((6, 4), True)
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64, allow_empty=False)
    n_atoms = check_int(n_atoms, "n_atoms", minimum=1, maximum=X.shape[0])
    rng = get_rng(seed)
    norms = np.linalg.norm(X, axis=1)
    candidates = np.flatnonzero(norms > 0)
    if candidates.size < n_atoms:
        raise ValueError(f"X has only {candidates.size} non-zero rows, fewer than "
                         f"n_atoms={n_atoms}")
    idx = rng.choice(candidates, n_atoms, replace=False)
    return X[idx] / norms[idx, None]


def _replace_unused(D, X, C, rng) -> np.ndarray:
    """Atoms no signal uses, and near-duplicates of another atom (|cosine| > 0.99), are
    replaced by the (normalised) worst-represented signals (the usual K-SVD clean-up)."""
    unused = ~np.any(C != 0, axis=0)
    Dn = normalize_atoms(D)
    cos = np.abs(np.triu(Dn @ Dn.T, 1))
    unused |= np.any(cos > 0.99, axis=0)  # the later atom of each near-duplicate pair
    unused = np.flatnonzero(unused)
    if unused.size:
        err = np.einsum("ij,ij->i", *(2 * [X - C @ D]))
        worst = np.argsort(err)[::-1]
        worst = worst[np.linalg.norm(X[worst], axis=1) > 0][: unused.size]
        D = D.copy()
        for j, i in zip(unused, worst, strict=False):
            D[j] = X[i] / np.linalg.norm(X[i])
        if len(worst) < unused.size:  # degenerate data: random directions
            rest = unused[len(worst):]
            D[rest] = normalize_atoms(rng.standard_normal((rest.size, D.shape[1])))
    return D


def mod_update(X, codes) -> np.ndarray:
    r"""MOD's dictionary update: the least-squares dictionary for fixed codes, normalised.

    .. math::

        D = \arg\min_D \|X - C D\|_F^2 = (C^\top C)^{-1} C^\top X ,

    (a pseudo-inverse where atoms are unused), then every atom is scaled to unit norm. (The
    codes would have to be rescaled to keep the fit; the next sparse coding step recomputes
    them anyway.)

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    codes : array-like of shape (n_samples, n_atoms)

    Returns
    -------
    D : ndarray of shape (n_atoms, n_features), unit-norm rows (zero for unused atoms)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import mod_update
    >>> rng = np.random.default_rng(0)
    >>> D0 = np.eye(3); C = rng.standard_normal((20, 3))
    >>> bool(np.allclose(mod_update(C @ D0, C), D0))    # noiseless: the planted dictionary
    True
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    C = as_float_array(codes, "codes", ndim=2, dtype=np.float64)
    if C.shape[0] != X.shape[0]:
        raise ValueError(f"shape mismatch: codes has {C.shape[0]} rows but X has {X.shape[0]} "
                         "samples; codes must have shape (n_samples, n_atoms)")
    D = np.linalg.lstsq(C, X, rcond=None)[0]
    return normalize_atoms(D)


def ksvd_update(X, D, codes) -> tuple[np.ndarray, np.ndarray]:
    r"""One K-SVD sweep: every atom and its codes by a rank-one SVD of its residual.

    For atom ``j`` let ``I`` be the signals that use it (``c_ij != 0``) and
    ``E = X_I - C_I D + c_{I j} d_j`` their residual without it. The best rank-one
    approximation ``E ~ s u v^T`` (first singular triplet) gives the new atom ``d_j = v`` and
    its codes ``c_{I j} = s u``; the support of the codes is unchanged, so the sparsity
    constraint still holds, and the fit can only improve. Atoms are updated in order, each
    seeing the previous updates (Gauss-Seidel).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    D : array-like of shape (n_atoms, n_features)
    codes : array-like of shape (n_samples, n_atoms)

    Returns
    -------
    D : ndarray of shape (n_atoms, n_features), unit-norm atoms (unused atoms unchanged)
    codes : ndarray of shape (n_samples, n_atoms)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import ksvd_update, sparse_encode
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 8)); D = rng.standard_normal((12, 8))
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> C = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=2)
    >>> D2, C2 = ksvd_update(X, D, C)
    >>> bool(np.linalg.norm(X - C2 @ D2) < np.linalg.norm(X - C @ D))
    True
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64)
    D = as_float_array(D, "D", ndim=2, dtype=np.float64).copy()
    C = as_float_array(codes, "codes", ndim=2, dtype=np.float64).copy()
    check_layout(X, D, C)
    R = X - C @ D  # the residual, kept up to date
    for j in range(D.shape[0]):
        idx = np.flatnonzero(C[:, j])
        if idx.size == 0:
            continue
        E = R[idx] + np.outer(C[idx, j], D[j])
        u, s, vt = np.linalg.svd(E, full_matrices=False)
        new_atom, new_codes = vt[0], s[0] * u[:, 0]
        R[idx] = E - np.outer(new_codes, new_atom)
        D[j], C[idx, j] = new_atom, new_codes
    return D, C


def online_dictionary_update(D, A, B, *, n_sweeps: int = 1) -> np.ndarray:
    r"""Mairal et al.'s dictionary update: block-coordinate descent on the atoms.

    With the sufficient statistics ``A = sum_t c_t^T c_t`` (n_atoms x n_atoms) and
    ``B = sum_t c_t^T x_t`` (n_atoms x n_features) of all codes seen so far, the surrogate
    ``sum_t 0.5 ||x_t - c_t D||^2`` is minimised one atom at a time (Algorithm 2 of the paper):

    .. math::

        u_j = d_j + \frac{b_j - a_j^\top D}{A_{jj}}, \qquad
        d_j = \frac{u_j}{\max(\|u_j\|_2, 1)} ,

    which is exact minimisation over ``d_j`` in the unit ball. Atoms with ``A_jj = 0`` (not
    used yet) are left alone.

    Parameters
    ----------
    D : array-like of shape (n_atoms, n_features)
    A : array-like of shape (n_atoms, n_atoms)
    B : array-like of shape (n_atoms, n_features)
    n_sweeps : int, default 1

    Returns
    -------
    ndarray of shape (n_atoms, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import online_dictionary_update
    >>> rng = np.random.default_rng(0)
    >>> D0 = np.eye(3); C = rng.standard_normal((50, 3)); X = C @ D0
    >>> D = online_dictionary_update(np.ones((3, 3)) / 3, C.T @ C, C.T @ X, n_sweeps=50)
    >>> bool(np.allclose(D, D0, atol=1e-6))
    True
    """
    D = as_float_array(D, "D", ndim=2, dtype=np.float64).copy()
    A = as_float_array(A, "A", ndim=2, dtype=np.float64)
    B = as_float_array(B, "B", ndim=2, dtype=np.float64)
    k = D.shape[0]
    if A.shape != (k, k) or B.shape != D.shape:
        raise ValueError(f"A must have shape {(k, k)} and B shape {D.shape}, "
                         f"got {A.shape} and {B.shape}")
    n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=1)
    for _ in range(n_sweeps):
        for j in range(k):
            if A[j, j] <= 0:
                continue
            u = D[j] + (B[j] - A[j] @ D) / A[j, j]
            D[j] = u / max(np.linalg.norm(u), 1.0)
    return D


def psnr(reference, estimate, *, peak: float | None = None) -> float:
    r"""Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / MSE)``.

    Parameters
    ----------
    reference, estimate : array-like of the same shape
    peak : float, optional
        The largest possible value; ``max(reference) - min(reference)`` by default (1 for
        images in [0, 1] that use the whole range).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import psnr
    >>> round(psnr(np.array([0.0, 1.0]), np.array([0.1, 0.9])), 2)
    20.0
    """
    ref = as_float_array(reference, "reference", dtype=np.float64)
    est = as_float_array(estimate, "estimate", dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs estimate {est.shape}")
    if peak is None:
        peak = float(ref.max() - ref.min()) if ref.size else 1.0
    peak = check_positive(peak, "peak")
    mse = float(np.mean((ref - est) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


# ------------------------------------------------------------------------------------------
# The alternating loop
# ------------------------------------------------------------------------------------------

def _dl_objective(X, D, C, lam):
    if lam is None:
        R = X - C @ D
        return float(0.5 * np.einsum("ij,ij->", R, R) / X.shape[0])
    return sparse_coding_objective(X, D, C, lam)


def learn_dictionary(X, n_atoms: int, *, method: str = "online", lam: float | None = None,
                     n_nonzero_coefs: int | None = None, n_iter: int = 10,
                     batch_size: int = 256, init=None, seed=None,
                     return_history: bool = False):
    r"""Learn a dictionary by alternating sparse coding and dictionary updates.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training signals, one per row (e.g. centred image patches).
    n_atoms : int
        Number of atoms (``n_atoms > n_features``: an overcomplete dictionary).
    method : {"online", "mod", "ksvd"}, default "online"
        ``"mod"`` and ``"ksvd"`` are batch methods: every iteration codes all signals and
        updates the dictionary once (:func:`mod_update`, :func:`ksvd_update`). ``"online"``
        draws mini-batches of ``batch_size`` signals, codes them and updates the dictionary
        with :func:`online_dictionary_update` (one iteration = one pass over the data).
    lam : float > 0, optional
        ``l1`` weight of the LASSO codes (required for ``"mod"`` with LASSO codes and for
        ``"online"``).
    n_nonzero_coefs : int, optional
        Sparsity of OMP codes (K-SVD's sparse coding step; may also be used with ``"mod"``).
        Exactly one of ``lam`` and ``n_nonzero_coefs`` must be given; ``"ksvd"`` needs
        ``n_nonzero_coefs``, ``"online"`` needs ``lam``.
    n_iter : int, default 10
        Alternations (batch methods) or passes over the data (online).
    batch_size : int, default 256
        Mini-batch size of ``"online"``.
    init : array-like of shape (n_atoms, n_features), optional
        Starting dictionary (:func:`init_dictionary`, random signals, by default).
    seed : int, numpy.random.Generator or None
    return_history : bool, default False
        Also return the objective on all of ``X`` after every iteration (the LASSO objective
        of :func:`~sparsecourse.coding.sparse_coding_objective`, or ``0.5 ||X - C D||^2 / n`` for
        OMP codes), starting with the initial dictionary.

    Returns
    -------
    D : ndarray of shape (n_atoms, n_features), unit-norm atoms
    history : list of float, only if ``return_history``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import learn_dictionary
    >>> X = np.random.default_rng(0).standard_normal((300, 8))
    >>> D, h = learn_dictionary(X, 16, method="ksvd", n_nonzero_coefs=2, n_iter=3, seed=0,
    ...                         return_history=True)
    >>> D.shape, len(h), bool(h[-1] < h[0])
    ((16, 8), 4, True)
    """
    X = as_float_array(X, "X", ndim=2, dtype=np.float64, allow_empty=False)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    n, p = X.shape
    n_atoms = check_int(n_atoms, "n_atoms", minimum=1)
    n_iter = check_int(n_iter, "n_iter", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if (lam is None) == (n_nonzero_coefs is None):
        raise ValueError("give exactly one of lam (LASSO codes) and n_nonzero_coefs (OMP codes)")
    if method == "ksvd" and n_nonzero_coefs is None:
        raise ValueError("method='ksvd' codes with OMP: pass n_nonzero_coefs, not lam")
    if method == "online" and lam is None:
        raise ValueError("method='online' codes with the LASSO: pass lam, not n_nonzero_coefs")
    if lam is not None:
        lam = check_positive(lam, "lam")
    else:
        n_nonzero_coefs = check_int(n_nonzero_coefs, "n_nonzero_coefs", minimum=1,
                                    maximum=n_atoms)
    rng = get_rng(seed)
    if init is None:
        D = init_dictionary(X, n_atoms, seed=rng)
    else:
        D = as_float_array(init, "init", ndim=2, dtype=np.float64).copy()
        if D.shape != (n_atoms, p):
            raise ValueError(f"init must have shape (n_atoms, n_features) = {(n_atoms, p)}, "
                             f"got {D.shape}")

    def encode(Xb, Db):
        if lam is None:
            return sparse_encode(Xb, Db, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs)
        return sparse_encode(Xb, Db, lam)

    history = [_dl_objective(X, D, encode(X, D), lam)] if return_history else []
    if method == "online":
        A = np.zeros((n_atoms, n_atoms))
        B = np.zeros((n_atoms, p))
    for _ in range(n_iter):
        if method == "online":
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                Xb = X[order[start:start + batch_size]]
                Cb = encode(Xb, D)
                A += Cb.T @ Cb
                B += Cb.T @ Xb
                D = online_dictionary_update(D, A, B)
        else:
            C = encode(X, D)
            if method == "mod":
                D = mod_update(X, C)
            else:
                D, C = ksvd_update(X, D, C)
            D = _replace_unused(D, X, C, rng)
        if return_history:
            history.append(_dl_objective(X, D, encode(X, D), lam))
    D = normalize_atoms(D) if method != "online" else D
    return (D, history) if return_history else D


def _estimator_init(X: np.ndarray, n_atoms: int, rng: np.random.Generator) -> np.ndarray:
    """Starting atoms for :class:`DictionaryLearning`: distinct signals, then random directions.

    :func:`init_dictionary` needs ``n_atoms`` non-zero signals; an estimator must also fit when
    asked for more atoms than it has signals (scikit-learn's does), so the missing atoms are
    independent Gaussian directions, normalised.
    """
    n_signals = int(np.count_nonzero(np.linalg.norm(X, axis=1) > 0))
    from_data = min(n_atoms, n_signals)
    parts = [init_dictionary(X, from_data, seed=rng)] if from_data else []
    if n_atoms > from_data:
        G = rng.standard_normal((n_atoms - from_data, X.shape[1]))
        parts.append(G / np.linalg.norm(G, axis=1, keepdims=True))
    return np.vstack(parts)


class DictionaryLearning(TransformerMixin, BaseEstimator):
    """Dictionary learning as a scikit-learn transformer (``fit`` / ``transform``).

    Parameters
    ----------
    n_components : int or None, default None
        Number of atoms; ``None`` means ``n_features`` (scikit-learn's default). More atoms than
        training signals is allowed: the starting dictionary then adds random unit directions
        to the (normalised) signals, since :func:`init_dictionary` draws distinct signals.
    method : {"online", "mod", "ksvd"}, default "online"
    alpha : float or None, default 1.0
        ``l1`` weight of the codes (``lam`` of :func:`learn_dictionary`). Set to ``None`` and
        give ``n_nonzero_coefs`` for OMP codes (K-SVD).
    n_nonzero_coefs : int or None, default None
    max_iter : int, default 10
        Iterations of :func:`learn_dictionary`.
    batch_size : int, default 256
    random_state : int, Generator or None, default None

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned atoms (unit norm), scikit-learn's layout.
    history_ : list of float
        The training objective after every iteration.
    n_iter_ : int
        Iterations run (``max_iter``: there is no early stopping).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import DictionaryLearning
    >>> X = np.random.default_rng(0).standard_normal((200, 6))
    >>> est = DictionaryLearning(n_components=10, alpha=0.5, max_iter=2, random_state=0)
    >>> codes = est.fit_transform(X)
    >>> est.components_.shape, codes.shape
    ((10, 6), (200, 10))
    """

    def __init__(self, n_components=None, *, method="online", alpha=1.0, n_nonzero_coefs=None,
                 max_iter=10, batch_size=256, random_state=None):
        self.n_components = n_components
        self.method = method
        self.alpha = alpha
        self.n_nonzero_coefs = n_nonzero_coefs
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` of shape (n_samples, n_features)."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        X = as_float_array(X, "X", ndim=2, dtype=np.float64, allow_empty=False)
        rs = self.random_state
        seed = rs if not isinstance(rs, np.random.RandomState) else rs.randint(2**31 - 1)
        n_components = X.shape[1] if self.n_components is None else self.n_components
        n_components = check_int(n_components, "n_components", minimum=1)
        rng = get_rng(seed)
        self.components_, self.history_ = learn_dictionary(
            X, n_components, method=self.method, lam=self.alpha,
            n_nonzero_coefs=self.n_nonzero_coefs, n_iter=self.max_iter,
            batch_size=self.batch_size, init=_estimator_init(X, n_components, rng), seed=rng,
            return_history=True)
        self.n_iter_ = self.max_iter
        return self

    def transform(self, X):
        """Sparse codes of ``X`` over the learned dictionary."""
        check_is_fitted(self, "components_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.alpha is None:
            return sparse_encode(X, self.components_, algorithm="omp",
                                 n_nonzero_coefs=self.n_nonzero_coefs)
        return sparse_encode(X, self.components_, self.alpha)

    def inverse_transform(self, codes):
        """Signals from codes: ``codes @ components_``."""
        check_is_fitted(self, "components_")
        C = as_float_array(codes, "codes", ndim=2, dtype=np.float64)
        if C.shape[1] != self.components_.shape[0]:
            raise ValueError(f"codes must have {self.components_.shape[0]} columns, "
                             f"got {C.shape[1]}")
        return C @ self.components_


# ------------------------------------------------------------------------------------------
# Predictive sparse decomposition
# ------------------------------------------------------------------------------------------

class PredictiveSparseDecomposition(torch.nn.Module):
    r"""Predictive sparse decomposition (PSD): a dictionary and an encoder that predicts codes.

    Kavukcuoglu, Ranzato & LeCun (2008) add to the sparse coding energy a term that ties the
    codes ``z`` to the output of a feed-forward encoder ``F(x) = g * tanh(x W^T + b)``
    (a gain ``g`` per atom):

    .. math::

        E(x, z) = \tfrac12 \|x - z D\|_2^2 + \lambda \|z\|_1 + \tfrac{\alpha}2 \|z - F(x)\|_2^2 .

    Training alternates, on each mini-batch, (1) the optimal codes ``z*`` for the current
    ``D`` and encoder (FISTA on ``E``, started at ``F(x)``), and (2) one gradient step on ``D``
    (atoms renormalised) and on the encoder towards ``z*``. Afterwards ``forward(x) = F(x)``
    *is* the inference: one matrix product and a ``tanh``, instead of an iterative solver.

    Parameters
    ----------
    n_features : int
    n_atoms : int
    lam : float > 0, default 0.5
    alpha : float > 0, default 1.0
        Weight of the prediction term.
    seed : int, default 0

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sparsecourse.coding import PredictiveSparseDecomposition
    >>> X = np.random.default_rng(0).standard_normal((256, 8))
    >>> psd = PredictiveSparseDecomposition(8, 16, lam=0.3, seed=0)
    >>> h = psd.fit(X, n_epochs=2, batch_size=64)
    >>> psd(torch.from_numpy(X).float()).shape, psd.dictionary.shape
    (torch.Size([256, 16]), torch.Size([16, 8]))
    """

    def __init__(self, n_features: int, n_atoms: int, *, lam: float = 0.5, alpha: float = 1.0,
                 seed: int = 0):
        super().__init__()
        n_features = check_int(n_features, "n_features", minimum=1)
        n_atoms = check_int(n_atoms, "n_atoms", minimum=1)
        self.lam = check_positive(lam, "lam")
        self.alpha = check_positive(alpha, "alpha")
        g = torch.Generator().manual_seed(int(seed))
        D = torch.randn(n_atoms, n_features, generator=g)
        self.dictionary = torch.nn.Parameter(D / D.norm(dim=1, keepdim=True))
        self.W = torch.nn.Parameter(self.dictionary.detach().clone())
        self.b = torch.nn.Parameter(torch.zeros(n_atoms))
        self.gain = torch.nn.Parameter(torch.ones(n_atoms))
        self._seed = int(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted codes ``F(x) = gain * tanh(x W^T + b)``, shape (batch, n_atoms)."""
        if x.shape[-1] != self.W.shape[1]:
            raise ValueError(f"x must have {self.W.shape[1]} features, got shape {tuple(x.shape)}")
        return self.gain * torch.tanh(x @ self.W.T + self.b)

    def energy(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The PSD energy ``E(x, z)`` averaged over the batch."""
        rec = 0.5 * ((x - z @ self.dictionary) ** 2).sum(1)
        pred = 0.5 * self.alpha * ((z - self(x)) ** 2).sum(1)
        return (rec + self.lam * z.abs().sum(1) + pred).mean()

    @torch.no_grad()
    def optimal_codes(self, x: torch.Tensor, n_iter: int = 50) -> torch.Tensor:
        """``argmin_z E(x, z)`` by FISTA started at the prediction ``F(x)``."""
        D = self.dictionary
        pred = self(x)
        L = float(torch.linalg.matrix_norm(D, ord=2)) ** 2 + self.alpha
        z = y = pred.clone()
        t = 1.0
        for _ in range(n_iter):
            grad = (y @ D - x) @ D.T + self.alpha * (y - pred)
            v = y - grad / L
            z_new = torch.sign(v) * torch.clamp(v.abs() - self.lam / L, min=0)
            t_new = (1 + (1 + 4 * t * t) ** 0.5) / 2
            y = z_new + (t - 1) / t_new * (z_new - z)
            z, t = z_new, t_new
        return z

    def fit(self, X, *, n_epochs: int = 10, batch_size: int = 128, lr: float = 1e-2,
            n_code_iter: int = 50) -> list[float]:
        """Train on ``X`` (n_samples, n_features); returns the mean energy per epoch."""
        X = as_float_array(X, "X", ndim=2, dtype=np.float32, allow_empty=False)
        if X.shape[1] != self.W.shape[1]:
            raise ValueError(f"X must have {self.W.shape[1]} features, got {X.shape[1]}")
        n_epochs = check_int(n_epochs, "n_epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        lr = check_positive(lr, "lr")
        Xt = torch.from_numpy(X)
        g = torch.Generator().manual_seed(self._seed)
        opt = torch.optim.Adam([self.W, self.b, self.gain], lr=lr)
        history = []
        for _ in range(n_epochs):
            order = torch.randperm(Xt.shape[0], generator=g)
            total = 0.0
            for start in range(0, Xt.shape[0], batch_size):
                x = Xt[order[start:start + batch_size]]
                z = self.optimal_codes(x, n_code_iter)
                # dictionary: a projected gradient step on the reconstruction, step 1/L with
                # L = ||z^T z||_2 (the gradient of 0.5 ||x - z D||^2 is -z^T (x - z D))
                with torch.no_grad():
                    R = x - z @ self.dictionary
                    L = float(torch.linalg.matrix_norm(z.T @ z, ord=2))
                    if L > 0:
                        D = self.dictionary + (z.T @ R) / L
                        self.dictionary.copy_(D / D.norm(dim=1, keepdim=True).clamp_min(1e-12))
                # encoder: regress its prediction on the optimal codes
                opt.zero_grad()
                loss = 0.5 * self.alpha * ((z - self(x)) ** 2).sum(1).mean()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    total += float(self.energy(x, z)) * x.shape[0]
            history.append(total / Xt.shape[0])
        return history


def orientation_concentration(atom, *, n_angles: int = 16) -> float:
    """Share of a square image atom's spectral energy within ±22.5° of its main orientation.

    The energy of the 2-D Fourier transform (the constant term excluded) is split by the angle
    of each frequency; the score is the largest share found in a 45° wedge, over
    ``n_angles`` wedge centres. An oriented edge or grating scores near 1; isotropic noise
    about 1/4 (a 45° wedge holds a quarter of the directions).

    Parameters
    ----------
    atom : array-like of length p*p
        A flattened ``p x p`` patch (``p`` even or odd).
    n_angles : int
        Number of wedge centres tried in [0, 180°).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.coding import orientation_concentration
    >>> grating = np.cos(2 * np.pi * 2 * np.arange(8) / 8)[None, :].repeat(8, 0).ravel()
    >>> round(orientation_concentration(grating), 3)
    1.0
    """
    atom = as_float_array(atom, "atom", ndim=1)
    p = int(round(np.sqrt(atom.size)))
    if p * p != atom.size:
        raise ValueError(f"atom must be a flattened square patch, got {atom.size} values")
    n_angles = check_int(n_angles, "n_angles", minimum=1)
    F = np.abs(np.fft.fftshift(np.fft.fft2(atom.reshape(p, p)))) ** 2
    fy, fx = np.mgrid[-(p // 2):p - p // 2, -(p // 2):p - p // 2]
    keep = (fx != 0) | (fy != 0)
    ang = np.mod(np.arctan2(fy, fx), np.pi)[keep]
    w = F[keep]
    if w.sum() == 0:
        raise ValueError("atom has no energy outside the constant term")
    best = 0.0
    for a0 in np.linspace(0, np.pi, n_angles, endpoint=False):
        d = np.abs(np.angle(np.exp(2j * (ang - a0)))) / 2
        best = max(best, float(w[d <= np.pi / 8].sum() / w.sum()))
    return best
