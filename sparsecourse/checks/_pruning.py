"""Checks for Chapter 4 (lottery tickets and pruning): a global magnitude mask, ERK
densities, the cubic sparsity schedule, and the recall of a planted ticket."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = [
    "check_global_magnitude_mask",
    "check_erk_densities",
    "check_cubic_schedule",
    "check_ticket_recall",
]


def _call(fn, desc, *args):
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - report any learner error
        return None, fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")


def _as_bool_masks(out, names, desc):
    import torch  # imported here: `import sparsecourse` must not load torch

    if not isinstance(out, dict):
        return None, fail(f"on {desc} your function should return a dict name -> mask, got "
                          f"{type(out).__name__}")
    if set(out) != set(names):
        return None, fail(f"on {desc} the returned masks have keys {sorted(out)}, expected "
                          f"{sorted(names)} (one mask per weight)")
    res = {}
    for k in names:
        try:
            res[k] = torch.as_tensor(out[k]).bool()
        except (TypeError, ValueError, RuntimeError):
            return None, fail(f"on {desc} mask {k!r} is not a tensor of booleans")
    return res, None


def check_global_magnitude_mask(fn: Callable) -> CheckResult:
    """Check a learner's global magnitude pruning ``fn(weights, sparsity)``.

    ``weights`` is a dict name -> tensor; ``fn`` must return a dict of boolean masks (same
    names and shapes) that keeps the ``round((1 - sparsity) * n)`` weights of largest
    ``|w|`` over *all* layers together. Compared with
    :func:`sparsecourse.pruning.masks_from_scores` on layers of very different scales.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.checks import check_global_magnitude_mask
    >>> def glob(weights, sparsity):
    ...     flat = torch.cat([w.abs().flatten() for w in weights.values()])
    ...     k = round((1 - sparsity) * flat.numel())
    ...     thr = flat.sort(descending=True).values[k - 1] if k else float("inf")
    ...     return {n: w.abs() >= thr for n, w in weights.items()}
    >>> bool(check_global_magnitude_mask(glob))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    from ..pruning import masks_from_scores

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    g = torch.Generator().manual_seed(4)
    w_small = {"a": torch.randn(6, 5, generator=g), "b": 5 * torch.randn(3, 6, generator=g)}
    w_big = {"0.weight": torch.randn(30, 16, generator=g) * 0.1,
             "2.weight": torch.randn(10, 30, generator=g)}
    cases = [("two small layers at sparsity 0.5", w_small, 0.5),
             ("two small layers at sparsity 0 (keep all)", w_small, 0.0),
             ("a 16-30-10 MLP whose last layer is 10x larger, at sparsity 0.9", w_big, 0.9),
             ("the same MLP at sparsity 0.98", w_big, 0.98)]
    for desc, weights, s in cases:
        out, bad = _call(fn, desc, {k: v.clone() for k, v in weights.items()}, s)
        if bad is not None:
            return bad
        got, bad = _as_bool_masks(out, list(weights), desc)
        if bad is not None:
            return bad
        for k, w in weights.items():
            if got[k].shape != w.shape:
                return fail(f"on {desc} mask {k!r} has shape {tuple(got[k].shape)}, expected "
                            f"{tuple(w.shape)}")
        want = masks_from_scores({k: w.abs() for k, w in weights.items()}, s)
        if all(torch.equal(got[k], want[k]) for k in weights):
            continue
        n_total = sum(w.numel() for w in weights.values())
        n_kept = sum(int(m.sum()) for m in got.values())
        layer = masks_from_scores({k: w.abs() for k, w in weights.items()}, s, scope="layer")
        if all(torch.equal(got[k], layer[k]) for k in weights):
            hint = ("you removed the same fraction in every layer; global pruning ranks all "
                    "weights of the network together")
        elif n_kept != round((1 - s) * n_total):
            hint = (f"you kept {n_kept} weights, expected round((1 - sparsity) * n) = "
                    f"{round((1 - s) * n_total)}")
        elif all(torch.equal(got[k], ~want[k]) for k in weights):
            hint = "you kept the smallest weights: keep the largest |w|"
        else:
            hint = "rank by the absolute value |w|, not by w itself"
        return fail(f"on {desc} the mask differs from global magnitude pruning. Hint: {hint}.")
    return ok("your global magnitude pruning keeps exactly the largest weights of the whole "
              "network, across layers of different scales.")


