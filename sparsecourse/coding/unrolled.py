"""Unrolled networks: LISTA, LISTA-CP/SS, ALISTA and HyperLISTA, with layer-wise training.

ISTA for the LASSO :math:`\\min_x \\frac12\\lVert y - Ax\\rVert_2^2 + \\lambda\\lVert x\\rVert_1`
repeats :math:`x^{k+1} = \\eta_{\\lambda/L}\\bigl(x^k + \\tfrac1L A^\\top (y - Ax^k)\\bigr)`.
*Unrolling* K of its iterations gives a K-layer network whose weights can be learned from
examples :math:`(y, x)` drawn from the distribution one cares about:

* :class:`LISTA` (Gregor & LeCun, 2010): :math:`x^{k+1} = \\eta_{\\theta_k}(W_1^k y + W_2^k x^k)`,
  initialised at ISTA (:math:`W_1 = A^\\top/L`, :math:`W_2 = I - A^\\top A/L`,
  :math:`\\theta = \\lambda/L`); ``tied=True`` shares :math:`W_1, W_2` across layers as in the
  original paper, ``tied=False`` unties them as Chen et al. (2018) do.
* :class:`LISTACPSS` (Chen et al., 2018): coupled weights
  :math:`x^{k+1} = \\eta^{ss}_{\\theta_k, p_k}(x^k + (W^k)^\\top (y - Ax^k))` and *support
  selection*: the :math:`p_k` per cent largest entries bypass the shrinkage.
* :class:`ALISTA` (Liu et al., 2019): the weight :math:`W` is computed from :math:`A` alone by
  :func:`alista_weight`; only a step :math:`\\gamma_k` and a threshold :math:`\\theta_k` per layer
  are learned.
* :class:`HyperLISTA` (Chen et al., 2021): ALISTA's weight, momentum, support selection and
  per-instance thresholds computed from the current iterate; three hyperparameters
  :math:`(c_1, c_2, c_3)` tuned by :func:`tune_hyperlista`.

All modules work on batches: ``y`` has shape ``(batch, m)``, the codes ``(batch, n)``; the
dictionary ``A`` has shape ``(m, n)``. :func:`train_layerwise` trains layer 1, then layers 1-2, and
so on; :func:`nmse_db` and :func:`layer_nmse_db` measure the normalised mean squared error in dB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .._validation import as_float_array, check_fraction, check_int, check_positive

__all__ = [
    "soft_threshold_ss",
    "alista_weight",
    "generalized_coherence",
    "BernoulliGaussian",
    "nmse_db",
    "oracle_nmse_db",
    "layer_nmse_db",
    "LISTA",
    "LISTACPSS",
    "ALISTA",
    "HyperLISTA",
    "train_layerwise",
    "tune_hyperlista",
]


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

def _as_matrix(A, name: str = "A", dtype=torch.float32) -> torch.Tensor:
    if isinstance(A, torch.Tensor):
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (m, n), got shape {tuple(A.shape)}")
        if not torch.isfinite(A).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return A.detach().to(dtype)
    return torch.as_tensor(as_float_array(A, name, ndim=2, allow_empty=False), dtype=dtype)


def _check_y(y: torch.Tensor, m: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(as_float_array(y, "y", ndim=(1, 2)))
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2 or y.shape[1] != m:
        raise ValueError(f"y must have shape (batch, {m}) to match A, got {tuple(y.shape)}")
    return y


def _soft(v: torch.Tensor, theta) -> torch.Tensor:
    return torch.sign(v) * torch.relu(v.abs() - theta)


def soft_threshold_ss(v: torch.Tensor, theta, count=0) -> torch.Tensor:
    """Soft thresholding with support selection, :math:`\\eta^{ss}_{\\theta, p}`.

    In each row of ``v``, the ``count`` entries of largest magnitude that exceed ``theta`` are kept
    as they are ("trusted" as support); every other entry is soft-thresholded,
    :math:`\\operatorname{sign}(v)\\max(|v| - \\theta, 0)`. With ``count=0`` this is plain soft
    thresholding.

    Parameters
    ----------
    v : Tensor of shape (batch, n)
    theta : float or Tensor broadcastable to ``v`` (e.g. shape ``(batch, 1)``)
        Threshold, >= 0.
    count : int or Tensor of shape (batch,)
        Number of entries per row that bypass the shrinkage, ``0 <= count <= n``.

    Returns
    -------
    Tensor of the shape of ``v``.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import soft_threshold_ss
    >>> v = torch.tensor([[3.0, -2.0, 0.5, 1.5]])
    >>> soft_threshold_ss(v, 1.0).tolist()
    [[2.0, -1.0, 0.0, 0.5]]
    >>> soft_threshold_ss(v, 1.0, count=2).tolist()
    [[3.0, -2.0, 0.0, 0.5]]
    """
    if v.ndim != 2:
        raise ValueError(f"v must be 2-D (batch, n), got shape {tuple(v.shape)}")
    n = v.shape[1]
    if isinstance(count, torch.Tensor):
        count = count.to(torch.long).reshape(-1)
        if count.numel() not in (1, v.shape[0]):
            raise ValueError(f"count must have one entry per row of v, got {count.numel()}")
        if (count < 0).any() or (count > n).any():
            raise ValueError(f"count must lie in [0, {n}]")
        k_max = int(count.max())
    else:
        count = check_int(count, "count", minimum=0, maximum=n)
        k_max = count
    out = _soft(v, theta)
    if k_max == 0:
        return out
    mag = v.detach().abs()
    top = torch.topk(mag, k_max, dim=1).values                    # (batch, k_max), descending
    if isinstance(count, torch.Tensor):
        idx = (count.expand(v.shape[0]) - 1).clamp(min=0)[:, None]
        kth = top.gather(1, idx)
        kth = torch.where(count.expand(v.shape[0])[:, None] > 0, kth, torch.inf)
    else:
        kth = top[:, k_max - 1:k_max]
    keep = (mag >= kth) & (mag > theta)
    return torch.where(keep, v, out)


def alista_weight(A) -> torch.Tensor:
    """ALISTA's analytic weight: the W that makes :math:`W^\\top A` closest to the identity.

    Liu et al. (2019) choose :math:`W \\in \\mathbb{R}^{m\\times n}` to minimise the off-diagonal
    part of :math:`W^\\top A`, relaxed to the Frobenius norm,

    .. math:: \\min_W \\lVert W^\\top A \\rVert_F^2 \\quad\\text{s.t.}\\quad
              w_i^\\top a_i = 1 \\;\\; (i = 1, \\dots, n),

    (with the diagonal fixed to 1, minimising the whole norm is minimising the off-diagonal part).
    The problem separates over columns: :math:`\\min_w w^\\top (AA^\\top) w` subject to
    :math:`a_i^\\top w = 1`, a quadratic with one linear constraint, whose solution is
    :math:`w_i = G^{-1}a_i / (a_i^\\top G^{-1} a_i)` with :math:`G = AA^\\top`. The paper solves
    the same convex problem by projected gradient descent; this closed form is its exact
    minimiser (computed in float64). It needs :math:`A` to have full row rank.

    Parameters
    ----------
    A : array or Tensor of shape (m, n), m <= n, full row rank

    Returns
    -------
    W : Tensor of shape (m, n), float32

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import alista_weight
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(20, 40, seed=0)
    >>> W = alista_weight(A)
    >>> bool(torch.allclose(torch.diag(W.T @ torch.tensor(A, dtype=torch.float32)),
    ...                     torch.ones(40), atol=1e-5))
    True
    """
    A64 = _as_matrix(A, dtype=torch.float64)
    m, n = A64.shape
    if m > n:
        raise ValueError(f"A must have at least as many columns as rows, got shape {(m, n)}")
    G = A64 @ A64.T
    if torch.linalg.matrix_rank(G) < m:
        raise ValueError("A must have full row rank for the analytic ALISTA weight")
    GiA = torch.linalg.solve(G, A64)
    W = GiA / (A64 * GiA).sum(dim=0, keepdim=True)
    return W.to(torch.float32)


def generalized_coherence(W, A) -> float:
    """Generalised mutual coherence :math:`\\max_{i\\neq j} |w_i^\\top a_j|`.

    With ``W = A`` (unit-norm columns) this is the usual mutual coherence of ``A``.

    Examples
    --------
    >>> from sparsecourse.coding import generalized_coherence, alista_weight
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(50, 100, seed=0)
    >>> generalized_coherence(alista_weight(A), A) < generalized_coherence(A, A)
    True
    """
    W = _as_matrix(W, "W", dtype=torch.float64)
    A = _as_matrix(A, dtype=torch.float64)
    if W.shape != A.shape:
        raise ValueError(f"W must have the shape of A {tuple(A.shape)}, got {tuple(W.shape)}")
    M = W.T @ A
    M.fill_diagonal_(0.0)
    return float(M.abs().max())


class BernoulliGaussian:
    """The standard LISTA test distribution: :math:`y = Ax + e`, :math:`x_i \\sim
    \\text{Bernoulli}(p)\\times\\mathcal{N}(0, \\sigma_x^2)`.

    Parameters
    ----------
    A : array or Tensor of shape (m, n)
    p : float in (0, 1]
        Probability that an entry is non-zero.
    snr_db : float or None
        Signal-to-noise ratio :math:`10\\log_{10}(\\mathbb{E}\\lVert Ax\\rVert^2 /
        \\mathbb{E}\\lVert e\\rVert^2)` of white Gaussian noise; ``None`` is noiseless.
    scale : float, default 1.0
        Standard deviation :math:`\\sigma_x` of the non-zeros (change it to test generalisation
        to other magnitudes).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import BernoulliGaussian
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> dist = BernoulliGaussian(gaussian_matrix(25, 50, seed=0), p=0.1)
    >>> y, x = dist.sample(4, seed=0)
    >>> tuple(y.shape), tuple(x.shape)
    ((4, 25), (4, 50))
    """

    def __init__(self, A, p: float = 0.1, snr_db: float | None = None, scale: float = 1.0):
        self.A = _as_matrix(A)
        self.p = check_fraction(p, "p", closed="right")
        self.snr_db = None if snr_db is None else float(snr_db)
        self.scale = check_positive(scale, "scale")
        m, n = self.A.shape
        # E||Ax||^2 = p * scale^2 * ||A||_F^2 ; noise variance per entry from the SNR
        self.noise_std = 0.0 if snr_db is None else math.sqrt(
            self.p * self.scale**2 * float((self.A**2).sum()) / m / 10 ** (snr_db / 10))

    def sample(self, n_samples: int, seed=None, generator: torch.Generator | None = None):
        """Draw ``(y, x)`` of shapes ``(n_samples, m)`` and ``(n_samples, n)``."""
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        m, n = self.A.shape
        support = torch.rand(n_samples, n, generator=generator) < self.p
        x = support * torch.randn(n_samples, n, generator=generator) * self.scale
        y = x @ self.A.T
        if self.noise_std > 0:
            y = y + self.noise_std * torch.randn(n_samples, m, generator=generator)
        return y, x


def nmse_db(x_hat, x) -> float:
    """Normalised mean squared error in dB, :math:`10\\log_{10}(\\sum\\lVert\\hat x - x\\rVert^2
    / \\sum\\lVert x\\rVert^2)` over a batch (the definition of Chen et al., 2018).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import nmse_db
    >>> x = torch.ones(2, 4)
    >>> round(nmse_db(1.1 * x, x), 3)
    -20.0
    """
    x_hat = torch.as_tensor(x_hat)
    x = torch.as_tensor(x)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat has shape {tuple(x_hat.shape)}, x has {tuple(x.shape)}")
    den = float((x.double() ** 2).sum())
    if den == 0:
        raise ValueError("x is all zeros: the NMSE is undefined")
    num = float(((x_hat.double() - x.double()) ** 2).sum())
    return 10 * math.log10(max(num / den, 1e-300))


def oracle_nmse_db(A, y, x) -> float:
    """The NMSE (dB) of least squares on the *true* support of each sample: the noise floor.

    No method that has to find the support can do better on average (with noise), so the
    learned networks' NMSE is read against it.

    Parameters
    ----------
    A : Tensor or array of shape (m, n)
        The dictionary (columns are atoms).
    y : Tensor of shape (batch, m)
        Measurements, one sample per row.
    x : Tensor of shape (batch, n)
        The true codes (their non-zeros give each sample's support).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import BernoulliGaussian, oracle_nmse_db
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(20, 40, seed=0)
    >>> y, x = BernoulliGaussian(A, p=0.1).sample(50, seed=1)
    >>> oracle_nmse_db(A, y, x) < -100          # noiseless: the oracle is exact
    True
    """
    A = torch.as_tensor(A).double()
    y, x = torch.as_tensor(y).double(), torch.as_tensor(x).double()
    if y.ndim != 2 or x.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y and x must be (batch, m) and (batch, n), got {tuple(y.shape)} "
                         f"and {tuple(x.shape)}")
    if A.shape != (y.shape[1], x.shape[1]):
        raise ValueError(f"A has shape {tuple(A.shape)}, expected {(y.shape[1], x.shape[1])}")
    x_hat = torch.zeros_like(x)
    for i in range(x.shape[0]):
        S = torch.nonzero(x[i]).flatten()
        if S.numel():
            x_hat[i, S] = torch.linalg.lstsq(A[:, S], y[i, :, None]).solution[:, 0]
    return nmse_db(x_hat, x)


def layer_nmse_db(model: nn.Module, y, x) -> np.ndarray:
    """NMSE (dB) after each layer of an unrolled ``model`` (no gradient).

    Examples
    --------
    >>> from sparsecourse.coding import ALISTA, BernoulliGaussian, layer_nmse_db
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(25, 50, seed=0)
    >>> y, x = BernoulliGaussian(A, p=0.1).sample(64, seed=1)
    >>> layer_nmse_db(ALISTA(A, n_layers=3), y, x).shape
    (3,)
    """
    with torch.no_grad():
        xs = model(y, return_all=True)
    return np.array([nmse_db(xk, x) for xk in xs])


# --------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------

class _Unrolled(nn.Module):
    """Shared plumbing: the dictionary buffer, input checks and the layer loop."""

    def __init__(self, A, n_layers: int):
        super().__init__()
        A = _as_matrix(A)
        self.n_layers = check_int(n_layers, "n_layers", minimum=1)
        self.register_buffer("A", A)
        self.m, self.n = A.shape
        self.L = float(torch.linalg.matrix_norm(A.double(), ord=2) ** 2)

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters owned by layer ``k`` (0-based); shared ones belong to layer 0."""
        return []

    def _layer(self, k, x, x_prev, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, y, n_layers: int | None = None, return_all: bool = False):
        """Run the first ``n_layers`` layers (all by default) from :math:`x^0 = 0`.

        Returns the last code, shape ``(batch, n)``, or the list of all ``n_layers`` codes.
        """
        y = _check_y(y, self.m).to(self.A.dtype)
        K = self.n_layers if n_layers is None else check_int(
            n_layers, "n_layers", minimum=1, maximum=self.n_layers)
        x = x_prev = y.new_zeros(y.shape[0], self.n)
        out = []
        for k in range(K):
            x, x_prev = self._layer(k, x, x_prev, y), x
            out.append(x)
        return out if return_all else x


class LISTA(_Unrolled):
    """Learned ISTA (Gregor & LeCun, 2010): :math:`x^{k+1} = \\eta_{\\theta_k}(W_1^k y +
    W_2^k x^k)`.

    Initialised at ISTA with step :math:`1/L`, :math:`L = \\lVert A\\rVert_2^2`:
    :math:`W_1 = A^\\top/L`, :math:`W_2 = I - A^\\top A / L`, :math:`\\theta_k = \\lambda/L`, so
    that before training layer k outputs ISTA's k-th iterate.

    Parameters
    ----------
    A : array or Tensor of shape (m, n)
    n_layers : int
    lam : float, default 0.1
        The :math:`\\lambda` of the ISTA initialisation.
    tied : bool, default False
        Share :math:`W_1, W_2` across layers (Gregor & LeCun's original network, thresholds
        stay per layer); untied is the variant of Chen et al. (2018).

    Examples
    --------
    >>> from sparsecourse.coding import LISTA, BernoulliGaussian
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(25, 50, seed=0)
    >>> y, x = BernoulliGaussian(A).sample(8, seed=0)
    >>> LISTA(A, n_layers=4)(y).shape
    torch.Size([8, 50])
    """

    def __init__(self, A, n_layers: int = 16, lam: float = 0.1, tied: bool = False):
        super().__init__(A, n_layers)
        lam = check_positive(lam, "lam")
        self.tied = bool(tied)
        n_w = 1 if self.tied else self.n_layers
        B = self.A / self.L                                     # W1^T, shape (m, n)
        S = torch.eye(self.n) - self.A.T @ self.A / self.L      # W2^T, shape (n, n)
        self.W1 = nn.ParameterList([nn.Parameter(B.clone()) for _ in range(n_w)])
        self.W2 = nn.ParameterList([nn.Parameter(S.clone()) for _ in range(n_w)])
        self.theta = nn.Parameter(torch.full((self.n_layers,), lam / self.L))

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        own = [self.W1[k], self.W2[k]] if (not self.tied or k == 0) else []
        return [*own, self.theta]

    def _layer(self, k, x, x_prev, y):
        j = 0 if self.tied else k
        return _soft(y @ self.W1[j] + x @ self.W2[j], self.theta[k])


def _ss_count(k: int, p: float, p_max: float, n: int) -> int:
    """Support-selection size of layer k (0-based): min(p (k+1), p_max) per cent of n."""
    return int(min(p * (k + 1), p_max) / 100 * n)


class LISTACPSS(_Unrolled):
    """LISTA with coupled weights and support selection (LISTA-CPSS, Chen et al., 2018).

    .. math:: x^{k+1} = \\eta^{ss}_{\\theta_k, p_k}\\bigl(x^k + (W^k)^\\top (y - Ax^k)\\bigr),
              \\qquad p_k = \\min(p\\,k, p_{\\max})\\ \\%.

    Coupling :math:`W_2^k = I - (W^k)^\\top A` is what the paper proves necessary for
    convergence; it halves the weights. Initialised at ISTA (:math:`W = A/L`,
    :math:`\\theta = \\lambda / L`).

    Parameters
    ----------
    A : array or Tensor of shape (m, n)
    n_layers : int
    lam : float, default 0.1
    support_selection : bool, default True
        ``False`` gives LISTA-CP.
    p, p_max : float, default 1.2 and 13.0
        Per cent of entries trusted per layer and its cap (the paper's values).
    tied : bool, default False
        Share :math:`W` across layers.

    Examples
    --------
    >>> from sparsecourse.coding import LISTACPSS
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> net = LISTACPSS(gaussian_matrix(25, 50, seed=0), n_layers=3)
    >>> sum(p.numel() for p in net.parameters())
    3753
    """

    def __init__(self, A, n_layers: int = 16, lam: float = 0.1, support_selection: bool = True,
                 p: float = 1.2, p_max: float = 13.0, tied: bool = False):
        super().__init__(A, n_layers)
        lam = check_positive(lam, "lam")
        self.p = check_fraction(p, "p", high=100.0)
        self.p_max = check_fraction(p_max, "p_max", high=100.0)
        self.support_selection = bool(support_selection)
        self.tied = bool(tied)
        n_w = 1 if self.tied else self.n_layers
        self.W = nn.ParameterList([nn.Parameter(self.A / self.L) for _ in range(n_w)])
        self.theta = nn.Parameter(torch.full((self.n_layers,), lam / self.L))

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        own = [self.W[k]] if (not self.tied or k == 0) else []
        return [*own, self.theta]

    def _layer(self, k, x, x_prev, y):
        W = self.W[0 if self.tied else k]
        v = x + (y - x @ self.A.T) @ W
        count = _ss_count(k, self.p, self.p_max, self.n) if self.support_selection else 0
        return soft_threshold_ss(v, self.theta[k], count)


class ALISTA(_Unrolled):
    """Analytic LISTA (Liu et al., 2019): only a step and a threshold per layer are learned.

    .. math:: x^{k+1} = \\eta^{ss}_{\\theta_k, p_k}\\bigl(x^k - \\gamma_k W^\\top(Ax^k - y)\\bigr),

    with :math:`W` = :func:`alista_weight` ``(A)`` fixed (a buffer, not a parameter) and support
    selection as in :class:`LISTACPSS`.

    Parameters
    ----------
    A : array or Tensor of shape (m, n)
    n_layers : int
    W : array or Tensor of shape (m, n), optional
        Defaults to :func:`alista_weight` ``(A)``.
    theta0 : float, default 0.1
        Initial threshold of every layer; initial steps are 1.
    support_selection : bool, default True
    p, p_max : float, default 1.2 and 13.0

    Examples
    --------
    >>> from sparsecourse.coding import ALISTA
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> net = ALISTA(gaussian_matrix(25, 50, seed=0), n_layers=16)
    >>> sum(p.numel() for p in net.parameters())
    32
    """

    def __init__(self, A, n_layers: int = 16, W=None, theta0: float = 0.1,
                 support_selection: bool = True, p: float = 1.2, p_max: float = 13.0):
        super().__init__(A, n_layers)
        W = alista_weight(self.A) if W is None else _as_matrix(W, "W")
        if W.shape != self.A.shape:
            raise ValueError(f"W must have the shape of A {tuple(self.A.shape)}, "
                             f"got {tuple(W.shape)}")
        self.register_buffer("W", W)
        theta0 = check_positive(theta0, "theta0")
        self.p = check_fraction(p, "p", high=100.0)
        self.p_max = check_fraction(p_max, "p_max", high=100.0)
        self.support_selection = bool(support_selection)
        self.gamma = nn.Parameter(torch.ones(self.n_layers))
        self.theta = nn.Parameter(torch.full((self.n_layers,), theta0))

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.gamma, self.theta]

    def step(self, x, y, gamma, theta, count=0):
        """One ALISTA layer with explicit ``gamma``, ``theta`` (scalars or ``(batch, 1)``)."""
        return soft_threshold_ss(x - gamma * ((x @ self.A.T - y) @ self.W), theta, count)

    def _layer(self, k, x, x_prev, y):
        count = _ss_count(k, self.p, self.p_max, self.n) if self.support_selection else 0
        return self.step(x, y, self.gamma[k], self.theta[k], count)


