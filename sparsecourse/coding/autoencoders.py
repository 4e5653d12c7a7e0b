"""Sparse autoencoders: ReLU + L1, TopK (AuxK loss), Mutual Choice and Feature Choice.

A sparse autoencoder (SAE) writes an input :math:`x \\in \\mathbb{R}^d` as a sparse combination
of the columns of a decoder :math:`W_{dec} \\in \\mathbb{R}^{d\\times h}` (an overcomplete
dictionary, :math:`h > d`), with codes computed by one encoder layer instead of an optimisation:

.. math::
    z = \\sigma\\bigl(W_{enc}(x - b_{pre}) + b_{enc}\\bigr), \\qquad
    \\hat x = W_{dec} z + b_{pre}.

The models differ in the sparsifying activation :math:`\\sigma`:

* :class:`ReLUSAE`: ReLU, sparsity from an L1 penalty :math:`\\lambda\\lVert z\\rVert_1` in the
  loss;
* :class:`TopKSAE`: keep the k largest pre-activations of each input (Makhzani & Frey, 2014;
  Gao et al., 2024), with the AuxK loss that makes dead latents explain the residual;
* :class:`FeatureChoiceSAE` and :class:`MutualChoiceSAE` (Ayonrinde, 2024): the same total budget
  of ``k * batch`` active (input, latent) pairs, allocated per latent (each latent picks its
  top inputs) or globally (the largest pre-activations in the whole batch), so that hard inputs
  can use more latents than easy ones.

The decoder columns are kept at unit norm (projected after each step, with the gradient component
along each column removed, as Gao et al. do). Metrics: :func:`normalized_mse`, :func:`l0_norm`,
:func:`dead_latent_fraction`; training: :func:`train_sae`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_positive

__all__ = [
    "topk_activation",
    "mutual_choice_mask",
    "feature_choice_mask",
    "normalized_mse",
    "l0_norm",
    "dead_latent_fraction",
    "ReLUSAE",
    "TopKSAE",
    "FeatureChoiceSAE",
    "MutualChoiceSAE",
    "train_sae",
]


# --------------------------------------------------------------------------------------------
# Activations and allocations
# --------------------------------------------------------------------------------------------

def _check_2d(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, features), got shape {tuple(x.shape)}")
    return x


def topk_activation(pre: torch.Tensor, k: int, *, relu: bool = True) -> torch.Tensor:
    """Keep the ``k`` largest entries of each row of ``pre``, zero the rest (then ReLU).

    Parameters
    ----------
    pre : Tensor of shape (batch, h)
    k : int, 1 <= k <= h
    relu : bool, default True
        Apply a ReLU to the kept values (Gao et al., 2024), so that at most ``k`` are non-zero.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import topk_activation
    >>> topk_activation(torch.tensor([[0.5, -2.0, 3.0, 1.0]]), 2).tolist()
    [[0.0, 0.0, 3.0, 1.0]]
    """
    pre = _check_2d(pre, "pre")
    k = check_int(k, "k", minimum=1, maximum=pre.shape[1])
    vals, idx = torch.topk(pre, k, dim=1)
    out = torch.zeros_like(pre).scatter(1, idx, vals)
    return torch.relu(out) if relu else out


def mutual_choice_mask(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Mutual Choice allocation: the ``k * batch`` largest pre-activations of the whole batch.

    Any input may get any number of latents and any latent any number of inputs; only the total
    budget ``k * batch`` (the same as TopK's) is fixed.

    Returns a boolean mask of the shape of ``pre`` with exactly ``k * batch`` True entries.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import mutual_choice_mask
    >>> pre = torch.tensor([[5.0, 4.0, 3.0], [0.1, 0.2, 0.3]])
    >>> mutual_choice_mask(pre, 1).int().tolist()
    [[1, 1, 0], [0, 0, 0]]
    """
    pre = _check_2d(pre, "pre")
    k = check_int(k, "k", minimum=1, maximum=pre.shape[1])
    total = k * pre.shape[0]
    idx = torch.topk(pre.reshape(-1), total).indices
    mask = torch.zeros(pre.numel(), dtype=torch.bool, device=pre.device)
    mask[idx] = True
    return mask.reshape(pre.shape)