def check_erk_densities(fn: Callable) -> CheckResult:
    """Check a learner's Erdős–Rényi(-Kernel) densities ``fn(shapes, density)``.

    ``shapes`` is a dict name -> weight shape; ``fn`` must return a dict name -> density
    proportional to ``sum(shape) / prod(shape)``, scaled so that the overall density is
    ``density``, with layers that would exceed 1 kept dense and the rest rescaled. Compared with
    :func:`sparsecourse.pruning.erk_densities`.

    Examples
    --------
    >>> from sparsecourse.checks import check_erk_densities
    >>> from sparsecourse.pruning import erk_densities
    >>> bool(check_erk_densities(erk_densities))
    True
    """
    from ..pruning import erk_densities

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    mlp = {"0.weight": (300, 64), "2.weight": (100, 300), "4.weight": (10, 100)}
    conv = {"conv1": (16, 3, 3, 3), "conv2": (32, 16, 3, 3), "fc": (10, 512)}
    cases = [("LeNet-300-100 at density 0.1", mlp, 0.1),
             ("LeNet-300-100 at density 0.02", mlp, 0.02),
             ("LeNet-300-100 at density 0.5 (the last layer must be capped at 1)", mlp, 0.5),
             ("a small CNN (kernel dimensions count) at density 0.1", conv, 0.1)]
    for desc, shapes, d in cases:
        out, bad = _call(fn, desc, dict(shapes), d)
        if bad is not None:
            return bad
        if not isinstance(out, dict) or set(out) != set(shapes):
            return fail(f"on {desc} return a dict with the keys {sorted(shapes)}")
        try:
            got = {k: float(v) for k, v in out.items()}
        except (TypeError, ValueError):
            return fail(f"on {desc} the densities must be numbers")
        want = erk_densities(shapes, d)
        if all(math.isclose(got[k], want[k], rel_tol=1e-6, abs_tol=1e-9) for k in shapes):
            continue
        sizes = {k: math.prod(s) for k, s in shapes.items()}
        overall = sum(got[k] * sizes[k] for k in shapes) / sum(sizes.values())
        if any(v > 1 + 1e-9 for v in got.values()):
            hint = "a density above 1 is impossible: keep that layer dense and rescale the others"
        elif not math.isclose(overall, d, rel_tol=1e-6):
            hint = f"your densities give an overall density of {overall:.4f}, not {d}"
        elif len({round(v, 9) for v in got.values()}) == 1:
            hint = "these are uniform densities; ERK's are proportional to sum(shape)/prod(shape)"
        else:
            hint = "the density of a layer is proportional to sum(shape) / prod(shape)"
        return fail(f"on {desc} you returned "
                    f"{ {k: round(v, 4) for k, v in got.items()} }, expected "
                    f"{ {k: round(v, 4) for k, v in want.items()} }. Hint: {hint}.")
    return ok("your ERK densities match sparsecourse.pruning.erk_densities, including the "
              "layers capped at density 1 and convolution kernels.")


