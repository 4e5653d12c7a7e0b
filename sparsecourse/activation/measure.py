"""Measuring activation sparsity: exact zeros, ReLU² Wins' magnitude definition, PPL-p%.

The *neuron activations* of a Llama-style MLP are the input of ``down_proj``: ``h =
act(up(x))`` (non-gated) or ``h = act(gate(x)) * up(x)`` (gated). Neuron ``i`` contributes
``h_i * W_down[:, i]`` to the output.

- **Exact zeros** (:func:`activation_sparsity` with ``threshold=0``): the fraction of
  ``h_i == 0``, what "The Lazy Neuron Phenomenon" counts for ReLU models.
- **Magnitude definition** ("ReLU² Wins"): neuron ``i`` is inactive for a token when its output
  magnitude ``|h_i| * ||W_down[:, i]||`` is at most a threshold ``eps``. ``eps`` is chosen per
  layer so that the dropped part costs at most a given fraction of the output: the *cumulative
  error of tail truncation*, ``CETT = ||sum_{i inactive} h_i W_down[:, i]|| / ||y||`` averaged
  over tokens, equals a target (e.g. 0.2). This measures SwiGLU and GELU models, whose
  activations are rarely exactly zero, on the same footing as ReLU models.
- **PPL-p% sparsity** ("Sparsing Law"): sweep the CETT target, record (sparsity, perplexity),
  and report the sparsity at which perplexity has risen by ``p`` percent over the dense model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._core import SparsityHandle, _check_model, as_batches, find_mlps, run_model
from .methods import mask_linear_inputs

__all__ = [
    "SparsityReport",
    "collect_mlp_activations",
    "activation_sparsity",
    "cett",
    "cett_threshold",
    "cett_thresholds",
    "magnitude_sparsity",
    "magnitude_mask",
    "sparsity_ppl_curve",
    "ppl_p_sparsity",
]


@dataclass
class SparsityReport:
    """Per-layer and per-token sparsity of the MLP neuron activations.

    Attributes
    ----------
    names : list of str
        MLP module names, in forward order.
    per_layer : ndarray, shape (n_layers,)
        Fraction of inactive neurons in each layer, over all tokens.
    per_token : ndarray, shape (n_layers, n_tokens)
        Fraction of inactive neurons for each token.
    thresholds : ndarray or None
        The magnitude threshold used in each layer (``eps`` of the magnitude definition).
    """

    names: list[str]
    per_layer: np.ndarray
    per_token: np.ndarray
    thresholds: np.ndarray | None = field(default=None)

    @property
    def mean(self) -> float:
        """Sparsity averaged over layers (every layer has the same weight)."""
        return float(np.mean(self.per_layer))

    @property
    def active_ratio(self) -> np.ndarray:
        """``1 - per_layer``: the fraction of neurons that fire, per layer."""
        return 1.0 - self.per_layer

    def __repr__(self) -> str:
        layers = ", ".join(f"{v:.3f}" for v in self.per_layer)
        return f"SparsityReport(mean={self.mean:.3f}, per_layer=[{layers}])"


def _data_kw(n_seqs, seq_len, seed):
    return {"n_seqs": n_seqs, "seq_len": seq_len, "batch_size": 8, "seed": seed}


@torch.no_grad()
def collect_mlp_activations(model: nn.Module, data, *, inputs: bool = False,
                            n_seqs: int = 16, seq_len: int = 128,
                            seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Run ``data`` through ``model`` and keep each MLP's neuron activations ``h``.

    Parameters
    ----------
    model : nn.Module
        Any model with Llama-style MLPs.
    data : LongTensor or iterable of LongTensor
        Token ids: 1-D (random windows are cut with ``seed``) or ``(B, T)`` batches.
    inputs : bool
        Also keep each MLP's input ``x`` (for training a predictor).
    n_seqs, seq_len, seed
        How windows are cut from a 1-D token stream.

    Returns
    -------
    dict
        ``{mlp_name: {"h": (B, T, d_ff), "x": (B, T, d_model) if inputs, "w_down": weight}}``.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32))
    >>> acts = collect_mlp_activations(model, torch.zeros(2, 5, dtype=torch.long))
    >>> acts["model.layers.1.mlp"]["h"].shape
    torch.Size([2, 5, 32])
    """
    mlps = find_mlps(model)
    batches = as_batches(data, **_data_kw(n_seqs, seq_len, seed))
    store: dict[str, dict[str, list]] = {n: {"h": [], "x": []} for n, _ in mlps}
    hooks = []
    for n, mlp in mlps:
        hooks.append(mlp.down_proj.register_forward_pre_hook(
            lambda m, a, s=store[n]: s["h"].append(a[0].detach().float().cpu())))
        if inputs:
            hooks.append(mlp.register_forward_pre_hook(
                lambda m, a, s=store[n]: s["x"].append(a[0].detach().float().cpu())))
    try:
        run_model(model, batches)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, mlp in mlps:
        d = {"h": torch.cat(store[n]["h"]), "w_down": mlp.down_proj.weight.detach().float().cpu()}
        if inputs:
            d["x"] = torch.cat(store[n]["x"])
        out[n] = d
    return out