def feature_choice_mask(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Feature Choice allocation: each latent picks its ``m`` largest inputs in the batch.

    ``m = ceil(k * batch / h)``, so that every latent gets the same share of the budget
    ``k * batch`` (the total is ``m * h >= k * batch``, equal when ``h`` divides ``k * batch``).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import feature_choice_mask
    >>> pre = torch.tensor([[5.0, 0.0], [4.0, 1.0], [3.0, 2.0], [0.0, 0.5]])
    >>> feature_choice_mask(pre, 1).int().tolist()
    [[1, 0], [1, 1], [0, 1], [0, 0]]
    """
    pre = _check_2d(pre, "pre")
    batch, h = pre.shape
    k = check_int(k, "k", minimum=1, maximum=h)
    m = min(batch, math.ceil(k * batch / h))
    idx = torch.topk(pre, m, dim=0).indices                     # (m, h)
    mask = torch.zeros_like(pre, dtype=torch.bool)
    mask.scatter_(0, idx, True)
    return mask


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

def normalized_mse(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Reconstruction MSE divided by the MSE of predicting the batch mean (Gao et al., 2024).

    0 is perfect, 1 is no better than the mean.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import normalized_mse
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> normalized_mse(x, x.mean(0, keepdim=True).expand_as(x))
    1.0
    """
    x, x_hat = _check_2d(x, "x"), _check_2d(x_hat, "x_hat")
    if x.shape != x_hat.shape:
        raise ValueError(f"x has shape {tuple(x.shape)}, x_hat has {tuple(x_hat.shape)}")
    den = float(((x - x.mean(0, keepdim=True)) ** 2).sum())
    if den == 0:
        raise ValueError("x has zero variance: the normalised MSE is undefined")
    return float(((x - x_hat) ** 2).sum()) / den


def l0_norm(z: torch.Tensor) -> float:
    """Average number of non-zero latents per input.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import l0_norm
    >>> l0_norm(torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]))
    1.5
    """
    z = _check_2d(z, "z")
    return float((z != 0).sum()) / z.shape[0]


def dead_latent_fraction(z: torch.Tensor) -> float:
    """Fraction of latents that are zero on every row of ``z`` (never fire on this data).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import dead_latent_fraction
    >>> dead_latent_fraction(torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0]]))
    0.5
    """
    z = _check_2d(z, "z")
    return float((z != 0).any(0).logical_not().sum()) / z.shape[1]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

class _SAE(nn.Module):
    """Shared parameters, encoder/decoder and the AuxK loss."""

    def __init__(self, d_in: int, n_latents: int, *, k_aux: int = 0, aux_coef: float = 1 / 32,
                 dead_after: int = 4096, seed: int | None = 0):
        super().__init__()
        self.d_in = check_int(d_in, "d_in", minimum=1)
        self.n_latents = check_int(n_latents, "n_latents", minimum=1)
        self.k_aux = check_int(k_aux, "k_aux", minimum=0, maximum=self.n_latents)
        self.aux_coef = check_positive(aux_coef, "aux_coef", strict=False)
        self.dead_after = check_int(dead_after, "dead_after", minimum=1)
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        W = torch.randn(self.d_in, self.n_latents, generator=g)
        W /= W.norm(dim=0, keepdim=True)
        self.W_dec = nn.Parameter(W)                       # (d, h), unit-norm columns
        self.W_enc = nn.Parameter(W.T.clone())             # (h, d), initialised as W_dec^T
        self.b_enc = nn.Parameter(torch.zeros(self.n_latents))
        self.b_pre = nn.Parameter(torch.zeros(self.d_in))
        self.register_buffer("inputs_since_fired", torch.zeros(self.n_latents))

    def _check_x(self, x) -> torch.Tensor:
        x = _check_2d(x, "x")
        if x.shape[1] != self.d_in:
            raise ValueError(f"x must have {self.d_in} columns (d_in), got {x.shape[1]}")
        return x

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`W_{enc}(x - b_{pre}) + b_{enc}`, shape ``(batch, n_latents)``."""
        return (self._check_x(x) - self.b_pre) @ self.W_enc.T + self.b_enc

    def activation(self, pre: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The sparse code ``z`` of each row of ``x``."""
        return self.activation(self.pre_activations(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """:math:`W_{dec} z + b_{pre}` for each row of ``z``."""
        return z @ self.W_dec.T + self.b_pre

    def forward(self, x: torch.Tensor):
        """Return ``(x_hat, z)``."""
        z = self.encode(x)
        return self.decode(z), z

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        return z.new_zeros(())

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training loss on a batch: ``{"loss", "mse", "aux"}``.

        ``mse`` is the squared error summed over features and averaged over the batch; ``aux``
        is the AuxK loss (0 unless ``k_aux > 0`` and some latents are dead): the ``k_aux``
        largest pre-activations *among dead latents* reconstruct the residual ``x - x_hat``,
        measured by its squared error (the units of ``mse``) and weighted by ``aux_coef``. The
        auxiliary activations are *not* rectified, so that a latent whose pre-activations are all
        negative still receives a gradient that can bring it back.
        """
        pre = self.pre_activations(x)
        z = self.activation(pre)
        x_hat = self.decode(z)
        mse = ((x - x_hat) ** 2).sum(1).mean()
        total = mse + self.sparsity_penalty(z)
        aux = x.new_zeros(())
        if self.training:
            with torch.no_grad():
                fired = (z != 0).any(0)
                self.inputs_since_fired += x.shape[0]
                self.inputs_since_fired[fired] = 0
        dead = self.inputs_since_fired >= self.dead_after
        if self.k_aux > 0 and bool(dead.any()):
            k = min(self.k_aux, int(dead.sum()))
            z_aux = topk_activation(pre.masked_fill(~dead, -torch.inf), k, relu=False)
            e = (x - x_hat).detach()
            e_hat = z_aux @ self.W_dec.T
            aux = ((e - e_hat) ** 2).sum(1).mean()
            total = total + self.aux_coef * aux
        return {"loss": total, "mse": mse.detach(), "aux": aux.detach()}

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Project the decoder columns back to unit norm."""
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Remove the gradient component along each (unit-norm) decoder column."""
        if self.W_dec.grad is not None:
            g, W = self.W_dec.grad, self.W_dec
            g -= (g * W).sum(0, keepdim=True) * W


class ReLUSAE(_SAE):
    """Sparse autoencoder with a ReLU and an L1 penalty ``l1_coef * ||z||_1`` on the codes.

    Parameters
    ----------
    d_in, n_latents : int
    l1_coef : float, default 1e-3
        Weight of the L1 penalty (per input, with unit-norm decoder columns).
    k_aux, aux_coef, dead_after, seed
        See :class:`TopKSAE`.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import ReLUSAE
    >>> sae = ReLUSAE(8, 32, l1_coef=0.1)
    >>> x_hat, z = sae(torch.randn(4, 8))
    >>> tuple(x_hat.shape), tuple(z.shape), bool((z >= 0).all())
    ((4, 8), (4, 32), True)
    """

    def __init__(self, d_in: int, n_latents: int, *, l1_coef: float = 1e-3, k_aux: int = 0,
                 aux_coef: float = 1 / 32, dead_after: int = 4096, seed: int | None = 0):
        super().__init__(d_in, n_latents, k_aux=k_aux, aux_coef=aux_coef,
                         dead_after=dead_after, seed=seed)
        self.l1_coef = check_positive(l1_coef, "l1_coef")

    def activation(self, pre):
        return torch.relu(pre)

    def sparsity_penalty(self, z):
        return self.l1_coef * z.abs().sum(1).mean()


class TopKSAE(_SAE):
    """TopK sparse autoencoder: :math:`z = \\mathrm{ReLU}(\\mathrm{TopK}_k(W_{enc}(x - b_{pre})
    + b_{enc}))` (Makhzani & Frey, 2014; Gao et al., 2024).

    The sparsity is set directly by ``k``: no penalty to tune, no shrinkage of the kept values.

    Parameters
    ----------
    d_in, n_latents : int
    k : int, 1 <= k <= n_latents
        Active latents per input.
    k_aux : int, default 0
        Latents used by the AuxK loss (Gao et al. use a power of two near ``d_in / 2``); 0
        disables it.
    aux_coef : float, default 1/32
        Weight of the AuxK loss.
    dead_after : int, default 4096
        A latent that has not fired on this many consecutive training inputs counts as dead.
    seed : int
        Seeds the initialisation.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import TopKSAE, l0_norm
    >>> sae = TopKSAE(8, 32, k=4)
    >>> x_hat, z = sae(torch.randn(16, 8))
    >>> l0_norm(z) <= 4
    True
    """

    def __init__(self, d_in: int, n_latents: int, k: int = 8, *, k_aux: int = 0,
                 aux_coef: float = 1 / 32, dead_after: int = 4096, seed: int | None = 0):
        super().__init__(d_in, n_latents, k_aux=k_aux, aux_coef=aux_coef,
                         dead_after=dead_after, seed=seed)
        self.k = check_int(k, "k", minimum=1, maximum=self.n_latents)

    def activation(self, pre):
        return topk_activation(pre, self.k)


class FeatureChoiceSAE(TopKSAE):
    """Feature Choice SAE (Ayonrinde, 2024): each latent picks its top inputs in the batch.

    Each latent gets ``ceil(k * batch / n_latents)`` inputs (see :func:`feature_choice_mask`), so
    no latent can die and the number of latents per input varies. The allocation is over a
    batch: encode evaluation data in batches of the training batch size.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import FeatureChoiceSAE, dead_latent_fraction
    >>> sae = FeatureChoiceSAE(8, 32, k=4)
    >>> _, z = sae(torch.randn(64, 8))
    >>> dead_latent_fraction(z)
    0.0
    """

    def activation(self, pre):
        return torch.relu(pre * feature_choice_mask(pre, self.k))


class MutualChoiceSAE(TopKSAE):
    """Mutual Choice SAE (Ayonrinde, 2024): the ``k * batch`` largest pre-activations of the batch.

    The same total budget as TopK, allocated freely between inputs and latents
    (:func:`mutual_choice_mask`).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import MutualChoiceSAE, l0_norm
    >>> sae = MutualChoiceSAE(8, 32, k=4)
    >>> _, z = sae(torch.randn(64, 8))
    >>> l0_norm(z) <= 4
    True
    """

    def activation(self, pre):
        return torch.relu(pre * mutual_choice_mask(pre, self.k))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def train_sae(model: _SAE, X: torch.Tensor, *, n_steps: int = 1000, batch_size: int = 256,
              lr: float = 1e-3, seed: int = 0, init_bias: bool = True,
              progress: Callable | None = None) -> dict[str, np.ndarray]:
    """Train a sparse autoencoder with Adam on random mini-batches of the rows of ``X``.

    ``b_pre`` starts at the mean of ``X`` (``init_bias``); after each step the gradient along the
    decoder columns is removed and the columns are renormalised.

    Returns
    -------
    dict with the per-step training ``mse`` and ``aux`` loss.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.coding import TopKSAE, normalized_mse, train_sae
    >>> X = torch.randn(512, 8, generator=torch.Generator().manual_seed(0))
    >>> sae = TopKSAE(8, 32, k=4)
    >>> hist = train_sae(sae, X, n_steps=200, batch_size=64, lr=1e-2)
    >>> with torch.no_grad():
    ...     bool(normalized_mse(X, sae(X)[0]) < 0.5)
    True
    """
    if not isinstance(model, _SAE):
        raise TypeError(f"model must be a sparse autoencoder, got {type(model).__name__}")
    X = model._check_x(X).to(model.W_dec.dtype)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1, maximum=X.shape[0])
    lr = check_positive(lr, "lr")
    if init_bias:
        with torch.no_grad():
            model.b_pre.copy_(X.mean(0))
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    mse, aux = np.empty(n_steps), np.empty(n_steps)
    model.train()
    steps = range(n_steps)
    for t in (progress(steps) if progress is not None else steps):
        batch = X[torch.randint(X.shape[0], (batch_size,), generator=gen)]
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        model.remove_parallel_grad()
        opt.step()
        model.normalize_decoder()
        mse[t], aux[t] = float(out["mse"]), float(out["aux"])
    model.eval()
    return {"mse": mse, "aux": aux}
