"""Dynamic sparse training: change *which* weights exist during training, at constant density.

Every few steps, in each layer, drop the fraction ``drop_fraction`` of the active weights with
the smallest magnitude and grow as many inactive ones:

- **SET** (Mocanu et al., 2018) grows them at random positions;
- **RigL** (Evci et al., 2020) grows those with the largest dense gradient ``|dL/dw|``.

Grown weights start at zero, so the network's function is unchanged by the growth itself. The
number of weights per layer, hence the density, stays exactly the same. The functions act on a
model pruned with :func:`~sparsecourse.pruning.apply_masks`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_fraction, check_int, get_rng
from .masks import apply_masks, effective_weights, get_masks, prunable_weights

__all__ = ["dense_gradients", "set_update", "rigl_update", "cosine_drop_fraction",
           "DynamicSparseTraining"]


def dense_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable = F.cross_entropy) -> dict[str, torch.Tensor]:
    """``dL/dw`` for *every* entry of each prunable weight, including the pruned ones.

    The gradient is taken with respect to the effective weight ``w = w_orig * mask`` that the
    forward pass uses, so it is dense even where the mask is 0: it tells how the loss would
    change if a missing connection were grown.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import apply_masks, dense_gradients
    >>> layer = apply_masks(nn.Linear(2, 1, bias=False), {"weight": torch.tensor([[True, False]])})
    >>> g = dense_gradients(layer, torch.ones(1, 2), torch.zeros(1, 1), nn.functional.mse_loss)
    >>> bool(g["weight"][0, 1] != 0)
    True
    """
    names = list(prunable_weights(model))
    loss = loss_fn(model(X), y)
    ws = [getattr(m, p) for m, p in prunable_weights(model).values()]
    grads = torch.autograd.grad(loss, ws)
    return dict(zip(names, (g.detach() for g in grads), strict=True))


def _update(model: nn.Module, drop_fraction: float, grow_score: Callable[[str, torch.Tensor],
            torch.Tensor]) -> dict[str, int]:
    drop_fraction = check_fraction(drop_fraction, "drop_fraction")
    masks = get_masks(model)
    weights = effective_weights(model)
    new_masks, n_changed = {}, {}
    for name, mask in masks.items():
        flat = mask.reshape(-1)
        n_active = int(flat.sum())
        n_drop = math.floor(drop_fraction * n_active)
        if n_drop == 0:
            new_masks[name], n_changed[name] = mask, 0
            continue
        mag = weights[name].reshape(-1).abs().double()
        mag = torch.where(flat, mag, torch.inf)              # only active weights can be dropped
        drop = torch.argsort(mag, stable=True)[:n_drop]
        kept = flat.clone()
        kept[drop] = False
        score = grow_score(name, kept).reshape(-1).double()
        score = torch.where(kept, -torch.inf, score)          # grow among the inactive ones
        grow = torch.argsort(-score, stable=True)[:n_drop]
        new = kept.clone()
        new[grow] = True
        new_masks[name] = new.reshape(mask.shape)
        n_changed[name] = int((new & ~flat).sum())
        module, pname = prunable_weights(model)[name]
        orig = getattr(module, pname + "_orig", getattr(module, pname))
        with torch.no_grad():                                  # grown weights start at zero
            orig.view(-1)[new & ~kept] = 0.0                # (a dropped one regrown too)
    apply_masks(model, new_masks)
    return n_changed


def set_update(model: nn.Module, drop_fraction: float = 0.3, *, seed=None) -> dict[str, int]:
    """One SET topology update: drop the smallest ``|w|``, regrow as many at random positions.

    ``drop_fraction`` is the paper's ``zeta``: ``floor(drop_fraction * n_active)`` weights per
    layer (:func:`sparsecourse.sparse_nn.set_update` is the same step on a truly sparse layer).

    Returns the number of new connections per layer (a dropped weight may be regrown).

    Examples
    --------
    >>> from sparsecourse.pruning import (apply_masks, density, get_masks, lenet_300_100,
    ...                                   random_masks, set_update)
    >>> net = lenet_300_100(seed=0)
    >>> _ = apply_masks(net, random_masks(net, 0.9, seed=0))
    >>> _ = set_update(net, 0.3, seed=1)
    >>> round(density(get_masks(net)), 4)
    0.1
    """
    rng = get_rng(seed)

    def random_score(name, kept):
        return torch.from_numpy(rng.random(kept.numel()))

    return _update(model, drop_fraction, random_score)


def rigl_update(model: nn.Module, grads: Mapping[str, torch.Tensor],
                drop_fraction: float = 0.3) -> dict[str, int]:
    """One RigL topology update: drop the smallest ``|w|``, grow the largest dense ``|grad|``.

    Parameters
    ----------
    grads : dict
        Dense gradients, e.g. from :func:`dense_gradients` on a batch.

    Examples
    --------
    >>> from sparsecourse.pruning import (apply_masks, density, dense_gradients, digits_data,
    ...                                   get_masks, lenet_300_100, random_masks, rigl_update)
    >>> net, data = lenet_300_100(seed=0), digits_data()
    >>> _ = apply_masks(net, random_masks(net, 0.9, seed=0))
    >>> _ = rigl_update(net, dense_gradients(net, data.X_train, data.y_train), 0.3)
    >>> round(density(get_masks(net)), 4)
    0.1
    """
    masks = get_masks(model)
    if set(grads) != set(masks):
        raise ValueError(f"grads must have one entry per prunable weight {sorted(masks)}, got "
                         f"{sorted(grads)}")
    for k, g in grads.items():
        if g.shape != masks[k].shape:
            raise ValueError(f"grads[{k!r}] has shape {tuple(g.shape)}, expected "
                             f"{tuple(masks[k].shape)}")
    return _update(model, drop_fraction, lambda name, kept: grads[name].abs())


def cosine_drop_fraction(step: int, total_steps: int, alpha: float = 0.3) -> float:
    """RigL's drop-fraction schedule, ``alpha / 2 * (1 + cos(pi * step / total_steps))``.

    Examples
    --------
    >>> from sparsecourse.pruning import cosine_drop_fraction
    >>> [round(cosine_drop_fraction(t, 100), 3) for t in (0, 50, 100)]
    [0.3, 0.15, 0.0]
    """
    step = check_int(step, "step", minimum=0)
    total_steps = check_int(total_steps, "total_steps", minimum=1)
    alpha = check_fraction(alpha, "alpha")
    return alpha / 2 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))


class DynamicSparseTraining:
    """SET or RigL as a :func:`~sparsecourse.pruning.train` callback.

    Every ``every`` steps until ``stop_step``, update the topology with a cosine-decaying drop
    fraction. For RigL, ``data`` provides the batch on which the dense gradient is taken
    (``X``, ``y``); the update counts are recorded in ``history``.

    Examples
    --------
    >>> from sparsecourse.pruning import (DynamicSparseTraining, apply_masks, density,
    ...                                   digits_data, get_masks, lenet_300_100, random_masks,
    ...                                   train)
    >>> net, data = lenet_300_100(seed=0), digits_data()
    >>> _ = apply_masks(net, random_masks(net, 0.95, seed=0))
    >>> dst = DynamicSparseTraining("rigl", every=20, stop_step=60, X=data.X_train, y=data.y_train)
    >>> res = train(net, data, epochs=8, callback=dst)
    >>> round(density(get_masks(net)), 4), len(dst.history)
    (0.05, 2)
    """

    def __init__(self, method: str = "set", *, every: int = 50, stop_step: int = 1000,
                 alpha: float = 0.3, X: torch.Tensor | None = None, y: torch.Tensor | None = None,
                 seed=None):
        if method not in ("set", "rigl"):
            raise ValueError(f"method must be 'set' or 'rigl', got {method!r}")
        if method == "rigl" and (X is None or y is None):
            raise ValueError("RigL needs a batch X, y for the dense gradient")
        self.method = method
        self.every = check_int(every, "every", minimum=1)
        self.stop_step = check_int(stop_step, "stop_step", minimum=1)
        self.alpha = check_fraction(alpha, "alpha")
        self.X, self.y = X, y
        self.rng: np.random.Generator = get_rng(seed)
        self.history: list[tuple[int, float, int]] = []

    def __call__(self, step: int, model: nn.Module) -> None:
        if step % self.every or step >= self.stop_step:
            return
        frac = cosine_drop_fraction(step, self.stop_step, self.alpha)
        if self.method == "set":
            changed = set_update(model, frac, seed=self.rng)
        else:
            changed = rigl_update(model, dense_gradients(model, self.X, self.y), frac)
        self.history.append((step, frac, sum(changed.values())))
