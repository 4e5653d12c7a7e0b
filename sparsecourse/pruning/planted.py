"""Planted lottery tickets, after "Plant 'n' Seek" (Fischer & Burkholz, 2022).

On real data nobody knows how sparse a winning ticket can be. A *planted* ticket fixes that: we
hide a small sparse network inside a randomly initialised large one and label the data with the
small network alone. Masking the large network to the planted mask then solves the task exactly,
without any training (a *strong* ticket), and a pruning method can be graded by how much of the
planted mask it recovers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validation import check_int, get_rng
from .masks import apply_masks, clone_model, prunable_weights
from .training import lenet_300_100

__all__ = ["PlantedTicket", "plant_ticket", "ticket_recall"]


@dataclass
class PlantedTicket:
    """A network with a planted ticket: ``model`` (dense, biases zero), the planted ``masks``,
    the inputs ``X`` (standard Gaussian) and the labels ``y = argmax ticket(X)``."""

    model: nn.Module
    masks: dict
    X: torch.Tensor
    y: torch.Tensor

    def ticket(self) -> nn.Module:
        """A copy of the model pruned to the planted masks (it labels ``X`` perfectly)."""
        return apply_masks(clone_model(self.model), self.masks)


def plant_ticket(sizes: Sequence[int] = (16, 64, 64, 4), ticket_width: int = 8,
                 fan_in: int = 4, *, n_samples: int = 2000, seed=0) -> PlantedTicket:
    """Hide a sparse ticket in a randomly initialised MLP and label Gaussian data with it.

    The ticket uses ``ticket_width`` hidden units per hidden layer, each with ``fan_in``
    incoming weights (every output unit too); its weights are drawn from the same distribution
    as the rest of the initialisation, so magnitude alone does not reveal them. All biases are
    zero, which makes the network positively homogeneous: the ticket's labels do not depend on
    the scale of its weights.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import density, plant_ticket
    >>> p = plant_ticket(seed=0)
    >>> round(density(p.masks), 4), bool((p.ticket()(p.X).argmax(1) == p.y).all())
    (0.0149, True)
    """
    sizes = [check_int(s, "sizes", minimum=1) for s in sizes]
    if len(sizes) < 3:
        raise ValueError(f"sizes needs at least one hidden layer, got {sizes}")
    ticket_width = check_int(ticket_width, "ticket_width", minimum=1, maximum=min(sizes[1:-1]))
    fan_in = check_int(fan_in, "fan_in", minimum=1, maximum=min(sizes[0], ticket_width))
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    rng = get_rng(seed)
    model = lenet_300_100(sizes, seed=int(rng.integers(2**31)))
    names = list(prunable_weights(model))
    masks = {}
    prev = np.arange(sizes[0])                              # units the ticket can read from
    with torch.no_grad():
        for li, name in enumerate(names):
            module, _ = prunable_weights(model)[name]
            module.bias.zero_()
            n_out = sizes[li + 1]
            units = np.arange(n_out) if li == len(names) - 1 else np.sort(
                rng.choice(n_out, ticket_width, replace=False))
            mask = np.zeros((n_out, sizes[li]), dtype=bool)
            for u in units:
                mask[u, rng.choice(prev, fan_in, replace=False)] = True
            masks[name] = torch.from_numpy(mask)
            prev = units
    X = torch.from_numpy(rng.standard_normal((n_samples, sizes[0])).astype(np.float32))
    ticket = apply_masks(clone_model(model), masks)
    with torch.no_grad():
        y = ticket(X).argmax(1)
    return PlantedTicket(model, masks, X, y)


def ticket_recall(found: Mapping[str, torch.Tensor], planted: Mapping[str, torch.Tensor]) -> float:
    """Fraction of the planted weights that a found mask keeps.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import ticket_recall
    >>> found, planted = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    >>> ticket_recall({"w": found}, {"w": planted})
    0.5
    """
    if set(found) != set(planted):
        raise ValueError(f"found and planted must mask the same weights, got {sorted(found)} and "
                         f"{sorted(planted)}")
    hit = total = 0
    for k, p in planted.items():
        if found[k].shape != p.shape:
            raise ValueError(f"found[{k!r}] has shape {tuple(found[k].shape)}, expected "
                             f"{tuple(p.shape)}")
        hit += int((found[k].bool() & p.bool()).sum())
        total += int(p.bool().sum())
    if total == 0:
        raise ValueError("planted must keep at least one weight")
    return hit / total