def _report(names, masks_inactive, thresholds=None) -> SparsityReport:
    per_layer = np.array([float(m.float().mean()) for m in masks_inactive])
    per_token = np.stack([m.float().mean(-1).reshape(-1).numpy() for m in masks_inactive])
    return SparsityReport(list(names), per_layer, per_token,
                          None if thresholds is None else np.asarray(thresholds, float))


def activation_sparsity(model: nn.Module, data, *, threshold: float = 0.0, n_seqs: int = 16,
                        seq_len: int = 128, seed: int = 0) -> SparsityReport:
    """Fraction of MLP neuron activations with ``|h| <= threshold``, per layer and token.

    With ``threshold=0`` this counts exact zeros, the sparsity of a ReLU model ("The Lazy
    Neuron Phenomenon"). For SwiGLU/GELU models use :func:`magnitude_sparsity`.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32))
    >>> rep = activation_sparsity(model, torch.randint(0, 64, (2, 16)))
    >>> rep.per_layer.shape, rep.per_token.shape, 0.3 < rep.mean < 0.7   # ReLU at init: ~half
    ((2,), (2, 32), True)
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    acts = collect_mlp_activations(model, data, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
    return _report(acts, [a["h"].abs() <= threshold for a in acts.values()])


def _cett_parts(h: torch.Tensor, w_down: torch.Tensor):
    h = h.reshape(-1, h.shape[-1]).float()
    w = w_down.float()
    if w.shape[1] != h.shape[1]:
        raise ValueError(f"w_down must have shape (d_model, {h.shape[1]}), got "
                         f"{tuple(w.shape)}")
    mag = h.abs() * w.norm(dim=0)
    ynorm = (h @ w.T).norm(dim=-1).clamp_min(torch.finfo(torch.float32).tiny)
    return h, w, mag, ynorm


def cett(h: torch.Tensor, w_down: torch.Tensor, eps: float) -> float:
    """Mean over tokens of ``||sum_{i: |h_i| ||W_i|| <= eps} h_i W_i|| / ||W h||``.

    Parameters
    ----------
    h : tensor, shape (..., d_ff)
        Neuron activations (input of ``down_proj``).
    w_down : tensor, shape (d_model, d_ff)
        ``down_proj.weight``; ``W_i`` is its column ``i``.
    eps : float
        Magnitude threshold (``>= 0``).

    Examples
    --------
    >>> h = torch.tensor([[3.0, 0.1, -0.2]]); W = torch.eye(3)
    >>> round(cett(h, W, 0.5), 4)      # drops 0.1 and -0.2: ||(0, .1, -.2)|| / ||h||
    0.0743
    """
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    h, w, mag, ynorm = _cett_parts(h, w_down)
    dropped = (h * (mag <= eps)) @ w.T
    return float((dropped.norm(dim=-1) / ynorm).mean())


def cett_threshold(h: torch.Tensor, w_down: torch.Tensor, target: float = 0.2,
                   iters: int = 40, rtol: float = 3e-3) -> float:
    """The threshold ``eps`` at which :func:`cett` equals ``target`` (bisection).

    CETT grows (almost always monotonically) from 0 at ``eps = 0`` to 1 once every neuron is
    dropped; bisection returns the largest ``eps`` found with ``cett <= target``, stopping
    after ``iters`` halvings or once the bracket is narrower than ``rtol`` times its top.
    """
    if not (isinstance(target, (int, float)) and 0 <= target < 1):
        raise ValueError(f"target must be in [0, 1), got {target!r}")
    h, w, mag, ynorm = _cett_parts(h, w_down)
    top = float(mag.max()) * (1 + 1e-6) + 1e-30

    def f(eps):
        return float((((h * (mag <= eps)) @ w.T).norm(dim=-1) / ynorm).mean())

    if target == 0:
        return 0.0
    # bracket: the 99th percentile of the magnitudes usually already drops more than the target
    flat = mag.reshape(-1)
    q99 = float(flat.kthvalue(max(1, int(0.99 * flat.numel()))).values)
    lo, hi = (0.0, q99) if q99 > 0 and f(q99) > target else (q99, top)
    for _ in range(iters):
        if hi - lo <= rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        if f(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def cett_thresholds(model: nn.Module, data, *, cett: float = 0.2, n_seqs: int = 16,
                    seq_len: int = 128, seed: int = 0) -> dict[str, float]:
    """Per MLP, the magnitude threshold ``eps`` whose CETT on ``data`` equals ``cett``."""
    acts = collect_mlp_activations(model, data, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
    return {n: cett_threshold(a["h"], a["w_down"], cett) for n, a in acts.items()}


def magnitude_sparsity(model: nn.Module, data, *, cett: float = 0.2, calibration=None,
                       n_seqs: int = 16, seq_len: int = 128,
                       seed: int = 0) -> SparsityReport:
    """ReLU² Wins' sparsity: fraction of neurons with ``|h_i| ||W_down[:, i]|| <= eps``.

    ``eps`` is set per layer so that the CETT on ``calibration`` text (default: ``data``
    itself) equals ``cett``; the sparsity is then measured on ``data``.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32,
    ...                             activation="swiglu"))
    >>> ids = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(0))
    >>> rep = magnitude_sparsity(model, ids, cett=0.2)
    >>> bool(0 < rep.mean < 1), rep.thresholds.shape
    (True, (2,))
    """
    if not (isinstance(cett, (int, float)) and 0 <= cett < 1):
        raise ValueError(f"cett must be in [0, 1), got {cett!r}")
    acts = collect_mlp_activations(model, data, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
    if calibration is None:
        cal = acts
    else:
        cal = collect_mlp_activations(model, calibration, n_seqs=n_seqs, seq_len=seq_len,
                                      seed=seed)
    eps = [cett_threshold(cal[n]["h"], cal[n]["w_down"], cett) for n in acts]
    masks = [a["h"].abs() * a["w_down"].norm(dim=0) <= e for a, e in zip(acts.values(), eps,
                                                                         strict=True)]
    return _report(acts, masks, eps)


def magnitude_mask(model: nn.Module, eps: dict[str, float]) -> SparsityHandle:
    """Drop, during inference, every neuron with ``|h_i| ||W_down[:, i]|| <= eps``.

    Implemented as a per-channel threshold ``eps / ||W_down[:, i]||`` on the input of each
    ``down_proj`` (see :func:`~sparsecourse.activation.mask_linear_inputs`).

    Parameters
    ----------
    eps : dict
        ``{mlp_name: eps}``, e.g. from :func:`cett_thresholds`.
    """
    _check_model(model)
    mlps = dict(find_mlps(model))
    if not isinstance(eps, dict):
        raise TypeError(f"eps must be a dict mlp_name -> threshold, got {type(eps).__name__}")
    thr = {}
    for n, e in eps.items():
        if n not in mlps:
            raise ValueError(f"eps names unknown MLP {n!r}; the model has {sorted(mlps)}")
        if not (isinstance(e, (int, float)) and math.isfinite(e) and e >= 0):
            raise ValueError(f"eps[{n!r}] must be a finite number >= 0, got {e!r}")
        norms = mlps[n].down_proj.weight.detach().float().norm(dim=0)
        thr[f"{n}.down_proj" if n else "down_proj"] = e / norms.clamp_min(1e-30)
    return mask_linear_inputs(model, thr)


def sparsity_ppl_curve(model: nn.Module, calibration, evaluate: Callable[[nn.Module], float],
                       cetts: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
                       *, n_seqs: int = 16, seq_len: int = 128, seed: int = 0) -> dict:
    """Sweep the CETT target; at each, drop inactive neurons and evaluate perplexity.

    Parameters
    ----------
    calibration : token ids
        Text the per-layer thresholds are set on.
    evaluate : callable
        ``evaluate(model) -> perplexity`` on held-out text, e.g.
        ``lambda m: evaluate_perplexity(m, val_ids, n_seqs=32)``.
    cetts : sequence of float in [0, 1)

    Returns
    -------
    dict
        ``{"cett": array, "sparsity": array, "ppl": array}``; the sparsity is the fraction of
        neurons dropped while ``evaluate`` ran (measured on the held-out text).
    """
    acts = collect_mlp_activations(model, calibration, n_seqs=n_seqs, seq_len=seq_len,
                                   seed=seed)
    rows = []
    for c in cetts:
        eps = {n: cett_threshold(a["h"], a["w_down"], c) for n, a in acts.items()}
        with magnitude_mask(model, eps) as h:
            ppl = float(evaluate(model))
            rows.append((c, h.sparsity(), ppl))
    arr = np.array(rows, dtype=float)
    return {"cett": arr[:, 0], "sparsity": arr[:, 1], "ppl": arr[:, 2]}


def ppl_p_sparsity(sparsity, ppl, p: float = 1.0, *, dense_ppl: float | None = None) -> float:
    """Sparsing Law's PPL-p% sparsity: the sparsity at which perplexity rises by ``p`` %.

    Parameters
    ----------
    sparsity, ppl : array_like
        A curve measured at increasing thresholds (e.g. from :func:`sparsity_ppl_curve`).
    p : float
        Allowed perplexity increase in percent (the paper uses 1).
    dense_ppl : float, optional
        Perplexity of the dense model (default: ``ppl`` at the smallest sparsity).

    Returns
    -------
    float
        The sparsity where the curve first crosses ``(1 + p/100) * dense_ppl``, linearly
        interpolated between the two measured points around the crossing. If the curve
        never crosses, the largest measured sparsity (a lower bound) with a warning.

    Examples
    --------
    >>> s = [0.0, 0.2, 0.4, 0.6]; ppl = [10.0, 10.02, 10.06, 10.5]
    >>> round(ppl_p_sparsity(s, ppl, p=1.0), 4)   # 10.1 is crossed between 0.4 and 0.6
    0.4182
    """
    s = np.asarray(sparsity, dtype=float)
    q = np.asarray(ppl, dtype=float)
    if s.ndim != 1 or s.shape != q.shape or s.size < 2:
        raise ValueError("sparsity and ppl must be 1-D arrays of the same length >= 2")
    if not (np.isfinite(s).all() and np.isfinite(q).all()):
        raise ValueError("sparsity and ppl must be finite")
    if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
        raise ValueError(f"p must be a positive number (percent), got {p!r}")
    order = np.argsort(s, kind="stable")
    s, q = s[order], q[order]
    base = q[0] if dense_ppl is None else float(dense_ppl)
    if not (math.isfinite(base) and base > 0):
        raise ValueError(f"dense_ppl must be a positive number, got {dense_ppl!r}")
    target = base * (1 + p / 100)
    above = np.nonzero(q > target)[0]
    if above.size == 0:
        warnings.warn("the curve never rises by p%: returning its largest sparsity "
                      "(a lower bound)", RuntimeWarning, stacklevel=2)
        return float(s[-1])
    i = int(above[0])
    if i == 0:
        return float(s[0])
    frac = (target - q[i - 1]) / (q[i] - q[i - 1])
    return float(s[i - 1] + frac * (s[i] - s[i - 1]))