class HyperLISTA(_Unrolled):
    """HyperLISTA (Chen et al., 2021): ALISTA with momentum and instance-adaptive parameters.

    .. math::
        x^{k+1} = \\eta^{ss}_{\\theta^k, p^k}\\Bigl(x^k + W^\\top(y - Ax^k)
                  + \\beta^k (x^k - x^{k-1})\\Bigr),

    where, with :math:`\\mu` the generalised coherence of ``W`` and ``A`` and :math:`A^+` the
    pseudo-inverse (all computed per instance, from the current iterate):

    .. math::
        \\theta^k = c_1\\,\\mu\\,\\lVert A^+(Ax^k - y)\\rVert_1, \\qquad
        \\beta^k = c_2\\,\\mu\\,\\lVert x^k\\rVert_0, \\qquad
        p^k = c_3 \\min\\Bigl(\\log\\frac{\\lVert A^+ y\\rVert_1}{\\lVert A^+(Ax^k - y)\\rVert_1},
              n\\Bigr).

    :math:`p^k` is the *number* of entries that bypass the shrinkage (rounded down). Nothing is
    trained by gradient descent: the three hyperparameters are tuned on data with
    :func:`tune_hyperlista`. With ``c2 = c3 = 0`` this is ALISTA with unit steps and
    thresholds :math:`\\theta^k` set per instance.

    Parameters
    ----------
    A : array or Tensor of shape (m, n)
    n_layers : int
    c1, c2, c3 : float
        Threshold, momentum and support-selection hyperparameters, >= 0 (``c1 > 0``).
    W : array or Tensor of shape (m, n), optional
        Defaults to :func:`alista_weight` ``(A)``.

    Examples
    --------
    >>> from sparsecourse.coding import HyperLISTA, BernoulliGaussian, nmse_db
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(50, 100, seed=0)
    >>> y, x = BernoulliGaussian(A, p=0.05).sample(32, seed=0)
    >>> net = HyperLISTA(A, n_layers=16, c1=0.1, c2=0.0, c3=4.0)
    >>> nmse_db(net(y), x) < -20
    True
    """

    def __init__(self, A, n_layers: int = 16, c1: float = 1.0, c2: float = 0.0,
                 c3: float = 0.0, W=None):
        super().__init__(A, n_layers)
        W = alista_weight(self.A) if W is None else _as_matrix(W, "W")
        if W.shape != self.A.shape:
            raise ValueError(f"W must have the shape of A {tuple(self.A.shape)}, "
                             f"got {tuple(W.shape)}")
        self.register_buffer("W", W)
        self.register_buffer("A_pinv_T", torch.linalg.pinv(self.A.double()).T.float())  # (m, n)
        self.mu = generalized_coherence(W, self.A)
        self.set_hyperparameters(c1, c2, c3)
        self.last_info: dict[str, list[torch.Tensor]] = {}

    def set_hyperparameters(self, c1: float, c2: float, c3: float) -> HyperLISTA:
        """Set :math:`(c_1, c_2, c_3)` and return ``self``."""
        self.c1 = check_positive(c1, "c1")
        self.c2 = check_positive(c2, "c2", strict=False)
        self.c3 = check_positive(c3, "c3", strict=False)
        return self

    def forward(self, y, n_layers: int | None = None, return_all: bool = False):
        """As ``LISTA.forward``; the per-layer ``theta``, ``beta`` and ``count`` of the last call
        are kept in ``self.last_info``."""
        y = _check_y(y, self.m).to(self.A.dtype)
        self._l1_0 = (y @ self.A_pinv_T).abs().sum(1, keepdim=True).clamp_min(1e-30)
        self.last_info = {"theta": [], "beta": [], "count": []}
        return super().forward(y, n_layers=n_layers, return_all=return_all)

    def _layer(self, k, x, x_prev, y):
        r = x @ self.A.T - y                                              # (batch, m)
        l1 = (r @ self.A_pinv_T).abs().sum(1, keepdim=True)               # ||A^+ (Ax - y)||_1
        theta = self.c1 * self.mu * l1
        beta = self.c2 * self.mu * (x != 0).sum(1, keepdim=True).to(x.dtype)
        ratio = torch.log(self._l1_0 / l1.clamp_min(1e-30)).clamp(min=0.0, max=float(self.n))
        count = torch.floor(self.c3 * ratio).clamp(max=self.n).reshape(-1).to(torch.long)
        self.last_info["theta"].append(theta)
        self.last_info["beta"].append(beta)
        self.last_info["count"].append(count)
        v = x - r @ self.W + beta * (x - x_prev)
        return soft_threshold_ss(v, theta, count)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def train_layerwise(model: _Unrolled, sampler: Callable[[int, torch.Generator], tuple],
                    *, n_steps: int = 200, batch_size: int = 64, lr: float = 5e-4,
                    lr_decays: Sequence[float] = (0.2, 0.02), n_layers: int | None = None,
                    seed: int = 0, progress: Callable | None = None) -> list[float]:
    """Layer-wise training of an unrolled network, as in the LISTA literature.

    For :math:`t = 1, \\dots, K`: train the parameters of the new layer :math:`t` on the loss
    :math:`\\mathbb{E}\\lVert x^t - x\\rVert^2` of the *t*-th output at learning rate ``lr``,
    then fine-tune all the parameters of layers :math:`1..t` at ``lr * d`` for each ``d`` in
    ``lr_decays`` (Chen et al., 2018; Liu et al., 2019). Each stage runs ``n_steps`` Adam steps on
    fresh batches from ``sampler``.

    Parameters
    ----------
    model : LISTA, LISTACPSS or ALISTA
    sampler : callable ``(batch_size, generator) -> (y, x)``
        E.g. ``BernoulliGaussian(A).sample`` via ``lambda b, g: dist.sample(b, generator=g)``.
    n_steps, batch_size : int
    lr : float
    lr_decays : sequence of float
    n_layers : int, optional
        Train only the first ``n_layers`` layers (default all).
    seed : int
        Seeds the batches.
    progress : callable, optional
        Wraps the layer range, e.g. ``tqdm``.

    Returns
    -------
    list of float
        Training loss (mean squared error per sample) at the end of each layer's last stage.

    Examples
    --------
    >>> from sparsecourse.coding import ALISTA, BernoulliGaussian, layer_nmse_db, train_layerwise
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(25, 50, seed=0)
    >>> dist = BernoulliGaussian(A, p=0.1)
    >>> net = ALISTA(A, n_layers=3)
    >>> before = layer_nmse_db(net, *dist.sample(256, seed=9))[-1]
    >>> _ = train_layerwise(net, lambda b, g: dist.sample(b, generator=g), n_steps=50,
    ...                     lr=1e-2)
    >>> bool(layer_nmse_db(net, *dist.sample(256, seed=9))[-1] < before)
    True
    """
    if not isinstance(model, _Unrolled) or isinstance(model, HyperLISTA):
        raise TypeError("model must be a LISTA, LISTACPSS or ALISTA module (HyperLISTA is tuned "
                        "with tune_hyperlista)")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    decays = [check_positive(d, "lr_decays") for d in lr_decays]
    K = model.n_layers if n_layers is None else check_int(
        n_layers, "n_layers", minimum=1, maximum=model.n_layers)
    gen = torch.Generator().manual_seed(int(seed))
    layers = range(1, K + 1)
    losses = []
    for t in (progress(layers) if progress is not None else layers):
        new = _unique(model.layer_parameters(t - 1))
        old = _unique([q for k in range(t) for q in model.layer_parameters(k)])
        loss = float("nan")
        for params, rate in [(new, lr), *[(old, lr * d) for d in decays]]:
            if not params:
                continue
            opt = torch.optim.Adam(params, lr=rate)
            for _ in range(n_steps):
                y, x = sampler(batch_size, gen)
                out = model(y, n_layers=t)
                err = ((out - x) ** 2).sum(1).mean()
                opt.zero_grad()
                err.backward()
                opt.step()
                loss = float(err.detach())
        losses.append(loss)
    return losses


