"""Checks for Chapter 5 (activation sparsity): the CATS threshold of a Laplace activation, the
memory-bound speed-up of the CATS MLP block, the CETT of a layer, and the previous-token
predictor of the active set."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._core import CheckResult, fail, ok
from ._core import call_answer as _call
from ._core import finite_number as _number

__all__ = [
    "check_laplace_threshold",
    "check_cats_block_speedup",
    "check_cett",
    "check_previous_token_recall",
]


def check_laplace_threshold(fn: Callable) -> CheckResult:
    """Check ``fn(sparsity, b)``: the CATS threshold for activations ``a ~ Laplace(0, b)``.

    The threshold ``t`` must zero a fraction ``sparsity`` of the activations:
    ``P(|a| <= t) = sparsity``.

    Examples
    --------
    >>> import math
    >>> from sparsecourse.checks import check_laplace_threshold
    >>> bool(check_laplace_threshold(lambda s, b: -b * math.log1p(-s)))
    True
    >>> bool(check_laplace_threshold(lambda s, b: b * s))
    False
    """
    for s, b in ((0.0, 1.0), (0.5, 1.0), (0.5, 0.2), (0.7, 3.0), (0.9, 0.05)):
        desc = f"sparsity={s}, b={b}"
        out, err = _call(fn, desc, s, b)
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        want = -b * math.log1p(-s)
        if not math.isclose(v, want, rel_tol=1e-6, abs_tol=1e-12):
            frac = 1 - math.exp(-v / b) if v >= 0 else float("nan")
            return fail(f"on {desc} you returned t={v:.6g}; it zeroes a fraction "
                         f"{frac:.4g} of |a|, not {s}. Hint: |a| is exponential with mean b.")
    return ok("Correct! t = -b ln(1 - s): at 50% sparsity the threshold is b ln 2, about "
               "0.69 times the mean |a|.")


def check_cats_block_speedup(fn: Callable) -> CheckResult:
    """Check ``fn(sparsity)``: the memory-bound speed-up of a CATS MLP block over the dense one.

    The block reads three ``d_ff x d_model`` weights (gate, up, down); CATS reads all of
    ``gate`` and only the surviving rows of ``up`` and ``down``. Time is taken to be
    proportional to the weight bytes read.

    Examples
    --------
    >>> from sparsecourse.checks import check_cats_block_speedup
    >>> bool(check_cats_block_speedup(lambda s: 3 / (1 + 2 * (1 - s))))
    True
    >>> bool(check_cats_block_speedup(lambda s: 1 / (1 - s)))
    False
    """
    for s in (0.0, 0.4, 0.5, 0.7, 0.9):
        desc = f"sparsity={s}"
        out, err = _call(fn, desc, s)
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        want = 3 / (1 + 2 * (1 - s))
        if not math.isclose(v, want, rel_tol=1e-6):
            hint = (" That is the bound of a single sparse GEMV; here the gate product "
                    "stays dense." if math.isclose(v, 1 / (1 - s), rel_tol=1e-6) else "")
            return fail(f"on {desc} you returned {v:.4g}, expected {want:.4g}.{hint}")
    return ok("Correct! 3 / (1 + 2(1 - s)): 1.5x at 50%, and never more than 3x however "
               "sparse, because gate_proj is always read.")


def check_cett(fn: Callable) -> CheckResult:
    """Check ``fn(h, w_down, eps)``: the mean CETT of a layer (tensors in, float out).

    Compared with :func:`sparsecourse.activation.cett` on random layers, with ``eps = 0``
    (nothing dropped), a huge ``eps`` (everything dropped) and columns of different norms.

    Examples
    --------
    >>> from sparsecourse.activation import cett
    >>> from sparsecourse.checks import check_cett
    >>> bool(check_cett(cett))
    True
    """
    import torch

    from ..activation import cett

    gen = torch.Generator().manual_seed(0)
    cases = []
    for n, d_ff, d in ((50, 16, 4), (200, 64, 8)):
        h = torch.randn(n, d_ff, generator=gen)
        w = torch.randn(d, d_ff, generator=gen) * torch.rand(d_ff, generator=gen) * 3
        mag = (h.abs() * w.norm(dim=0)).flatten().sort().values
        for eps in (0.0, float(mag[len(mag) // 3]), float(mag[len(mag) // 2]),
                    float(mag[-1]) * 2):
            cases.append((h, w, eps))
    for h, w, eps in cases:
        desc = f"h of shape {tuple(h.shape)}, w_down of shape {tuple(w.shape)}, eps={eps:.4g}"
        out, err = _call(fn, desc, h.clone(), w.clone(), eps)
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        want = cett(h, w, eps)
        if not math.isclose(v, want, rel_tol=1e-4, abs_tol=1e-6):
            return fail(f"on {desc} you returned {v:.6g}, expected {want:.6g}. Remember: a "
                         "neuron's output magnitude is |h_i| times the norm of column i of "
                         "w_down, and CETT is a norm ratio per token, averaged over tokens.")
    return ok("Correct! Your CETT matches on every test layer.")


def check_previous_token_recall(fn: Callable) -> CheckResult:
    """Check ``fn(active)``: recall of "token t fires what token t-1 fired".

    ``active`` is a boolean tensor ``(B, T, d_ff)``; the answer is the micro-averaged recall
    ``|A_t & A_{t-1}| / |A_t|`` summed over all sequences and tokens ``t >= 1``.

    Examples
    --------
    >>> from sparsecourse.activation import previous_token_baseline
    >>> from sparsecourse.checks import check_previous_token_recall
    >>> bool(check_previous_token_recall(lambda a: previous_token_baseline(a)["recall"]))
    True
    """
    import torch

    from ..activation import previous_token_baseline

    gen = torch.Generator().manual_seed(1)
    cases = [torch.rand(2, 6, 10, generator=gen) < p for p in (0.1, 0.5)]
    planted = torch.zeros(2, 3, 4, dtype=torch.bool)
    planted[0, :, 0] = True          # a neuron that is always on: perfectly predictable
    planted[1, 1, 2] = True          # on once, never predicted
    cases.append(planted)
    for a in cases:
        desc = f"active of shape {tuple(a.shape)} (density {float(a.float().mean()):.2f})"
        out, err = _call(fn, desc, a.clone())
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        want = previous_token_baseline(a)["recall"]
        if not np.isclose(v, want, rtol=1e-6, atol=1e-9):
            return fail(f"on {desc} you returned {v:.6g}, expected {want:.6g}. Compare "
                         "active[:, 1:] with active[:, :-1] (never across two sequences).")
    return ok("Correct! That is the predictivity baseline used in the chapter.")
