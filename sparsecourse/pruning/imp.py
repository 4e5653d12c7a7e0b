"""Iterative magnitude pruning (lottery tickets) and gradual magnitude pruning.

**IMP with rewinding** (Frankle & Carbin, 2019; Frankle et al., 2020): train, remove a fraction
``p`` of the remaining weights with the smallest magnitude, *rewind* the surviving weights to
their values at initialization (``rewind_step=0``) or at an early step ``k``, and repeat. The masks
of successive rounds are nested, and round ``r`` keeps ``(1 - p)^r`` of the weights. The
**random-reinitialization control** trains the same masks from a fresh random initialization.

**Gradual magnitude pruning** (Zhu & Gupta, 2017) prunes during a single training run, following
the cubic schedule :func:`cubic_sparsity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .._validation import check_fraction, check_int
from .masks import (
    apply_masks,
    get_masks,
    get_state,
    prunable_weights,
    set_state,
)
from .scores import check_sparsity, magnitude_scores, masks_from_scores

__all__ = [
    "IMPResult",
    "iterative_magnitude_pruning",
    "reinit_control",
    "cubic_sparsity",
    "GradualMagnitudePruning",
]


@dataclass
class IMPResult:
    """Output of :func:`iterative_magnitude_pruning`, one entry per round (round 0 is dense).

    ``masks[r]`` are the masks trained in round ``r`` (density ``densities[r]``), ``results[r]``
    what ``train_fn`` returned, ``rewind_state`` the weights every round restarts from and
    ``final_states[r]`` the trained weights of round ``r``.
    """

    densities: list[float] = field(default_factory=list)
    masks: list[dict] = field(default_factory=list)
    results: list = field(default_factory=list)
    final_states: list[dict] = field(default_factory=list)
    rewind_state: dict | None = None


def iterative_magnitude_pruning(
    model: nn.Module,
    train_fn: Callable,
    *,
    n_rounds: int,
    prune_fraction: float = 0.2,
    rewind_step: int = 0,
    scope: str = "global",
    callback: Callable | None = None,
) -> IMPResult:
    """Find a lottery ticket by iterative magnitude pruning with rewinding.

    Parameters
    ----------
    model : nn.Module
        The network at initialization; it is pruned and trained in place.
    train_fn : callable
        ``train_fn(model, save_at)`` trains the model in place and returns an object with a
        ``saved_state`` attribute: the :func:`~sparsecourse.pruning.get_state` at step
        ``save_at`` (``None`` when ``save_at`` is ``None``). :func:`~sparsecourse.pruning.train`
        with its other arguments bound is such a function.
    n_rounds : int
        Number of pruning rounds after the dense training (round 0).
    prune_fraction : float in (0, 1)
        Fraction of the *remaining* weights removed per round.
    rewind_step : int
        0 rewinds to the initialization (the original lottery ticket); ``k > 0`` to the weights
        of the dense run after ``k`` steps ("late rewinding", Frankle et al., 2020).
    scope : {"global", "layer"}
        Rank the magnitudes over the whole network or within each layer.
    callback : callable, optional
        ``callback(round, density, result)`` after each round (for a progress bar).

    Returns
    -------
    IMPResult

    Examples
    --------
    >>> from functools import partial
    >>> from sparsecourse.pruning import (digits_data, is_nested, iterative_magnitude_pruning,
    ...                                   lenet_300_100, train)
    >>> data = digits_data()
    >>> train_fn = partial(train, data=data, epochs=2)
    >>> res = iterative_magnitude_pruning(lenet_300_100(seed=0), train_fn, n_rounds=2,
    ...                                   prune_fraction=0.5)
    >>> [round(d, 3) for d in res.densities], is_nested(res.masks[2], res.masks[1])
    ([1.0, 0.5, 0.25], True)
    """
    n_rounds = check_int(n_rounds, "n_rounds", minimum=0)
    prune_fraction = check_fraction(prune_fraction, "prune_fraction", closed="neither")
    rewind_step = check_int(rewind_step, "rewind_step", minimum=0)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    prunable_weights(model)   # raises for a model without prunable weights
    out = IMPResult()
    masks = get_masks(model)
    init_state = get_state(model)
    for r in range(n_rounds + 1):
        if r > 0:
            scores = magnitude_scores(model)     # pruned weights score 0: masks stay nested
            masks = masks_from_scores(scores, 1.0 - (1.0 - prune_fraction) ** r, scope=scope)
            set_state(model, out.rewind_state)
            apply_masks(model, masks)
        res = train_fn(model, save_at=rewind_step if r == 0 and rewind_step > 0 else None)
        if r == 0:
            out.rewind_state = init_state if rewind_step == 0 else res.saved_state
            if out.rewind_state is None:
                raise ValueError("train_fn did not return a saved_state at step "
                                 f"rewind_step={rewind_step}")
        out.densities.append(sum(int(m.sum()) for m in masks.values())
                             / sum(m.numel() for m in masks.values()))
        out.masks.append({k: v.clone() for k, v in masks.items()})
        out.results.append(res)
        out.final_states.append(get_state(model))
        if callback is not None:
            callback(r, out.densities[-1], res)
    return out


def reinit_control(model_fn: Callable[[int], nn.Module], masks: dict, seed: int) -> nn.Module:
    """The random-reinitialization control: the ticket's masks on a freshly initialized network.

    Parameters
    ----------
    model_fn : callable
        ``model_fn(seed)`` returns a new network, e.g.
        :func:`~sparsecourse.pruning.lenet_300_100`.
    masks : dict
        The masks of the ticket.
    seed : int
        The new initialization's seed (use one the ticket was *not* initialized with).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import get_masks, lenet_300_100, random_masks, reinit_control
    >>> m = random_masks(lenet_300_100(seed=0), 0.9, seed=0)
    >>> net = reinit_control(lambda s: lenet_300_100(seed=s), m, seed=1)
    >>> all(torch.equal(get_masks(net)[k], m[k]) for k in m)
    True
    """
    seed = check_int(seed, "seed", minimum=0)
    return apply_masks(model_fn(seed), masks)


def cubic_sparsity(step: int, final_sparsity: float, *, begin_step: int, end_step: int,
                   initial_sparsity: float = 0.0) -> float:
    """The gradual pruning schedule of Zhu & Gupta (2017).

    .. math:: s_t = s_f + (s_i - s_f) \\left(1 - \\frac{t - t_0}{t_1 - t_0}\\right)^3

    for ``t0 <= t <= t1``, ``s_i`` before and ``s_f`` after: prune fast while the network is
    dense and redundant, slowly as fewer weights remain.

    Examples
    --------
    >>> from sparsecourse.pruning import cubic_sparsity
    >>> [round(cubic_sparsity(t, 0.9, begin_step=0, end_step=100), 4) for t in (0, 50, 100, 200)]
    [0.0, 0.7875, 0.9, 0.9]
    """
    step = check_int(step, "step", minimum=0)
    final_sparsity = check_sparsity(final_sparsity, "final_sparsity")
    initial_sparsity = check_sparsity(initial_sparsity, "initial_sparsity")
    begin_step = check_int(begin_step, "begin_step", minimum=0)
    end_step = check_int(end_step, "end_step", minimum=begin_step + 1)
    if step <= begin_step:
        return initial_sparsity
    if step >= end_step:
        return final_sparsity
    frac = (step - begin_step) / (end_step - begin_step)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - frac) ** 3


class GradualMagnitudePruning:
    """Gradual magnitude pruning during training, as a :func:`~sparsecourse.pruning.train` callback.

    Every ``frequency`` steps between ``begin_step`` and ``end_step`` the smallest-magnitude
    weights are masked so that the sparsity follows :func:`cubic_sparsity`. Masked weights
    score 0, so the masks only shrink.

    Examples
    --------
    >>> from sparsecourse.pruning import (GradualMagnitudePruning, density, digits_data, get_masks,
    ...                                   lenet_300_100, train)
    >>> net = lenet_300_100(seed=0)
    >>> gmp = GradualMagnitudePruning(0.9, begin_step=8, end_step=40, frequency=8)
    >>> res = train(net, digits_data(), epochs=8, callback=gmp)
    >>> round(density(get_masks(net)), 3), res.final_test_acc > 0.8
    (0.1, True)
    """

    def __init__(self, final_sparsity: float, *, begin_step: int, end_step: int,
                 frequency: int = 10, initial_sparsity: float = 0.0, scope: str = "global"):
        self.final_sparsity = check_sparsity(final_sparsity, "final_sparsity")
        self.initial_sparsity = check_sparsity(initial_sparsity, "initial_sparsity")
        self.begin_step = check_int(begin_step, "begin_step", minimum=0)
        self.end_step = check_int(end_step, "end_step", minimum=self.begin_step + 1)
        self.frequency = check_int(frequency, "frequency", minimum=1)
        if scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
        self.scope = scope
        self.history: list[tuple[int, float]] = []

    def __call__(self, step: int, model: nn.Module) -> None:
        due = (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        if step < self.begin_step or step > self.end_step or not due:
            return
        s = cubic_sparsity(step, self.final_sparsity, begin_step=self.begin_step,
                           end_step=self.end_step, initial_sparsity=self.initial_sparsity)
        with torch.no_grad():
            apply_masks(model, masks_from_scores(magnitude_scores(model), s, scope=self.scope))
        self.history.append((step, s))
