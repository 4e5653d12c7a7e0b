"""Checks for Chapter 6 (mixture of experts): the Switch load-balancing loss, the range of that
loss (a derivation), the tokens a capacity limit drops, and the offsets of grouped dispatch."""

from __future__ import annotations

import math
from collections.abc import Callable

from ._core import CheckResult, fail, ok
from ._core import call_answer as _call
from ._core import finite_number as _number

__all__ = [
    "check_load_balancing_loss",
    "check_balance_loss_range",
    "check_tokens_dropped",
    "check_expert_offsets",
]


def _cases():
    import torch

    gen = torch.Generator().manual_seed(0)
    cases = [(torch.softmax(torch.zeros(6, 3), -1), torch.tensor([0, 1, 2, 0, 1, 2])),
             (torch.softmax(torch.tensor([[9.0, 0.0]] * 5), -1), torch.zeros(5, dtype=torch.long))]
    for n, e in ((20, 4), (64, 8)):
        probs = torch.softmax(torch.randn(n, e, generator=gen) * 2, -1)
        cases.append((probs, probs.argmax(-1)))
    return cases


def check_load_balancing_loss(fn: Callable) -> CheckResult:
    """Check ``fn(probs, expert)``: the Switch load-balancing loss ``E * sum_i f_i * P_i``.

    ``probs`` is ``(n_tokens, E)`` (router softmax), ``expert`` the ``(n_tokens,)`` top-1
    choices; ``f_i`` is the fraction of tokens sent to expert ``i``, ``P_i`` the mean
    probability of expert ``i``.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.checks import check_load_balancing_loss
    >>> def lb(probs, expert):
    ...     E = probs.shape[1]
    ...     f = torch.bincount(expert, minlength=E).float() / len(expert)
    ...     return E * (f * probs.mean(0)).sum()
    >>> bool(check_load_balancing_loss(lb))
    True
    >>> bool(check_load_balancing_loss(lambda p, e: (p.mean(0) ** 2).sum()))
    False
    """
    import torch

    for probs, expert in _cases():
        desc = f"{probs.shape[0]} tokens, {probs.shape[1]} experts"
        out, err = _call(fn, desc, probs.clone(), expert.clone())
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        E = probs.shape[1]
        f = torch.bincount(expert, minlength=E).float() / expert.numel()
        want = float(E * (f * probs.mean(0)).sum())
        if not math.isclose(v, want, rel_tol=1e-5, abs_tol=1e-7):
            return fail(f"on {desc} you returned {v:.6g}, expected {want:.6g}. Hint: the "
                        "loss multiplies the fraction of tokens by the mean probability, "
                        "expert by expert, sums, and scales by E.")
    return ok("Correct! Uniform routing gives exactly 1; everything on one expert gives "
              "close to E.")


def check_balance_loss_range(fn: Callable) -> CheckResult:
    """Check ``fn(E)``: the ``(minimum, maximum)`` of ``E * sum_i P_i ** 2`` over probability
    vectors ``P`` of ``E`` experts (the load-balancing loss when ``f = P``).

    Examples
    --------
    >>> from sparsecourse.checks import check_balance_loss_range
    >>> bool(check_balance_loss_range(lambda E: (1.0, float(E))))
    True
    >>> bool(check_balance_loss_range(lambda E: (0.0, 1.0)))
    False
    """
    for E in (1, 2, 8, 64):
        desc = f"E={E}"
        out, err = _call(fn, desc, E)
        if err is not None:
            return err
        try:
            lo, hi = (float(v) for v in out)
        except (TypeError, ValueError):
            return fail(f"on {desc} return a pair (minimum, maximum), got {out!r}")
        if not (math.isclose(lo, 1.0, rel_tol=1e-9) and math.isclose(hi, E, rel_tol=1e-9)):
            hint = ""
            if math.isclose(lo, 1 / E, rel_tol=1e-9):
                hint = " Did you forget the factor E in front of the sum?"
            return fail(f"on {desc} you returned ({lo:.4g}, {hi:.4g}), expected (1, {E}).{hint}")
    return ok("Correct! By Cauchy-Schwarz, 1 = (sum_i P_i)^2 <= E sum_i P_i^2, with equality "
              "only for uniform P; and sum_i P_i^2 <= sum_i P_i = 1, with equality for a "
              "one-hot P. So the loss lies in [1, E].")


