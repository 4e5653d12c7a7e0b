"""One-shot pruning of a pretrained language model: no retraining, a little calibration text.

The layer-wise problem. A linear layer ``y = W x`` (``W`` of shape ``(out, in)``) is pruned to
``Ŵ`` so that its outputs on calibration inputs ``X`` (``in × tokens``) change as little as
possible::

    min_Ŵ ‖W X − Ŵ X‖²_F = tr((W − Ŵ) H (W − Ŵ)ᵀ),   H = X Xᵀ,

subject to the sparsity pattern. Everything a method needs from the data is the Gram matrix ``H``
of the layer's inputs, collected by :func:`collect_grams` (or, layer by layer on an
already-pruned model, inside :func:`prune_model`).

Methods, from cheapest to best:

* :func:`magnitude_mask` -- keep the largest ``|W|`` (ignores the data);
* :func:`wanda_mask` -- keep the largest ``|W_ij| · ‖X_j‖`` per output row (Wanda's score,
  ``‖X_j‖ = sqrt(H_jj)``): a weight on a loud input matters more;
* :func:`sparsegpt` -- optimal brain surgeon (OBS) updates: prune column by column and
  correct the not-yet-pruned weights of the row so that the output error stays minimal, with
  the Cholesky factor of ``H⁻¹`` giving every update (SparseGPT); unstructured or N:M;
* :func:`dsnot` -- a training-free prune-and-grow refinement of any mask (DSnoT);
* :func:`slicegpt` -- rotate each residual-stream boundary to its principal components and
  delete the least important directions: a smaller *dense* model (SliceGPT);
* :func:`evopress` -- an evolutionary search over per-layer densities at a fixed total
  (in the spirit of EvoPress).

:func:`prune_model` applies one of the first four to every attention and MLP projection of a
Llama-style model (``model.model.layers[i].self_attn.{q,k,v,o}_proj`` and
``mlp.{gate,up,down}_proj``), layer by layer so that each layer is calibrated on the outputs of
the already-pruned layers before it, as SparseGPT does.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ..models.model import apply_rotary

__all__ = [
    "check_density", "check_nm", "nm_mask_scores", "magnitude_mask", "wanda_mask",
    "sparsegpt", "obs_reference", "dsnot", "reconstruction_error", "collect_grams",
    "default_calibration", "linear_layers", "prune_model", "model_density", "slicegpt",
    "SlicedLM", "evopress",
]

METHODS = ("magnitude", "wanda", "sparsegpt", "wanda+dsnot", "sparsegpt+dsnot")
_ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def check_density(density, name: str = "density") -> float:
    """``density`` (the fraction of weights kept) as a float in (0, 1]; else ``ValueError``.

    Examples
    --------
    >>> check_density(0.5)
    0.5
    """
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1], got {type(density).__name__}")
    density = float(density)
    if not 0 < density <= 1:
        raise ValueError(f"{name} is the fraction of weights kept and must lie in (0, 1], "
                         f"got {density}")
    return density


def check_nm(nm, n_in: int | None = None) -> tuple[int, int]:
    """``nm = (n, m)``: keep ``n`` of every ``m`` consecutive inputs; ``0 < n < m``.

    Examples
    --------
    >>> check_nm((2, 4), 128)
    (2, 4)
    """
    if not (isinstance(nm, tuple | list) and len(nm) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in nm)):
        raise TypeError(f"nm must be a pair of ints (n, m), got {nm!r}")
    n, m = int(nm[0]), int(nm[1])
    if not 0 < n < m:
        raise ValueError(f"nm = (n, m) needs 0 < n < m (keep n of every m), got {nm!r}")
    if n_in is not None and n_in % m:
        raise ValueError(f"the input dimension {n_in} is not divisible by m = {m}: N:M groups "
                         "run along the inputs")
    return n, m


def _one_of(density, nm, n_in):
    if (density is None) == (nm is None):
        raise ValueError("give exactly one of density= (unstructured) and nm= (N:M)")
    if density is not None:
        return check_density(density), None
    return None, check_nm(nm, n_in)


def _to_torch(W, name="W"):
    """(float64 torch tensor, restore function back to W's type and dtype)."""
    if isinstance(W, torch.Tensor):
        if not W.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {W.dtype}")
        dtype, device = W.dtype, W.device
        return W.detach().to("cpu", torch.float64), lambda t: t.to(device, dtype)
    if isinstance(W, np.ndarray):
        if W.dtype.kind != "f":
            raise TypeError(f"{name} must be a float array, got dtype {W.dtype}")
        dtype = W.dtype
        return torch.from_numpy(np.asarray(W, np.float64).copy()), \
            lambda t: t.numpy().astype(dtype)
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(W).__name__}")


def _check_WH(W, H):
    Wt, back = _to_torch(W, "W")
    if Wt.dim() != 2:
        raise ValueError(f"W must be 2-D (out, in), got shape {tuple(Wt.shape)}")
    if not torch.isfinite(Wt).all():
        raise ValueError("W contains NaN or infinity")
    Ht, _ = _to_torch(H, "H")
    n = Wt.shape[1]
    if Ht.shape != (n, n):
        raise ValueError(f"H must have shape (in, in) = ({n}, {n}), got {tuple(Ht.shape)}")
    if not torch.isfinite(Ht).all():
        raise ValueError("H contains NaN or infinity")
    return Wt, Ht, back