def _unique(params):
    seen, out = set(), []
    for q in params:
        if id(q) not in seen:
            seen.add(id(q))
            out.append(q)
    return out


def tune_hyperlista(model: HyperLISTA, y, x, *, c1_grid: Sequence[float] | None = None,
                    c2_grid: Sequence[float] | None = None,
                    c3_grid: Sequence[float] | None = None, n_rounds: int = 2,
                    start: tuple[float, float, float] | None = None) -> dict:
    """Tune HyperLISTA's :math:`(c_1, c_2, c_3)` by coordinate-wise grid search.

    Starting from ``start`` (default: the middle of each grid), each round sweeps each grid in turn
    with the other two fixed, keeping the value with the lowest last-layer NMSE on ``(y, x)``. The
    paper tunes the same three numbers by grid search; the coordinate search needs
    ``n_rounds * (len(c1) + len(c2) + len(c3))`` forward passes instead of their product.

    Returns
    -------
    dict with ``c1, c2, c3`` (also set on ``model``), ``nmse_db`` and ``n_evals``.

    Examples
    --------
    >>> from sparsecourse.coding import HyperLISTA, BernoulliGaussian, tune_hyperlista
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(50, 100, seed=0)
    >>> y, x = BernoulliGaussian(A, p=0.05).sample(64, seed=0)
    >>> res = tune_hyperlista(HyperLISTA(A, n_layers=8), y, x, n_rounds=1)
    >>> sorted(res)
    ['c1', 'c2', 'c3', 'n_evals', 'nmse_db']
    """
    if not isinstance(model, HyperLISTA):
        raise TypeError(f"model must be a HyperLISTA, got {type(model).__name__}")
    grids = [np.asarray(g if g is not None else d, dtype=float) for g, d in
             [(c1_grid, np.geomspace(0.05, 2.0, 12)), (c2_grid, np.linspace(0.0, 1.0, 11)),
              (c3_grid, np.linspace(0.0, 12.0, 13))]]
    for name, g in zip(("c1_grid", "c2_grid", "c3_grid"), grids, strict=True):
        if g.ndim != 1 or g.size == 0 or (g < 0).any() or not np.isfinite(g).all():
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers >= 0")
    if (grids[0] <= 0).any():
        raise ValueError("c1_grid must contain positive values only")
    n_rounds = check_int(n_rounds, "n_rounds", minimum=1)
    c = list(start) if start is not None else [float(g[len(g) // 2]) for g in grids]
    n_evals = 0

    def score(cc):
        nonlocal n_evals
        n_evals += 1
        model.set_hyperparameters(*cc)
        with torch.no_grad():
            val = nmse_db(model(y), x)
        return val if math.isfinite(val) else math.inf

    best = score(c)
    for _ in range(n_rounds):
        for i, g in enumerate(grids):
            for v in g:
                cand = list(c)
                cand[i] = float(v)
                s = score(cand)
                if s < best:
                    best, c = s, cand
    model.set_hyperparameters(*c)
    return {"c1": c[0], "c2": c[1], "c3": c[2], "nmse_db": best, "n_evals": n_evals}
