"""Which weights to keep: scores, layer-wise densities and the masks they give.

Every criterion returns a *score* per weight, larger meaning more important, in a dict with the
same names as the masks (see ``sparsecourse.pruning.masks``). :func:`masks_from_scores` keeps
the top-scoring weights, over the whole network (``scope="global"``) or the same fraction in
every layer (``scope="layer"``); :func:`masks_from_densities` keeps the top scores of each layer
at given layer-wise densities.

- After training: magnitude :func:`magnitude_scores` and LAMP :func:`lamp_scores`
  (Lee et al., 2021).
- At initialization: SNIP :func:`snip_scores` (Lee et al., 2019), GraSP :func:`grasp_scores`
  (Wang et al., 2020), SynFlow :func:`synflow_masks` (Tanaka et al., 2020).
- Random masks :func:`random_masks` with uniform, ERK (Mocanu et al., 2018; Evci et al., 2020)
  or LAMP layer-wise densities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_fraction, check_int
from .masks import apply_masks, clone_model, effective_weights, get_masks, prunable_weights

__all__ = [
    "check_sparsity",
    "magnitude_scores",
    "masks_from_scores",
    "masks_from_densities",
    "global_magnitude_masks",
    "layerwise_magnitude_masks",
    "uniform_densities",
    "erk_densities",
    "lamp_scores",
    "lamp_densities",
    "random_masks",
    "snip_scores",
    "grasp_scores",
    "synflow_scores",
    "synflow_masks",
]


def check_sparsity(sparsity, name: str = "sparsity") -> float:
    """Validate a sparsity, the fraction of weights removed: a real number in [0, 1).

    Examples
    --------
    >>> from sparsecourse.pruning import check_sparsity
    >>> check_sparsity(0.9)
    0.9
    """
    return check_fraction(sparsity, name, low=0.0, high=1.0, closed="left")


def _check_scores(scores: Mapping[str, torch.Tensor], name: str = "scores") -> None:
    if not isinstance(scores, Mapping) or not scores:
        raise TypeError(f"{name} must be a non-empty dict name -> tensor, got "
                        f"{type(scores).__name__}")
    for k, v in scores.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{name}[{k!r}] must be a torch.Tensor, got {type(v).__name__}")
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{name}[{k!r}] contains NaN or infinity")


def _top_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries (ties broken by position, deterministic)."""
    flat = score.detach().reshape(-1).double()
    order = torch.argsort(-flat, stable=True)
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    mask[order[:k]] = True
    return mask.reshape(score.shape)


def _allocate(fractions: Sequence[float], sizes: Sequence[int], total: int) -> list[int]:
    """Integer counts close to ``fractions * sizes`` that sum to ``total`` (largest remainder)."""
    raw = np.minimum(np.asarray(fractions, float) * np.asarray(sizes), sizes)
    counts = np.floor(raw + 1e-9).astype(int)
    rest = total - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    for i in order:
        if rest <= 0:
            break
        if counts[i] < sizes[i]:
            counts[i] += 1
            rest -= 1
    return counts.tolist()


def masks_from_scores(scores: Mapping[str, torch.Tensor], sparsity: float, *,
                      scope: str = "global") -> dict[str, torch.Tensor]:
    """Keep the highest scores: ``round((1 - sparsity) * n)`` weights.

    Parameters
    ----------
    scores : dict of str to torch.Tensor
        One score per weight, larger is more important.
    sparsity : float in [0, 1)
        Fraction of weights to remove.
    scope : {"global", "layer"}
        ``"global"`` ranks all weights together; ``"layer"`` removes the same fraction from every
        layer.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import masks_from_scores
    >>> s = {"a": torch.tensor([3.0, 1.0]), "b": torch.tensor([2.0, 0.5])}
    >>> m = masks_from_scores(s, 0.5)
    >>> m["a"].tolist(), m["b"].tolist()
    ([True, False], [True, False])
    """
    sparsity = check_sparsity(sparsity)
    _check_scores(scores)
    if scope == "layer":
        return {k: _top_mask(v, round((1.0 - sparsity) * v.numel())) for k, v in scores.items()}
    if scope != "global":
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    names = list(scores)
    flat = torch.cat([scores[k].detach().reshape(-1).double() for k in names])
    keep = _top_mask(flat, round((1.0 - sparsity) * flat.numel()))
    out, start = {}, 0
    for k in names:
        n = scores[k].numel()
        out[k] = keep[start:start + n].reshape(scores[k].shape)
        start += n
    return out