# --------------------------------------------------------------------------------------------
# Masks from scores
# --------------------------------------------------------------------------------------------

def _keep_count(numel: int, density: float) -> int:
    return int(round(numel * density))


def _topk_mask(score: torch.Tensor, density: float, per_row: bool) -> torch.Tensor:
    """Boolean mask keeping exactly round(numel * density) largest scores (ties by index)."""
    out, n = score.shape
    total = _keep_count(out * n, density)
    if not per_row:
        mask = torch.zeros(out * n, dtype=torch.bool)
        mask[torch.argsort(score.flatten(), descending=True, stable=True)[:total]] = True
        return mask.view(out, n)
    # Per row (Wanda compares weights of one output): spread the total exactly over the rows.
    k = torch.full((out,), total // out, dtype=torch.long)
    k[: total % out] += 1
    order = torch.argsort(score, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(n).expand(out, n).contiguous())
    return ranks < k[:, None]


def nm_mask_scores(score, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` largest scores of every ``m`` consecutive inputs (groups along dim 1).

    Examples
    --------
    >>> nm_mask_scores(torch.tensor([[4.0, 1, 3, 2]]), 2, 4).int().tolist()
    [[1, 0, 1, 0]]
    """
    score = torch.as_tensor(score)
    out, k = score.shape
    n, m = check_nm((n, m), k)
    g = score.reshape(out, k // m, m)
    idx = torch.topk(g, n, dim=2).indices
    mask = torch.zeros_like(g, dtype=torch.bool).scatter_(2, idx, True)
    return mask.reshape(out, k)


def magnitude_mask(W, *, density=None, nm=None) -> torch.Tensor:
    """Keep the largest ``|W|``: over the whole matrix, or ``n`` per group of ``m`` inputs.

    Examples
    --------
    >>> magnitude_mask(torch.tensor([[1.0, -5, 2, 0.5]]), density=0.5).int().tolist()
    [[0, 1, 1, 0]]
    """
    Wt, _ = _to_torch(W, "W")
    density, nm = _one_of(density, nm, Wt.shape[1])
    if nm is not None:
        return nm_mask_scores(Wt.abs(), *nm)
    return _topk_mask(Wt.abs(), density, per_row=False)


def wanda_mask(W, H, *, density=None, nm=None) -> torch.Tensor:
    """Wanda's score ``|W_ij| · ‖X_j‖`` (``‖X_j‖ = sqrt(H_jj)``), compared within each row.

    Examples
    --------
    >>> W = torch.tensor([[1.0, 2.0]]); H = torch.diag(torch.tensor([100.0, 1.0]))
    >>> wanda_mask(W, H, density=0.5).int().tolist()   # the small weight on the loud input wins
    [[1, 0]]
    """
    Wt, Ht, _ = _check_WH(W, H)
    density, nm = _one_of(density, nm, Wt.shape[1])
    score = Wt.abs() * Ht.diagonal().clamp_min(0).sqrt()[None, :]
    if nm is not None:
        return nm_mask_scores(score, *nm)
    return _topk_mask(score, density, per_row=True)


# --------------------------------------------------------------------------------------------
# SparseGPT
# --------------------------------------------------------------------------------------------

def _damped_inverse_chol(H: torch.Tensor, damp: float) -> torch.Tensor:
    """Upper Cholesky factor U of (H + λI)⁻¹ (U ᵀU = (H + λI)⁻¹), λ = damp · mean(diag H).

    If the damped H is not positive definite the dampening is raised tenfold until it is, with a
    warning that says so.
    """
    H = H.clone()
    dead = H.diagonal() <= 0
    H[dead, dead] = 1.0  # inputs that are always zero: any weight there is harmless
    mean_diag = float(H.diagonal().mean())
    lam = damp * mean_diag
    eye = torch.eye(H.shape[0], dtype=H.dtype)
    for _attempt in range(12):
        L, info = torch.linalg.cholesky_ex(H + lam * eye)
        if int(info) == 0:
            break
        new = max(lam * 10, 1e-6 * mean_diag)
        warnings.warn(f"H (+ {lam:.3g} I) is not positive definite; adding dampening "
                      f"{new:.3g} · I (damp = {new / mean_diag:.3g} of mean(diag H))",
                      RuntimeWarning, stacklevel=3)
        lam = new
    else:  # pragma: no cover - needs a pathological H
        raise ValueError("H could not be made positive definite by dampening")
    Hinv = torch.cholesky_inverse(L)
    return torch.linalg.cholesky(Hinv, upper=True)


def sparsegpt(W, H, *, density=None, nm=None, blocksize: int = 128, damp: float = 0.01):
    """Prune ``W`` (out × in) with SparseGPT: OBS updates driven by the Cholesky factor of H⁻¹.

    Columns are processed left to right. When column ``j`` is reached, its pruned weights are set
    to zero and the error is spread over the not-yet-processed columns of the same row with the
    optimal brain surgeon update ``δw = −(w_j / [H_F⁻¹]_jj) · [H_F⁻¹]_{j,:}``, where ``F`` are
    the remaining columns. Row ``j`` of the upper Cholesky factor ``U`` of ``H⁻¹`` holds exactly
    ``[H_F⁻¹]_{j,F} / sqrt([H_F⁻¹]_jj)``, so one factorisation serves all steps. The mask of each
    block of ``blocksize`` columns is chosen when the block starts, by the OBS saliency
    ``w² / [H_F⁻¹]_jj = (w / U_jj)²``; updates to later blocks are applied lazily, one matrix
    product per block.

    Parameters
    ----------
    W : ndarray or torch.Tensor, shape (out, in)
        Dense weights (not modified).
    H : ndarray or torch.Tensor, shape (in, in)
        Gram matrix ``X Xᵀ`` of the layer's calibration inputs.
    density : float in (0, 1], optional
        Fraction of weights kept (unstructured); exactly ``round(out · in · density)`` survive.
    nm : tuple (n, m), optional
        Keep ``n`` of every ``m`` consecutive inputs (chosen by saliency as the columns come).
    blocksize : int
        Columns per block (lazy batch updates between blocks).
    damp : float
        Dampening added to H as ``damp · mean(diag H) · I``. If H is still not positive definite
        it is raised, with a :class:`RuntimeWarning`.

    Returns
    -------
    Same type and dtype as ``W``: the pruned, updated weights.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> W, X = rng.normal(size=(8, 16)), rng.normal(size=(16, 64))
    >>> Wp = sparsegpt(W, X @ X.T, density=0.5)
    >>> int((Wp != 0).sum()), type(Wp).__name__
    (64, 'ndarray')
    """
    Wt, Ht, back = _check_WH(W, H)
    out, ncols = Wt.shape
    density, nm = _one_of(density, nm, ncols)
    if isinstance(blocksize, bool) or not isinstance(blocksize, numbers.Integral) \
            or blocksize < 1:
        raise ValueError(f"blocksize must be a positive int, got {blocksize!r}")
    if isinstance(damp, bool) or not isinstance(damp, numbers.Real) or not damp >= 0:
        raise ValueError(f"damp must be a non-negative number, got {damp!r}")
    if nm is not None and blocksize % nm[1]:
        raise ValueError(f"blocksize ({blocksize}) must be a multiple of m = {nm[1]}")
    U = _damped_inverse_chol(Ht, float(damp))
    Wt = Wt.clone()
    total_prune = out * ncols - _keep_count(out * ncols, density) if density else 0
    pruned_so_far = 0
    for i1 in range(0, ncols, blocksize):
        i2 = min(i1 + blocksize, ncols)
        W1, U1 = Wt[:, i1:i2].clone(), U[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        d = U1.diagonal()
        if nm is None:  # this block's share of the pruned weights, so the total is exact
            k = total_prune * i2 // ncols - pruned_so_far
            score = (W1 / d[None, :]) ** 2
            prune1 = torch.zeros(W1.numel(), dtype=torch.bool)
            prune1[torch.argsort(score.flatten(), stable=True)[:k]] = True
            prune1 = prune1.view_as(W1)
            pruned_so_far += k
        else:
            prune1 = torch.zeros_like(W1, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                n, m = nm
                score = (W1[:, i:i + m] / d[None, i:i + m]) ** 2
                idx = torch.topk(score, m - n, dim=1, largest=False).indices
                prune1[:, i:i + m].scatter_(1, idx, True)
            w = W1[:, i]
            err = torch.where(prune1[:, i], w, torch.zeros_like(w)) / d[i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            W1[:, i] = torch.where(prune1[:, i], torch.zeros_like(w), W1[:, i])
            Err1[:, i] = err
        Wt[:, i1:i2] = W1
        Wt[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return back(Wt)


def obs_reference(W, H, *, density=None, nm=None) -> np.ndarray:
    """SparseGPT's OBS sequence written the way the math reads (NumPy, explicit inverses; slow).

    For every row, columns ``j = 0, 1, ...`` are visited in order with ``F = {j, ..., in-1}``;
    a pruned weight ``w_j`` is zeroed and the rest of the row corrected by
    ``w_F ← w_F − (w_j / [H_F⁻¹]_jj) [H_F⁻¹]_{j,F}``. The mask is chosen by the OBS saliency
    ``w_j² / [H_F⁻¹]_jj``: for ``density`` once, on the dense weights; for ``nm`` at the first
    column of each group of ``m``, on the weights as updated so far. This is :func:`sparsegpt`
    with one block and no lazy updates (the tests check that the two agree). No dampening.

    Examples
    --------
    >>> H = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> obs_reference(np.array([[1.0, 1.1]]), H, density=0.5)
    array([[0.  , 1.6]])
    """
    W = np.array(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    out, n = W.shape
    density, nm = _one_of(density, nm, n)
    inv = [np.linalg.inv(H[j:, j:]) for j in range(n)]
    dj = np.array([Hi[0, 0] for Hi in inv])
    keep = np.ones((out, n), dtype=bool)
    if density is not None:
        k_prune = out * n - _keep_count(out * n, density)
        keep.ravel()[np.argsort((W ** 2 / dj[None, :]).ravel(), kind="stable")[:k_prune]] = False
    for j in range(n):
        if nm is not None and j % nm[1] == 0:
            score = torch.from_numpy(W[:, j:j + nm[1]] ** 2 / dj[None, j:j + nm[1]])
            keep[:, j:j + nm[1]] = nm_mask_scores(score, *nm).numpy()
        for r in range(out):
            if not keep[r, j]:
                W[r, j:] -= W[r, j] / inv[j][0, 0] * inv[j][0]
                W[r, j] = 0.0
    return W


def reconstruction_error(W, W_pruned, H) -> float:
    """Relative output error ``‖(W − Ŵ) X‖_F / ‖W X‖_F`` computed from ``H = X Xᵀ``.

    Examples
    --------
    >>> W = np.eye(2); H = np.eye(2)
    >>> reconstruction_error(W, np.diag([1.0, 0.0]), H)
    0.7071067811865476
    """
    Wt, Ht, _ = _check_WH(W, H)
    Wp, _ = _to_torch(W_pruned, "W_pruned")
    if Wp.shape != Wt.shape:
        raise ValueError(f"W_pruned must have the shape of W {tuple(Wt.shape)}, "
                         f"got {tuple(Wp.shape)}")
    D = Wt - Wp
    num = float(((D @ Ht) * D).sum())
    den = float(((Wt @ Ht) * Wt).sum())
    return math.sqrt(max(num, 0.0) / den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# DSnoT
# --------------------------------------------------------------------------------------------

def dsnot(W, W_pruned, H, mean, *, nm=None, max_cycles: int = 50, tol: float = 1e-3):
    """DSnoT: training-free prune-and-grow on a pruned layer, at constant density.

    For each output row, the expected reconstruction error is ``e = Σ_j (W_j − Ŵ_j) μ_j``
    (``μ`` the mean input). A cycle *grows* the pruned weight that reduces ``|e|`` most
    (``sign(W_j μ_j) = sign(e)``, largest ``|W_j μ_j|``, restoring its dense value) and *prunes*
    the kept weight of smallest Wanda score among those that pull ``e`` back towards zero
    (``sign(Ŵ_k μ_k) = −sign(e)``). Our addition: a swap is kept only if the exact quadratic
    error ``δᵀ H δ`` of the row decreases, so the refinement never hurts the layer.

    Parameters
    ----------
    W : array or tensor (out, in)
        The dense weights.
    W_pruned : array or tensor (out, in)
        The pruned weights (e.g. from :func:`wanda_mask` or :func:`sparsegpt`).
    H : (in, in) Gram matrix, ``mean`` : (in,) mean input.
    nm : (n, m), optional
        Keep the N:M pattern: grow and prune inside the same group.
    max_cycles : int
        Swaps tried per row at most.
    tol : float
        Stop a row when ``|e|`` falls below ``tol`` times its initial value.

    Returns
    -------
    Same type as ``W_pruned``, same number of non-zeros per row.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(16, 200)) + 1.0          # inputs with non-zero means
    >>> W = rng.normal(size=(4, 16)); H = X @ X.T
    >>> Wp = W * wanda_mask(W, H, density=0.5).numpy()
    >>> Wd = dsnot(W, Wp, H, X.mean(1))
    >>> bool((Wd != 0).sum() == (Wp != 0).sum())
    True
    >>> reconstruction_error(W, Wd, H) <= reconstruction_error(W, Wp, H)
    True
    """
    Wt, Ht, _ = _check_WH(W, H)
    Wp, back = _to_torch(W_pruned, "W_pruned")
    mu, _ = _to_torch(np.asarray(mean, dtype=np.float64) if not isinstance(mean, torch.Tensor)
                      else mean, "mean")
    out, n = Wt.shape
    if Wp.shape != Wt.shape or mu.shape != (n,):
        raise ValueError("W_pruned must have W's shape and mean the shape (in,)")
    if nm is not None:
        nm = check_nm(nm, n)
    Wp = Wp.clone()
    rows = torch.arange(out)
    kept = Wp != 0
    D = Wt - Wp                       # δ per row
    HD = D @ Ht                       # (H δ_r) for every row
    e = D @ mu
    e0 = e.abs().clamp_min(1e-30)
    norm = Ht.diagonal().clamp_min(0).sqrt()
    active = torch.ones(out, dtype=torch.bool)
    neg = torch.tensor(-float("inf"), dtype=Wt.dtype)
    for _ in range(max_cycles):
        active &= e.abs() > tol * e0
        if not active.any():
            break
        contrib = Wt * mu[None, :]                       # what growing j gives back
        grow_ok = ~kept & (torch.sign(contrib) == torch.sign(e)[:, None])
        g = torch.where(grow_ok, contrib.abs(), neg).argmax(1)
        has_g = grow_ok[rows, g]
        pc = Wp * mu[None, :]
        prune_ok = kept & (torch.sign(pc) == -torch.sign(e)[:, None])
        if nm is not None:
            grp = torch.arange(n)[None, :] // nm[1]
            prune_ok &= grp == (g // nm[1])[:, None]
        score = torch.where(prune_ok, Wp.abs() * norm[None, :], torch.tensor(float("inf")))
        p = score.argmin(1)
        ok = active & has_g & prune_ok[rows, p]
        if not ok.any():
            break
        # exact change of δᵀHδ: δ_g changes by −W_g, δ_p by +Ŵ_p
        tg, tp = -Wt[rows, g], Wp[rows, p]
        dq = (2 * tg * HD[rows, g] + tg ** 2 * Ht[g, g] + 2 * tp * HD[rows, p]
              + tp ** 2 * Ht[p, p] + 2 * tg * tp * Ht[g, p])
        ok &= dq < 0
        active &= ok  # a row whose best swap does not help is done
        r = rows[ok]
        if r.numel() == 0:
            break
        gr, pr, tgr, tpr = g[ok], p[ok], tg[ok], tp[ok]
        Wp[r, gr] = Wt[r, gr]
        Wp[r, pr] = 0
        kept[r, gr], kept[r, pr] = True, False
        D[r, gr] += tgr
        D[r, pr] += tpr
        HD[r] += tgr[:, None] * Ht[gr] + tpr[:, None] * Ht[pr]
        e[r] += tgr * mu[gr] + tpr * mu[pr]
    return back(Wp)


# --------------------------------------------------------------------------------------------
# Calibration and whole-model pruning
# --------------------------------------------------------------------------------------------

def default_calibration(n_seqs: int = 32, seq_len: int = 128, seed: int = 0) -> torch.Tensor:
    """``(n_seqs, seq_len)`` random windows of the training text (``load_corpus("train")``).

    Examples
    --------
    >>> default_calibration(4, 16).shape
    torch.Size([4, 16])
    """
    from ..models import calibration_batches, load_corpus

    return torch.cat(list(calibration_batches(load_corpus("train"), n_seqs=n_seqs,
                                              seq_len=seq_len, seed=seed)))


def _calib_tensor(calib) -> torch.Tensor:
    if calib is None:
        return default_calibration()
    if isinstance(calib, torch.Tensor):
        batches = [calib]
    elif isinstance(calib, Iterable):
        batches = list(calib)
    else:
        raise TypeError(f"calib must be a (n, T) tensor of token ids or an iterable of them, "
                        f"got {type(calib).__name__}")
    if not batches or not all(isinstance(b, torch.Tensor) and b.dim() == 2
                              and not b.is_floating_point() for b in batches):
        raise ValueError("calib must hold 2-D integer tensors of token ids (n, T)")
    if len({b.shape[1] for b in batches}) != 1:
        raise ValueError("all calib batches must have the same sequence length")
    return torch.cat(batches).long()


def _layers(model):
    try:
        return list(model.model.layers)
    except AttributeError:
        raise TypeError("model must be a Llama-style LM with model.model.layers "
                        f"(e.g. sparsecourse.models.LlamaLM), got {type(model).__name__}") from None


def linear_layers(model) -> dict[str, nn.Linear]:
    """Every attention and MLP projection, ``{"model.layers.0.self_attn.q_proj": module, ...}``.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    >>> [k.split(".")[-1] for k in linear_layers(m)]
    ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']
    """
    out = {}
    for i, layer in enumerate(_layers(model)):
        for a in _ATTN:
            out[f"model.layers.{i}.self_attn.{a}"] = getattr(layer.self_attn, a)
        for a in _MLP:
            if isinstance(getattr(layer.mlp, a, None), nn.Linear):
                out[f"model.layers.{i}.mlp.{a}"] = getattr(layer.mlp, a)
    return out


class _GramHook:
    def __init__(self, n: int):
        self.H = torch.zeros(n, n, dtype=torch.float64)
        self.sum = torch.zeros(n, dtype=torch.float64)
        self.count = 0

    def __call__(self, module, inputs, output):
        x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
        self.H += x.T @ x
        self.sum += x.sum(0)
        self.count += x.shape[0]


def _layer_grams(layer, names, hidden, batch):
    hooks = {k: _GramHook(mod.in_features) for k, mod in names.items()}
    handles = [mod.register_forward_hook(hooks[k]) for k, mod in names.items()]
    try:
        outs = [layer(hidden[i:i + batch]) for i in range(0, len(hidden), batch)]
    finally:
        for h in handles:
            h.remove()
    return hooks, torch.cat(outs)


@torch.no_grad()
def collect_grams(model, calib=None, *, batch_size: int = 8) -> dict[str, dict]:
    """Input Gram matrices ``H = X Xᵀ`` (float64) and mean inputs of every projection.

    One pass of the (unchanged) model over the calibration tokens. Returns
    ``{name: {"H": H, "mean": mean, "tokens": count}}``.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    >>> g = collect_grams(m, torch.randint(0, 64, (2, 8)))
    >>> g["model.layers.0.mlp.down_proj"]["H"].shape, g["model.layers.0.mlp.up_proj"]["tokens"]
    (torch.Size([32, 32]), 16)
    """
    lin = linear_layers(model)
    hooks = {k: _GramHook(m.in_features) for k, m in lin.items()}
    handles = [m.register_forward_hook(hooks[k]) for k, m in lin.items()]
    ids = _calib_tensor(calib)
    try:
        for i in range(0, len(ids), batch_size):
            model(ids[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
    return {k: {"H": h.H, "mean": h.sum / h.count, "tokens": h.count} for k, h in hooks.items()}


def _prune_one(method, W, stats, density, nm, blocksize):
    H = stats["H"] if stats else None
    if method == "magnitude":
        return W * magnitude_mask(W, density=density, nm=nm).to(W.dtype)
    base = method.split("+")[0]
    if base == "wanda":
        Wp = W * wanda_mask(W, H, density=density, nm=nm).to(W.dtype)
    else:
        Wp = sparsegpt(W, H, density=density, nm=nm, blocksize=blocksize)
    if method.endswith("+dsnot"):
        Wp = dsnot(W, Wp, H, stats["mean"], nm=nm)
    return Wp


@torch.no_grad()
def prune_model(model, method: str = "sparsegpt", density=None, nm=None, calib=None, *,
                blocksize: int = 128, batch_size: int = 8, inplace: bool = False,
                return_errors: bool = False):
    """Prune every attention and MLP projection of a Llama-style model in one shot.

    The decoder layers are processed in order. For layer ``i`` the calibration hidden states
    (the outputs of the already-pruned layers ``0..i-1``) are run through the layer with hooks
    that collect each projection's ``H``; the layer's projections are pruned; its pruned output
    becomes the next layer's input.

    Parameters
    ----------
    model : LlamaLM
    method : {"magnitude", "wanda", "sparsegpt", "wanda+dsnot", "sparsegpt+dsnot"}
    density : float or dict, optional
        Fraction kept, for every projection or per name (see :func:`linear_layers`).
    nm : (n, m), optional
        N:M pattern instead (exactly one of ``density`` / ``nm``).
    calib : tensor (n, T) of token ids or iterable of them, optional
        Default: :func:`default_calibration` (32 windows of 128 training tokens).
    inplace : bool
        Prune ``model`` itself instead of a copy.
    return_errors : bool
        Also return ``{name: relative reconstruction error}`` (:func:`reconstruction_error`
        on the layer's own calibration inputs).

    Returns
    -------
    The pruned model (and the errors).

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    >>> calib = torch.randint(0, 64, (4, 16))
    >>> round(model_density(prune_model(m, "sparsegpt", density=0.5, calib=calib)), 3)
    0.5
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    lin_all = linear_layers(model)
    if isinstance(density, dict):
        missing = set(lin_all) - set(density)
        if missing or nm is not None:
            raise ValueError(f"density dict must name every projection (missing "
                             f"{sorted(missing)[:3]}) and nm must be None")
        dens = {k: check_density(v, f"density[{k!r}]") for k, v in density.items()}
    else:
        d0, nm = _one_of(density, nm, None)
        dens = dict.fromkeys(lin_all, d0)
    if nm is not None:
        for mod in lin_all.values():
            check_nm(nm, mod.in_features)
    for k, mod in lin_all.items():
        if not torch.isfinite(mod.weight).all():
            raise ValueError(f"the weights of {k} contain NaN or infinity")
    if not inplace:
        model = copy.deepcopy(model)
    was_training = model.training
    model.eval()
    errors = {}
    lin = linear_layers(model)
    if method == "magnitude" and not return_errors:  # needs no data
        for k, mod in lin.items():
            mod.weight.copy_(_prune_one(method, mod.weight.detach().double(), None, dens[k], nm,
                                        blocksize).to(mod.weight.dtype))
        model.train(was_training)
        return model
    ids = _calib_tensor(calib)
    hidden = torch.cat([model.model.embed_tokens(ids[i:i + batch_size])
                        for i in range(0, len(ids), batch_size)])
    for i, layer in enumerate(_layers(model)):
        names = {k: m for k, m in lin.items() if k.startswith(f"model.layers.{i}.")}
        stats, _ = _layer_grams(layer, names, hidden, batch_size)
        for k, mod in names.items():
            W = mod.weight.detach().double()
            s = {"H": stats[k].H, "mean": stats[k].sum / stats[k].count}
            Wp = _prune_one(method, W, s, dens[k], nm, blocksize)
            if return_errors:
                errors[k] = reconstruction_error(W, Wp, s["H"])
            mod.weight.copy_(Wp.to(mod.weight.dtype))
        hidden = torch.cat([layer(hidden[j:j + batch_size])
                            for j in range(0, len(hidden), batch_size)])
    model.train(was_training)
    return (model, errors) if return_errors else model


def model_density(model) -> float:
    """Fraction of non-zero weights over all attention and MLP projections.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model_density(LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1,
    ...                                   d_ff=32)))
    1.0
    """
    lin = linear_layers(model)
    nnz = sum(int((m.weight != 0).sum()) for m in lin.values())
    return nnz / sum(m.weight.numel() for m in lin.values())


# --------------------------------------------------------------------------------------------
# SliceGPT
# --------------------------------------------------------------------------------------------

class _SlicedLayer(nn.Module):
    """A decoder layer in rotated, sliced coordinates, with shortcut matrices on the skips."""

    def __init__(self, layer, S_attn, S_mlp):
        super().__init__()
        self.input_layernorm = copy.deepcopy(layer.input_layernorm)
        self.post_attention_layernorm = copy.deepcopy(layer.post_attention_layernorm)
        self.self_attn = copy.deepcopy(layer.self_attn)
        self.mlp = copy.deepcopy(layer.mlp)
        self.attn_shortcut = nn.Parameter(S_attn, requires_grad=False)
        self.mlp_shortcut = nn.Parameter(S_mlp, requires_grad=False)

    def _attn(self, x):
        a = self.self_attn
        B, T, _ = x.shape
        q, k, v = (p(x).view(B, T, a.n_heads, a.head_dim).transpose(1, 2)
                   for p in (a.q_proj, a.k_proj, a.v_proj))
        q = apply_rotary(q, a.rope_cos, a.rope_sin)
        k = apply_rotary(k, a.rope_cos, a.rope_sin)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return a.o_proj(y.transpose(1, 2).reshape(B, T, a.n_heads * a.head_dim))

    def forward(self, x):
        x = x @ self.attn_shortcut + self._attn(self.input_layernorm(x))
        return x @ self.mlp_shortcut + self.mlp(self.post_attention_layernorm(x))


class SlicedLM(nn.Module):
    """The smaller dense model :func:`slicegpt` returns (same call signature as LlamaLM).

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    >>> sm = slicegpt(m, 0.5, calib=torch.randint(0, 64, (2, 8)))
    >>> isinstance(sm, SlicedLM), sm(torch.zeros(1, 4, dtype=torch.long)).shape
    (True, torch.Size([1, 4, 64]))
    """

    def __init__(self, embed, layers, norm, lm_head, config):
        super().__init__()
        self.embed_tokens, self.layers, self.norm, self.lm_head = embed, layers, norm, lm_head
        self.config = config

    def forward(self, input_ids):
        if input_ids.dim() == 1:
            input_ids = input_ids[None]
        x = self.embed_tokens(input_ids.long())
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))

    def num_parameters(self) -> int:
        """Number of parameters, shortcut matrices included."""
        return sum(p.numel() for p in self.parameters())


def _rms(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


@torch.no_grad()
def slicegpt(model, fraction: float, calib=None, *, batch_size: int = 8) -> SlicedLM:
    """SliceGPT: rotate every residual-stream boundary to its principal axes and slice it.

    1. Fold each RMSNorm's weight ``γ`` into the linears that read its output
       (``W ← W diag(γ)``, ``γ ← 1``): RMSNorm then commutes with any orthogonal ``Q``
       (``rms(x Q) = rms(x) Q``), the "computational invariance" of the paper.
    2. At each of the ``2 · n_layers + 1`` boundaries of the residual stream (before each
       attention and each MLP, and before the final norm), take the eigenvectors ``Q`` of the
       covariance of the normalised signal on calibration tokens, largest first, and keep the
       first ``d' = d − round(fraction · d)`` columns ``Q'``.
    3. Rewrite the weights: readers of boundary ``a`` get ``W Q'_a``, writers into boundary ``b``
       get ``Q'_bᵀ W``, the embedding ``E Q'_0``, and each skip connection from ``a`` to ``b``
       the shortcut ``Q'_aᵀ Q'_b`` (``d' × d'``). RMSNorm's mean now runs over ``d'`` entries,
       so its weight becomes ``sqrt(d / d')`` to keep the scale.

    With ``fraction=0`` the result computes the same function as the model (up to rounding).
    Simplification: all ``Q`` come from one pass of the *dense* model, not sequentially from
    the sliced one as in the paper.

    Parameters
    ----------
    model : LlamaLM
    fraction : float in [0, 1)
        Fraction of the hidden size ``d_model`` deleted.
    calib : token ids (n, T), optional (default :func:`default_calibration`).

    Returns
    -------
    SlicedLM

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32))
    >>> ids = torch.randint(0, 64, (2, 8))
    >>> torch.allclose(slicegpt(m, 0.0, calib=ids)(ids), m(ids), atol=1e-4)
    True
    >>> slicegpt(m, 0.25, calib=ids).embed_tokens.weight.shape
    torch.Size([64, 12])
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) \
            or not 0 <= fraction < 1:
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    layers = _layers(model)
    d = model.config.d_model
    d_new = d - int(round(fraction * d))
    if d_new < 1:
        raise ValueError(f"fraction {fraction} leaves no dimension of d_model = {d}")
    ids = _calib_tensor(calib)
    eps = model.config.norm_eps
    # Covariances of the normalised residual stream at every boundary (dense model).
    n_b = 2 * len(layers) + 1
    C = [torch.zeros(d, d, dtype=torch.float64) for _ in range(n_b)]

    def add(b, x):
        z = _rms(x.double(), eps).reshape(-1, d)
        C[b] += z.T @ z

    for i in range(0, len(ids), batch_size):
        x = model.model.embed_tokens(ids[i:i + batch_size])
        for li, layer in enumerate(layers):
            add(2 * li, x)
            x = x + layer.self_attn(layer.input_layernorm(x))
            add(2 * li + 1, x)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        add(n_b - 1, x)
    Q = []
    for c in C:
        evals, evecs = torch.linalg.eigh(c)
        Q.append(evecs[:, torch.argsort(evals, descending=True)][:, :d_new])
    scale = math.sqrt(d / d_new)

    def lin(weight, left=None, right=None):
        W = weight.detach().double()
        if left is not None:
            W = left @ W
        if right is not None:
            W = W @ right
        out = nn.Linear(W.shape[1], W.shape[0], bias=False)
        out.weight.data = W.float()
        return out

    new_layers = nn.ModuleList()
    for li, layer in enumerate(layers):
        qa, qm, qb = Q[2 * li], Q[2 * li + 1], Q[2 * li + 2]
        g_in = torch.diag(layer.input_layernorm.weight.detach().double())
        g_post = torch.diag(layer.post_attention_layernorm.weight.detach().double())
        new = _SlicedLayer(layer, (qa.T @ qm).float(), (qm.T @ qb).float())
        at, mlp = new.self_attn, new.mlp
        for a in ("q_proj", "k_proj", "v_proj"):
            setattr(at, a, lin(getattr(layer.self_attn, a).weight, right=g_in @ qa))
        at.o_proj = lin(layer.self_attn.o_proj.weight, left=qm.T)
        for a in ("gate_proj", "up_proj"):
            if isinstance(getattr(layer.mlp, a, None), nn.Linear):
                setattr(mlp, a, lin(getattr(layer.mlp, a).weight, right=g_post @ qm))
        mlp.down_proj = lin(layer.mlp.down_proj.weight, left=qb.T)
        for norm in (new.input_layernorm, new.post_attention_layernorm):
            norm.weight = nn.Parameter(torch.full((d_new,), scale))
        new_layers.append(new)
    embed = nn.Embedding(*model.model.embed_tokens.weight.shape[:1], d_new)
    embed.weight.data = (model.model.embed_tokens.weight.detach().double() @ Q[0]).float()
    norm = copy.deepcopy(model.model.norm)
    norm.weight = nn.Parameter(torch.full((d_new,), scale))
    g_f = torch.diag(model.model.norm.weight.detach().double())
    head = lin(model.lm_head.weight, right=g_f @ Q[-1])
    out = SlicedLM(embed, new_layers, norm, head, model.config)
    return out.eval()


# --------------------------------------------------------------------------------------------
# EvoPress-style density allocation
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def evopress(model, density: float, calib=None, *, levels=(-0.2, -0.1, 0.0, 0.1, 0.2),
             generations: int = 6, offspring: int = 8, fitness_ids=None, seed: int = 0,
             grams: dict | None = None, progress: bool = False):
    """Evolutionary search over per-projection densities at a fixed total (EvoPress-style).

    A *database* holds every projection pruned by :func:`sparsegpt` at each density
    ``density + level`` (calibrated on the dense model's inputs). A candidate is one level per
    projection. A mutation moves one projection a level up and another *of the same size* a
    level down, so the total number of kept weights never changes. Each generation makes
    ``offspring`` mutants of the current best, scores them by the loss on ``fitness_ids`` and
    keeps the best (the parent too, so the fitness never worsens).

    Returns
    -------
    (model, densities, history): the pruned model, ``{name: density}``, best loss per generation.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> m = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=2, d_ff=32))
    >>> ids = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(0))
    >>> pm, dens, hist = evopress(m, 0.5, ids, generations=2, offspring=2)
    >>> hist[-1] <= hist[0], round(model_density(pm), 2)
    (True, 0.5)
    """
    density = check_density(density)
    lv = [density + float(v) for v in levels]
    if 0.0 not in [float(v) for v in levels] or not all(0 < v <= 1 for v in lv):
        raise ValueError(f"levels must contain 0 and keep density + level in (0, 1], got {lv}")
    ids = _calib_tensor(calib)
    fit = ids if fitness_ids is None else _calib_tensor(fitness_ids)
    grams = grams if grams is not None else collect_grams(model, ids)
    lin = linear_layers(model)
    names = list(lin)
    base = lv.index(density)
    db = {k: [sparsegpt(lin[k].weight.detach().double(), grams[k]["H"], density=v).float()
              for v in lv] for k in names}
    work = copy.deepcopy(model).eval()
    wl = linear_layers(work)
    F = torch.nn.functional

    def loss_of(cand):
        for k, c in zip(names, cand, strict=False):
            wl[k].weight.copy_(db[k][c])
        logits = work(fit[:, :-1])
        return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     fit[:, 1:].reshape(-1)))

    rng = np.random.default_rng(seed)
    size_groups = {}
    for i, k in enumerate(names):
        size_groups.setdefault(lin[k].weight.numel(), []).append(i)
    groups = [g for g in size_groups.values() if len(g) > 1]
    best = [base] * len(names)
    best_loss = loss_of(best)
    history = [best_loss]
    gens = range(generations)
    if progress:
        from tqdm.auto import tqdm
        gens = tqdm(gens, desc="EvoPress")
    for _ in gens:
        cands = []
        for _ in range(offspring):
            c = list(best)
            for _ in range(int(rng.integers(1, 4))):  # 1-3 level swaps per mutant
                g = groups[int(rng.integers(len(groups)))]
                up, down = rng.choice(g, 2, replace=False)
                if c[up] + 1 < len(lv) and c[down] > 0:
                    c[up] += 1
                    c[down] -= 1
            cands.append(c)
        losses = [loss_of(c) for c in cands]
        j = int(np.argmin(losses))
        if losses[j] < best_loss:
            best, best_loss = cands[j], losses[j]
        history.append(best_loss)
    for k, c in zip(names, best, strict=False):
        wl[k].weight.copy_(db[k][c])
    return work, {k: lv[c] for k, c in zip(names, best, strict=False)}, history