def check_cubic_schedule(fn: Callable) -> CheckResult:
    """Check a learner's gradual-pruning schedule ``fn(step, final_sparsity, begin_step,
    end_step, initial_sparsity)`` (Zhu & Gupta's cubic schedule).

    Compared with :func:`sparsecourse.pruning.cubic_sparsity` before, during and after the
    pruning window.

    Examples
    --------
    >>> from sparsecourse.checks import check_cubic_schedule
    >>> def cubic(t, sf, t0, t1, si):
    ...     t = min(max(t, t0), t1)
    ...     return sf + (si - sf) * (1 - (t - t0) / (t1 - t0)) ** 3
    >>> bool(check_cubic_schedule(cubic))
    True
    """
    from ..pruning import cubic_sparsity

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    for sf, t0, t1, si in [(0.9, 0, 100, 0.0), (0.98, 200, 1200, 0.5)]:
        for t in sorted({0, t0, t0 + 1, (t0 + t1) // 3, (t0 + t1) // 2, t1 - 1, t1, t1 + 500}):
            desc = (f"step {t} with final_sparsity={sf}, begin_step={t0}, end_step={t1}, "
                    f"initial_sparsity={si}")
            out, bad = _call(fn, desc, t, sf, t0, t1, si)
            if bad is not None:
                return bad
            try:
                got = float(out)
            except (TypeError, ValueError):
                return fail(f"on {desc} return a number, got {type(out).__name__}")
            want = cubic_sparsity(t, sf, begin_step=t0, end_step=t1, initial_sparsity=si)
            if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                continue
            frac = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
            if math.isclose(got, si + (sf - si) * frac, abs_tol=1e-9):
                hint = "that is a linear schedule: the sparsity approaches s_f as (1 - progress)^3"
            elif t < t0 or t > t1:
                hint = "outside [begin_step, end_step] the sparsity is constant"
            else:
                hint = "s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0))^3"
            return fail(f"at {desc} you returned {got:.6g}, expected {want:.6g}. Hint: {hint}.")
    return ok("your schedule matches the cubic schedule of Zhu & Gupta before, during and after "
              "the pruning window.")


def check_ticket_recall(fn: Callable) -> CheckResult:
    """Check a learner's ``fn(found, planted)``: the fraction of planted weights found.

    Both arguments are dicts name -> boolean mask; the answer is
    ``|found ∩ planted| / |planted|`` counted over all layers together.
    Compared with :func:`sparsecourse.pruning.ticket_recall`.

    Examples
    --------
    >>> from sparsecourse.checks import check_ticket_recall
    >>> from sparsecourse.pruning import ticket_recall
    >>> bool(check_ticket_recall(ticket_recall))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    from ..pruning import ticket_recall

    if not callable(fn):
        return fail(f"expected a function, got {type(fn).__name__}")
    rng = np.random.default_rng(5)
    planted = {"a": torch.from_numpy(rng.random((8, 4)) < 0.2),
               "b": torch.from_numpy(rng.random((3, 8)) < 0.6)}
    cases = [("found == planted", {k: v.clone() for k, v in planted.items()}),
             ("an empty found mask", {k: torch.zeros_like(v) for k, v in planted.items()}),
             ("a dense found mask", {k: torch.ones_like(v) for k, v in planted.items()}),
             ("a random found mask", {k: torch.from_numpy(rng.random(tuple(v.shape)) < 0.5)
                                      for k, v in planted.items()})]
    for desc, found in cases:
        out, bad = _call(fn, desc, found, planted)
        if bad is not None:
            return bad
        try:
            got = float(out)
        except (TypeError, ValueError):
            return fail(f"on {desc} return a number, got {type(out).__name__}")
        want = ticket_recall(found, planted)
        if math.isclose(got, want, abs_tol=1e-9):
            continue
        per_layer = np.mean([float((found[k] & planted[k]).sum() / planted[k].sum())
                             for k in planted])
        n_found = sum(int(v.sum()) for v in found.values())
        hit = sum(int((found[k] & planted[k]).sum()) for k in planted)
        if math.isclose(got, per_layer, abs_tol=1e-9):
            hint = "count over all layers together, not the mean of the per-layer recalls"
        elif n_found and math.isclose(got, hit / n_found, abs_tol=1e-9):
            hint = "that is the precision (divide by the found count); recall divides by |planted|"
        else:
            hint = "recall = |found AND planted| / |planted|"
        return fail(f"on {desc} you returned {got:.4f}, expected {want:.4f}. Hint: {hint}.")
    return ok("your recall matches sparsecourse.pruning.ticket_recall.")