def masks_from_densities(scores: Mapping[str, torch.Tensor],
                         densities: Mapping[str, float]) -> dict[str, torch.Tensor]:
    """Keep the ``round(density * n)`` highest scores of each layer.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import masks_from_densities
    >>> masks_from_densities({"a": torch.tensor([1.0, 3.0, 2.0, 0.0])}, {"a": 0.5})["a"].tolist()
    [False, True, True, False]
    """
    _check_scores(scores)
    if set(densities) != set(scores):
        raise ValueError(f"densities must have the keys of scores {sorted(scores)}, got "
                         f"{sorted(densities)}")
    out = {}
    for k, v in scores.items():
        d = check_fraction(densities[k], f"densities[{k!r}]")
        out[k] = _top_mask(v, round(d * v.numel()))
    return out


def magnitude_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """``|w|`` of the effective (masked) weights: pruned weights score 0.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import magnitude_scores
    >>> layer = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[-3.0, 1.0]]))
    >>> magnitude_scores(layer)["weight"].tolist()
    [[3.0, 1.0]]
    """
    return {k: w.abs() for k, w in effective_weights(model).items()}


def global_magnitude_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Global magnitude pruning: remove the smallest ``|w|`` of the whole network.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import density, global_magnitude_masks
    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> density(global_magnitude_masks(net, 0.75))
    0.25
    """
    return masks_from_scores(magnitude_scores(model), sparsity, scope="global")


def layerwise_magnitude_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Layer-wise magnitude pruning: remove the same fraction of smallest ``|w|`` in each layer.

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import layer_densities, layerwise_magnitude_masks
    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> layer_densities(layerwise_magnitude_masks(net, 0.75))
    {'0.weight': 0.25, '2.weight': 0.25}
    """
    return masks_from_scores(magnitude_scores(model), sparsity, scope="layer")


def _shapes(model_or_shapes) -> dict[str, tuple[int, ...]]:
    if isinstance(model_or_shapes, nn.Module):
        return {k: tuple(w.shape) for k, w in effective_weights(model_or_shapes).items()}
    if not isinstance(model_or_shapes, Mapping) or not model_or_shapes:
        raise TypeError("shapes must be a model or a non-empty dict name -> shape, got "
                        f"{type(model_or_shapes).__name__}")
    return {k: tuple(int(d) for d in s) for k, s in model_or_shapes.items()}


def uniform_densities(shapes, density: float) -> dict[str, float]:
    """The same density in every layer.

    Examples
    --------
    >>> from sparsecourse.pruning import uniform_densities
    >>> uniform_densities({"a": (300, 64), "b": (10, 100)}, 0.1)
    {'a': 0.1, 'b': 0.1}
    """
    d = check_fraction(density, "density", closed="right")
    return dict.fromkeys(_shapes(shapes), d)


def erk_densities(shapes, density: float) -> dict[str, float]:
    """Erdős–Rényi(-Kernel) layer-wise densities with a given overall density.

    Layer ``l`` with shape ``(n_out, n_in, *kernel)`` gets density
    ``eps * sum(shape) / prod(shape)``: for a linear layer ``eps (n_in + n_out) / (n_in n_out)``,
    the Erdős–Rényi graph of SET (Mocanu et al., 2018), for a convolution the kernel
    dimensions are added (ERK, Evci et al., 2020). ``eps`` is chosen so that the total number of
    weights kept is ``density * n_total``; layers whose density would exceed 1 are kept dense and
    ``eps`` is recomputed for the others. (:func:`sparsecourse.sparse_nn.erdos_renyi_densities`
    is this rule for an MLP given by its widths.)

    Parameters
    ----------
    shapes : nn.Module or dict of str to tuple
        A model (its prunable weights) or weight shapes.
    density : float in (0, 1]
        Overall fraction of weights to keep.

    Examples
    --------
    >>> from sparsecourse.pruning import erk_densities
    >>> d = erk_densities({"a": (300, 64), "b": (10, 100)}, 0.05)
    >>> {k: round(v, 4) for k, v in d.items()}
    {'a': 0.0404, 'b': 0.2344}
    """
    density = check_fraction(density, "density", closed="right")
    shapes = _shapes(shapes)
    sizes = {k: math.prod(s) for k, s in shapes.items()}
    raw = {k: sum(s) / sizes[k] for k, s in shapes.items()}
    total = density * sum(sizes.values())
    dense: set[str] = set()
    while True:
        budget = total - sum(sizes[k] for k in dense)
        rest = [k for k in shapes if k not in dense]
        if not rest:
            break
        eps = budget / sum(raw[k] * sizes[k] for k in rest)
        over = [k for k in rest if eps * raw[k] > 1.0]
        if not over:
            break
        dense.update(over)
    return {k: 1.0 if k in dense else eps * raw[k] for k in shapes}