def check_tokens_dropped(fn: Callable) -> CheckResult:
    """Check ``fn(expert, n_experts, capacity_factor)``: how many tokens top-1 routing drops.

    ``expert`` holds each token's expert (a list or 1-D tensor of ints); the capacity per
    expert is ``ceil(capacity_factor * n_tokens / n_experts)``; an expert keeps its first
    ``capacity`` tokens.

    Examples
    --------
    >>> import math
    >>> from collections import Counter
    >>> from sparsecourse.checks import check_tokens_dropped
    >>> def dropped(expert, n_experts, cf):
    ...     cap = math.ceil(cf * len(expert) / n_experts)
    ...     return sum(max(0, c - cap) for c in Counter(list(map(int, expert))).values())
    >>> bool(check_tokens_dropped(dropped))
    True
    """
    import random

    rng = random.Random(0)
    cases = [([0, 0, 0, 1], 2, 1.0), ([0, 1, 2, 3], 4, 1.0), ([2] * 10, 4, 2.0)]
    for n, e in ((50, 4), (200, 8)):
        skewed = [min(e - 1, int(rng.expovariate(0.7))) for _ in range(n)]
        for cf in (0.5, 1.0, 1.25, 2.0):
            cases.append((skewed, e, cf))
    for expert, n_experts, cf in cases:
        desc = f"{len(expert)} tokens, {n_experts} experts, capacity factor {cf}"
        out, err = _call(fn, desc, list(expert), n_experts, cf)
        if err is not None:
            return err
        v, err = _number(out, desc)
        if err is not None:
            return err
        cap = math.ceil(cf * len(expert) / n_experts)
        want = sum(max(0, expert.count(i) - cap) for i in range(n_experts))
        if v != want:
            return fail(f"on {desc} you returned {v:g}, expected {want} (capacity {cap} per "
                        "expert).")
    return ok("Correct! Drops come from the overloaded experts only; raising the capacity "
              "factor trades memory and compute for fewer drops.")


def check_expert_offsets(fn: Callable) -> CheckResult:
    """Check ``fn(expert, n_experts)``: where each expert's slice starts after sorting by expert.

    Returns ``n_experts + 1`` offsets ``[0, c_0, c_0 + c_1, ..., n_pairs]`` (``c_e`` = pairs
    of expert ``e``); experts with no pair have an empty slice.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.checks import check_expert_offsets
    >>> from sparsecourse.moe import expert_offsets
    >>> bool(check_expert_offsets(expert_offsets))
    True
    """
    import torch

    gen = torch.Generator().manual_seed(1)
    cases = [(torch.tensor([2, 0, 2, 2]), 4), (torch.tensor([0]), 1), (torch.tensor([3, 3]), 5),
             (torch.randint(0, 8, (100,), generator=gen), 8)]
    for expert, E in cases:
        desc = f"expert={expert.tolist()[:8]}{'...' if len(expert) > 8 else ''}, n_experts={E}"
        out, err = _call(fn, desc, expert.clone(), E)
        if err is not None:
            return err
        try:
            got = [int(v) for v in (out.tolist() if hasattr(out, "tolist") else out)]
        except (TypeError, ValueError):
            return fail(f"on {desc} return a sequence of ints, got {type(out).__name__}")
        counts = torch.bincount(expert, minlength=E)
        want = [0] + counts.cumsum(0).tolist()
        if got != want:
            hint = " (n_experts + 1 entries, starting at 0)" if len(got) != len(want) else ""
            return fail(f"on {desc} you returned {got[:10]}, expected {want[:10]}{hint}.")
    return ok("Correct! With these offsets expert e's rows are x_sorted[off[e]:off[e+1]]: "
              "one sort, then every expert works on a contiguous slice.")