def lamp_scores(weights: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    """LAMP scores (Lee et al., 2021): ``w_u^2 / sum_{v >= u} w_v^2`` within each layer.

    The weights of a layer are sorted by magnitude, ``u`` indexes that order (ascending) and the
    sum runs over the weights at least as large as ``w_u``. The largest weight of every layer
    scores 1, so global pruning by LAMP score never empties a layer.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import lamp_scores
    >>> lamp_scores({"w": torch.tensor([1.0, -2.0, 2.0])})["w"].tolist()
    [0.1111111111111111, 0.5, 1.0]
    """
    if isinstance(weights, nn.Module):
        weights = effective_weights(weights)
    _check_scores(weights, "weights")
    out = {}
    for k, w in weights.items():
        sq = w.detach().reshape(-1).double() ** 2
        order = torch.argsort(sq, stable=True)
        s = sq[order]
        tail = torch.flip(torch.cumsum(torch.flip(s, [0]), 0), [0])   # sum_{v >= u}
        score = torch.where(tail > 0, s / torch.where(tail > 0, tail, 1.0), 0.0)
        res = torch.empty_like(sq)
        res[order] = score
        out[k] = res.reshape(w.shape)
    return out


def lamp_densities(weights: Mapping[str, torch.Tensor] | nn.Module,
                   density: float) -> dict[str, float]:
    """Layer-wise densities chosen by global pruning with LAMP scores.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import lamp_densities
    >>> g = torch.Generator().manual_seed(0)
    >>> w = {"a": torch.randn(300, 64, generator=g), "b": torch.randn(10, 100, generator=g)}
    >>> {k: round(v, 3) for k, v in lamp_densities(w, 0.05).items()}
    {'a': 0.035, 'b': 0.345}
    """
    density = check_fraction(density, "density", closed="right")
    masks = masks_from_scores(lamp_scores(weights), 1.0 - density) if density < 1 else None
    if masks is None:
        return dict.fromkeys(lamp_scores(weights), 1.0)
    return {k: int(m.count_nonzero()) / m.numel() for k, m in masks.items()}


def random_masks(model: nn.Module, sparsity: float, *, distribution: str = "erk",
                 seed=None) -> dict[str, torch.Tensor]:
    """Random masks with uniform, ERK or LAMP layer-wise densities.

    Inside each layer the kept positions are uniformly random; the number kept per layer follows
    the layer-wise densities, rounded so that exactly ``round((1 - sparsity) * n_total)`` weights
    are kept overall.

    Parameters
    ----------
    model : nn.Module
    sparsity : float in [0, 1)
    distribution : {"erk", "uniform", "lamp"}
        Layer-wise densities: :func:`erk_densities`, :func:`uniform_densities`, or
        :func:`lamp_densities` of the model's current weights.
    seed : int, numpy Generator or None

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import density, layer_densities, random_masks
    >>> net = nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 10))
    >>> m = random_masks(net, 0.95, distribution="erk", seed=0)
    >>> d = layer_densities(m)
    >>> round(density(m), 4), d["2.weight"] > d["0.weight"]
    (0.05, True)
    """
    from .._validation import get_rng

    sparsity = check_sparsity(sparsity)
    shapes = _shapes(model)
    d = 1.0 - sparsity
    if distribution == "erk":
        dens = erk_densities(shapes, d)
    elif distribution == "uniform":
        dens = uniform_densities(shapes, d)
    elif distribution == "lamp":
        dens = lamp_densities(model, d)
    else:
        raise ValueError(f"distribution must be 'erk', 'uniform' or 'lamp', got {distribution!r}")
    names = list(shapes)
    sizes = [math.prod(shapes[k]) for k in names]
    counts = _allocate([dens[k] for k in names], sizes, round(d * sum(sizes)))
    rng = get_rng(seed)
    out = {}
    for k, n, c in zip(names, sizes, counts, strict=True):
        flat = np.zeros(n, dtype=bool)
        flat[rng.choice(n, size=c, replace=False)] = True
        out[k] = torch.from_numpy(flat).reshape(shapes[k])
    return out


def _weight_tensors_after_forward(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors used by the last forward pass (computed ones for pruned modules)."""
    return [getattr(m, p) for m, p in prunable_weights(model).values()]


def snip_scores(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                loss_fn: Callable = F.cross_entropy) -> dict[str, torch.Tensor]:
    """SNIP connection sensitivity (Lee et al., 2019): ``|w * dL/dw|`` on one batch.

    It is the first-order change of the loss when weight ``w`` is removed (set to 0). Pruned
    weights score 0. The model's parameters and gradients are not changed.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import snip_scores
    >>> layer = nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[2.0, -1.0]]))
    >>> X, y = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0]])
    >>> # L = (w.x - y)^2, dL/dw = 2(w.x - y)x = [-2, -6]
    >>> snip_scores(layer, X, y, torch.nn.functional.mse_loss)["weight"].tolist()
    [[4.0, 6.0]]
    """
    names = list(prunable_weights(model))
    loss = loss_fn(model(X), y)
    ws = _weight_tensors_after_forward(model)
    grads = torch.autograd.grad(loss, ws)
    return {k: (w.detach() * g).abs() for k, w, g in zip(names, ws, grads, strict=True)}


def grasp_scores(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                 loss_fn: Callable = F.cross_entropy) -> dict[str, torch.Tensor]:
    """GraSP importance (Wang et al., 2020): ``w * (H g)``, larger is kept.

    GraSP scores a weight by the change of the gradient norm ``g^T g`` when it is removed,
    ``S(-w) = -w * (H g)`` with ``H`` the Hessian of the loss, and removes the weights with the
    *largest* ``S``: those whose removal reduces the gradient flow least (or increases it). We
    return ``-S = w * (H g)`` so that, as for every score in this module, larger means keep.
    ``H g`` is a Hessian-vector product: the gradient of ``g . stop_grad(g)``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import grasp_scores
    >>> layer = nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[2.0, -1.0]]))
    >>> X, y = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0]])
    >>> # L = (w.x)^2: g = 2(w.x)x = [-2, -6], H = 2xx^T, Hg = 2x(x.g) = [-40, -120]
    >>> grasp_scores(layer, X, y, torch.nn.functional.mse_loss)["weight"].tolist()
    [[-80.0, 120.0]]
    """
    names = list(prunable_weights(model))
    loss = loss_fn(model(X), y)
    ws = _weight_tensors_after_forward(model)
    grads = torch.autograd.grad(loss, ws, create_graph=True)
    z = sum((g * g.detach()).sum() for g in grads)
    hg = torch.autograd.grad(z, ws, allow_unused=True)   # H g, a Hessian-vector product
    out = {}
    for k, w, h in zip(names, ws, hg, strict=True):
        h = torch.zeros_like(w) if h is None else h
        out[k] = (w.detach() * h.detach())
    return out


def synflow_scores(model: nn.Module, input_shape: Sequence[int]) -> dict[str, torch.Tensor]:
    """SynFlow scores (Tanaka et al., 2020) of one iteration: ``|w * dR/dw|``.

    ``R = 1^T f_|θ|(1)``: the output, summed, of a copy of the network with every parameter
    replaced by its absolute value, on an all-ones input. For a network without biases this is
    the sum over all input-output paths of the product of the absolute weights along the path,
    and the score of a weight is the total "synaptic flow" through it. Computed in float64 on a
    copy: the model is not changed. Pruned weights score 0.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import synflow_scores
    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    ...     _ = net[2].weight.copy_(torch.tensor([[3.0, -1.0]]))
    >>> s = synflow_scores(net, (2,))
    >>> s["0.weight"].tolist(), s["2.weight"].tolist()   # |W1_ij| |W2_i|, |W2_i| (|W1| 1)_i
    ([[3.0, 6.0], [0.5, 0.0]], [[9.0, 0.5]])
    """
    names = list(prunable_weights(model))
    net = clone_model(model).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.eval()
    x = torch.ones((1, *[check_int(d, "input_shape", minimum=1) for d in input_shape]),
                   dtype=torch.float64)
    r = net(x).sum()
    ws = _weight_tensors_after_forward(net)
    grads = torch.autograd.grad(r, ws)
    return {k: (w.detach() * g).abs().float() for k, w, g in zip(names, ws, grads, strict=True)}


def synflow_masks(model: nn.Module, sparsity: float, input_shape: Sequence[int], *,
                  n_iter: int = 100) -> dict[str, torch.Tensor]:
    """Iterative SynFlow: prune to ``density^(k / n_iter)`` for ``k = 1..n_iter``, rescoring.

    Re-scoring after each small pruning step avoids layer collapse: the scores of a layer grow as
    the layer is thinned, so SynFlow never removes a whole layer before reaching the requested
    sparsity. Uses no data. The model is not changed.

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import density, synflow_masks
    >>> net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    >>> round(density(synflow_masks(net, 0.9, (16,), n_iter=10)), 3)
    0.1
    """
    sparsity = check_sparsity(sparsity)
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    net = clone_model(model)
    masks = get_masks(net)
    for k in range(1, n_iter + 1):
        s_k = 1.0 - (1.0 - sparsity) ** (k / n_iter)
        masks = masks_from_scores(synflow_scores(net, input_shape), s_k)
        apply_masks(net, masks)
    return masks
